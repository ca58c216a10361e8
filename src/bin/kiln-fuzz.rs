//! kiln-fuzz: a mutational fuzzer over every parser kiln runs on untrusted input (stable Rust).

use std::process::ExitCode;

fn main() -> ExitCode {
    match kiln::cli::parse::<kiln::fuzz::cli::Args>() {
        Ok(args) => kiln::fuzz::cli::main(args),
        Err(code) => code,
    }
}
