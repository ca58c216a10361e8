//! Deterministic archives: entries sorted, parent directories listed, mtime 2000-01-01, uid/gid 0,
//! empty owner names, modes 0644/0755, fixed compression levels, single-threaded.

use std::collections::BTreeSet;
use std::io::Write;

use super::{DistFile, OutputKind, FIXED_MTIME};

/// Every directory that holds a file, sorted (`a/`, `a/b/`).
fn directories(files: &[&DistFile]) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for f in files {
        let mut at = 0;
        while let Some(i) = f.dest[at..].find('/') {
            dirs.insert(f.dest[..at + i + 1].to_string());
            at += i + 1;
        }
    }
    dirs
}

fn tar(files: &[&DistFile]) -> Result<Vec<u8>, String> {
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    let mut entries: Vec<(String, Option<&DistFile>)> = directories(files).into_iter().map(|d| (d, None)).collect();
    entries.extend(files.iter().map(|f| (f.dest.clone(), Some(*f))));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, file) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(FIXED_MTIME);
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("").map_err(|e| e.to_string())?;
        h.set_groupname("").map_err(|e| e.to_string())?;
        match file {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, &path, std::io::empty()).map_err(|e| e.to_string())?;
            }
            Some(f) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(if f.executable { 0o755 } else { 0o644 });
                let bytes = f.content.bytes().map_err(|e| e.to_string())?;
                h.set_size(bytes.len() as u64);
                b.append_data(&mut h, &path, &bytes[..]).map_err(|e| e.to_string())?;
            }
        }
    }
    b.into_inner().map_err(|e| e.to_string())
}

fn zip(files: &[&DistFile]) -> Result<Vec<u8>, String> {
    use zip::write::SimpleFileOptions;
    let time = zip::DateTime::from_date_and_time(2000, 1, 1, 0, 0, 0).map_err(|e| e.to_string())?;
    let base = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).compression_level(Some(9)).last_modified_time(time);
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut entries: Vec<(String, Option<&DistFile>)> = directories(files).into_iter().map(|d| (d, None)).collect();
    entries.extend(files.iter().map(|f| (f.dest.clone(), Some(*f))));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, file) in entries {
        match file {
            None => w.add_directory(path, base.unix_permissions(0o755)).map_err(|e| e.to_string())?,
            Some(f) => {
                w.start_file(path, base.unix_permissions(if f.executable { 0o755 } else { 0o644 })).map_err(|e| e.to_string())?;
                w.write_all(&f.content.bytes().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(w.finish().map_err(|e| e.to_string())?.into_inner())
}

pub fn archive(kind: OutputKind, files: &[&DistFile]) -> Result<Vec<u8>, String> {
    match kind {
        OutputKind::TarZst => zstd::bulk::compress(&tar(files)?, 19).map_err(|e| e.to_string()),
        OutputKind::TarGz => {
            let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
            gz.write_all(&tar(files)?).map_err(|e| e.to_string())?;
            gz.finish().map_err(|e| e.to_string())
        }
        OutputKind::Zip => zip(files),
        OutputKind::Dir => Err("not an archive".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_byte_stable_and_list_directories() {
        let f = |d: &str, b: &str| DistFile { dest: d.into(), content: b.as_bytes().to_vec().into(), executable: false };
        let files = [f("b/x.txt", "x"), f("a.txt", "a"), f("b/c/y.txt", "y")];
        let refs: Vec<&DistFile> = files.iter().collect();
        let mut rev = refs.clone();
        rev.reverse();
        for kind in [OutputKind::TarZst, OutputKind::TarGz, OutputKind::Zip] {
            assert_eq!(archive(kind, &refs).unwrap(), archive(kind, &rev).unwrap());
        }
        let t = tar(&refs).unwrap();
        let mut a = tar::Archive::new(&t[..]);
        let names: Vec<String> = a.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["a.txt", "b/", "b/c/", "b/c/y.txt", "b/x.txt"]);
    }
}
