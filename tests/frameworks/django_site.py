#!/usr/bin/env python3
"""Makes a Django 5.2 site as a user does (`django-admin startproject` + `startapp`), then grows
it with the static files, templates and settings a real production site has.

    django_site.py new PARENT NAME      # PARENT/NAME/manage.py, project package `config`, app `shop`

Run with the venv's python (tests/frameworks/setup): django-admin is looked up beside
sys.executable. Prints one JSON object: {"site": path, "settings": "config.settings",
"pages": [URL paths], "expect_js": [marker names]}.

Settings: DEBUG from DJANGO_DEBUG (on unless "false"), SECRET_KEY from DJANGO_SECRET_KEY (the
generated one otherwise), ALLOWED_HOSTS, STATIC_URL, STATIC_ROOT = BASE_DIR/"staticfiles",
STATICFILES_DIRS = [BASE_DIR/"assets"], STORAGES["staticfiles"] = ManifestStaticFilesStorage,
WhiteNoise's middleware; django.contrib.admin stays installed (its static files are collected
too). The app gets static/shop/{css,js,img} with CSS url()s and @import, a url() inside a CSS
comment (/* url(missing.png) */: Django's own collectstatic crashes on it, ticket 21080), a JS
module that imports another, PNG and JPEG images, and templates using {% load static %} and
{% static '...' %}, one view and URL per page. Every JS file marks <html data-js-NAME="ran">.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from images import image  # noqa: E402

PAGES = {"": ("index", "Home"), "products/": ("products", "Products"), "about/": ("about", "About")}

SETTINGS_TAIL = '''

# --- Production settings (grown by tests/frameworks/django_site.py) ---
import os  # noqa: E402

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", SECRET_KEY)
DEBUG = os.environ.get("DJANGO_DEBUG", "true").lower() != "false"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS += ["shop"]
# WhiteNoise serves STATIC_ROOT in production, right after SecurityMiddleware (its docs).
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "whitenoise.middleware.WhiteNoiseMiddleware")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "assets"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
'''


def run(cmd: list[str], cwd: Path) -> None:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")


def js_marker(name: str, body: str = "") -> str:
    return f"{body}document.documentElement.setAttribute(\"data-js-{name}\", \"ran\");\n"


def grow(site: Path) -> dict:
    settings = site / "config" / "settings.py"
    text = settings.read_text(encoding="utf-8")
    if "ManifestStaticFilesStorage" not in text:
        write(settings, text + SETTINGS_TAIL)

    st = site / "shop" / "static" / "shop"
    write(st / "img" / "logo.png", image("png", (48, 48), 11))
    write(st / "img" / "hero.jpg", image("jpeg", (480, 240), 12))
    write(st / "img" / "hero@2x.jpg", image("jpeg", (960, 480), 13))
    write(st / "img" / "icons" / "dot.png", image("png", (16, 16), 14))
    write(st / "css" / "reset.css", "*, *::before, *::after { box-sizing: border-box; }\nbody { margin: 0; }\n")
    write(st / "css" / "site.css", """@import url("reset.css");

/* The logo used to be a sprite: url(missing.png) -- kept as history. Django's own collectstatic
   fails on the url() in this comment (ticket 21080). */
body {
  font-family: system-ui, sans-serif;
  background: #fafafa url("../img/icons/dot.png") repeat;
}

.hero {
  min-height: 240px;
  background-image: url(../img/hero.jpg);
  background-size: cover;
}

.brand {
  background: url('/static/shop/img/logo.png') no-repeat left center / 24px 24px;
  padding-left: 28px;
}
""")
    write(st / "js" / "util.js", "export function markReady(el) { if (el) el.dataset.ready = \"yes\"; }\n"
          + js_marker("util"))
    write(st / "js" / "main.js", "import { markReady } from \"./util.js\";\n\nmarkReady(document.querySelector(\".brand\"));\n"
          + js_marker("main"))
    write(st / "js" / "products.js", "(function () {\n  var items = document.querySelectorAll(\".product\");\n"
          "  for (var i = 0; i < items.length; i++) items[i].dataset.index = String(i);\n})();\n" + js_marker("products"))
    # A project-level static dir (STATICFILES_DIRS) as many sites have.
    write(site / "assets" / "favicon.png", image("png", (32, 32), 15))
    write(site / "assets" / "print.css", "@media print { .site-nav { display: none; } }\n")

    tpl = site / "shop" / "templates" / "shop"
    nav = "".join(f"    <a href=\"{{% url '{v}' %}}\">{t}</a>\n" for _, (v, t) in PAGES.items())
    write(tpl / "_nav.html", f"<nav class=\"site-nav\">\n{nav}</nav>\n")
    write(tpl / "_header.html", """{% load static %}<header>
  <span class="brand"><img src="{% static 'shop/img/logo.png' %}" alt="" width="24" height="24"></span>
  {% include "shop/_nav.html" %}
