//! Fuzz targets for every parser kiln runs on untrusted or semi-trusted input, and a small
//! mutational runner for them that works on stable Rust (no sanitizer, no instrumentation).
//!
//! A target takes bytes and checks properties, not only "no panic": errors name a position
//! inside the input, outputs are deterministic, nothing is written on error, and each parser's
//! own contract (spans hold what they claim, merge order never matters, paths never leave the
//! static root). It returns a [`Signature`] of what the case did; the runner keeps every mutant
//! whose signature it has not seen before (see `runner` for what that "coverage" means).
//!
//! This sits above `cmd` (it drives `kiln build`'s `[tool.kiln]` and `.env` readers) and is
//! used only by the `kiln-fuzz` binary and tests/fuzz.rs.

pub mod cli;
pub mod runner;
mod targets;

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::diag::LineIndex;

/// A property a target checks did not hold for an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PropertyViolation(pub String);

/// What one case did, folded into a number: equal signatures mean "nothing new happened".
pub type Signature = u64;

pub type Verdict = Result<Signature, PropertyViolation>;

/// One parser under test.
pub struct Target {
    pub name: &'static str,
    /// The properties it checks, one line (bench/RESULTS.md and `kiln-fuzz --list`).
    pub properties: &'static str,
    /// Tokens of the input language the mutator inserts.
    pub dictionary: &'static [&'static str],
    /// Mutants are cut to this many bytes.
    pub max_len: usize,
    pub run: fn(&[u8]) -> Verdict,
}

/// Every target, in a fixed order.
pub fn targets() -> Vec<Target> {
    targets::all()
}

pub fn target(name: &str) -> Option<Target> {
    targets().into_iter().find(|t| t.name == name)
}

/// Builds a [`Signature`] from the features of an outcome.
#[derive(Default)]
pub struct Sig(DefaultHasher);

impl Sig {
    pub fn new(kind: &str) -> Self {
        let mut s = Sig(DefaultHasher::new());
        s.add(kind);
        s
    }

    pub fn add<T: Hash + ?Sized>(&mut self, feature: &T) -> &mut Self {
        feature.hash(&mut self.0);
        self
    }

    /// A count or length by order of magnitude (0, 1, 2–3, 4–7, …), so that sizes alone do not
    /// look new.
    pub fn bucket(&mut self, n: usize) -> &mut Self {
        self.add(&(usize::BITS - n.leading_zeros()))
    }

    /// An error message with its digits dropped (positions and counts vary; the kind does not).
    pub fn message(&mut self, m: &str) -> &mut Self {
        let kind: String = m.chars().filter(|c| !c.is_ascii_digit()).take(80).collect();
        self.add(&kind)
    }

    pub fn done(&self) -> Signature {
        self.0.finish()
    }
}

/// Fails with `message` unless `cond`.
pub fn check(cond: bool, message: impl FnOnce() -> String) -> Result<(), PropertyViolation> {
    if cond {
        Ok(())
    } else {
        Err(PropertyViolation(message()))
    }
}

/// A 1-based line and column (in characters) must name a place in `src`: an existing line, and
/// at most one past its last character.
pub fn position_inside(src: &str, line: usize, col: usize, what: &str) -> Result<(), PropertyViolation> {
    let lines = LineIndex::new(src);
    let count = lines.at(src, src.len()).0;
    check(line >= 1 && line <= count, || format!("{what}: line {line} is outside the input ({count} lines)"))?;
    let start = lines.line_start(line - 1, src);
    let next = if line < count { lines.line_start(line, src) } else { src.len() };
    let text = src[start..next].trim_end_matches(['\n', '\r', '\x0c']);
    let width = text.chars().count();
    check(col >= 1 && col <= width + 1, || format!("{what}: column {col} is outside line {line} ({width} characters)"))
}

/// The same function run twice on one input must give equal results.
pub fn deterministic<T: PartialEq + std::fmt::Debug>(what: &str, first: &T, second: &T) -> Result<(), PropertyViolation> {
    check(first == second, || format!("{what} differs between two runs:\n  {first:?}\n  {second:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_inside_and_outside() {
        let src = "ab\nc\r\n\né";
        assert!(position_inside(src, 1, 3, "x").is_ok());
        assert!(position_inside(src, 1, 4, "x").is_err());
        assert!(position_inside(src, 2, 2, "x").is_ok());
        assert!(position_inside(src, 3, 1, "x").is_ok());
        assert!(position_inside(src, 4, 2, "x").is_ok());
        assert!(position_inside(src, 4, 3, "x").is_err());
        assert!(position_inside(src, 5, 1, "x").is_err());
        assert!(position_inside("", 1, 1, "x").is_ok());
        assert!(position_inside("a", 0, 1, "x").is_err());
    }

    /// Every crash the fuzzer found, minimized, stays fixed: fuzz/regressions/<target>/<input>
    /// (beside each, `<input>.txt` says what it did).
    #[test]
    fn regressions_pass() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
        let mut replayed = 0;
        for t in targets() {
            let Ok(dir) = std::fs::read_dir(root.join(t.name)) else { continue };
            let mut files: Vec<_> = dir.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_none_or(|e| e != "txt")).collect();
            files.sort();
            for f in files {
                let input = std::fs::read(&f).unwrap();
                match runner::run_case(&t, &input) {
                    Ok(Ok(_)) => replayed += 1,
                    Ok(Err(v)) => panic!("{}: {v}", f.display()),
                    Err(panic) => panic!("{}: panic: {panic}", f.display()),
                }
            }
        }
        assert!(replayed >= 9, "only {replayed} regressions found under {}", root.display());
    }

    #[test]
    fn target_names_are_unique() {
        let mut names: Vec<_> = targets().iter().map(|t| t.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
