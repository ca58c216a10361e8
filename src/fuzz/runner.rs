//! The mutational runner: seeded, single-threaded, no instrumentation.
//!
//! Each case takes an input from the corpus, applies one to four mutations (bit flips,
//! interesting bytes and integers, inserts, deletes, duplicated ranges, splices from another
//! corpus entry, the target's dictionary tokens) and runs the target under `catch_unwind`.
//!
//! "Coverage" without instrumentation is the set of distinct [`Signature`]s: each target folds
//! what a case did (ok or error, the error's kind without its digits, counts and sizes by order
//! of magnitude, which token kinds were seen) into one number. A mutant with a signature not
//! seen before joins the corpus and counts as new coverage. It says which outcomes were
//! reached, not which lines ran.
//!
//! A panic or a broken property is a crash; a case slower than `slow` is a hang (the case did
//! finish); a case still running after `abort_after` is written out by a watchdog thread, which
//! then ends the process (a Rust thread cannot be killed). Every finding's input is minimized
//! and written to `out/<target>/`.

use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use super::{Signature, Target, Verdict};

/// How long a target runs: a number of cases (deterministic: CI) or a wall-clock time.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    Cases(u64),
    Time(Duration),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub budget: Budget,
    pub seed: u64,
    /// Directories of seed inputs (read recursively, sorted; see [`load_seeds`]).
    pub seeds: Vec<PathBuf>,
    /// Also read the optional entries (`?path`) of seed lists.
    pub optional_seeds: bool,
    /// Where reproducers are written (`<out>/<target>/<kind>-<hash>`).
    pub out: PathBuf,
    /// A case that takes longer than this is a hang.
    pub slow: Duration,
    /// A case still running after this ends the process (its input written first).
    pub abort_after: Duration,
    /// Minimize findings before writing them (at most this many reruns each).
    pub minimize_runs: usize,
}

impl Options {
    pub fn new(budget: Budget, out: PathBuf) -> Self {
        Options {
            budget,
            seed: 1,
            seeds: Vec::new(),
            optional_seeds: false,
            out,
            slow: Duration::from_secs(2),
            abort_after: Duration::from_secs(30),
            minimize_runs: 2000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    Panic,
    Violation,
    Hang,
}

impl FindingKind {
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Panic => "panic",
            FindingKind::Violation => "violation",
            FindingKind::Hang => "hang",
        }
    }
}

/// One distinct crash or hang (later inputs failing the same way only count).
#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: FindingKind,
    pub message: String,
    /// The minimized input.
    pub input: Vec<u8>,
    pub reproducer: PathBuf,
    pub count: u64,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    pub cases: u64,
    pub elapsed: Duration,
    pub seeds: usize,
    /// Paths that seed lists name and that do not exist.
    pub missing_seeds: Vec<PathBuf>,
    /// Signatures first reached by a mutant (the seeds' own are not counted).
    pub new_coverage: usize,
    pub signatures: usize,
    pub corpus: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn crashes(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.kind != FindingKind::Hang)
    }

    pub fn hangs(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.kind == FindingKind::Hang)
    }

    pub fn cases_per_second(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn summary(&self) -> String {
        format!(
            "{}: {} cases in {:.1}s ({:.0} cases/s), {} crashes, {} hangs, {} new coverage ({} signatures, corpus {} from {} seeds)",
            self.target,
            self.cases,
            self.elapsed.as_secs_f64(),
            self.cases_per_second(),
            self.crashes().count(),
            self.hangs().count(),
            self.new_coverage,
            self.signatures,
            self.corpus,
            self.seeds
        )
    }
}

/// xorshift64*: small, seeded, the same sequence everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-enough in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Characters that matter to most of the grammars fuzzed here.
const INTERESTING_BYTES: &[u8] = b"{}%#<>\"'\\()[]/*;:=,.@!?-_ \t\n\r\x00\x0c\xff\x80\xc3\xa9";
const INTERESTING_INTS: &[u32] = &[0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];

