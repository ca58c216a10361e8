//! What every binary does at its edge: `@params` expansion, error lines and exit codes
//! (0 done, 1 bad input, 2 usage — clap's own code for usage errors).

use std::ffi::OsString;
use std::fmt::Display;
use std::process::ExitCode;

/// Expands each `@FILE` argument into the file's lines, one argument per line, as Bazel writes
/// params files (`multiline` format). Empty lines are skipped.
pub fn args_with_params() -> Result<Vec<OsString>, String> {
    expand_params(std::env::args_os())
}

pub fn expand_params(args: impl IntoIterator<Item = OsString>) -> Result<Vec<OsString>, String> {
    let mut out = Vec::new();
    for (i, arg) in args.into_iter().enumerate() {
        let s = arg.to_string_lossy();
        match s.strip_prefix('@') {
            Some(file) if i > 0 && !file.is_empty() => {
                let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: cannot read params file: {e}"))?;
                out.extend(text.lines().filter(|l| !l.is_empty()).map(OsString::from));
            }
            _ => out.push(arg),
        }
    }
    Ok(out)
}

/// Parses the command line, `@params` files expanded; a params file that cannot be read is
/// reported as bad input.
pub fn parse<T: clap::Parser>() -> Result<T, ExitCode> {
    match args_with_params() {
        Ok(argv) => Ok(T::parse_from(argv)),
        Err(e) => Err(fail([e])),
    }
}

/// Prints each problem on its own line on stderr and returns exit code 1.
pub fn fail<E: Display>(errors: impl IntoIterator<Item = E>) -> ExitCode {
    for e in errors {
        eprintln!("{e}");
    }
    ExitCode::from(1)
}

/// Ends a batch action: without `keep_going`, any failure means nothing is written; with it,
/// the good outputs are written and every failure is still listed (exit 1).
pub fn finish_batch<E: Display>(staged: crate::fsutil::Staged, failures: Vec<E>, keep_going: bool) -> ExitCode {
    match commit_batch(staged, !failures.is_empty(), keep_going) {
        Err(e) => fail([e]),
        Ok(_) if failures.is_empty() => ExitCode::SUCCESS,
        Ok(_) => fail(failures),
    }
}

/// The write decision of [`finish_batch`], without the printing (the fuzz targets run it):
/// whether the staged outputs were written.
pub fn commit_batch(staged: crate::fsutil::Staged, failed: bool, keep_going: bool) -> Result<bool, crate::fsutil::FsError> {
    if failed && !keep_going {
        return Ok(false);
    }
    staged.commit().map(|()| true)
}

pub fn usage(message: impl Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_files_expand_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("args.params");
        std::fs::write(&p, "--compress\na b.css\n\nc.css\n").unwrap();
        let args = ["tool", "-o", "out", &format!("@{}", p.display()), "@"].map(OsString::from);
        let got = expand_params(args).unwrap();
        assert_eq!(got, ["tool", "-o", "out", "--compress", "a b.css", "c.css", "@"].map(OsString::from));
        assert!(expand_params(["tool", "@/nonexistent/params"].map(OsString::from)).is_err());
    }
}
