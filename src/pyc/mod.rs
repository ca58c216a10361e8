//! Reproducible Python bytecode: .py → .pyc with a given interpreter. `co_filename` is the path
//! relative to the app root, invalidation is hash-based by default, PYTHONHASHSEED=0, and each
//! file is compiled in a process forked from a warmed-up worker, so its bytes depend on nothing
//! but its own source and the interpreter.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use serde::Deserialize;

use crate::fsutil::{self, FsError};

const DRIVER: &str = include_str!("driver.py");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Invalidation {
    /// PEP 552 hash-based, never checked against the source: reproducible and fastest to import.
    #[default]
    UncheckedHash,
    /// Hash-based, checked against the source when it is present.
    CheckedHash,
    /// Source mtime and size in the header: not reproducible across checkouts.
    Timestamp,
}

impl Invalidation {
    fn as_str(self) -> &'static str {
        match self {
            Invalidation::UncheckedHash => "unchecked-hash",
            Invalidation::CheckedHash => "checked-hash",
            Invalidation::Timestamp => "timestamp",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PycOptions {
    pub optimize: u8,
    pub invalidation: Invalidation,
    /// Keep `mod.py` and write `__pycache__/mod.<tag>.pyc` (else a sourceless `mod.pyc`).
    pub keep_source: bool,
}

impl Default for PycOptions {
    fn default() -> Self {
        PycOptions { optimize: 0, invalidation: Invalidation::UncheckedHash, keep_source: false }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PycError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}:{line}:{col}: {kind}: {message}")]
    Syntax { path: String, line: u64, col: u64, kind: String, message: String },
    #[error("{path}: {kind}: {message}")]
    Compile { path: String, kind: String, message: String },
    #[error("{path}: not a Python source (expected a .py file)")]
    NotPython { path: String },
    #[error("python interpreter {python}: {message}")]
    Interpreter { python: String, message: String },
}

/// What the interpreter said about itself.
#[derive(Debug, Clone, Deserialize)]
pub struct InterpreterInfo {
    pub cache_tag: String,
    pub version: String,
    pub executable: String,
    pub hash_seed: Option<String>,
}

/// One source to compile: its key (path relative to the app root, used as `co_filename`) and
/// where to read it.
#[derive(Debug, Clone)]
pub struct Source {
    pub key: String,
    pub path: PathBuf,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Deserialize)]
struct Header {
    ok: bool,
    size: usize,
}

#[derive(Deserialize)]
struct Failure {
    #[serde(rename = "type")]
    kind: String,
    msg: String,
    line: Option<u64>,
    col: Option<u64>,
}

/// A pool of warmed-up compiler workers of one interpreter.
pub struct Compiler {
    python: PathBuf,
    workers: Vec<Mutex<Worker>>,
    pub info: InterpreterInfo,
}

impl Compiler {
    /// Starts `jobs` workers. The environment is cleared (no PYTHON* leaks from the caller) and
    /// PYTHONHASHSEED is fixed, so set and frozenset constants come out in a stable order.
    pub fn start(python: &Path, jobs: usize) -> Result<Compiler, PycError> {
        let python = &resolve_interpreter(python)?;
        let mut workers = Vec::new();
        let mut info = None;
        for _ in 0..jobs.max(1) {
            let (w, i) = spawn(python)?;
            workers.push(Mutex::new(w));
            info = Some(i);
        }
        let info = info.ok_or_else(|| interp_err(python, "no worker started".into()))?;
        Ok(Compiler { python: python.to_path_buf(), workers, info })
    }

    /// Compiles every source (in parallel across workers); results are in input order.
    pub fn compile(&self, sources: &[Source], opts: &PycOptions) -> Vec<Result<Vec<u8>, PycError>> {
        let next = Mutex::new(0usize);
        type Slot = Mutex<Option<Result<Vec<u8>, PycError>>>;
        let results: Vec<Slot> = sources.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for worker in &self.workers {
                scope.spawn(|| loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(src) = sources.get(i) else { break };
                    let mut w = worker.lock().unwrap_or_else(|e| e.into_inner());
                    let r = self.compile_on(&mut w, i, src, opts);
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                });
            }
        });
        results
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()).unwrap_or_else(|| Err(interp_err(&self.python, "worker stopped".into()))))
            .collect()
    }

    fn compile_on(&self, w: &mut Worker, id: usize, src: &Source, opts: &PycOptions) -> Result<Vec<u8>, PycError> {
        let shown = fsutil::display(&src.path);
        // Fail here, with kiln's own wording, rather than with a Python traceback.
        let abs = fsutil::absolute_lexical(&src.path)?;
        fsutil::read(&abs).map(drop)?;
        let req = serde_json::json!({
            "id": id,
            "path": abs.to_string_lossy(),
            "dfile": src.key,
            "optimize": opts.optimize,
            "invalidation": opts.invalidation.as_str(),
        });
        let io = |e: std::io::Error| interp_err(&self.python, format!("worker I/O failed: {e}"));
        writeln!(w.stdin, "{req}").and_then(|_| w.stdin.flush()).map_err(io)?;
        let mut line = String::new();
        w.stdout.read_line(&mut line).map_err(io)?;
        let header: Header = serde_json::from_str(&line).map_err(|_| interp_err(&self.python, format!("unexpected worker answer {line:?}")))?;
        let mut payload = vec![0; header.size];
        w.stdout.read_exact(&mut payload).map_err(io)?;
        if header.ok {
            return Ok(payload);
        }
        let f: Failure = serde_json::from_slice(&payload).map_err(|_| interp_err(&self.python, "unreadable error from worker".into()))?;
        Err(match (f.line, f.col) {
            (Some(line), Some(col)) => PycError::Syntax { path: shown, line, col, kind: f.kind, message: f.msg },
            _ => PycError::Compile { path: shown, kind: f.kind, message: f.msg },
        })
    }
}