/// One to four stacked mutations of `base`, cut to `max_len`.
pub fn mutate(rng: &mut Rng, base: &[u8], corpus: &[Vec<u8>], dict: &[&str], max_len: usize) -> Vec<u8> {
    let mut v = base.to_vec();
    let rounds = 1 << rng.below(3);
    for _ in 0..rounds {
        mutate_once(rng, &mut v, corpus, dict);
    }
    v.truncate(max_len);
    v
}

fn mutate_once(rng: &mut Rng, v: &mut Vec<u8>, corpus: &[Vec<u8>], dict: &[&str]) {
    let len = v.len();
    let pos = rng.below(len + 1);
    match rng.below(12) {
        0 if len > 0 => {
            let i = rng.below(len);
            v[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            v[i] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
        }
        2 => {
            let b = if rng.chance(2) { INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())] } else { rng.next_u64() as u8 };
            v.insert(pos, b);
        }
        3 if len > 0 => {
            let n = 1 + rng.below(16.min(len - pos.min(len - 1)));
            let at = pos.min(len - 1);
            v.drain(at..(at + n).min(len));
        }
        4 if len > 0 => {
            // Duplicate a range somewhere else (repeats nest structures).
            let a = rng.below(len);
            let b = (a + 1 + rng.below(64)).min(len);
            let chunk = v[a..b].to_vec();
            let at = rng.below(v.len() + 1);
            v.splice(at..at, chunk);
        }
        5 | 6 if !dict.is_empty() => {
            let tok = dict[rng.below(dict.len())].as_bytes();
            if rng.chance(2) || len == 0 {
                v.splice(pos..pos, tok.iter().copied());
            } else {
                let at = pos.min(len - 1);
                let end = (at + tok.len()).min(len);
                v.splice(at..end, tok.iter().copied());
            }
        }
        7 | 8 if !corpus.is_empty() => {
            let other = &corpus[rng.below(corpus.len())];
            if other.is_empty() {
                return;
            }
            let a = rng.below(other.len());
            let b = (a + 1 + rng.below(256)).min(other.len());
            if rng.chance(2) {
                v.splice(pos..pos, other[a..b].iter().copied());
            } else {
                let end = (pos + (b - a)).min(len);
                v.splice(pos..end, other[a..b].iter().copied());
            }
        }
        9 if len >= 2 => {
            // An interesting integer, either byte order (image headers are full of them).
            let n = INTERESTING_INTS[rng.below(INTERESTING_INTS.len())];
            let width = if rng.chance(2) { 2 } else { 4 };
            let bytes = if rng.chance(2) { n.to_be_bytes() } else { n.to_le_bytes() };
            let bytes = if bytes[0] == 0 && width == 2 { &bytes[2..] } else { &bytes[..width] };
            let at = rng.below(len - 1);
            let end = (at + bytes.len()).min(len);
            v.splice(at..end, bytes.iter().copied().take(end - at));
        }
        10 if len > 0 => v.truncate(rng.below(len)),
        11 if len > 1 => {
            // Swap two bytes.
            let (a, b) = (rng.below(len), rng.below(len));
            v.swap(a, b);
        }
        _ => v.insert(pos, rng.next_u64() as u8),
    }
}

thread_local! {
    /// Set while a case runs on this thread: panics are recorded here instead of printed.
    static CAPTURE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs (once per process) a panic hook that records the message of a panic inside a case
/// and leaves every other panic to the previous hook.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let captured = CAPTURE.with(|c| {
                let mut c = c.borrow_mut();
                match c.as_mut() {
                    Some(slot) => {
                        let msg = info
                            .payload()
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| info.payload().downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "non-string panic".into());
                        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                        *slot = format!("{msg}{at}");
                        true
                    }
                    None => false,
                }
            });
            if !captured {
                previous(info);
            }
        }));
    });
}

/// Runs one case: the verdict, or the panic message.
pub fn run_case(target: &Target, input: &[u8]) -> Result<Verdict, String> {
    install_hook();
    CAPTURE.with(|c| *c.borrow_mut() = Some(String::new()));
    let result = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    let message = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    result.map_err(|_| message)
}

