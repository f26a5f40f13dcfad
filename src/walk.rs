//! Listing the files under folders, for scans.
//!
//! Symlinks are followed, but each directory is entered once (by its canonical path), so a link loop ends the
//! descent instead of the program. An unreadable entry is reported, never fatal: a scan of a million photos must
//! not stop at one bad permission.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};

/// The files at or under `roots`, sorted within each root, and the entries that could not be read.
///
/// A root that is a file is listed as it is. Hidden files and folders (name starting with `.`) are skipped.
///
/// ```
/// let (files, failures) = knockoff::walk::files([concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs")]);
/// assert!(files.len() >= 5);
/// assert!(failures.is_empty());
/// ```
pub fn files<P: AsRef<Path>>(roots: impl IntoIterator<Item = P>) -> (Vec<PathBuf>, Vec<Error>) {
    let mut files = Vec::new();
    let mut failures = Vec::new();
    let mut visited = HashSet::new();
    for root in roots {
        let root = root.as_ref();
        let mut found = Vec::new();
        match std::fs::metadata(root) {
            Ok(meta) if meta.is_dir() => descend(root, &mut visited, &mut found, &mut failures),
            Ok(_) => found.push(root.to_path_buf()),
            Err(e) => failures.push(Error::new(ErrorKind::Io(e)).with_path(root)),
        }
        found.sort();
        files.extend(found);
    }
    (files, failures)
}

fn descend(dir: &Path, visited: &mut HashSet<PathBuf>, files: &mut Vec<PathBuf>, failures: &mut Vec<Error>) {
    let fail = |e: std::io::Error, path: &Path| Error::new(ErrorKind::Io(e)).with_path(path);
    match dir.canonicalize() {
        Ok(canonical) => {
            if !visited.insert(canonical) {
                return;
            }
        }
        Err(e) => return failures.push(fail(e, dir)),
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return failures.push(fail(e, dir)),
    };
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                failures.push(fail(e, dir));
                continue;
            }
        };
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        // `metadata` follows symlinks: a link to a folder is descended (once), a dangling link is a failure.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => descend(&path, visited, files, failures),
            Ok(_) => files.push(path),
            Err(e) => failures.push(fail(e, &path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn symlink_loops_end_and_dangling_links_are_reported() {
        let dir = std::env::temp_dir().join(format!("knockoff-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/photo.jpg"), b"x").unwrap();
        std::os::unix::fs::symlink(&dir, dir.join("a/b/loop")).unwrap();
        std::os::unix::fs::symlink(dir.join("missing"), dir.join("a/dangling.jpg")).unwrap();
        let (files, failures) = files([&dir]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(files, vec![dir.join("a/b/photo.jpg")]);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].path(), Some(dir.join("a/dangling.jpg").as_path()));
    }
}
