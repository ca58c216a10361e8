"""WSGI entry point of the kiln example shop.

    gunicorn wsgi:app                                  # any WSGI server
    python3 wsgi.py [--port 8000] [--bind 127.0.0.1]   # stdlib wsgiref server

Works the same from the source tree and from a kiln dist where this file is a
sourceless ``wsgi.pyc`` (``python3 dist/wsgi.pyc``).
"""
import argparse
import os
import sys

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
if BASE_DIR not in sys.path:
    sys.path.insert(0, BASE_DIR)

from src.app import create_app  # noqa: E402

app = create_app()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Serve the kiln example shop with wsgiref.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1"))
    args = parser.parse_args(argv)

    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, fmt, *fargs):
            if app.settings.DEBUG:
                super().log_message(fmt, *fargs)

    httpd = make_server(args.bind, args.port, app, handler_class=QuietHandler)
    mode = "compiled assets" if app.assetman.compiled else "development assets"
    print("Serving kiln example shop on http://%s:%d/ (%s, DEBUG=%s)"
          % (args.bind, args.port, mode, app.settings.DEBUG), flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