fn interp_err(python: &Path, message: String) -> PycError {
    PycError::Interpreter { python: fsutil::display(python), message }
}

/// The real interpreter behind `python` (a launcher such as a pyenv shim picks one from the
/// caller's environment, which the workers do not get), asked once with that environment.
pub fn resolve_interpreter(python: &Path) -> Result<PathBuf, PycError> {
    let out = Command::new(python)
        .args(["-S", "-c", "import sys; sys.stdout.write(sys.executable)"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| interp_err(python, format!("cannot start: {e}")))?;
    let exe = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || exe.is_empty() {
        return Err(interp_err(python, "cannot tell its own executable path (sys.executable is empty)".into()));
    }
    Ok(PathBuf::from(exe))
}

fn spawn(python: &Path) -> Result<(Worker, InterpreterInfo), PycError> {
    let mut cmd = Command::new(python);
    cmd.arg("-S").arg("-c").arg(DRIVER);
    cmd.env_clear().env("PYTHONHASHSEED", "0").env("PYTHONDONTWRITEBYTECODE", "1").env("PYTHONUTF8", "1");
    // Where a relocated interpreter finds its shared libpython (Bazel's kiln_pyc declares it as an
    // input and points this at it). It picks which library loads, never what it compiles.
    if let Some(dirs) = std::env::var_os("LD_LIBRARY_PATH") {
        cmd.env("LD_LIBRARY_PATH", dirs);
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| interp_err(python, format!("cannot start: {e}")))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(interp_err(python, "no pipes to the worker".into()));
    };
    let mut worker = Worker { child, stdin, stdout: BufReader::new(stdout) };
    let mut hello = String::new();
    worker.stdout.read_line(&mut hello).map_err(|e| interp_err(python, e.to_string()))?;
    let info: InterpreterInfo =
        serde_json::from_str(&hello).map_err(|_| interp_err(python, "did not start kiln's compiler driver (is it Python 3.7+?)".into()))?;
    Ok((worker, info))
}

/// Where a compiled source goes, relative to the output root.
pub fn pyc_path(key: &str, info: &InterpreterInfo, opts: &PycOptions) -> String {
    let stem = key.strip_suffix(".py").unwrap_or(key);
    if !opts.keep_source {
        return format!("{stem}.pyc");
    }
    let (dir, name) = match stem.rfind('/') {
        Some(i) => (&stem[..=i], &stem[i + 1..]),
        None => ("", stem),
    };
    let opt = if opts.optimize > 0 { format!(".opt-{}", opts.optimize) } else { String::new() };
    format!("{dir}__pycache__/{name}.{}{opt}.pyc", info.cache_tag)
}

/// The files a batch produces: (path relative to the output root, bytes). Excluded sources are
/// copied as source; with `keep_source` every source is copied beside its bytecode.
pub fn layout(compiler: &Compiler, sources: &[Source], excluded: &[Source], opts: &PycOptions) -> (Vec<(String, Vec<u8>)>, Vec<PycError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for s in sources {
        if !s.key.ends_with(".py") {
            errors.push(PycError::NotPython { path: fsutil::display(&s.path) });
        }
    }
    if !errors.is_empty() {
        return (files, errors);
    }
    for (s, r) in sources.iter().zip(compiler.compile(sources, opts)) {
        match r {
            Ok(bytes) => {
                files.push((pyc_path(&s.key, &compiler.info, opts), bytes));
                if opts.keep_source {
                    match fsutil::read(&s.path) {
                        Ok(src) => files.push((s.key.clone(), src)),
                        Err(e) => errors.push(e.into()),
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    for s in excluded {
        match fsutil::read(&s.path) {
            Ok(src) => files.push((s.key.clone(), src)),
            Err(e) => errors.push(e.into()),
        }
    }
    files.sort();
    (files, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyc_paths() {
        let info = InterpreterInfo { cache_tag: "cpython-311".into(), version: "3.11.2".into(), executable: "".into(), hash_seed: None };
        let mut o = PycOptions::default();
        assert_eq!(pyc_path("src/app.py", &info, &o), "src/app.pyc");
        assert_eq!(pyc_path("wsgi.py", &info, &o), "wsgi.pyc");
        o.keep_source = true;
        assert_eq!(pyc_path("src/app.py", &info, &o), "src/__pycache__/app.cpython-311.pyc");
        o.optimize = 2;
        assert_eq!(pyc_path("wsgi.py", &info, &o), "__pycache__/wsgi.cpython-311.opt-2.pyc");
    }
}
