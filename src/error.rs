//! The one public error type.
//!
//! An [`Error`] is an [`ErrorKind`] (what went wrong, to match on) plus the path of the file it concerns, when
//! there is one. A folder scan records these per file and goes on, so every kind must say enough for a report
//! line on its own.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::hash::HashKind;

/// Everything that can go wrong in knockoff. Cloneable, so a report can keep errors and hand them on.
#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    path: Option<PathBuf>,
    kind: ErrorKind,
}

/// What went wrong. Marked non-exhaustive: later versions add kinds. `Clone` and `PartialEq` (an I/O error by its
/// kind and message); [`ErrorKind::code`] gives a serialisable [`ErrorCode`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading the file failed (missing, unreadable, a folder ...).
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// Writing a file failed (a full disk, a read-only folder ...). Distinct from [`ErrorKind::Io`] so that a
    /// failed save never reads as a failed read.
    #[error("cannot write: {0}")]
    Write(#[source] std::io::Error),
    /// The path is not a regular file (a named pipe, socket or device, possibly behind a symlink). It was never
    /// opened for reading: opening a named pipe blocks until someone writes to it, and a device never ends.
    #[error("not a regular file ({0})")]
    NotRegularFile(&'static str),
    /// A configuration value is outside the range the code supports (read from an index header, or set by hand).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The file has no bytes at all.
    #[error("empty file")]
    Empty,
    /// The bytes are not any image format we decode (text, HTML error page, unknown format).
    #[error("not a supported image format")]
    UnknownFormat,
    /// The bytes start like an image but the decoder rejected them: truncated, corrupt, or a feature the decoder
    /// does not support.
    #[error("cannot decode {format} image: {message}")]
    Decode {
        /// The sniffed format, e.g. `"png"`.
        format: &'static str,
        /// The decoder's own explanation.
        message: String,
    },
    /// The header claims more pixels than the configured [`Limits`](crate::Limits) allow. Checked before any pixel
    /// is allocated, so decompression bombs cost nothing.
    #[error("image of {width}x{height} pixels exceeds the limit ({limit})")]
    TooLarge {
        /// Width claimed by the header.
        width: u32,
        /// Height claimed by the header.
        height: u32,
        /// Which limit it broke, in words.
        limit: String,
    },
    /// The file is larger than [`Limits::max_file_bytes`](crate::Limits::max_file_bytes); it was not read.
    #[error("file of {bytes} bytes exceeds the limit of {limit} bytes")]
    FileTooLarge {
        /// Size of the file (for a reader: the bytes read before giving up).
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The image is smaller than the smallest size a fingerprint can be made from.
    #[error("image of {width}x{height} pixels is too small to fingerprint")]
    TooSmall {
        /// Width of the image.
        width: u32,
        /// Height of the image.
        height: u32,
    },
    /// A decoder panicked on this input; the panic was caught. The message is the panic's payload.
    #[error("decoder crashed: {0}")]
    DecoderPanic(String),
    /// Two hashes of different kinds (or sizes) were compared: their distance would mean nothing.
    #[error("cannot compare a {left} hash with a {right} hash")]
    HashKindMismatch {
        /// Kind of the left operand.
        left: HashKind,
        /// Kind of the right operand.
        right: HashKind,
    },
    /// The file is not a knockoff index (wrong magic bytes).
    #[error("not a knockoff index file")]
    NotAnIndex,
    /// The index file was written in a format version this build does not read.
    #[error(
        "index format version {found} is not supported (this build writes version {supported} and reads it and versions 2 to {}); rebuild the index",
        supported.saturating_sub(1)
    )]
    IndexVersion {
        /// Version in the file.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },
    /// The index file ends early (an interrupted copy or a full disk).
    #[error("index file is truncated: {0}")]
    IndexTruncated(String),
    /// The index file's checksum or structure is wrong.
    #[error("index file is corrupt: {0}")]
    IndexCorrupt(String),
    /// The index was built with another fingerprint configuration or algorithm version than the one asked for; its
    /// fingerprints are not comparable with new ones.
    #[error("index was built with another fingerprint configuration: {0}")]
    ConfigMismatch(String),
    /// A fingerprint was added to an index whose configuration it was not made with (a listing's keypoint budget,
    /// hashes only in an index with local features, or the reverse): it would be compared unevenly.
    #[error("fingerprint does not fit the index: {0}")]
    FingerprintMismatch(String),
    /// A reference was added under a path the index cannot hold: one it already holds (two references under one
    /// name would be told apart by nothing in a report), or one that is not relative to the catalog folder (empty,
    /// absolute, or with a `..` part), which reports would resolve outside it.
    #[error("reference path not accepted: {0}")]
    ReferencePath(String),
    /// A folder to scan does not exist or is not a folder.
    #[error("not an existing folder")]
    NotAFolder,
    /// Input to the worker protocol (module `worker`, feature `arrow`) is malformed: a stream that is not Arrow
    /// IPC, a batch without the `path` and `content` columns, a line that is not `PATH<TAB>BASE64`.
    #[error("malformed worker input: {0}")]
    Protocol(String),
    /// A hash string was not valid hex of the right length for its kind.
    #[error("invalid {kind} hash string: {message}")]
    InvalidHash {
        /// The kind the string was parsed as.
        kind: HashKind,
        /// What was wrong with it.
        message: String,
    },
}

impl Error {
    /// An error of `kind` with no file attached.
    pub fn new(kind: ErrorKind) -> Self {
        Error { path: None, kind }
    }

    /// Attaches the path of the file the error concerns (replacing any path already there).
    #[must_use]
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Some(path.as_ref().to_path_buf());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The file concerned, when the error came from a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The kind as a short, stable, machine-readable code (`too_large`, `decode` ...), for reports.
    pub fn code(&self) -> ErrorCode {
        self.kind.code()
    }
}

/// An error serialises as its code, its file (non-UTF-8 bytes as `\xHH`, as reports write paths) and its message:
/// `{"code": "decode", "path": "refs/a.jpg", "message": "..."}`, so that the reports holding errors
/// ([`BuildReport`](crate::BuildReport), [`UpdateReport`](crate::UpdateReport)) serialise like every result.
impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut error = serializer.serialize_struct("Error", 3)?;
        error.serialize_field("code", &self.code())?;
        error.serialize_field("path", &self.path().map(|p| crate::index::relative_path(Path::new(""), p)))?;
        error.serialize_field("message", &self.kind.to_string())?;
        error.end()
    }
}

