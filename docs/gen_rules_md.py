#!/usr/bin/env python3
"""Writes docs/rules.md from the docstrings of kiln's Bazel rules (rules/*.bzl).

    python3 docs/gen_rules_md.py          # rewrite docs/rules.md
    python3 docs/gen_rules_md.py --check  # exit 1 when docs/rules.md is stale (tests/bazel.rs)

Starlark is close enough to Python for Python's own parser: every public name of
rules/defs.bzl is followed to its `rule(...)` (its `doc` and every attribute's `doc`, type,
default and whether it is mandatory) or to its macro's docstring (`Args:`). An attribute or a
macro argument without a doc is an error: every one is documented.
"""

import ast
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "rules.md")


class Missing(Exception):
    pass


def parse(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return ast.parse(f.read(), rel)


def module_values(tree):
    """Module-level `NAME = expr` assignments and `def`s of a .bzl file."""
    values, defs = {}, {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
        elif isinstance(node, ast.FunctionDef):
            defs[node.name] = node
    return values, defs


def loads(tree):
    """{local name: (file, name)} of the file's load() statements."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") == "load":
            label = node.value.args[0].value
            for kw in node.value.keywords:
                out[kw.arg] = (label, kw.value.value)
            for a in node.value.args[1:]:
                out[a.value] = (label, a.value)
    return out


def label_file(label, here):
    if label.startswith(":"):
        return os.path.join(os.path.dirname(here), label[1:])
    pkg, name = label.lstrip("/").split(":")
    return os.path.join(pkg, name)


def const(node, values):
    """The Python value of a constant expression (strings, numbers, lists, dicts, names)."""
    if isinstance(node, ast.Name) and node.id in values:
        return const(values[node.id], values)
    if isinstance(node, ast.Name) and node.id in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return const(node.left, values) + const(node.right, values)
    return ast.literal_eval(node)


def attr_info(name, call, values, where):
    """(type, default, mandatory, doc) of an `attr.<type>(…)` call (or kiln's `_exe(doc)`)."""
    if isinstance(call.func, ast.Name) and call.func.id == "_exe":
        return ("label (executable)", "", True, const(call.args[0], values))
    kind = call.func.attr
    kw = {k.arg: k.value for k in call.keywords}
    doc = const(kw["doc"], values) if "doc" in kw else ""
    if not doc:
        raise Missing("%s: attribute `%s` has no doc" % (where, name))
    default = ""
    if "default" in kw:
        try:
            default = "`%s`" % starlark_repr(const(kw["default"], values))
        except ValueError:
            default = "`%s`" % ast.unparse(kw["default"])
    mandatory = "mandatory" in kw and const(kw["mandatory"], values)
    if "values" in kw:
        doc += " One of: %s." % ", ".join("`%s`" % starlark_repr(v) for v in const(kw["values"], values))
    return (kind.replace("_", " "), default, mandatory, doc)


def starlark_repr(v):
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, str):
        return '"%s"' % v
    if isinstance(v, list):
        return "[%s]" % ", ".join(starlark_repr(x) for x in v)
    if isinstance(v, dict):
        return "{%s}" % ", ".join("%s: %s" % (starlark_repr(k), starlark_repr(x)) for k, x in v.items())
    return repr(v)


def attrs_of(node, values, where):
    """The attrs of a rule: a dict literal, a name, or kiln's `_attrs({...})` (shared + own)."""
    if isinstance(node, ast.Name):
        return attrs_of(values[node.id], values, where)
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_attrs":
        merged = attrs_of(values["_HASH_ATTRS"], values, where)
        merged.update(attrs_of(node.args[0], values, where))
        return merged
    out = {}
    for k, v in zip(node.keys, node.values):
        name = const(k, values)
        out[name] = attr_info(name, v, values, where)
    return out


def rule_doc(call, values, where):
    kw = {k.arg: k.value for k in call.keywords}
    if "doc" not in kw:
        raise Missing("%s: no doc" % where)
    doc = const(kw["doc"], values)
    attrs = attrs_of(kw["attrs"], values, where) if "attrs" in kw else {}
    attrs["name"] = ("name", "", True, "A unique name for this target.")
    return doc, attrs


ARG = re.compile(r"^\s{2,}(\*{0,2}\w+):\s*(.*)$")


def macro_doc(fn, where):
    """The summary and the `Args:` of a macro's docstring; every parameter must be there."""
    doc = ast.get_docstring(fn) or ""
    if not doc:
        raise Missing("%s: no docstring" % where)
    text, _, args_text = doc.partition("\nArgs:\n")
    args, current = {}, None
    for line in args_text.splitlines():
        m = ARG.match(line)
        if m and len(line) - len(line.lstrip()) <= 4:
            current = m.group(1).lstrip("*")
            args[current] = m.group(2)
        elif current and line.strip():
            args[current] += " " + line.strip()
    params = [a.arg for a in fn.args.args]
    defaults = dict(zip(params[len(params) - len(fn.args.defaults):], fn.args.defaults))
    kwarg = fn.args.kwarg.arg if fn.args.kwarg else None
    if kwarg:
        params.append(kwarg)
    rows = {}
    for p in params:
        if p not in args:
            raise Missing("%s: argument `%s` is not documented (Args:)" % (where, p))
        default = "`%s`" % ast.unparse(defaults[p]) if p in defaults else ""
        rows[p] = ("", default, p not in defaults and p != kwarg, args[p])
    return text.strip(), rows


def table(rows):
    lines = ["| attribute | type | default | description |", "|---|---|---|---|"]
    order = ["name"] + sorted(k for k in rows if k != "name")
    for k in order:
        if k not in rows:
            continue
        kind, default, mandatory, doc = rows[k]
        default = "mandatory" if mandatory else (default or "")
        lines.append("| `%s` | %s | %s | %s |" % (k, kind, default, " ".join(doc.split()).replace("|", "\\|")))
    return "\n".join(lines)


def render():
    defs_tree = parse("rules/defs.bzl")
    exported, _ = module_values(defs_tree)
    imported = loads(defs_tree)
    _, local_defs = module_values(defs_tree)
    out = [
        "# kiln's Bazel rules",
        "",
        "Generated by `python3 docs/gen_rules_md.py` from the docstrings of `rules/*.bzl`; do not edit",
        "(`cargo test --release --test bazel rules_md` fails when this file is stale).",
        "",
        "```python",
        'load("@kiln//rules:defs.bzl", "kiln_static", "kiln_manifest", "kiln_minify", "kiln_pyc", "kiln_dist", "kiln_serve")',
        "```",
        "",
    ]
    sections = []
    for public in list(exported) + [d for d in local_defs if not d.startswith("_")]:
        if public.startswith("_") or public.endswith("Info"):
            continue
        if public in local_defs:
            summary, rows = macro_doc(local_defs[public], "rules/defs.bzl: %s" % public)
            sections.append((public, "macro", summary, rows))
            continue
        target = exported[public]
        local = target.id
        label, name = imported[local]
        rel = label_file(label, "rules/defs.bzl")
        tree = parse(rel)
        values, fns = module_values(tree)
        where = "%s: %s" % (rel, name)
        if name in fns:
            summary, rows = macro_doc(fns[name], where)
            sections.append((public, "macro", summary, rows))
        else:
            doc, rows = rule_doc(values[name], values, where)
            sections.append((public, "rule", doc, rows))
    for public, kind, doc, rows in sections:
        out += ["## %s" % public, "", "*%s*" % kind, "", doc.strip(), "", table(rows), ""]

    # The toolchain repository: how the binaries are found (repo.bzl's module docstring), and
    # the WORKSPACE macro (rules/repositories.bzl).
    repo_tree = parse("rules/private/repo.bzl")
    _, repo_fns = module_values(repo_tree)
    summary, rows = macro_doc(repo_fns["kiln_register_toolchains"], "rules/private/repo.bzl: kiln_register_toolchains")
    out += [
        "## kiln_register_toolchains",
        "",
        "*WORKSPACE macro*, `load(\"@kiln//rules:repositories.bzl\", \"kiln_register_toolchains\")` (Bazel 7+ with",
        "MODULE.bazel needs none: `bazel_dep(name = \"kiln\")` registers the toolchain).",
        "",
        summary,
        "",
        table(rows),
        "",
        "### The toolchain repository",
        "",
        ast.get_docstring(repo_tree).strip(),
        "",
    ]
    return "\n".join(out).rstrip() + "\n"


def main():
    try:
        text = render()
    except Missing as e:
        print("docs/gen_rules_md.py: %s" % e, file=sys.stderr)
        return 1
    if "--check" in sys.argv:
        current = open(OUT, encoding="utf-8").read() if os.path.exists(OUT) else ""
        if current != text:
            print("docs/rules.md is stale: run `python3 docs/gen_rules_md.py`", file=sys.stderr)
            return 1
        return 0
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
