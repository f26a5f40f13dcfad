//! Listing the photos under folders, for scans and index builds.
//!
//! - Only regular files are listed. Each entry's type is read from its metadata (symlinks followed), never by
//!   opening it: a named pipe blocks whoever opens it, and a device never ends. Pipes, sockets, devices and links
//!   to them are reported as skipped, with what they are.
//! - By default only photos are listed: files with a photo extension, and files with no extension whose first
//!   bytes are a photo format's magic (crawlers save photos under hash names). Other files (`README.md`, `.csv`,
//!   fonts ...) and hidden files and folders (name starting with `.`) are reported as skipped.
//!   [`WalkOptions::all_files`] lists every regular file instead, for finding photos saved under wrong names.
//! - Symlinks are followed, but each directory is entered once (by its canonical path), so a link loop ends the
//!   descent instead of the program.
//! - An unreadable entry is a failure in the result, never fatal: a scan of a million photos must not stop at one
//!   bad permission.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// What to list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WalkOptions {
    /// List every regular file, hidden ones and those without a photo extension included (each then fails or
    /// succeeds on its content). Pipes, sockets and devices are skipped whatever this says. Default false.
    pub all_files: bool,
}

impl WalkOptions {
    /// Every regular file, not only photos (see [`WalkOptions::all_files`]).
    pub fn all_files() -> Self {
        WalkOptions { all_files: true }
    }
}

/// Why a path was left out of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// Not a regular file: a named pipe, a socket or a device (possibly behind a symlink). Never opened.
    NotRegularFile,
    /// A hidden file or folder (name starting with `.`); a hidden folder is not entered.
    Hidden,
    /// Neither a photo extension nor, for a file without extension, a photo format's magic bytes.
    NotAPhoto,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::NotRegularFile => "not a regular file",
            SkipReason::Hidden => "hidden",
            SkipReason::NotAPhoto => "not a photo",
        })
    }
}

/// A path left out of a walk, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The path as found (under the walked root).
    pub path: PathBuf,
    /// Why it was left out.
    pub reason: SkipReason,
    /// For [`SkipReason::NotRegularFile`], what it is (`"a named pipe"`, `"a character device"` ...); else empty.
    pub detail: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", crate::error::Printable(&self.path), self.reason)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// The result of a walk: the files to read, the paths left out, the entries that could not be read.
#[derive(Debug, Default)]
pub struct Walk {
    /// Regular files to read, sorted within each root.
    pub files: Vec<PathBuf>,
    /// Paths left out, with the reason, sorted within each root.
    pub skipped: Vec<Skipped>,
    /// Entries that could not be read (a dangling link, a folder without permission ...), each with its path,
    /// sorted within each root.
    pub failures: Vec<Error>,
}

/// Extensions of the formats [`decode_bytes`](crate::decode_bytes) reads (compared without case), and of the photo
/// formats it recognises without decoding them (AVIF, HEIF, JPEG XL: marketplaces serve them), so that such a
/// listing fails with a row that says so rather than being skipped as if it were not a photo.
const PHOTO_EXTENSIONS: [&str; 16] = [
    "jpg", "jpeg", "jpe", "jfif", "png", "apng", "gif", "bmp", "dib", "tif", "tiff", "webp", "avif", "heic", "heif",
    "jxl",
];

/// Walks `roots` (files or folders, recursively) with `options`.
///
/// A root that is a regular file is listed as it is, whatever its name; a root that is a pipe or device is
/// skipped.
///
/// ```
/// use knockoff::walk::{WalkOptions, walk};
///
/// let walk = walk([concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs")], &WalkOptions::default());
/// assert!(walk.files.len() >= 5);
/// assert!(walk.failures.is_empty());
/// ```
pub fn walk<P: AsRef<Path>>(roots: impl IntoIterator<Item = P>, options: &WalkOptions) -> Walk {
    let mut out = Walk::default();
    let mut visited = HashSet::new();
    for root in roots {
        let root = root.as_ref();
        let mut found = Walk::default();
        match std::fs::metadata(root) {
            Ok(meta) if meta.is_dir() => descend(root, &meta, options, &mut visited, &mut found),
            Ok(meta) if meta.is_file() => found.files.push(root.to_path_buf()),
            Ok(meta) => found.skipped.push(not_regular(root, &meta)),
            Err(e) => found.failures.push(Error::new(ErrorKind::Io(e)).with_path(root)),
        }
        found.files.sort();
        found.skipped.sort_by(|a, b| a.path.cmp(&b.path));
        found.failures.sort_by(|a, b| a.path().cmp(&b.path()));
        out.files.extend(found.files);
        out.skipped.extend(found.skipped);
        out.failures.extend(found.failures);
    }
    out
}

