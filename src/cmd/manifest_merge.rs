//! kiln-manifest-merge: merges partial manifests into manifest.json (and, on request, Django's
//! staticfiles.json and a Vite-style manifest). Input order never changes the output.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::fsutil::{self, Staged};
use crate::{cli, manifest};
use clap::Parser;
use rayon::prelude::*;

#[derive(Parser)]
#[command(version, about = "Merge partial manifests into manifest.json")]
pub struct Args {
    /// The merged kiln manifest.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: PathBuf,
    /// Also write Django's ManifestStaticFilesStorage manifest here.
    #[arg(long, value_name = "FILE")]
    django: Option<PathBuf>,
    /// Also write a Vite-style manifest here (e.g. OUT/.vite/manifest.json).
    #[arg(long, value_name = "FILE")]
    vite: Option<PathBuf>,
    /// Partial manifests; `@FILE` reads them from a params file.
    #[arg(required = true)]
    partials: Vec<PathBuf>,
}

pub fn main(args: Args) -> ExitCode {
    let parsed: Vec<Result<(String, manifest::Manifest), String>> = args
        .partials
        .par_iter()
        .map(|p| {
            let name = fsutil::display(p);
            let bytes = fsutil::read(p).map_err(|e| e.to_string())?;
            let m = manifest::parse(&name, &bytes).map_err(|e| e.to_string())?;
            Ok((name, m))
        })
        .collect();
    let (ok, errors): (Vec<_>, Vec<_>) = parsed.into_iter().partition(Result::is_ok);
    if !errors.is_empty() {
        return cli::fail(errors.into_iter().filter_map(Result::err));
    }
    let merged = match manifest::merge(ok.into_iter().filter_map(Result::ok).collect()) {
        Ok(m) => m,
        Err(errs) => return cli::fail(errs),
    };
    let mut staged = Staged::new();
    staged.add(args.out.clone(), fsutil::stable_json(&merged));
    if let Some(p) = &args.django {
        staged.add(p.clone(), fsutil::stable_json(&manifest::django_staticfiles(&merged)));
    }
    if let Some(p) = &args.vite {
        staged.add(p.clone(), fsutil::stable_json(&manifest::vite_manifest(&merged)));
    }
    match staged.commit() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::fail([e]),
    }
}
