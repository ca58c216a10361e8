//! kiln-pyc-wrap: compiles .py to reproducible .pyc with a given interpreter. Sourceless
//! `mod.pyc` beside where `mod.py` was (default) or `.py` + `__pycache__/mod.<tag>.pyc`
//! (--keep-source). Excluded sources (e.g. migrations) are copied as source.

use std::process::ExitCode;

fn main() -> ExitCode {
    match kiln::cli::parse::<kiln::cmd::pyc_wrap::Args>() {
        Ok(args) => kiln::cmd::pyc_wrap::main(args),
        Err(code) => code,
    }
}