</header>
""")
    write(tpl / "base.html", """{% load static %}<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{% block title %}{% endblock %} | Shop</title>
  <link rel="icon" href="{% static 'favicon.png' %}">
  <link rel="stylesheet" href="{% static 'shop/css/site.css' %}">
  <link rel="stylesheet" href="{% static 'print.css' %}" media="print">
  <script type="module" src="{% static 'shop/js/main.js' %}"></script>
  {% block head %}{% endblock %}
</head>
<body data-expect-js="main util">
  {% include "shop/_header.html" %}
  <main>{% block content %}{% endblock %}</main>
</body>
</html>
""")
    hero = ("<img class=\"hero\" src=\"{% static 'shop/img/hero.jpg' %}\" "
            "srcset=\"{% static 'shop/img/hero.jpg' %} 1x, {% static 'shop/img/hero@2x.jpg' %} 2x\" alt=\"\">")
    write(tpl / "index.html", "{% extends \"shop/base.html\" %}\n{% load static %}\n{% block title %}Home{% endblock %}\n"
          f"{{% block content %}}\n<h1>Welcome</h1>\n{hero}\n{{% endblock %}}\n")
    write(tpl / "about.html", "{% extends \"shop/base.html\" %}\n{% block title %}About{% endblock %}\n"
          "{% block content %}\n<h1>About</h1>\n<p>A small shop.</p>\n{% endblock %}\n")
    items = "".join(f"  <li class=\"product\"><img src=\"{{% static 'shop/img/icons/dot.png' %}}\" alt=\"\"> {n}</li>\n"
                    for n in ("Kettle", "Lamp", "Mug"))
    write(tpl / "products.html", "{% extends \"shop/base.html\" %}\n{% load static %}\n{% block title %}Products{% endblock %}\n"
          "{% block head %}<script defer src=\"{% static 'shop/js/products.js' %}\"></script>{% endblock %}\n"
          f"{{% block content %}}\n<h1>Products</h1>\n<ul data-expect-js=\"products\">\n{items}</ul>\n{{% endblock %}}\n")

    write(site / "shop" / "views.py", "from django.views.generic import TemplateView\n\n"
          + "".join(f"{v} = TemplateView.as_view(template_name=\"shop/{v}.html\")\n" for _, (v, _) in PAGES.items()))
    write(site / "shop" / "urls.py", "from django.urls import path\n\nfrom . import views\n\nurlpatterns = [\n"
          + "".join(f"    path(\"{p}\", views.{v}, name=\"{v}\"),\n" for p, (v, _) in PAGES.items()) + "]\n")
    urls = site / "config" / "urls.py"
    u = urls.read_text(encoding="utf-8")
    if "shop.urls" not in u:
        u = u.replace("from django.urls import path", "from django.urls import include, path", 1)
        u = u.replace("    path('admin/', admin.site.urls),", "    path('admin/', admin.site.urls),\n    path('', include('shop.urls')),", 1)
        if "shop.urls" not in u:
            raise SystemExit(f"{urls}: startproject's urls.py changed; update django_site.py")
        write(urls, u)
    return {"site": str(site), "settings": "config.settings",
            "pages": ["/" + p for p in PAGES] + ["/admin/login/"], "expect_js": ["main", "util", "products"]}


def main() -> int:
    args = sys.argv[1:]
    if len(args) != 3 or args[0] != "new":
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    site = Path(args[1]).resolve() / args[2]
    site.mkdir(parents=True)
    admin = Path(sys.executable).parent / "django-admin"
    run([str(admin), "startproject", "config", str(site)], site.parent)
    run([sys.executable, "manage.py", "startapp", "shop"], site)
    print(json.dumps(grow(site)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
