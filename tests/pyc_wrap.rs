//! kiln-pyc-wrap on examples/shop and on small trees: sourceless bytecode that runs, bytes that
//! do not depend on path, batch order, batch split or job count, and clean failures.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The app's Python sources (as kiln build will pick them: no venv/, node_modules/, dot dirs).
fn py_sources(app: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(app).sort_by_file_name().into_iter().filter_entry(|e| {
        let n = e.file_name().to_string_lossy();
        !(e.depth() > 0 && (n.starts_with('.') || n == "venv" || n == "node_modules" || n == "__pycache__"))
    }) {
        let e = e.unwrap();
        if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "py") {
            out.push(e.path().to_path_buf());
        }
    }
    out
}

fn pyc_wrap(root: &Path, out: &Path, inputs: &[PathBuf], extra: &[&str]) -> std::process::Output {
    run(Command::new(bin("kiln-pyc-wrap")).arg("--python").arg("python3").arg("--root").arg(root).arg("-o").arg(out).args(extra).args(inputs))
}

#[test]
fn sourceless_shop_imports_and_answers_requests() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    let o = pyc_wrap(&shop(), &out, &py_sources(&shop()), &["--exclude", "src/migrations/**"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The non-Python parts the app needs at run time.
    copy_tree(&shop().join("src/templates"), &out.join("src/templates"));
    copy_tree(&shop().join("src/partials"), &out.join("src/partials"));
    let files = files_under(&out);
    let stray: Vec<&String> = files.iter().filter(|f| f.ends_with(".py") && !f.starts_with("src/migrations/")).collect();
    assert!(stray.is_empty(), "sources left outside src/migrations: {stray:?}");
    for f in ["wsgi.pyc", "src/app.pyc", "src/migrations/0001_initial.py", "src/migrations/__init__.py"] {
        assert!(files.iter().any(|x| x == f), "{f} missing from {files:?}");
    }
    let script = r#"
import io, json, sys
sys.path.insert(0, '.')
import wsgi
assert wsgi.__file__.endswith('wsgi.pyc'), wsgi.__file__
def get(path):
    env = {'REQUEST_METHOD': 'GET', 'PATH_INFO': path, 'QUERY_STRING': '', 'SERVER_NAME': 'x', 'SERVER_PORT': '80',
           'wsgi.input': io.BytesIO(), 'wsgi.errors': sys.stderr, 'wsgi.url_scheme': 'http', 'SERVER_PROTOCOL': 'HTTP/1.1'}
    status = []
    body = b''.join(wsgi.app(env, lambda s, h, e=None: status.append(s)))
    return status[0], body
s, body = get('/')
assert s.startswith('200'), s
s, body = get('/api/products')
assert s.startswith('200'), s
products = json.loads(body)["products"]
print(len(products))
"#;
    let o = run(Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(&out)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("DEBUG", "true")
        .env("SECRET_KEY", "test-only"));
    assert!(o.status.success(), "the sourceless app did not run:\n{}", stderr(&o));
    let n: usize = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert!(n >= 4, "expected the seeded products, got {n}");
}

#[test]
fn bytes_do_not_depend_on_path_order_split_or_jobs() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("deeper/checkout/b");
    copy_tree(&shop(), &a);
    copy_tree(&shop(), &b);
    let out_a = tmp.path().join("out-a");
    let out_b = tmp.path().join("out-b");
    // A: one sorted batch, one job.
    let o = pyc_wrap(&a, &out_a, &py_sources(&a), &["-j", "1", "--exclude", "src/migrations/**"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // B: reversed order, split into three batches, two jobs, another TZ.
    let mut srcs = py_sources(&b);
    srcs.reverse();
    for chunk in srcs.chunks(srcs.len() / 3 + 1) {
        let o = run(Command::new(bin("kiln-pyc-wrap"))
            .args(["--python", "python3", "-j", "2", "--exclude", "src/migrations/**", "--root"])
            .arg(&b)
            .arg("-o")
            .arg(&out_b)
            .args(chunk)
            .env("TZ", "Asia/Kathmandu")
            .env("PYTHONHASHSEED", "12345"));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_same_tree(&out_a, &out_b);
    // One module alone gives the same bytes as inside the batch.
    let single = tmp.path().join("single");
    let o = pyc_wrap(&b, &single, &[b.join("src/templating.py")], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fs::read(single.join("src/templating.pyc")).unwrap(), fs::read(out_a.join("src/templating.pyc")).unwrap());
    // Header: PEP 552 unchecked hash (flags = 1), and co_filename is root-relative.
    let pyc = fs::read(out_a.join("src/app.pyc")).unwrap();
    assert_eq!(&pyc[4..8], &[1, 0, 0, 0]);
    let script = "import marshal,sys\nc=marshal.loads(open(sys.argv[1],'rb').read()[16:])\nprint(c.co_filename)";
    let o = run(Command::new("python3").arg("-c").arg(script).arg(out_a.join("src/app.pyc")));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "src/app.py");
    let bytes = fs::read(out_a.join("src/app.pyc")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&*tmp.path().to_string_lossy()), "absolute path embedded in the .pyc");
}

#[test]
fn keep_source_writes_pycache_that_python_accepts() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("app");
    write(&root.join("pkg/__init__.py"), "");
    write(&root.join("pkg/mod.py"), "VALUE = {'b', 'a'}\n");
    let out = tmp.path().join("out");
    let o = pyc_wrap(&root, &out, &[root.join("pkg/__init__.py"), root.join("pkg/mod.py")], &["--keep-source", "--invalidation", "checked-hash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files = files_under(&out);
    let tag = String::from_utf8(run(Command::new("python3").args(["-c", "import sys;print(sys.implementation.cache_tag,end='')"])).stdout).unwrap();
    assert_eq!(
        files,
        ["pkg/__init__.py".to_string(), format!("pkg/__pycache__/__init__.{tag}.pyc"), format!("pkg/__pycache__/mod.{tag}.pyc"), "pkg/mod.py".into()]
    );
    // Python must load our cache file rather than recompile: make __pycache__ read-only data and
    // check the loader reports it as a valid, source-matching cache.
    let script = "import importlib.util,sys\nsys.path.insert(0,'.')\nimport pkg.mod\nassert pkg.mod.__cached__.endswith('.pyc')\n\
        from importlib.machinery import SourceFileLoader\nl=SourceFileLoader('pkg.mod','pkg/mod.py')\n\
        data=open(pkg.mod.__cached__,'rb').read()\nassert data[4:8]==b'\\x03\\x00\\x00\\x00'\n\
        assert data[8:16]==importlib.util.source_hash(open('pkg/mod.py','rb').read())\nprint('ok')";
    let o = run(Command::new("python3").arg("-c").arg(script).current_dir(&out).env("PYTHONDONTWRITEBYTECODE", "1"));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn syntax_errors_name_path_line_col_and_write_nothing() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("app");
    write(&root.join("good.py"), "x = 1\n");
    write(&root.join("bad.py"), "def f(:\n    pass\n");
    write(&root.join("worse.py"), "if True:\n  x = 1\n    y = 2\n");
    let out = tmp.path().join("out");
    let inputs = [root.join("good.py"), root.join("bad.py"), root.join("worse.py")];
    let o = pyc_wrap(&root, &out, &inputs, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let bad = root.join("bad.py").display().to_string();
    let worse = root.join("worse.py").display().to_string();
    assert!(err.contains(&format!("{bad}:1:7: SyntaxError: ")), "{err}");
    assert!(err.contains(&format!("{worse}:3:4: IndentationError: unexpected indent")), "{err}");
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(!out.exists(), "nothing may be written for a failed batch");
    // --keep-going: the good file is written, failures listed, still exit 1.
    let o = pyc_wrap(&root, &out, &inputs, &["--keep-going"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(files_under(&out), ["good.pyc"]);
    assert_eq!(stderr(&o).lines().count(), 2);
    // Sources are untouched.
    assert_eq!(fs::read_to_string(root.join("bad.py")).unwrap(), "def f(:\n    pass\n");
}

#[test]
fn bad_invocations_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("app");
    write(&root.join("a.py"), "x = 1\n");
    // An input outside the root.
    let o = pyc_wrap(&root, &tmp.path().join("out"), &[tmp.path().join("elsewhere.py")], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("path escapes the root"), "{}", stderr(&o));
    // Output inside the root.
    let o = pyc_wrap(&root, &root.join("out"), &[root.join("a.py")], &[]);
    assert_eq!(o.status.code(), Some(2));
    // A missing interpreter.
    let o = run(Command::new(bin("kiln-pyc-wrap"))
        .args(["--python", "/nonexistent/python3", "--root"])
        .arg(&root)
        .arg("-o")
        .arg(tmp.path().join("out"))
        .arg(root.join("a.py")));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("python interpreter /nonexistent/python3: cannot start"), "{}", stderr(&o));
    // A missing source.
    if require("python3") {
        let o = pyc_wrap(&root, &tmp.path().join("out"), &[root.join("gone.py")], &[]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(stderr(&o).trim(), format!("{}: no such file", root.join("gone.py").display()));
    }
    assert!(!tmp.path().join("out").exists());
}

/// The compiler worker gets a cleared environment except LD_LIBRARY_PATH, which a relocated
/// interpreter with a shared libpython needs to start (Bazel's kiln_pyc sets it on remote workers).
#[test]
fn the_interpreter_keeps_ld_library_path_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let seen = t.join("seen");
    // A stand-in interpreter: answers the sys.executable question, then records its environment.
    let fake = t.join("python");
    write(
        &fake,
        format!(
            "#!/bin/sh\ncase \"$3\" in 'import sys; sys.stdout.write(sys.executable)') printf %s \"$0\"; exit 0;; esac\n\
             printf '%s|%s|%s\\n' \"${{LD_LIBRARY_PATH-unset}}\" \"${{KILN_SECRET-unset}}\" \"${{PYTHONHASHSEED-unset}}\" > {}\nexit 1\n",
            seen.display()
        ),
    );
    fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    write(&t.join("app/a.py"), "x = 1\n");
    let o = run(Command::new(bin("kiln-pyc-wrap"))
        .arg("--python")
        .arg(&fake)
        .arg("--root")
        .arg(t.join("app"))
        .arg("-o")
        .arg(t.join("out"))
        .arg(t.join("app/a.py"))
        .env("LD_LIBRARY_PATH", "external/kiln_toolchain/python/lib")
        .env("KILN_SECRET", "leaks"));
    assert_eq!(o.status.code(), Some(1), "a broken interpreter must fail the batch: {}", stderr(&o));
    assert_eq!(fs::read_to_string(&seen).unwrap(), "external/kiln_toolchain/python/lib|unset|0\n");
    assert!(!t.join("out").exists(), "output written after a failure");
}
