//! kiln-manifest-merge: merges partial manifests into manifest.json (and, on request, Django's
//! staticfiles.json and a Vite-style manifest). Input order never changes the output.

use std::process::ExitCode;

fn main() -> ExitCode {
    match kiln::cli::parse::<kiln::cmd::manifest_merge::Args>() {
        Ok(args) => kiln::cmd::manifest_merge::main(args),
        Err(code) => code,
    }
}