/// The photos at or under `roots` (as [`walk`] with the default options), and the entries that could not be read;
/// what was skipped is dropped.
///
/// ```
/// let (files, failures) = knockoff::walk::files([concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs")]);
/// assert!(files.len() >= 5);
/// assert!(failures.is_empty());
/// ```
pub fn files<P: AsRef<Path>>(roots: impl IntoIterator<Item = P>) -> (Vec<PathBuf>, Vec<Error>) {
    let walk = walk(roots, &WalkOptions::default());
    (walk.files, walk.failures)
}

/// A file name as report text: itself when it is UTF-8 without a backslash, else each byte that is not part of
/// valid UTF-8 written as `\xHH` and each backslash as `\\`, so that no two names give the same text and
/// [`name_path`] finds the file again. Replacing the bytes with U+FFFD, as `to_string_lossy` does, made `a\xff.jpg`
/// and `a\xfe.jpg` one row name in reports; escaping them alone made a file literally named `a\xFF.jpg` the same
/// row as the one whose name has the byte 0xFF, and the HTML report showed one's photo for the other.
pub(crate) fn name_text(name: &std::ffi::OsStr) -> String {
    if let Some(text) = name.to_str()
        && !text.contains('\\')
    {
        return text.to_string();
    }
    let mut out = String::new();
    for chunk in name.as_encoded_bytes().utf8_chunks() {
        out.push_str(&chunk.valid().replace('\\', "\\\\"));
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02X}"));
        }
    }
    out
}