impl ErrorKind {
    /// The kind as a short, stable, machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ErrorKind::Io(_) => ErrorCode::Io,
            ErrorKind::Write(_) => ErrorCode::Write,
            ErrorKind::NotRegularFile(_) => ErrorCode::NotRegularFile,
            ErrorKind::InvalidConfig(_) => ErrorCode::InvalidConfig,
            ErrorKind::Empty => ErrorCode::Empty,
            ErrorKind::UnknownFormat => ErrorCode::UnknownFormat,
            ErrorKind::Decode { .. } => ErrorCode::Decode,
            ErrorKind::TooLarge { .. } => ErrorCode::TooLarge,
            ErrorKind::FileTooLarge { .. } => ErrorCode::FileTooLarge,
            ErrorKind::TooSmall { .. } => ErrorCode::TooSmall,
            ErrorKind::DecoderPanic(_) => ErrorCode::DecoderPanic,
            ErrorKind::HashKindMismatch { .. } => ErrorCode::HashKindMismatch,
            ErrorKind::InvalidHash { .. } => ErrorCode::InvalidHash,
            ErrorKind::NotAnIndex => ErrorCode::NotAnIndex,
            ErrorKind::IndexVersion { .. } => ErrorCode::IndexVersion,
            ErrorKind::IndexTruncated(_) => ErrorCode::IndexTruncated,
            ErrorKind::IndexCorrupt(_) => ErrorCode::IndexCorrupt,
            ErrorKind::ConfigMismatch(_) => ErrorCode::ConfigMismatch,
            ErrorKind::FingerprintMismatch(_) => ErrorCode::FingerprintMismatch,
            ErrorKind::ReferencePath(_) => ErrorCode::ReferencePath,
            ErrorKind::NotAFolder => ErrorCode::NotAFolder,
            ErrorKind::Protocol(_) => ErrorCode::Protocol,
        }
    }
}