/// What a failing case did, as (kind, message); `None` when it passed.
fn failure(target: &Target, input: &[u8]) -> Option<(FindingKind, String)> {
    match run_case(target, input) {
        Ok(Ok(_)) => None,
        Ok(Err(v)) => Some((FindingKind::Violation, v.0)),
        Err(panic) => Some((FindingKind::Panic, panic)),
    }
}

/// The part of a failure message that identifies it: its first line without digits.
fn failure_key(kind: FindingKind, message: &str) -> String {
    let first = message.lines().next().unwrap_or("");
    format!("{}:{}", kind.name(), first.chars().filter(|c| !c.is_ascii_digit()).collect::<String>())
}

/// Removes chunks (halves down to single bytes) while the input still fails the same way.
pub fn minimize(target: &Target, input: &[u8], kind: FindingKind, message: &str, max_runs: usize) -> Vec<u8> {
    let key = failure_key(kind, message);
    let same = |candidate: &[u8]| failure(target, candidate).is_some_and(|(k, m)| failure_key(k, &m) == key);
    let mut best = input.to_vec();
    let mut runs = 0;
    let mut chunk = best.len().div_ceil(2).max(1);
    while runs < max_runs && !best.is_empty() {
        let mut removed = false;
        let mut at = 0;
        while at < best.len() && runs < max_runs {
            let end = (at + chunk).min(best.len());
            let mut candidate = best[..at].to_vec();
            candidate.extend_from_slice(&best[end..]);
            runs += 1;
            if same(&candidate) {
                best = candidate;
                removed = true;
            } else {
                at = end;
            }
        }
        if chunk == 1 && !removed {
            break;
        }
        if !removed {
            chunk = (chunk / 2).max(1);
        }
    }
    best
}

/// Seed inputs from `dirs` (each read recursively, in sorted order), cut to `max_len`, and the
/// paths that seed lists name but that do not exist.
///
/// A file named `*.seeds` is a list, not a seed: one path a line (`#` starts a comment),
/// relative to the list's directory, of a file or a directory (every file under it); a line
/// starting with `?` names an optional path (the npm libraries the tests fetch), skipped when
/// absent and only read when `optional` is set, so that CI's fixed-budget run sees the same seeds
/// on every machine. Lists keep the corpus the examples and fixtures themselves, not copies that
/// drift. A `<name>.txt` beside a file `<name>` (a regression's note) is not a seed.
pub fn load_seeds(dirs: &[PathBuf], max_len: usize, optional: bool) -> (Vec<Vec<u8>>, Vec<PathBuf>) {
    let walk = |dir: &Path| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .collect();
        files.sort();
        files
    };
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for dir in dirs {
        for f in walk(dir) {
            if f.extension().is_some_and(|e| e == "txt") && f.with_extension("").is_file() {
                continue;
            }
            let listed = if f.extension().is_some_and(|e| e == "seeds") {
                let base = f.parent().unwrap_or(Path::new("."));
                let list = std::fs::read_to_string(&f).unwrap_or_default();
                let mut listed = Vec::new();
                for line in list.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()) {
                    let (optional_path, rel) = match line.strip_prefix('?') {
                        Some(rest) => (true, rest.trim()),
                        None => (false, line),
                    };
                    let path = base.join(rel);
                    if optional_path && !optional {
                        continue;
                    }
                    if path.is_dir() {
                        listed.extend(walk(&path));
                    } else if path.is_file() {
                        listed.push(path);
                    } else if !optional_path {
                        missing.push(path);
                    }
                }
                listed
            } else {
                vec![f]
            };
            for f in listed {
                if let Ok(mut bytes) = std::fs::read(&f) {
                    bytes.truncate(max_len);
                    out.push(bytes);
                }
            }
        }
    }
    (out, missing)
}

fn short_hash(bytes: &[u8]) -> String {
    crate::manifest::md5_hex(bytes)[..12].to_string()
}

