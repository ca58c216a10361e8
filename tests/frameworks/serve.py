#!/usr/bin/env python3
"""Serves a dist with its framework's OWN runtime, DEBUG off, behind waitress on 127.0.0.1.

    serve.py asok DIST                     # the dist's wsgi.py(c) `app` (asok's Asok() WSGI app)
    serve.py django DIST [--settings MOD]  # the dist's <project>/wsgi.py(c) `application`

Prints `LISTENING http://127.0.0.1:PORT` on stdout once the port is bound (a free port), then
serves until killed. Runtime errors go to stderr (the framework's own logging).

asok: run from the dist as asok's `preview` does: the dist is the working directory (Asok()
takes its root from it), `.env.production` is read with the environment winning (so SECRET_KEY
comes from the environment, never from the dist), DEBUG=false is forced.
Django: DJANGO_SETTINGS_MODULE (found from the dist's single */settings.py(c) unless --settings),
DJANGO_DEBUG=false, and the dist's own wsgi module; WhiteNoise, when the settings install it,
serves STATIC_ROOT.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from pathlib import Path


def read_env_file(path: Path) -> None:
    """KEY=VALUE lines into os.environ; a variable already in the environment wins."""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        os.environ.setdefault(k.strip(), v)


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: cannot be imported")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def first_file(dist: Path, *names: str) -> Path:
    for n in names:
        if (dist / n).is_file():
            return dist / n
    raise SystemExit(f"{dist}: none of {', '.join(names)} (is this a dist of the right framework?)")


def asok_app(dist: Path):
    env_prod = dist / ".env.production"
    if env_prod.is_file():
        read_env_file(env_prod)
    os.environ["DEBUG"] = "false"
    os.environ.pop("ASOK_BUILD", None)  # asok preview drops it too: it is for the build's SSG step
    if len(os.environ.get("SECRET_KEY", "")) < 32:
        raise SystemExit("serve.py asok: SECRET_KEY (32+ characters) must be in the environment")
    wsgi = first_file(dist, "wsgi.py", "wsgi.pyc")
    return load_module("wsgi", wsgi).app


def django_app(dist: Path, settings: str | None):
    if settings is None:
        found = sorted({p.parent.name for p in dist.glob("*/settings.py*") if p.suffix in (".py", ".pyc")})
        if len(found) != 1:
            raise SystemExit(f"{dist}: expected one */settings.py(c), found {found or 'none'}; pass --settings")
        settings = f"{found[0]}.settings"
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    os.environ["DJANGO_DEBUG"] = "false"
    package = settings.rsplit(".", 1)[0]
    application = importlib.import_module(f"{package}.wsgi").application
    # With DEBUG off Django's default logging prints no traceback for a 500: the check needs it.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger("django.request").addHandler(handler)
    return application


def main() -> int:
    args = sys.argv[1:]
    settings = None
    if "--settings" in args:
        i = args.index("--settings")
        settings = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2 or args[0] not in ("asok", "django"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    kind, dist = args[0], Path(args[1]).resolve()
    if not dist.is_dir():
        raise SystemExit(f"{dist}: not a directory")
    os.chdir(dist)
    sys.path.insert(0, str(dist))
    app = asok_app(dist) if kind == "asok" else django_app(dist, settings)

    import waitress

    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8, ident=None)
    print(f"LISTENING http://127.0.0.1:{server.effective_port}", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