// By hand because `std::io::Error` is neither `Clone` nor `PartialEq`: an I/O error is copied and compared by
// its kind and message (its source chain is the operating system's, with nothing further to follow).
impl Clone for ErrorKind {
    fn clone(&self) -> Self {
        match self {
            ErrorKind::Io(e) => ErrorKind::Io(std::io::Error::new(e.kind(), e.to_string())),
            ErrorKind::Write(e) => ErrorKind::Write(std::io::Error::new(e.kind(), e.to_string())),
            ErrorKind::NotRegularFile(m) => ErrorKind::NotRegularFile(m),
            ErrorKind::InvalidConfig(m) => ErrorKind::InvalidConfig(m.clone()),
            ErrorKind::Empty => ErrorKind::Empty,
            ErrorKind::UnknownFormat => ErrorKind::UnknownFormat,
            ErrorKind::Decode { format, message } => ErrorKind::Decode { format, message: message.clone() },
            ErrorKind::TooLarge { width, height, limit } => {
                ErrorKind::TooLarge { width: *width, height: *height, limit: limit.clone() }
            }
            ErrorKind::FileTooLarge { bytes, limit } => ErrorKind::FileTooLarge { bytes: *bytes, limit: *limit },
            ErrorKind::TooSmall { width, height } => ErrorKind::TooSmall { width: *width, height: *height },
            ErrorKind::DecoderPanic(m) => ErrorKind::DecoderPanic(m.clone()),
            ErrorKind::HashKindMismatch { left, right } => ErrorKind::HashKindMismatch { left: *left, right: *right },
            ErrorKind::NotAnIndex => ErrorKind::NotAnIndex,
            ErrorKind::IndexVersion { found, supported } => {
                ErrorKind::IndexVersion { found: *found, supported: *supported }
            }
            ErrorKind::IndexTruncated(m) => ErrorKind::IndexTruncated(m.clone()),
            ErrorKind::IndexCorrupt(m) => ErrorKind::IndexCorrupt(m.clone()),
            ErrorKind::ConfigMismatch(m) => ErrorKind::ConfigMismatch(m.clone()),
            ErrorKind::FingerprintMismatch(m) => ErrorKind::FingerprintMismatch(m.clone()),
            ErrorKind::ReferencePath(m) => ErrorKind::ReferencePath(m.clone()),
            ErrorKind::NotAFolder => ErrorKind::NotAFolder,
            ErrorKind::Protocol(m) => ErrorKind::Protocol(m.clone()),
            ErrorKind::InvalidHash { kind, message } => {
                ErrorKind::InvalidHash { kind: *kind, message: message.clone() }
            }
        }
    }
}

impl PartialEq for ErrorKind {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ErrorKind::Io(a), ErrorKind::Io(b)) => a.kind() == b.kind() && a.to_string() == b.to_string(),
            (ErrorKind::Write(a), ErrorKind::Write(b)) => a.kind() == b.kind() && a.to_string() == b.to_string(),
            (ErrorKind::Io(_) | ErrorKind::Write(_), _) | (_, ErrorKind::Io(_) | ErrorKind::Write(_)) => false,
            // Every other kind's fields are compared through its code and its words, which spell them all out.
            _ => self.code() == other.code() && self.to_string() == other.to_string(),
        }
    }
}

/// An [`ErrorKind`] as a plain, copyable, serialisable code: what reports record for a file that failed.
/// Serialised as its snake-case name (`"decode"`, `"too_large"` ...), which [`ErrorCode::as_str`] also gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// [`ErrorKind::Io`].
    Io,
    /// [`ErrorKind::Write`].
    Write,
    /// [`ErrorKind::NotRegularFile`].
    NotRegularFile,
    /// [`ErrorKind::InvalidConfig`].
    InvalidConfig,
    /// [`ErrorKind::Empty`].
    Empty,
    /// [`ErrorKind::UnknownFormat`].
    UnknownFormat,
    /// [`ErrorKind::Decode`].
    Decode,
    /// [`ErrorKind::TooLarge`].
    TooLarge,
    /// [`ErrorKind::FileTooLarge`].
    FileTooLarge,
    /// [`ErrorKind::TooSmall`].
    TooSmall,
    /// [`ErrorKind::DecoderPanic`].
    DecoderPanic,
    /// [`ErrorKind::HashKindMismatch`].
    HashKindMismatch,
    /// [`ErrorKind::InvalidHash`].
    InvalidHash,
    /// [`ErrorKind::NotAnIndex`].
    NotAnIndex,
    /// [`ErrorKind::IndexVersion`].
    IndexVersion,
    /// [`ErrorKind::IndexTruncated`].
    IndexTruncated,
    /// [`ErrorKind::IndexCorrupt`].
    IndexCorrupt,
    /// [`ErrorKind::ConfigMismatch`].
    ConfigMismatch,
    /// [`ErrorKind::FingerprintMismatch`].
    FingerprintMismatch,
    /// [`ErrorKind::ReferencePath`].
    ReferencePath,
    /// [`ErrorKind::NotAFolder`].
    NotAFolder,
    /// [`ErrorKind::Protocol`].
    Protocol,
}

impl ErrorCode {
    /// The snake-case name, as serialised: `"decode"`, `"too_large"` ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Io => "io",
            ErrorCode::Write => "write",
            ErrorCode::NotRegularFile => "not_regular_file",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::Empty => "empty",
            ErrorCode::UnknownFormat => "unknown_format",
            ErrorCode::Decode => "decode",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::FileTooLarge => "file_too_large",
            ErrorCode::TooSmall => "too_small",
            ErrorCode::DecoderPanic => "decoder_panic",
            ErrorCode::HashKindMismatch => "hash_kind_mismatch",
            ErrorCode::InvalidHash => "invalid_hash",
            ErrorCode::NotAnIndex => "not_an_index",
            ErrorCode::IndexVersion => "index_version",
            ErrorCode::IndexTruncated => "index_truncated",
            ErrorCode::IndexCorrupt => "index_corrupt",
            ErrorCode::ConfigMismatch => "config_mismatch",
            ErrorCode::FingerprintMismatch => "fingerprint_mismatch",
            ErrorCode::ReferencePath => "reference_path",
            ErrorCode::NotAFolder => "not_a_folder",
            ErrorCode::Protocol => "protocol",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}: {}", Printable(path), self.kind),
            None => self.kind.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The kind's text is already part of our Display, and so is its source's (`cannot read: {0}`): the chain
        // continues below both, or a `{:#}` chain (anyhow) prints the OS message twice.
        std::error::Error::source(&self.kind).and_then(std::error::Error::source)
    }
}

