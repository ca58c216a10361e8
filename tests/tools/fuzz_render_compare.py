"""Renders pairs of templates (fuzz-generated originals and their kiln-minify output) with real
Tornado and real Django and checks that each pair's DOMs say the same thing (render_compare.dom:
elements and attributes, visible text, <pre>/<textarea> text). A pair whose original an engine
refuses (syntax that is not its own, a mutant that is not a template any more) is skipped for that
engine; the minified copy of one it renders must render, the same.
Usage: fuzz_render_compare.py ORIGINALS_DIR MINIFIED_DIR  (prints one summary line per engine)"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from render_compare import dom  # noqa: E402

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}])
django.setup()
from django.template import Context, Engine  # noqa: E402
import tornado.template  # noqa: E402

NS = {"x": "<b>x</b>", "name": "Ann", "items": [1, 2, 3], "flag": True, "u": "/a?b=1&c=2", "n": 7}


def tornado_render(src):
    return tornado.template.Template(src, name="t.html").generate(**NS).decode()


ENGINE = Engine()


def django_render(src):
    return ENGINE.from_string(src).render(Context(NS))


def main():
    originals, minified = sys.argv[1:3]
    failures = 0
    for label, render in (("tornado", tornado_render), ("django", django_render)):
        compared = 0
        for name in sorted(os.listdir(originals)):
            a_src = open(os.path.join(originals, name), encoding="utf-8").read()
            b_src = open(os.path.join(minified, name), encoding="utf-8").read()
            try:
                a = render(a_src)
            except Exception:
                continue
            try:
                b = render(b_src)
            except Exception as e:
                failures += 1
                print("MISMATCH %s %s: the minified copy does not render: %r" % (label, name, e))
                continue
            compared += 1
            da, db = list(dom(a)), list(dom(b))
            # A comment inside <pre> splits its text in two; the text shown is the same.
            da[2], db[2] = "".join(da[2]), "".join(db[2])
            for part, what in ((0, "elements"), (1, "visible text"), (2, "pre/textarea text")):
                if da[part] != db[part]:
                    failures += 1
                    print("MISMATCH %s %s in %s:\n  before: %r\n  after:  %r" % (label, name, what, da[part], db[part]))
        print("%s: %d compared" % (label, compared))
    print("%d mismatches" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
