"""Smoke test of a built examples/shop dist (flake check `dist-serves`).

python3 shop_smoke.py DIST: imports the dist's sourceless wsgi.pyc, requests the pages and every
/s/ URL they reference, and fails (exit 1) on anything but 200. Prints what it fetched.
"""
import io
import json
import re
import sys


def main(dist):
    sys.path.insert(0, dist)
    sys.dont_write_bytecode = True  # the store is read-only; nothing may be written beside it
    import wsgi  # noqa: E402  (wsgi.pyc, no source)

    if wsgi.__file__ != dist + "/wsgi.pyc":
        raise SystemExit("imported %s, not the dist's wsgi.pyc" % wsgi.__file__)

    def get(path):
        out = {}

        def start_response(status, headers):
            out["status"] = status

        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
                   "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.input": io.BytesIO(),
                   "wsgi.url_scheme": "http"}
        body = b"".join(wsgi.app(environ, start_response))
        if not out["status"].startswith("200"):
            raise SystemExit("GET %s: %s" % (path, out["status"]))
        print("200 %s (%d bytes)" % (path, len(body)))
        return body

    get("/healthz")
    products = json.loads(get("/api/products"))
    pages = ["/"] + ["/product/%s" % p["slug"] for p in products.get("products", products)[:1]]
    static = set()
    for page in pages:
        html = get(page).decode("utf-8")
        # Minified HTML may leave attribute values unquoted.
        static.update(re.findall(r'(?:src|href)=["\']?(/s/[^"\'\s>]+)', html))
    if not static:
        raise SystemExit("no /s/ URL in the pages")
    for url in sorted(static):
        get(url)


if __name__ == "__main__":
    main(sys.argv[1])
