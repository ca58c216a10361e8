//! Step "clone": the app's tree minus development artifacts, secrets, the output and the cache,
//! every file classified and read once (with its md5, the key of every unit made from it), and
//! the digest of all the inputs that the last-build memo compares.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::assets::StaticFile;
use super::{BuildConfig, BuildError, Errors, Problems};
use crate::assemble::{classify, is_dev_dir, is_executable, Class};
use crate::fsutil::{self, EntryKind, FsError};
use crate::manifest::md5_hex;

/// One file of the app that the build reads.
pub struct Source {
    pub class: Class,
    pub bytes: Vec<u8>,
    pub executable: bool,
    pub md5: String,
}

/// The app's files that the build reads, by path in the app.
pub struct Tree {
    /// Files found, read or not (the summary's "files in").
    pub files_in: usize,
    pub sources: BTreeMap<String, Source>,
    /// Static files the framework found outside the static root (Django's finders), read.
    pub found: Vec<StaticFile>,
}

impl Tree {
    fn of_class(&self, class: Class) -> impl Iterator<Item = (&String, &Source)> {
        self.sources.iter().filter(move |(_, s)| s.class == class)
    }

    /// The static files: those the framework found, and the static root's, keyed by their path
    /// under it.
    pub fn statics(&self, config: &BuildConfig) -> Vec<StaticFile> {
        let static_prefix = config.static_prefix();
        let found = self.found.iter().map(|f| StaticFile { key: f.key.clone(), path: f.path.clone(), bytes: f.bytes.clone(), md5: f.md5.clone() });
        let root = self.of_class(Class::Static).map(|(rel, s)| StaticFile {
            key: rel[static_prefix.len()..].to_string(),
            path: config.src.join(rel),
            bytes: s.bytes.clone(),
            md5: s.md5.clone(),
        });
        found.chain(root).collect()
    }

    /// The modules compiled to bytecode, with their md5.
    pub fn modules(&self) -> Vec<(&String, &Source)> {
        self.of_class(Class::Python).collect()
    }

    /// The templates, with their path in the app.
    pub fn templates(&self) -> impl Iterator<Item = (&String, &Source)> {
        self.of_class(Class::Template)
    }
}

/// Walks, classifies and reads the app. Symlinks out of the tree and unreadable files are
/// problems; a walk that fails is the end of the build.
pub fn read_tree(config: &BuildConfig, problems: &mut Problems) -> Result<Tree, Errors> {
    let src = &config.src;
    let abs_src = fsutil::absolute_lexical(src).map_err(super::one)?;
    let abs_out = fsutil::absolute_lexical(&config.out).map_err(super::one)?;
    let skip_abs: Vec<PathBuf> =
        [Some(abs_out.clone()), config.cache_dir.as_deref().and_then(|c| fsutil::absolute_lexical(c).ok())].into_iter().flatten().collect();
    // The dist's own staging directories beside it (`.<name>.kiln-new-…`).
    let out_name = abs_out.file_name().map(|n| format!(".{}.kiln-", n.to_string_lossy())).unwrap_or_default();
    let entries = fsutil::walk(src, &|rel, is_dir| {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        (is_dir && is_dev_dir(name)) || name.starts_with(&out_name) || skip_abs.iter().any(|s| *s == abs_src.join(rel))
    })
    .map_err(super::one)?;
    let layout = &config.layout;
    let mut files: BTreeMap<String, (Class, PathBuf)> = BTreeMap::new();
    for e in entries {
        let class = classify(&e.rel, layout);
        let shipped = !matches!(class, Class::DevArtifact | Class::Secret);
        match &e.kind {
            EntryKind::LinkOutside => {
                if shipped {
                    let shown = fsutil::display(&e.path);
                    problems.push(BuildError::Message(format!("{shown}: symlink points outside the source tree; refusing to follow it")));
                }
                continue;
            }
            EntryKind::LinkInside { target } if shipped && classify(target, layout) == Class::Secret => {
                problems.push(BuildError::Message(format!("{}: symlink to the secret {target}; refusing to ship it", fsutil::display(&e.path))));
                continue;
            }
            _ => {}
        }
        files.insert(e.rel.clone(), (class, e.path));
    }
    let read: Vec<Result<(String, Source), Errors>> = files
        .par_iter()
        .filter(|(_, (c, _))| !matches!(c, Class::DevArtifact | Class::Secret | Class::Database | Class::RootGitignore))
        .map(|(rel, (class, path))| {
            let bytes = fsutil::read(path).map_err(super::one)?;
            let md5 = md5_hex(&bytes);
            Ok((rel.clone(), Source { class: *class, bytes, executable: is_executable(path), md5 }))
        })
        .collect();
    let sources = problems.keep(read).into_iter().collect();
    let found: Vec<Result<StaticFile, Errors>> = config
        .found
        .par_iter()
        .map(|(key, path)| fsutil::read(path).map(|b| StaticFile::new(key.clone(), path.clone(), b)).map_err(super::one))
        .collect();
    let found = problems.keep(found);
    Ok(Tree { files_in: files.len(), sources, found })
}

/// The digest of everything a dist is made of: kiln's version, the options that shape its bytes,
/// the tools' identities and every source file (path, class, content, mode). None when a tool
/// cannot be identified (the build then reports it).
pub fn inputs_digest(config: &BuildConfig, tree: &Tree) -> Option<String> {
    let python = program_id(&config.python).ok()?;
    let lessc = match &config.lessc {
        Some(l) => program_id(l).ok()?,
        None => String::new(),
    };
    let layout = &config.layout;
    let mut text = format!(
        "kiln {}\nkeep_source {} with_db {} webp {}\nframework {:?} naming {:?}\nstatic_root {:?} templates {:?} python_source {:?} verbatim {:?} outputs {:?} template_exts {:?}\nprefix {:?} cdn_prefix {:?} url_style {:?}\ntargets {:?} compress {}\npython {python}\nlessc {lessc}\n",
        env!("CARGO_PKG_VERSION"),
        config.keep_source,
        layout.with_db,
        config.webp,
        config.framework,
        config.naming,
        layout.static_root,
        layout.template_dirs,
        layout.python_source,
        layout.verbatim_dirs,
        layout.outputs,
        layout.template_exts,
        config.prefix,
        config.cdn_prefix,
        config.url_style,
        config.targets,
        config.compress.name(),
    );
    for (rel, s) in &tree.sources {
        text.push_str(&format!("{rel}\t{:?}\t{}\t{}\n", s.class, s.md5, s.executable));
    }
    for f in &tree.found {
        text.push_str(&format!("found {}\t{}\n", f.key, f.md5));
    }
    Some(md5_hex(text.as_bytes()))
}

/// Identifies a program (the interpreter, lessc) without starting it: its path as found on PATH,
/// resolved through symlinks, with size and mtime, so a no-change rebuild starts no Python at all.
pub fn program_id(program: &Path) -> Result<String, BuildError> {
    let Some(found) = fsutil::find_program(program) else {
        return Err(BuildError::Message(format!("python interpreter {}: not found on PATH", fsutil::display(program))));
    };
    let real = std::fs::canonicalize(&found).map_err(|e| FsError::io(&found, e))?;
    let meta = std::fs::metadata(&real).map_err(|e| FsError::io(&real, e))?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()).unwrap_or(0);
    let pyenv = std::env::var("PYENV_VERSION").unwrap_or_default();
    Ok(format!("{} {} {mtime} {pyenv}", fsutil::display(&real), meta.len()))
}
