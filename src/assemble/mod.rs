//! Assembling a dist: which files of an app ship and how (`classify`), the generated
//! `.env.production`, `Content` (bytes in memory or a cache blob), and the deterministic writers
//! (`write_dist`: a directory swapped in whole or updated in place, or a `.tar.zst`, `.tar.gz` or
//! `.zip` with fixed times, owners and modes). `kiln-dist-assemble` lays a dist out from
//! `dest<TAB>src` lines; `kiln build` (pipeline) writes its files through the same code.

pub mod archive;
pub mod classify;
pub mod content;
pub mod writer;

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use crate::fsutil::{self, FsError};

use classify::is_secret;
pub use classify::{classify, env_production, is_dev_dir, Class, Layout};
pub use content::Content;
pub(crate) use writer::{file_mode, update_dir, write_dir};
pub use writer::{FileStat, WrittenFile};

/// mtime of every archive entry: 2000-01-01T00:00:00Z.
pub const FIXED_MTIME: u64 = 946_684_800;

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{dest}: two different files for one destination: {first} and {second}")]
    Conflict { dest: String, first: String, second: String },
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {message}")]
    Archive { path: String, message: String },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Several(Vec<FsError>),
}

/// All the errors, or none.
fn all_ok(mut errors: Vec<FsError>) -> Result<(), DistError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0).into()),
        _ => Err(DistError::Several(errors)),
    }
}

/// One file of a dist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    pub dest: String,
    pub content: Content,
    pub executable: bool,
}

/// The output kinds, by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Dir,
    TarZst,
    TarGz,
    Zip,
}

pub fn output_kind(out: &Path) -> OutputKind {
    let name = out.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
        OutputKind::TarZst
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        OutputKind::TarGz
    } else if name.ends_with(".zip") {
        OutputKind::Zip
    } else {
        OutputKind::Dir
    }
}

/// Whether an existing directory may be replaced by a dist: empty, or a previous kiln output
/// (its `manifest.json` is a kiln manifest).
pub fn replaceable(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            entries.next().is_none() || std::fs::read(dir.join("manifest.json")).is_ok_and(|b| crate::manifest::parse("manifest.json", &b).is_ok())
        }
        Err(_) => false,
    }
}

/// Refuses outputs that would destroy sources: the source root itself, a directory that contains
/// it, an existing directory that is not a previous dist, or a path inside one of the inputs.
pub fn check_output(out: &Path, src: &Path) -> Result<(), DistError> {
    let o = fsutil::absolute_lexical(out)?;
    let s = fsutil::absolute_lexical(src)?;
    let shown = fsutil::display(out);
    if o == s {
        return Err(DistError::Refused(format!("refusing to write the dist to {shown}: it is the source tree itself")));
    }
    if s.starts_with(&o) {
        return Err(DistError::Refused(format!("refusing to write the dist to {shown}: it contains the source tree {}", fsutil::display(src))));
    }
    if o.is_dir() && output_kind(out) == OutputKind::Dir && !replaceable(&o) {
        return Err(DistError::Refused(format!("refusing to replace {shown}: it exists and is not a kiln output (no kiln manifest.json in it)")));
    }
    if o.exists() && !o.is_dir() && output_kind(out) == OutputKind::Dir {
        return Err(DistError::Refused(format!("refusing to replace {shown}: it is a file")));
    }
    Ok(())
}

/// Writes a dist: a directory (built beside `out`, swapped in only when complete) or an archive
/// chosen by the extension. Files are sorted; modes are 0644, or 0755 for executables.
pub fn write_dist(out: &Path, files: &[DistFile]) -> Result<(), DistError> {
    match output_kind(out) {
        OutputKind::Dir => write_dir(out, &with_md5(files), &[]).map(|_| ()),
        kind => {
            let mut sorted: Vec<&DistFile> = files.iter().collect();
            sorted.sort_by(|a, b| a.dest.cmp(&b.dest));
            let bytes = archive::archive(kind, &sorted).map_err(|message| DistError::Archive { path: fsutil::display(out), message })?;
            fsutil::atomic_write(out, &bytes)?;
            Ok(())
        }
    }
}

