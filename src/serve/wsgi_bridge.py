# kiln serve's WSGI bridge (embedded in the kiln binary, run as `python -B -c <this> DIST MODULE:APP`).
# Imports the dist's app (sourceless .pyc import fine with DIST first on sys.path) and serves it on
# a private loopback port with the first WSGI server this Python has: waitress, then gunicorn,
# else the standard library's wsgiref (threaded). Prints `kiln-wsgi-port PORT SERVER VERSION`, and
# exits when kiln serve goes away (its stdin pipe closes). kiln serve proxies to it.
import importlib
import importlib.metadata
import os
import socket
import sys
import threading


def load(spec):
    module, _, attr = spec.partition(":")
    obj = importlib.import_module(module)
    for name in (attr or "app").split("."):
        obj = getattr(obj, name)
    return obj


def with_remote_addr(app):
    """kiln serve passes the real client address (and drops the header if a client sent it)."""

    def wrapped(environ, start_response):
        remote = environ.pop("HTTP_X_KILN_REMOTE_ADDR", None)
        if remote:
            environ["REMOTE_ADDR"] = remote
            environ.pop("REMOTE_HOST", None)
        return app(environ, start_response)

    return wrapped


def announce(port, server):
    version = "" if server == "wsgiref" else importlib.metadata.version(server)
    sys.stdout.write("kiln-wsgi-port %d %s %s\n" % (int(port), server, version))
    sys.stdout.flush()


def waitress(app):
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    announce(server.effective_port, "waitress")
    server.run()


def gunicorn(app):
    from gunicorn.app.base import BaseApplication

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    settings = {"bind": "fd://%d" % sock.fileno(), "workers": 2, "threads": 4, "worker_class": "gthread",
                "timeout": 120, "loglevel": "warning", "preload_app": True}

    class Server(BaseApplication):
        def load_config(self):
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    announce(sock.getsockname()[1], "gunicorn")
    Server().run()


def wsgiref(app):
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 128

    class Handler(WSGIRequestHandler):
        def handle(self):
            # wsgiref's own handle(), but telling the app the truth: requests run on many threads.
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.parse_request():
                return
            handler = ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True)
            handler.request_handler = self
            handler.run(self.server.get_app())

        def log_message(self, *args):
            pass  # kiln serve logs every request itself

    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.set_app(app)
    announce(httpd.server_port, "wsgiref")
    httpd.serve_forever()


def watch_parent():
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)


def main():
    dist, spec = sys.argv[1], sys.argv[2]
    os.chdir(dist)
    sys.path.insert(0, dist)
    app = with_remote_addr(load(spec))
    threading.Thread(target=watch_parent, daemon=True).start()
    for server in (waitress, gunicorn):
        try:
            importlib.import_module(server.__name__)
        except ImportError:
            continue
        return server(app)
    wsgiref(app)


main()
