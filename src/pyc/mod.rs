//! Reproducible Python bytecode: .py → .pyc with a given interpreter. `co_filename` is the path
//! relative to the app root, invalidation is hash-based by default, PYTHONHASHSEED=0, and each
//! file's marshal data is put in canonical form (marshal.rs), so its bytes depend on nothing but
//! its own source and the interpreter, not on what the worker compiled before it.

mod marshal;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use serde::Deserialize;

use crate::fsutil::{self, FsError};
use crate::manifest::hex;
use marshal::CodeLayout;

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
#[derive(Debug, Clone)]
pub struct InterpreterInfo {
    pub cache_tag: String,
    pub version: String,
    pub executable: PathBuf,
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
    /// Known for the versions whose marshal format kiln reads; None makes every module compile in
    /// a fresh fork of the worker instead (slower, and deterministic without the rewrite).
    layout: Option<CodeLayout>,
}

impl Compiler {
    /// Starts `jobs` workers. The environment is cleared (no PYTHON* leaks from the caller) and
    /// PYTHONHASHSEED is fixed, so set and frozenset constants come out in a stable order.
    pub fn start(python: &Path, jobs: usize) -> Result<Compiler, PycError> {
        // A launcher (a pyenv shim) picks its interpreter from the caller's environment, which the
        // workers do not get. So it is asked, with that environment, while the workers boot on the
        // program itself; they are started again on its answer only when the two disagree.
        let direct = fsutil::find_program(python).unwrap_or_else(|| python.to_path_buf());
        if is_interpreter_itself(&direct) {
            return start_workers(&direct, jobs).map(|(workers, info)| Compiler::of(direct, workers, info));
        }
        let asked = ask_executable(python)?;
        let early = start_workers(&direct, jobs);
        let resolved = asked.answer()?;
        match early {
            Ok((workers, info)) if info.executable == resolved => Ok(Compiler::of(direct, workers, info)),
            _ => start_workers(&resolved, jobs).map(|(workers, info)| Compiler::of(resolved, workers, info)),
        }
    }

