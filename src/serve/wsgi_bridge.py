# kiln serve's WSGI bridge (embedded in the kiln binary, run as `python -B -c <this> DIST MODULE:APP`).
# Imports the dist's app (sourceless .pyc import fine with DIST first on sys.path), serves it with
# the standard library's wsgiref on a private loopback port (threaded), prints that port, and
# exits when kiln serve goes away (its stdin pipe closes). kiln serve proxies to it.
import importlib
import os
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer


def load(spec):
    module, _, attr = spec.partition(":")
    obj = importlib.import_module(module)
    for name in (attr or "app").split("."):
        obj = getattr(obj, name)
    return obj


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class Handler(WSGIRequestHandler):
    def get_environ(self):
        env = super().get_environ()
        # kiln serve passes the real client address (and drops the header if a client sent it).
        remote = env.pop("HTTP_X_KILN_REMOTE_ADDR", None)
        if remote:
            env["REMOTE_ADDR"] = remote
            env.pop("REMOTE_HOST", None)
        return env

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


def watch_parent():
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)


def main():
    dist, spec = sys.argv[1], sys.argv[2]
    os.chdir(dist)
    sys.path.insert(0, dist)
    app = load(spec)
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.set_app(app)
    threading.Thread(target=watch_parent, daemon=True).start()
    sys.stdout.write("kiln-wsgi-port %d\n" % httpd.server_port)
    sys.stdout.flush()
    httpd.serve_forever()


main()
