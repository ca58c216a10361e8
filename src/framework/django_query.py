# Asked by `kiln build` of a Django project, with the project's own Python and settings: what
# collectstatic would collect and where the runtime looks for things. Prints one JSON object.
# argv[1]: the settings module (from manage.py). Run with the project directory as cwd.
import importlib.util
import json
import os
import sys

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", sys.argv[1])
import django  # noqa: E402

django.setup()
from django.apps import apps  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles import finders  # noqa: E402
from django.core.files.storage import storages  # noqa: E402
from django.db.migrations.loader import MigrationLoader  # noqa: E402

# Exactly collectstatic's walk: every finder in order, the first file of a name wins, with the
# staticfiles app's ignore patterns.
ignore = list(apps.get_app_config("staticfiles").ignore_patterns) if apps.is_installed("django.contrib.staticfiles") else []
found = {}
for finder in finders.get_finders():
    for path, storage in finder.list(ignore):
        prefixed = os.path.join(storage.prefix, path) if getattr(storage, "prefix", None) else path
        prefixed = prefixed.replace(os.sep, "/")
        if prefixed not in found:
            found[prefixed] = storage.path(path)

template_dirs = []
for engine in settings.TEMPLATES:
    template_dirs.extend(str(d) for d in engine.get("DIRS", []))
    if engine.get("APP_DIRS"):
        sub = "jinja2" if engine.get("BACKEND", "").endswith("Jinja2") else "templates"
        template_dirs.extend(os.path.join(a.path, sub) for a in apps.get_app_configs())

# Each app's migrations package, wherever MIGRATION_MODULES puts it: shipped as source.
migration_dirs = []
for a in apps.get_app_configs():
    module, _ = MigrationLoader.migrations_module(a.label)
    try:
        spec = importlib.util.find_spec(module) if module else None
    except ImportError:
        spec = None
    if spec and spec.submodule_search_locations:
        migration_dirs.extend(spec.submodule_search_locations)

static_storage = storages["staticfiles"]
json.dump(
    {
        "django": django.get_version(),
        "static_root": str(settings.STATIC_ROOT) if settings.STATIC_ROOT else None,
        "static_url": settings.STATIC_URL,
        "storage": type(static_storage).__module__ + "." + type(static_storage).__qualname__,
        "manifest_name": getattr(static_storage, "manifest_name", None),
        "statics": sorted(found.items()),
        "template_dirs": sorted(set(template_dirs)),
        "migration_dirs": sorted(set(migration_dirs)),
    },
    sys.stdout,
)
