"""Minimal Django settings for the `hash` and `jsgraph` benchmarks' peer: `collectstatic` with
ManifestStaticFilesStorage over the generated tree. Paths come from the environment."""

import os

SECRET_KEY = "kiln-bench-not-secret"
DEBUG = False
USE_TZ = True
INSTALLED_APPS = ["django.contrib.staticfiles"]
DATABASES = {}
STATIC_URL = "/static/"
STATICFILES_DIRS = [os.environ["KILN_BENCH_STATIC_SRC"]]
STATIC_ROOT = os.environ["KILN_BENCH_STATIC_ROOT"]
STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # The jsgraph benchmark sets django_js_storage.JsModuleManifestStaticFilesStorage.
    "staticfiles": {"BACKEND": os.environ.get(
        "KILN_BENCH_STORAGE", "django.contrib.staticfiles.storage.ManifestStaticFilesStorage")},
}