/// A path as a message shows it: like [`Path::display`](std::path::Path::display), but with control characters (a
/// newline, a carriage return, a terminal escape) written escaped (`\n`, `\r`, `\u{1b}`), so that a crawled file's
/// name cannot forge, split or hide lines of a log. What [`Error`] and [`walk::Skipped`](crate::walk::Skipped)
/// messages show; a program printing a reference's path can use it too.
///
/// ```
/// use knockoff::error::Printable;
///
/// let name = std::path::Path::new("shop/a\nremoved b.jpg");
/// assert_eq!(Printable(name).to_string(), "shop/a\\nremoved b.jpg");
/// ```
pub struct Printable<'a>(pub &'a std::path::Path);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.0.to_string_lossy().chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_debug())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// The message of a caught panic (`panic!` gives a `&str` or a `String`), for the errors that report one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

thread_local! {
    /// How many [`contain`] calls are running on this thread.
    static CONTAINING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f`, which calls into code that may panic on hostile input (an image decoder, the Arrow reader), and
/// returns its panic's message instead of unwinding further. The caller turns it into a typed error.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    /// Closes the section even when `f` unwinds.
    struct Section;
    impl Drop for Section {
        fn drop(&mut self) {
            CONTAINING.with(|c| c.set(c.get().saturating_sub(1)));
        }
    }
    CONTAINING.with(|c| c.set(c.get() + 1));
    let section = Section;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload));
    drop(section);
    result
}

/// Keeps the panics knockoff contains off stderr: installs, once per process, a panic hook that says nothing about
/// a panic inside a decoder (or the worker's stream reader), which knockoff catches and reports as a typed error
/// ([`ErrorKind::DecoderPanic`], with the panic's message), and hands every other panic to the hook installed
/// before it. Without it, Rust's default hook prints each contained panic to stderr as if the program had crashed,
/// though the scan records the file and goes on.
///
/// A panic hook belongs to the program, so the library never installs one by itself; the example binaries call
/// this first thing.
///
/// ```
/// knockoff::quiet_contained_panics();
/// // Not a contained panic: still reported as usual, and still caught here.
/// assert!(std::panic::catch_unwind(|| panic!("a bug")).is_err());
/// ```
pub fn quiet_contained_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINING.with(std::cell::Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// `Result` with knockoff's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn control_characters_in_a_path_are_escaped_in_messages() {
        let error = Error::new(ErrorKind::Empty).with_path("listings/a\nskipped fake.jpg\r\u{1b}[2K.jpg");
        let shown = error.to_string();
        assert_eq!(shown, "listings/a\\nskipped fake.jpg\\r\\u{1b}[2K.jpg: empty file");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        // Other characters, non-ASCII ones included, are left alone.
        assert_eq!(Printable(std::path::Path::new("café/ü.jpg")).to_string(), "café/ü.jpg");
    }

    #[test]
    fn contained_panics_stay_off_the_hook_and_others_still_reach_it() {
        thread_local! {
            static COUNTED: Cell<bool> = const { Cell::new(false) };
            static HEARD: Cell<u32> = const { Cell::new(0) };
        }
        // Below the quiet hook, one that counts this thread's panics and reports every other thread's as usual.
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if COUNTED.with(Cell::get) {
                HEARD.with(|h| h.set(h.get() + 1));
            } else {
                default(info);
            }
        }));
        quiet_contained_panics();
        COUNTED.with(|c| c.set(true));

        let caught: std::result::Result<u32, String> = contain(|| panic!("decoder blew up"));
        assert_eq!(caught, Err("decoder blew up".to_string()));
        assert_eq!(HEARD.with(Cell::get), 0, "a contained panic reached the hook");
        // The section closed as the panic unwound: a bug's panic afterwards is reported.
        assert!(std::panic::catch_unwind(|| panic!("a bug")).is_err());
        assert_eq!(HEARD.with(Cell::get), 1, "an uncontained panic must reach the hook");
        assert_eq!(contain(|| 7), Ok(7));
        COUNTED.with(|c| c.set(false));
    }
}
