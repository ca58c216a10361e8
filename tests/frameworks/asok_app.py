#!/usr/bin/env python3
"""Scaffolds an asok app exactly as a user does, then grows it with the assets a real app has.

    asok_app.py new PARENT NAME     # `asok create NAME` in PARENT, `asok make page ...`, then grow
    asok_app.py grow APP            # only the growing step, on an app `asok create` made

Run with the venv's python (tests/frameworks/setup): `asok` is looked up beside sys.executable.
Prints one JSON object: {"app": path, "pages": [URL paths], "expect_js": [marker names]}.

Growing follows asok's real layout (see ../shared/design.md §9): assets under
src/partials/{css,js,images}, asked for by source name with {{ static('...') }}; shared templates
under src/partials/html with nested {% include %}s; CSS url()s to PNG and JPEG images;
IMAGE_OPTIMIZATION=true in .env. Every JS file writes a marker into the DOM
(<html data-js-NAME="ran">) and the element that loads it says so (data-expect-js="NAME"), so a
browser check can tell that the script ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from images import image  # noqa: E402

PAGES = ["products", "about", "blog"]


def asok_cli() -> str:
    exe = Path(sys.executable).parent / "asok"
    if not exe.is_file():
        raise SystemExit(f"{exe}: asok's CLI is not installed beside this python (run tests/frameworks/setup)")
    return str(exe)


def asok(args: list[str], cwd: Path) -> None:
    # `asok create` asks three questions (Tailwind, admin, image optimization): a user presses
    # Enter to each (the defaults: no). Image optimization's answer would download cwebp; the
    # growing step turns IMAGE_OPTIMIZATION on in .env instead, as asok's docs say.
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    r = subprocess.run([asok_cli(), *args], cwd=cwd, input="\n\n\n", capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"asok {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def edit(text: str, old: str, new: str, where: Path) -> str:
    """Replaces the first `old`; asok's scaffold changing under us is an error, never a no-op."""
    if old not in text:
        raise SystemExit(f"{where}: asok's scaffold changed ({old!r} not found); update asok_app.py")
    return text.replace(old, new, 1)


def js_marker(name: str, extra: str = "") -> str:
    return (f"// {name}: marks the page so a browser check can tell that this script ran.\n"
            f"{extra}document.documentElement.setAttribute(\"data-js-{name}\", \"ran\");\n")