/// Each file with the md5 of its bytes (computed in parallel), sorted by destination.
pub(crate) fn with_md5(files: &[DistFile]) -> Vec<(&DistFile, String)> {
    let mut out: Vec<(&DistFile, String)> = files.par_iter().map(|f| (f, f.content.md5().to_string())).collect();
    out.sort_by(|a, b| a.0.dest.cmp(&b.0.dest));
    out
}

/// Whether a source file is executable (any x bit).
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Reads `dest<TAB>src[<TAB>MODE]` lines into dist files. A file is executable when `src` is,
/// unless MODE (`644` or `755`) says otherwise: Bazel makes every output it produces 0555, so its
/// rules mark generated files `644`. The same dest twice is fine with the same bytes and an error
/// naming both sources otherwise; a secret or development artifact is refused.
pub fn files_from_params(text: &str, base: &Path) -> Result<Vec<DistFile>, Vec<DistError>> {
    let mut errors = Vec::new();
    let mut by_dest: BTreeMap<String, (String, DistFile)> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((dest, src)) = line.split_once('\t') else {
            errors.push(DistError::Refused(format!("params line {}: expected dest<TAB>src", n + 1)));
            continue;
        };
        let (src, mode) = match src.split_once('\t') {
            None => (src, None),
            Some((src, "644")) => (src, Some(false)),
            Some((src, "755")) => (src, Some(true)),
            Some((_, other)) => {
                errors.push(DistError::Refused(format!("params line {}: mode {other:?} is neither 644 nor 755", n + 1)));
                continue;
            }
        };
        let dest = match fsutil::normalize_rel(dest) {
            Ok(d) => d,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        // Bytecode is an output here; secrets and files inside development directories never are.
        let parts: Vec<&str> = dest.split('/').collect();
        // (`__pycache__/` holds the bytecode that `--keep-source` ships.)
        if is_secret(parts[parts.len() - 1]) || parts[..parts.len() - 1].iter().any(|d| is_dev_dir(d) && *d != "__pycache__") {
            errors.push(DistError::Refused(format!("{dest}: refusing to ship a secret or development artifact")));
            continue;
        }
        let src_path = base.join(src);
        let real = std::fs::canonicalize(&src_path).unwrap_or_else(|_| src_path.clone());
        let src_secret = [src_path.file_name(), real.file_name()].into_iter().flatten().any(|n| is_secret(&n.to_string_lossy()));
        if src_secret {
            errors.push(DistError::Refused(format!("{dest}: refusing to ship the secret {src}")));
            continue;
        }
        let bytes = match fsutil::read(&src_path) {
            Ok(b) => b,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        let file = DistFile { dest: dest.clone(), executable: mode.unwrap_or_else(|| is_executable(&src_path)), content: bytes.into() };
        match by_dest.get(&dest) {
            Some((first, prev)) if prev.content != file.content => {
                errors.push(DistError::Conflict { dest, first: first.clone(), second: src.to_string() })
            }
            Some(_) => {}
            None => {
                by_dest.insert(dest, (src.to_string(), file));
            }
        }
    }
    if errors.is_empty() {
        Ok(by_dest.into_values().map(|(_, f)| f).collect())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_modes_override_the_source_exec_bit() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.pyc");
        std::fs::write(&out, "x").unwrap();
        // As Bazel leaves its outputs.
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o555)).unwrap();
        let p = out.display();
        let files = files_from_params(&format!("a.pyc\t{p}\t644\nb.pyc\t{p}\nc.pyc\t{p}\t755\n"), Path::new(".")).unwrap();
        let exec: Vec<(&str, bool)> = files.iter().map(|f| (f.dest.as_str(), f.executable)).collect();
        assert_eq!(exec, [("a.pyc", false), ("b.pyc", true), ("c.pyc", true)]);
        assert!(files_from_params(&format!("a\t{p}\t600\n"), Path::new(".")).is_err());
    }

    #[test]
    fn refuses_outputs_that_would_destroy_sources() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("app");
        std::fs::create_dir_all(src.join("src")).unwrap();
        std::fs::write(src.join("src/x.py"), "x = 1\n").unwrap();
        assert!(check_output(&src, &src).is_err());
        assert!(check_output(dir.path(), &src).is_err());
        assert!(check_output(&src.join("src"), &src).is_err());
        assert!(check_output(&src.join("dist"), &src).is_ok());
        assert!(check_output(&dir.path().join("elsewhere"), &src).is_ok());
    }
}
