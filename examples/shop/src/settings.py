"""Settings from the environment plus optional ``.env`` / ``.env.production``
files beside wsgi.py.

Precedence (highest first): the real process environment, ``.env.production``,
``.env``.  Settings are re-read by every call to :func:`load_settings` (and thus
by every ``create_app()``), so tests can vary the environment.
"""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # beside wsgi.py
SRC_DIR = os.path.join(BASE_DIR, "src")
TEMPLATE_DIR = os.path.join(SRC_DIR, "templates")
STATIC_ROOT = os.path.join(SRC_DIR, "partials")
MIGRATIONS_DIR = os.path.join(SRC_DIR, "migrations")
DOTENV_FILES = (".env", ".env.production")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_dotenv(text):
    """Parses ``KEY=VALUE`` lines; ``#`` comments, blank lines, ``export`` and
    matching single/double quotes around the value are handled."""
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key:
            values[key] = value
    return values


def read_dotenv(base_dir=BASE_DIR):
    values = {}
    for name in DOTENV_FILES:
        path = os.path.join(base_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                values.update(parse_dotenv(f.read()))
    return values


def to_bool(value, name="value"):
    v = str(value).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise RuntimeError("%s must be a boolean (true/false), got %r" % (name, value))


class Settings:
    def __init__(self, values):
        get = values.get
        self.DEBUG = to_bool(get("DEBUG", "false"), "DEBUG")
        self.SECRET_KEY = get("SECRET_KEY", "")
        self.DATABASE_PATH = get("DATABASE_PATH", "") or ":memory:"
        self.IMAGE_OPTIMIZATION = to_bool(get("IMAGE_OPTIMIZATION", "false"), "IMAGE_OPTIMIZATION")
        self.STATIC_PREFIX = get("STATIC_PREFIX", "/s/")
        self.SHOP_NAME = get("SHOP_NAME", "Kiln Pottery")
        # KILN_MANIFEST, when set, wins (set it to "" to force development
        # mode); otherwise a manifest.json beside wsgi.py is used if present.
        if "KILN_MANIFEST" in values:
            self.MANIFEST_PATH = values["KILN_MANIFEST"]
        else:
            default = os.path.join(BASE_DIR, "manifest.json")
            self.MANIFEST_PATH = default if os.path.isfile(default) else ""
        self.BASE_DIR, self.SRC_DIR, self.TEMPLATE_DIR = BASE_DIR, SRC_DIR, TEMPLATE_DIR
        self.STATIC_ROOT, self.MIGRATIONS_DIR = STATIC_ROOT, MIGRATIONS_DIR
        if not self.DEBUG and not self.SECRET_KEY:
            raise RuntimeError(
                "SECRET_KEY must be set in the environment (or .env) when DEBUG is false")

    def __repr__(self):
        return "<Settings DEBUG=%r DATABASE_PATH=%r MANIFEST_PATH=%r>" % (
            self.DEBUG, self.DATABASE_PATH, self.MANIFEST_PATH)


def load_settings(environ=None):
    """Reads the dotenv files, then overlays the real environment (which wins)."""
    values = read_dotenv()
    values.update(os.environ if environ is None else environ)
    return Settings(values)
