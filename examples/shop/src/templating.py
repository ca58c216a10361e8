"""A small Tornado-compatible template engine (a subset of tornado.template).

Supported: ``{{ expr }}`` (autoescaped with html.escape, like Tornado >= 6.4),
``{# comment #}``, ``{{!`` / ``{%!`` escapes, and the tags ``extends``,
``block``, ``apply``, ``for``, ``while``, ``if``/``elif``/``else``, ``set``,
``raw``, ``whitespace``, ``break``/``continue`` and ``end``.  Templates are
compiled to Python code, exactly like Tornado does, and whitespace is filtered
per text chunk with Tornado's rules (``single`` for .html/.js files by default,
text chunks containing ``<pre>`` are left alone), so a template renders to the
same text here and under real Tornado given the same namespace.
"""
import html
import json
import os
import re
import threading

__all__ = ["Loader", "Template", "TemplateSyntaxError", "filter_whitespace"]


class TemplateSyntaxError(Exception):
    def __init__(self, message, name="<string>", line=0):
        super().__init__("%s at %s:%d" % (message, name, line))
        self.filename, self.lineno = name, line


def filter_whitespace(mode, text):
    if mode == "all":
        return text
    if mode == "single":
        return re.sub(r"(\s*\n\s*)", "\n", re.sub(r"([\t ]+)", " ", text))
    if mode == "oneline":
        return re.sub(r"(\s+)", " ", text)
    raise ValueError("invalid whitespace mode %s" % mode)


