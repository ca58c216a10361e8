# kiln-pyc-wrap's compiler worker. Reads one request per line on stdin,
#   id TAB optimize TAB invalidation TAB fork TAB hex(path) TAB hex(dfile)
# and answers each with a line `id ok size` followed by `size` bytes: the .pyc, or a JSON error.
# It imports nothing that is not already loaded at startup (json only on an error), so a worker
# is ready as soon as the interpreter is.
#
# marshal's output depends on reference counts left behind by earlier compiles; kiln rewrites it
# into a canonical form for the Python versions whose format it knows, and for any other asks
# (fork = 1) for each file to be compiled in a child forked from this warmed-up process, so that
# its bytes never depend on what was compiled before.
import _imp
import gc
import os
import sys

import _frozen_importlib_external as bootstrap


def compile_one(path, dfile, optimize, invalidation):
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, dfile, "exec", dont_inherit=True, optimize=optimize)
    if invalidation == b"timestamp":
        st = os.stat(path)
        return bytes(bootstrap._code_to_timestamp_pyc(code, int(st.st_mtime), st.st_size))
    source_hash = _imp.source_hash(bootstrap._RAW_MAGIC_NUMBER, source)
    return bytes(bootstrap._code_to_hash_pyc(code, source_hash, invalidation == b"checked-hash"))


def answer(*request):
    try:
        return b"K" + compile_one(*request)
    except SyntaxError as e:
        info = {"type": type(e).__name__, "msg": e.msg, "line": e.lineno or 1, "col": e.offset or 1}
    except Exception as e:  # e.g. ValueError for NUL bytes, UnicodeDecodeError for a bad coding
        info = {"type": type(e).__name__, "msg": str(e)}
    import json

    return b"E" + json.dumps(info).encode()


def main():
    out = sys.stdout.buffer
    compile("x = 1\n", "<warm-up>", "exec")  # initialise the compiler once, before any fork
    seed = os.environ.get("PYTHONHASHSEED") or "-"
    version = "%d.%d.%d" % sys.version_info[:3]
    executable = os.fsencode(sys.executable).hex()
    out.write(("%s\t%s\t%s\t%s\n" % (sys.implementation.cache_tag, version, seed, executable)).encode())
    out.flush()
    can_fork = hasattr(os, "fork")
    # Children share the parent's heap copy-on-write: park it in the permanent generation so
    # a child's garbage collection does not touch (and copy) every parent page.
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()
    for line in sys.stdin.buffer:
        rid, optimize, invalidation, fork, path, dfile = line.rstrip(b"\n").split(b"\t")
        request = (os.fsdecode(bytes.fromhex(path.decode())), bytes.fromhex(dfile.decode()).decode(), int(optimize), invalidation)
        if can_fork and fork == b"1":
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                gc.disable()  # a short-lived child: collecting would only dirty shared pages
                os.close(r)
                payload = answer(*request)
                with os.fdopen(w, "wb") as f:
                    f.write(payload)
                os._exit(0)
            os.close(w)
            with os.fdopen(r, "rb") as f:
                payload = f.read()
            os.waitpid(pid, 0)
        else:
            payload = answer(*request)
        if not payload:
            payload = b'E{"type": "InternalError", "msg": "compiler process died"}'
        out.write(b"%s %d %d\n" % (rid, payload[:1] == b"K", len(payload) - 1))
        out.write(payload[1:])
        out.flush()


main()