    fn of(python: PathBuf, workers: Vec<Mutex<Worker>>, info: InterpreterInfo) -> Compiler {
        let layout = CodeLayout::for_version(&info.version);
        Compiler { python, workers, info, layout }
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
        let req = format!(
            "{id}\t{}\t{}\t{}\t{}\t{}\n",
            opts.optimize,
            opts.invalidation.as_str(),
            u8::from(self.layout.is_none()),
            hex(abs.as_os_str().as_bytes()),
            hex(src.key.as_bytes())
        );
        let io = |e: std::io::Error| interp_err(&self.python, format!("worker I/O failed: {e}"));
        w.stdin.write_all(req.as_bytes()).and_then(|_| w.stdin.flush()).map_err(io)?;
        let mut line = String::new();
        w.stdout.read_line(&mut line).map_err(io)?;
        let unexpected = || interp_err(&self.python, format!("unexpected worker answer {line:?}"));
        let (ok, size) = match line.split_whitespace().collect::<Vec<_>>()[..] {
            [rid, ok, size] if rid == id.to_string() => (ok == "1", size.parse::<usize>().map_err(|_| unexpected())?),
            _ => return Err(unexpected()),
        };
        let mut payload = vec![0; size];
        w.stdout.read_exact(&mut payload).map_err(io)?;
        if ok {
            if let (Some(layout), Some(data)) = (self.layout, payload.get_mut(PYC_HEADER..)) {
                marshal::canonicalize(data, layout).map_err(|e| interp_err(&self.python, format!("{shown}: {e}")))?;
            }
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

/// `jobs` workers of `python`, all started before any is waited for, so they boot side by side.
fn start_workers(python: &Path, jobs: usize) -> Result<(Vec<Mutex<Worker>>, InterpreterInfo), PycError> {
    let started = (0..jobs.max(1)).map(|_| spawn(python)).collect::<Result<Vec<_>, _>>()?;
    let mut workers = Vec::new();
    let mut info = None;
    for mut w in started {
        info = Some(hello(python, &mut w)?);
        workers.push(Mutex::new(w));
    }
    let info = info.ok_or_else(|| interp_err(python, "no worker started".into()))?;
    Ok((workers, info))
}

/// Whether `program` is an interpreter binary rather than a launcher: it resolves to an ELF file
/// named python…. Launchers are scripts (pyenv's and asdf's shims, Nix wrappers) or a binary of
/// another name (mise's shims link to `mise`), and only they need to be asked which interpreter
/// they run. A venv's `python` is a link to the interpreter and is run by its own path.
fn is_interpreter_itself(program: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(program) else { return false };
    let named_python = real.file_name().is_some_and(|n| n.as_bytes().starts_with(b"python"));
    let mut magic = [0u8; 4];
    named_python && std::fs::File::open(&real).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\x7fELF"
}

/// The question "which interpreter are you?" put to `python` with the caller's environment.
struct Asked<'a> {
    python: &'a Path,
    child: Child,
}

fn ask_executable(python: &Path) -> Result<Asked<'_>, PycError> {
    let child = Command::new(python)
        .args(["-S", "-c", "import sys; sys.stdout.write(sys.executable)"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| interp_err(python, format!("cannot start: {e}")))?;
    Ok(Asked { python, child })
}

impl Asked<'_> {
    /// The real interpreter behind `python`.
    fn answer(self) -> Result<PathBuf, PycError> {
        let out = self.child.wait_with_output().map_err(|e| interp_err(self.python, format!("cannot start: {e}")))?;
        if !out.status.success() || out.stdout.is_empty() {
            return Err(interp_err(self.python, "cannot tell its own executable path (sys.executable is empty)".into()));
        }
        Ok(PathBuf::from(std::ffi::OsString::from_vec(out.stdout)))
    }
}

/// Magic, flags and the 8 bytes of hash or mtime and size before the marshal data (PEP 552).
const PYC_HEADER: usize = 16;

fn spawn(python: &Path) -> Result<Worker, PycError> {
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
    Ok(Worker { child, stdin, stdout: BufReader::new(stdout) })
}

/// The worker's first line: what the interpreter says about itself (tab-separated, the
/// executable's path in hex).
fn hello(python: &Path, worker: &mut Worker) -> Result<InterpreterInfo, PycError> {
    let mut line = String::new();
    worker.stdout.read_line(&mut line).map_err(|e| interp_err(python, e.to_string()))?;
    let not_driver = || interp_err(python, "did not start kiln's compiler driver (is it Python 3.7+?)".into());
    let [cache_tag, version, seed, executable] = line.trim_end().split('\t').collect::<Vec<_>>()[..] else { return Err(not_driver()) };
    let executable = unhex(executable).ok_or_else(not_driver)?;
    Ok(InterpreterInfo {
        cache_tag: cache_tag.to_string(),
        version: version.to_string(),
        executable: PathBuf::from(std::ffi::OsString::from_vec(executable)),
        hash_seed: (seed != "-").then(|| seed.to_string()),
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits.chunks(2).map(|p| std::str::from_utf8(p).ok().and_then(|p| u8::from_str_radix(p, 16).ok())).collect()
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
    fn launchers_are_told_from_interpreters() {
        let t = tempfile::tempdir().unwrap();
        let script = t.path().join("python3");
        std::fs::write(&script, "#!/bin/sh\nexec python3 \"$@\"\n").unwrap();
        assert!(!is_interpreter_itself(&script), "a shim script");
        let elf_named_mise = t.path().join("mise");
        std::fs::write(&elf_named_mise, b"\x7fELF\x02\x01").unwrap();
        let shim = t.path().join("python");
        std::os::unix::fs::symlink(&elf_named_mise, &shim).unwrap();
        assert!(!is_interpreter_itself(&shim), "a link to a launcher binary");
        let elf = t.path().join("python3.11");
        std::fs::write(&elf, b"\x7fELF\x02\x01").unwrap();
        let venv = t.path().join("venv-python");
        std::os::unix::fs::symlink(&elf, &venv).unwrap();
        assert!(is_interpreter_itself(&venv), "a venv's link to the interpreter");
        assert!(!is_interpreter_itself(&t.path().join("missing")));
    }

    #[test]
    fn pyc_paths() {
        let info = InterpreterInfo { cache_tag: "cpython-311".into(), version: "3.11.2".into(), executable: PathBuf::new(), hash_seed: None };
        let mut o = PycOptions::default();
        assert_eq!(pyc_path("src/app.py", &info, &o), "src/app.pyc");
        assert_eq!(pyc_path("wsgi.py", &info, &o), "wsgi.pyc");
        o.keep_source = true;
        assert_eq!(pyc_path("src/app.py", &info, &o), "src/__pycache__/app.cpython-311.pyc");
        o.optimize = 2;
        assert_eq!(pyc_path("wsgi.py", &info, &o), "__pycache__/wsgi.cpython-311.opt-2.pyc");
    }
}