def _to_str(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value if isinstance(value, str) else str(value)


# The part of Tornado's default template namespace this engine provides.
DEFAULT_NAMESPACE = {
    "xhtml_escape": lambda v: html.escape(_to_str(v)),
    "json_encode": lambda v: json.dumps(v).replace("</", "<\\/"),
}

_INTERMEDIATE = {"else": {"if", "for", "while"}, "elif": {"if"}}
_BLOCKS = ("apply", "block", "if", "for", "while")


class _Reader:
    def __init__(self, name, text, whitespace):
        self.name, self.text, self.pos, self.line, self.whitespace = name, text, 0, 1, whitespace

    def find(self, needle, start=0):
        i = self.text.find(needle, self.pos + start)
        return -1 if i == -1 else i - self.pos

    def consume(self, count=None):
        end = len(self.text) if count is None else self.pos + count
        s = self.text[self.pos:end]
        self.pos = end
        self.line += s.count("\n")
        return s

    def remaining(self):
        return len(self.text) - self.pos

    def char(self, i):
        return self.text[self.pos + i]

    def error(self, msg):
        raise TemplateSyntaxError(msg, self.name, self.line)


def _parse(r, tpl, in_block=None, in_loop=False):
    """Returns a list of nodes: (kind, line, payload...)."""
    body = []
    while True:
        curly = 0
        while True:  # find the next directive, same rules as Tornado
            curly = r.find("{", curly)
            if curly == -1 or curly + 1 == r.remaining():
                if in_block:
                    r.error("Missing {%% end %%} block for %s" % in_block)
                body.append(("text", r.line, r.consume(), r.whitespace))
                return body
            if r.char(curly + 1) not in "{%#":
                curly += 1
                continue
            if curly + 2 < r.remaining() and r.char(curly + 1) == "{" and r.char(curly + 2) == "{":
                curly += 1
                continue
            break
        if curly > 0:
            body.append(("text", r.line, r.consume(curly), r.whitespace))
        brace, line = r.consume(2), r.line
        if r.remaining() and r.char(0) == "!":
            r.consume(1)
            body.append(("text", line, brace, r.whitespace))
            continue
        closer = {"{#": "#}", "{{": "}}", "{%": "%}"}[brace]
        end = r.find(closer)
        if end == -1:
            r.error("Missing end %s %s" % ({"{#": "comment", "{{": "expression", "{%": "block"}[brace], closer))
        contents = r.consume(end).strip()
        r.consume(2)
        if brace == "{#":
            continue
        if not contents:
            r.error("Empty expression" if brace == "{{" else "Empty block tag ({% %})")
        if brace == "{{":
            body.append(("expr", line, contents, False))
            continue
        op, _, suffix = contents.partition(" ")
        suffix = suffix.strip()
        if op in _INTERMEDIATE:
            if in_block not in _INTERMEDIATE[op]:
                r.error("%s outside %s block" % (op, "/".join(sorted(_INTERMEDIATE[op]))))
            body.append(("mid", line, contents))
        elif op == "end":
            if not in_block:
                r.error("Extra {% end %} block")
            return body
        elif op == "extends":
            tpl.parent = suffix.strip('"').strip("'") or r.error("extends missing file path")
        elif op in ("set", "raw"):
            suffix or r.error("%s missing statement" % op)
            body.append(("stmt", line, suffix) if op == "set" else ("expr", line, suffix, True))
        elif op == "whitespace":
            filter_whitespace(suffix, "")
            r.whitespace = suffix
        elif op in ("break", "continue"):
            in_loop or r.error("%s outside for/while block" % op)
            body.append(("stmt", line, contents))
        elif op in _BLOCKS:
            inner = _parse(r, tpl, op, op in ("for", "while") or (in_loop and op != "apply"))
            if op in ("apply", "block") and not suffix:
                r.error("%s missing %s" % (op, "method name" if op == "apply" else "name"))
            if op == "block":
                tpl.blocks[suffix] = inner
                body.append(("named", line, suffix))
            else:
                body.append((op, line, suffix if op == "apply" else contents, inner))
        else:
            r.error("unknown operator: %r" % op)


class Template:
    def __init__(self, source, name="<string>", loader=None, whitespace=None):
        self.name, self.loader, self.parent, self.blocks = name, loader, None, {}
        if whitespace is None:
            whitespace = (loader and loader.whitespace) or (
                "single" if name.endswith((".html", ".js")) else "all")
        filter_whitespace(whitespace, "")
        self.body = _parse(_Reader(name, source, whitespace), self)
        if self.parent is not None and loader is None:
            raise TemplateSyntaxError("extends needs a Loader", name, 1)
        chain = [self]  # self, parent, grandparent, ...
        while chain[-1].parent is not None:
            chain.append(loader.load(chain[-1].parent, chain[-1].name))
        blocks = {}
        for t in reversed(chain):  # the most derived template wins
            blocks.update((bname, (t.name, bbody)) for bname, bbody in t.blocks.items())
        self._lines, self._map, self._n = ["def _tt_execute():"], [(name, 1)], 0
        self._emit(1, "_tt_buffer = []", (name, 1))
        self._emit(1, "_tt_append = _tt_buffer.append", (name, 1))
        self._gen(chain[-1].body, 1, chain[-1].name, blocks)
        self._emit(1, "return ''.join(_tt_buffer)", (name, 1))
        self.code = "\n".join(self._lines) + "\n"
        try:
            self.compiled = compile(self.code, "<template %s>" % name, "exec", dont_inherit=True)
        except SyntaxError as e:
            src = self._map[(e.lineno or 1) - 1]
            raise TemplateSyntaxError("Invalid Python (%s)" % e.msg, src[0], src[1]) from None

    def _emit(self, indent, code, where):
        self._lines.append("    " * indent + code)
        self._map.append(where)

    def _gen(self, nodes, ind, tname, blocks):
        for node in nodes:
            kind, line, where = node[0], node[1], (tname, node[1])
            if kind == "text":
                value = node[2] if "<pre>" in node[2] else filter_whitespace(node[3], node[2])
                if value:
                    self._emit(ind, "_tt_append(%r)" % value, where)
            elif kind == "expr":
                fn = "_tt_str" if node[3] else "_tt_escape"
                self._emit(ind, "_tt_append(%s(%s))" % (fn, node[2]), where)
            elif kind == "stmt":
                self._emit(ind, node[2], where)
            elif kind == "mid":
                self._emit(ind, "pass", where)
                self._emit(ind - 1, node[2] + ":", where)
            elif kind == "named":
                owner, bbody = blocks[node[2]]
                self._gen(bbody, ind, owner, blocks)
            elif kind == "apply":
                fname = "_tt_apply%d" % self._n
                self._n += 1
                self._emit(ind, "def %s():" % fname, where)
                self._emit(ind + 1, "_tt_buffer = []", where)
                self._emit(ind + 1, "_tt_append = _tt_buffer.append", where)
                self._gen(node[3], ind + 1, tname, blocks)
                self._emit(ind + 1, "return ''.join(_tt_buffer)", where)
                self._emit(ind, "_tt_append(_tt_str(%s(%s())))" % (node[2], fname), where)
            else:  # if / for / while
                self._emit(ind, node[2] + ":", where)
                self._gen(node[3], ind + 1, tname, blocks)
                self._emit(ind + 1, "pass", where)

    def generate(self, **kwargs):
        ns = dict(DEFAULT_NAMESPACE)
        ns.update(self.loader.namespace if self.loader else {})
        ns.update(kwargs)
        ns.update(_tt_str=_to_str, _tt_escape=lambda v: html.escape(_to_str(v)),
                  __name__=self.name.replace(".", "_"))
        exec(self.compiled, ns)
        return ns["_tt_execute"]()


class Loader:
    """Loads templates from a directory; ``load(name)`` is cached and thread-safe."""

    def __init__(self, root, namespace=None, whitespace=None):
        self.root, self.namespace, self.whitespace = os.path.abspath(root), namespace or {}, whitespace
        self._cache, self._lock = {}, threading.RLock()

    def resolve(self, name, parent=None):
        if parent and not parent.startswith(("<", "/")) and not name.startswith("/"):
            name = os.path.normpath(os.path.join(os.path.dirname(parent), name)).replace(os.sep, "/")
        return name

    def load(self, name, parent=None):
        name = self.resolve(name, parent)
        with self._lock:
            if name not in self._cache:
                path = os.path.join(self.root, name)
                if not os.path.realpath(path).startswith(os.path.realpath(self.root) + os.sep):
                    raise ValueError("template %r outside the template root" % name)
                with open(path, encoding="utf-8") as f:
                    self._cache[name] = Template(f.read(), name, self)
            return self._cache[name]