fn write_reproducer(out: &Path, target: &str, kind: FindingKind, input: &[u8], message: &str) -> PathBuf {
    let dir = out.join(target);
    let path = dir.join(format!("{}-{}", kind.name(), short_hash(input)));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(&path, input);
    let mut note = path.clone().into_os_string();
    note.push(".txt");
    let _ = std::fs::write(note, format!("{message}\n"));
    path
}

/// The case running now, for the watchdog.
struct Current {
    started: Option<Instant>,
    input: Vec<u8>,
}

/// Runs `target` within `opts.budget`.
pub fn run(target: &Target, opts: &Options) -> Report {
    let mut rng = Rng::new(opts.seed ^ fnv(target.name));
    let (mut corpus, missing_seeds) = load_seeds(&opts.seeds, target.max_len, opts.optional_seeds);
    let seeds = corpus.len();
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let current = Arc::new(Mutex::new(Current { started: None, input: Vec::new() }));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (current, done, out, name, limit) = (current.clone(), done.clone(), opts.out.clone(), target.name, opts.abort_after);
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                let c = current.lock().unwrap_or_else(|e| e.into_inner());
                if c.started.is_some_and(|s| s.elapsed() > limit) {
                    let message = format!("a case ran for more than {}s", limit.as_secs());
                    let path = write_reproducer(&out, name, FindingKind::Hang, &c.input, &message);
                    eprintln!("{name}: HANG: {message}; reproducer {}", path.display());
                    std::process::exit(70);
                }
            }
        })
    };
    let mut seen: HashSet<Signature> = HashSet::new();
    let mut findings: Vec<Finding> = Vec::new();
    let started = Instant::now();
    let mut cases = 0u64;
    let mut new_coverage = 0;
    // The seeds first, as they are; then mutants.
    let mut seed_index = 0;
    loop {
        let over = match opts.budget {
            Budget::Cases(n) => cases >= n,
            Budget::Time(d) => started.elapsed() >= d,
        };
        if over {
            break;
        }
        let from_seed = seed_index < corpus.len().min(seeds.max(1));
        let input = if from_seed {
            seed_index += 1;
            corpus[seed_index - 1].clone()
        } else {
            let base = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, base, &corpus, target.dictionary, target.max_len)
        };
        {
            let mut c = current.lock().unwrap_or_else(|e| e.into_inner());
            c.input.clone_from(&input);
            c.started = Some(Instant::now());
        }
        let t0 = Instant::now();
        let outcome = run_case(target, &input);
        let took = t0.elapsed();
        current.lock().unwrap_or_else(|e| e.into_inner()).started = None;
        cases += 1;
        let failed = match outcome {
            Ok(Ok(sig)) => {
                if seen.insert(sig) && !from_seed {
                    new_coverage += 1;
                    if corpus.len() < 4096 {
                        corpus.push(input.clone());
                    }
                }
                None
            }
            Ok(Err(v)) => Some((FindingKind::Violation, v.0)),
            Err(panic) => Some((FindingKind::Panic, panic)),
        };
        let failed = failed.or_else(|| {
            (took > opts.slow).then(|| (FindingKind::Hang, format!("a case took {} ms (limit {} ms)", took.as_millis(), opts.slow.as_millis())))
        });
        if let Some((kind, message)) = failed {
            let key = failure_key(kind, &message);
            if let Some(f) = findings.iter_mut().find(|f| failure_key(f.kind, &f.message) == key) {
                f.count += 1;
                continue;
            }
            let small = if kind == FindingKind::Hang { input.clone() } else { minimize(target, &input, kind, &message, opts.minimize_runs) };
            let message = match kind {
                FindingKind::Hang => message,
                _ => failure(target, &small).map(|(_, m)| m).unwrap_or(message),
            };
            let reproducer = write_reproducer(&opts.out, target.name, kind, &small, &message);
            findings.push(Finding { kind, message, input: small, reproducer, count: 1 });
        }
    }
    let elapsed = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = watchdog.join();
    Report { target: target.name, cases, elapsed, seeds, missing_seeds, new_coverage, signatures: seen.len(), corpus: corpus.len(), findings }
}

