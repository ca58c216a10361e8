//! The bytes of a dist file: in memory, or a cache blob read (and checked) only when needed.

use std::path::{Path, PathBuf};

use crate::fsutil::{self, FsError};

/// The bytes of a dist file: in memory, or a blob of the build cache that is read (and its md5
/// checked) only if the file must be written: a rebuild leaves most files as they are.
#[derive(Debug, Clone)]
pub enum Content {
    /// Bytes in memory, and their md5 once something asked for it (the twins' cache key and
    /// the dist writer both do).
    Bytes(Vec<u8>, std::sync::OnceLock<String>),
    Blob {
        path: PathBuf,
        md5: String,
        size: u64,
    },
}

/// Same content: the same bytes, or the same blob (whether an md5 was computed does not count).
impl PartialEq for Content {
    fn eq(&self, other: &Content) -> bool {
        match (self, other) {
            (Content::Bytes(a, _), Content::Bytes(b, _)) => a == b,
            (Content::Blob { path: p, md5: m, size: s }, Content::Blob { path: q, md5: n, size: t }) => p == q && m == n && s == t,
            _ => false,
        }
    }
}

impl Eq for Content {}

/// A cache blob's bytes, checked against its md5; a corrupt blob is removed, so the unit that
/// made it is redone by the next build instead of being trusted again.
pub(crate) fn read_blob(path: &Path, md5: &str) -> Result<Vec<u8>, FsError> {
    let bytes = fsutil::read(path)?;
    if crate::manifest::md5_hex(&bytes) != md5 {
        let _ = std::fs::remove_file(path);
        return Err(FsError::CorruptCache { path: fsutil::display(path) });
    }
    Ok(bytes)
}

impl From<Vec<u8>> for Content {
    fn from(bytes: Vec<u8>) -> Content {
        Content::Bytes(bytes, std::sync::OnceLock::new())
    }
}

impl Content {
    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(b, _) => b.len() as u64,
            Content::Blob { size, .. } => *size,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn md5(&self) -> &str {
        match self {
            Content::Bytes(b, md5) => md5.get_or_init(|| crate::manifest::md5_hex(b)),
            Content::Blob { md5, .. } => md5,
        }
    }

    /// The bytes; a blob whose bytes are not its md5 any more is removed (so the next build
    /// redoes its unit) and reported.
    pub fn bytes(&self) -> Result<std::borrow::Cow<'_, [u8]>, FsError> {
        match self {
            Content::Bytes(b, _) => Ok(b.as_slice().into()),
            Content::Blob { path, md5, .. } => read_blob(path, md5).map(Into::into),
        }
    }

    pub fn into_bytes(self) -> Result<Vec<u8>, FsError> {
        match self {
            Content::Bytes(b, _) => Ok(b),
            blob => blob.bytes().map(|b| b.into_owned()),
        }
    }
}