def grow(app: Path) -> dict:
    part = app / "src" / "partials"
    base_html = part / "html" / "base.html"
    if not base_html.is_file() or not (app / "wsgi.py").is_file():
        raise SystemExit(f"{app}: not an app made by `asok create` (no wsgi.py or src/partials/html/base.html)")

    # --- images: a JPEG photo (srcset 1x/2x), PNG icons, a PNG and a JPEG only CSS uses ---
    write(part / "images" / "hero.jpg", image("jpeg", (480, 240), 1))
    write(part / "images" / "hero@2x.jpg", image("jpeg", (960, 480), 2))
    write(part / "images" / "icons" / "cart.png", image("png", (32, 32), 3))
    write(part / "images" / "pattern.png", image("png", (24, 24), 4))
    write(part / "images" / "banner.jpg", image("jpeg", (320, 80), 5))

    # --- CSS: the scaffold's base.css gains url()s to images (relative, as a browser resolves them) ---
    css = (part / "css" / "base.css").read_text(encoding="utf-8")
    css += """
/* grown: backgrounds the runtime must serve from the CSS file's own URL */
body {
  background-image: url("../images/pattern.png");
}

.banner {
  min-height: 80px;
  background: #123 url(../images/banner.jpg) no-repeat center / cover;
}

.site-nav a {
  padding-left: 20px;
  background: url('../images/icons/cart.png') no-repeat left center / 16px 16px;
}
"""
    write(part / "css" / "base.css", css)
    write(part / "css" / "products.css", """.product-list {
  display: grid;
  grid-template-columns: repeat(auto-fill, minmax(160px, 1fr));
  gap: 1rem;
}

.product-list li {
  list-style: none;
  background: url("../images/icons/cart.png") no-repeat right top;
}
""")

    # --- JS: base.js is the scaffold's module script; products.js a classic deferred script ---
    write(part / "js" / "base.js", js_marker("base", "const nav = document.querySelector(\".site-nav\");\n"
                                             "if (nav) nav.dataset.ready = \"yes\";\n"))
    write(part / "js" / "products.js", js_marker("products", "var items = document.querySelectorAll(\".product-list li\");\n"
                                                 "items.forEach(function (li, i) { li.dataset.index = String(i); });\n"))

    # --- shared templates: base.html includes header.html, which includes nav.html ---
    base = base_html.read_text(encoding="utf-8")
    base = edit(base, "<body>", "<body data-expect-js=\"base\">\n    {% include \"html/header.html\" %}", base_html)
    base = edit(base, "</body>", "    {% include \"html/footer.html\" %}\n</body>", base_html)
    base = edit(base, "</head>", "    {% block head %}{% endblock %}\n</head>", base_html)
    write(base_html, base)
    links = "".join(f"        <li><a href=\"/{p}\">{p.title()}</a></li>\n" for p in PAGES)
    write(part / "html" / "header.html", """<header class="site-header">
    <a href="/"><img src="{{ static('images/logo.svg') }}" alt="Home" width="32" height="32"></a>
    {% include "html/nav.html" %}
</header>
""")
    write(part / "html" / "nav.html", f"""<nav class="site-nav">
    <ul>
        <li><a href="/">Home</a></li>
{links}    </ul>
</nav>
""")
    write(part / "html" / "footer.html", """<footer class="site-footer">
    <div class="banner"></div>
    <p>&copy; the asok test app</p>
</footer>
""")
    write(part / "html" / "product_card.html", """<li class="product">
    <img src="{{ static('images/icons/cart.png') }}" alt="" width="16" height="16">
    <span>Gift card</span>
</li>
""")

    # --- pages: the ones `asok make page` made, grown ---
    hero = ("<img class=\"hero\" src=\"{{ static('images/hero.jpg') }}\" "
            "srcset=\"{{ static('images/hero.jpg') }} 1x, {{ static('images/hero@2x.jpg') }} 2x\" alt=\"\">")
    products = app / "src" / "pages" / "products" / "page.html"
    text = products.read_text(encoding="utf-8")
    cards = "".join(f"    <li class=\"product\"><span>{n}</span></li>\n" for n in ("Kettle", "Lamp", "Mug"))
    text = edit(text, "{% block main %}", "{% block head %}\n<link rel=\"stylesheet\" href=\"{{ static('css/products.css') }}\">\n"
                        "<script defer src=\"{{ static('js/products.js') }}\" nonce=\"{{ request.nonce }}\"></script>\n"
                        "{% endblock %}\n\n{% block main %}", products)
    text = edit(text, "</div>\n{% endblock %}", "</div>\n<ul class=\"product-list\" data-expect-js=\"products\">\n"
                        + cards + "    {% include \"html/product_card.html\" %}\n</ul>\n{% endblock %}", products)
    write(products, text)
    for name in ("about", "blog"):
        p = app / "src" / "pages" / name / "page.html"
        t = p.read_text(encoding="utf-8")
        t = edit(t, "</div>\n{% endblock %}", f"</div>\n<section class=\"{name}\">\n    {hero}\n    <p>{name.title()} text.</p>\n</section>\n{{% endblock %}}", p)
        write(p, t)
    index = app / "src" / "pages" / "page.html"
    t = index.read_text(encoding="utf-8")
    t = edit(t, "</div>\n{% endblock %}", f"    {hero}\n    </div>\n{{% endblock %}}", index)
    write(index, t)

    env = app / ".env"
    env_text = env.read_text(encoding="utf-8")
    if "IMAGE_OPTIMIZATION" not in env_text:
        write(env, env_text.rstrip("\n") + "\nIMAGE_OPTIMIZATION=true\n")
    return {"app": str(app), "pages": ["/"] + [f"/{p}" for p in PAGES], "expect_js": ["base", "products"]}


def main() -> int:
    args = sys.argv[1:]
    if len(args) == 3 and args[0] == "new":
        parent, name = Path(args[1]).resolve(), args[2]
        parent.mkdir(parents=True, exist_ok=True)
        asok(["create", name], parent)
        for page in PAGES:
            asok(["make", "page", page], parent / name)
        print(json.dumps(grow(parent / name)))
        return 0
    if len(args) == 2 and args[0] == "grow":
        print(json.dumps(grow(Path(args[1]).resolve())))
        return 0
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