/// FNV-1a, to give each target its own random sequence from one seed.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::PropertyViolation;

    fn boom(b: &[u8]) -> Verdict {
        if b.windows(3).any(|w| w == b"{{%") {
            panic!("found it");
        }
        if b.contains(&b'!') {
            return Err(PropertyViolation("bang".into()));
        }
        Ok(b.len().min(3) as u64)
    }

    #[test]
    fn mutation_is_seeded_and_bounded() {
        let corpus = vec![b"hello {{ x }}".to_vec()];
        let a: Vec<Vec<u8>> = {
            let mut r = Rng::new(7);
            (0..200).map(|_| mutate(&mut r, &corpus[0], &corpus, &["{%"], 20)).collect()
        };
        let mut r = Rng::new(7);
        let b: Vec<Vec<u8>> = (0..200).map(|_| mutate(&mut r, &corpus[0], &corpus, &["{%"], 20)).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|m| m.len() <= 20));
        assert!(a.iter().any(|m| m != &corpus[0]));
    }

    #[test]
    fn panics_and_violations_are_caught_minimized_and_written() {
        let target = Target { name: "boom", properties: "", dictionary: &["{{%", "!"], max_len: 64, run: boom };
        let out = tempfile::tempdir().unwrap();
        let seeds = out.path().join("seeds");
        std::fs::create_dir_all(&seeds).unwrap();
        std::fs::write(seeds.join("a"), b"abc def ghi").unwrap();
        let mut opts = Options::new(Budget::Cases(3000), out.path().join("found"));
        opts.seeds = vec![seeds];
        let report = run(&target, &opts);
        assert_eq!(report.cases, 3000);
        assert_eq!(report.seeds, 1);
        let panic = report.findings.iter().find(|f| f.kind == FindingKind::Panic).expect("the panic is found");
        assert_eq!(panic.input, b"{{%", "minimized");
        assert!(panic.message.starts_with("found it at src/fuzz/runner.rs"), "{}", panic.message);
        assert_eq!(std::fs::read(&panic.reproducer).unwrap(), b"{{%");
        let bang = report.findings.iter().find(|f| f.kind == FindingKind::Violation).expect("the violation is found");
        assert_eq!(bang.input, b"!");
        // The same run again gives the same report.
        let again = run(&target, &opts);
        assert_eq!((again.new_coverage, again.signatures, again.corpus), (report.new_coverage, report.signatures, report.corpus));
    }

    #[test]
    fn seed_lists_read_files_in_place() {
        let d = tempfile::tempdir().unwrap();
        let (corpus, examples) = (d.path().join("corpus/t"), d.path().join("examples"));
        std::fs::create_dir_all(&corpus).unwrap();
        std::fs::create_dir_all(examples.join("dir/sub")).unwrap();
        std::fs::write(examples.join("one.css"), b"a{}").unwrap();
        std::fs::write(examples.join("dir/b"), b"B").unwrap();
        std::fs::write(examples.join("dir/sub/a"), b"A").unwrap();
        std::fs::write(corpus.join("hand"), b"hand").unwrap();
        std::fs::write(corpus.join("crash"), b"crash").unwrap();
        std::fs::write(corpus.join("crash.txt"), b"what it did").unwrap();
        std::fs::write(
            corpus.join("examples.seeds"),
            "# comment\n../../examples/one.css\n\n../../examples/dir/  # a directory\n?../../absent\n?../../examples/one.css\n",
        )
        .unwrap();
        let (seeds, missing) = load_seeds(std::slice::from_ref(&corpus), 100, false);
        assert_eq!(seeds, [&b"crash"[..], b"a{}", b"B", b"A", b"hand"]);
        assert!(missing.is_empty());
        let (seeds, _) = load_seeds(std::slice::from_ref(&corpus), 100, true);
        assert_eq!(seeds.len(), 6, "the optional entry that exists is read");
        std::fs::remove_file(examples.join("one.css")).unwrap();
        let (_, missing) = load_seeds(&[corpus], 100, false);
        assert_eq!(missing.len(), 1);
        assert!(missing[0].ends_with("examples/one.css"), "{missing:?}");
    }
}
