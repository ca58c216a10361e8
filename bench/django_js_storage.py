"""The `jsgraph` benchmark's peer: Django's ManifestStaticFilesStorage with its opt-in rewriting
of JavaScript module imports (regular expressions over `import … from`, `export … from`,
`import "…"` and `import("…")`)."""

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage


class JsModuleManifestStaticFilesStorage(ManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
