# kiln-pyc-wrap's compiler worker. Reads one JSON request per line on stdin and answers each with
# a JSON header line followed by `size` bytes of .pyc. Every file is compiled in a child forked
# from this warmed-up process, so its bytes never depend on what was compiled before it
# (marshal's output depends on reference counts and interning left behind by earlier compiles).
import gc
import importlib.util
import json
import os
import sys
from importlib._bootstrap_external import _code_to_hash_pyc, _code_to_timestamp_pyc


def compile_one(req):
    with open(req["path"], "rb") as f:
        source = f.read()
    code = compile(source, req["dfile"], "exec", dont_inherit=True, optimize=req["optimize"])
    if req["invalidation"] == "timestamp":
        st = os.stat(req["path"])
        return bytes(_code_to_timestamp_pyc(code, int(st.st_mtime), st.st_size))
    checked = req["invalidation"] == "checked-hash"
    return bytes(_code_to_hash_pyc(code, importlib.util.source_hash(source), checked))


def answer(req):
    try:
        return b"K" + compile_one(req)
    except SyntaxError as e:
        info = {"type": type(e).__name__, "msg": e.msg, "line": e.lineno or 1, "col": e.offset or 1}
    except Exception as e:  # e.g. ValueError for NUL bytes, UnicodeDecodeError for a bad coding
        info = {"type": type(e).__name__, "msg": str(e)}
    return b"E" + json.dumps(info).encode()


def main():
    out = sys.stdout.buffer
    compile("x = 1\n", "<warm-up>", "exec")  # initialise the compiler once, before any fork
    hello = {
        "cache_tag": sys.implementation.cache_tag,
        "version": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "hash_seed": os.environ.get("PYTHONHASHSEED"),
    }
    out.write(json.dumps(hello).encode() + b"\n")
    out.flush()
    fork = hasattr(os, "fork")
    # Children share the parent's heap copy-on-write: park it in the permanent generation so
    # a child's garbage collection does not touch (and copy) every parent page.
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    for line in sys.stdin.buffer:
        req = json.loads(line)
        if fork:
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                gc.disable()  # a short-lived child: collecting would only dirty shared pages
                os.close(r)
                payload = answer(req)
                with os.fdopen(w, "wb") as f:
                    f.write(payload)
                os._exit(0)
            os.close(w)
            with os.fdopen(r, "rb") as f:
                payload = f.read()
            os.waitpid(pid, 0)
        else:
            payload = answer(req)
        if not payload:
            payload = b"E" + json.dumps({"type": "InternalError", "msg": "compiler process died"}).encode()
        header = {"id": req["id"], "ok": payload[:1] == b"K", "size": len(payload) - 1}
        out.write(json.dumps(header).encode() + b"\n")
        out.write(payload[1:])
        out.flush()


main()