/// The last part of a path written as report text (`shop/a.jpg` -> `a.jpg`).
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The relative path a report's or an index's name stands for ([`name_path`]), if it stays inside the folder it is
/// relative to: `None` for an empty name, an absolute one, or one with a `..` part. An index file is input like any
/// other (it may come from elsewhere), so a report resolves its names only through this: a name cannot make it
/// read a file outside the catalog folder.
///
/// ```
/// use std::path::Path;
/// assert_eq!(knockoff::walk::relative_name("shop/photo.jpg").as_deref(), Some(Path::new("shop/photo.jpg")));
/// assert_eq!(knockoff::walk::relative_name("/etc/passwd"), None);
/// assert_eq!(knockoff::walk::relative_name("shop/../../secret.jpg"), None);
/// assert_eq!(knockoff::walk::relative_name(""), None);
/// ```
pub fn relative_name(text: &str) -> Option<PathBuf> {
    use std::path::Component;
    let path = name_path(text);
    let mut parts = 0;
    for component in path.components() {
        match component {
            Component::Normal(_) => parts += 1,
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (parts > 0).then_some(path)
}

/// The path a report's text names: reports write a name's bytes that are not UTF-8 as `\xHH` and its
/// backslashes as `\\`, so that no two files share a text; this turns them back into the bytes they stand for,
/// anything else kept as it is. Where a name cannot hold arbitrary bytes (not Unix), a text that would need
/// them is taken as it is.
///
/// ```
/// use std::path::Path;
/// assert_eq!(knockoff::walk::name_path("shop/photo.jpg"), Path::new("shop/photo.jpg"));
/// assert_eq!(knockoff::walk::name_path("back\\\\slash.jpg"), Path::new("back\\slash.jpg"));
/// ```
pub fn name_path(text: &str) -> PathBuf {
    if !text.contains('\\') {
        return PathBuf::from(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
        match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'\\')) => {
                out.push(b'\\');
                i += 2;
            }
            (b'\\', Some(b'x')) if hex(i + 2).is_some() && hex(i + 3).is_some() => {
                out.push((hex(i + 2).unwrap_or(0) * 16 + hex(i + 3).unwrap_or(0)) as u8);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    bytes_path(out, text)
}

#[cfg(unix)]
fn bytes_path(bytes: Vec<u8>, _text: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn bytes_path(bytes: Vec<u8>, text: &str) -> PathBuf {
    PathBuf::from(String::from_utf8(bytes).unwrap_or_else(|_| text.to_string()))
}

fn not_regular(path: &Path, meta: &std::fs::Metadata) -> Skipped {
    Skipped {
        path: path.to_path_buf(),
        reason: SkipReason::NotRegularFile,
        detail: crate::decode::file_type_name(&meta.file_type()).to_string(),
    }
}

/// What tells one folder from another, so that each is descended once however many links lead to it: its device
/// and inode where there are such. Resolving every folder's whole path instead (`canonicalize`) made a walk through
/// 2,000 nested folders take a minute, since each resolution reads every folder above it.
#[cfg(unix)]
type FolderId = (u64, u64);
#[cfg(not(unix))]
type FolderId = PathBuf;

#[cfg(unix)]
fn folder_id(_dir: &Path, meta: &std::fs::Metadata) -> std::io::Result<FolderId> {
    use std::os::unix::fs::MetadataExt;
    Ok((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn folder_id(dir: &Path, _meta: &std::fs::Metadata) -> std::io::Result<FolderId> {
    dir.canonicalize()
}

/// Lists the folder `dir`, whose metadata (links followed) is `meta`, and descends into the folders in it.
fn descend(
    dir: &Path,
    meta: &std::fs::Metadata,
    options: &WalkOptions,
    visited: &mut HashSet<FolderId>,
    out: &mut Walk,
) {
    let fail = |e: std::io::Error, path: &Path| Error::new(ErrorKind::Io(e)).with_path(path);
    match folder_id(dir, meta) {
        Ok(id) => {
            if !visited.insert(id) {
                return;
            }
        }
        Err(e) => return out.failures.push(fail(e, dir)),
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return out.failures.push(fail(e, dir)),
    };
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                out.failures.push(fail(e, dir));
                continue;
            }
        };
        let skip = |reason| Skipped { path: path.clone(), reason, detail: String::new() };
        let hidden = path.file_name().is_some_and(|n| n.as_encoded_bytes().starts_with(b"."));
        if hidden && !options.all_files {
            out.skipped.push(skip(SkipReason::Hidden));
            continue;
        }
        // `metadata` follows symlinks: a link to a folder is descended (once), a dangling link is a failure, and a
        // link to a pipe or device is what it points to.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => descend(&path, &meta, options, visited, out),
            Ok(meta) if meta.is_file() => {
                if options.all_files || is_photo(&path) {
                    out.files.push(path);
                } else {
                    out.skipped.push(skip(SkipReason::NotAPhoto));
                }
            }
            Ok(meta) => out.skipped.push(not_regular(&path, &meta)),
            Err(e) => out.failures.push(fail(e, &path)),
        }
    }
}

/// Whether a regular file is a photo: by its extension, or, without one, by its first bytes.
fn is_photo(path: &Path) -> bool {
    match path.extension() {
        Some(ext) => PHOTO_EXTENSIONS.iter().any(|p| ext.eq_ignore_ascii_case(p)),
        None => starts_like_a_photo(path),
    }
}

fn starts_like_a_photo(path: &Path) -> bool {
    // Opened as every photo is (type checked again, non-blocking), since the file may have changed since its
    // metadata was read. An unreadable file is listed, so that its failure is reported with the reason.
    let Ok((file, _)) = crate::decode::open_regular(path) else {
        return true;
    };
    let mut head = Vec::with_capacity(16);
    match file.take(16).read_to_end(&mut head) {
        Ok(_) => crate::decode::is_photo_magic(&head),
        Err(_) => true,
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

    #[test]
    fn photos_are_told_by_extension_or_by_magic_without_one() {
        let dir = std::env::temp_dir().join(format!("knockoff-walk-kinds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".cache")).unwrap();
        for (name, bytes) in [
            ("a.JPG", &b"anything"[..]),
            ("b.md", b"# readme"),
            ("c", b"\x89PNG\r\n\x1a\n...."),
            ("d", b"plain text"),
            (".hidden.jpg", b"x"),
            (".cache/e.jpg", b"x"),
        ] {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let default = walk([&dir], &WalkOptions::default());
        let all = walk([&dir], &WalkOptions::all_files());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(default.files, vec![dir.join("a.JPG"), dir.join("c")]);
        let skipped: Vec<(PathBuf, SkipReason)> = default.skipped.iter().map(|s| (s.path.clone(), s.reason)).collect();
        assert_eq!(
            skipped,
            vec![
                (dir.join(".cache"), SkipReason::Hidden),
                (dir.join(".hidden.jpg"), SkipReason::Hidden),
                (dir.join("b.md"), SkipReason::NotAPhoto),
                (dir.join("d"), SkipReason::NotAPhoto),
            ]
        );
        assert_eq!(all.files.len(), 6);
        assert!(all.skipped.is_empty());
    }
}
