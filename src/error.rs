//! The one public error type.
//!
//! An [`Error`] is an [`ErrorKind`] (what went wrong, to match on) plus the path of the file it concerns, when
//! there is one. A folder scan records these per file and goes on, so every kind must say enough for a report
//! line on its own.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::hash::HashKind;

/// Everything that can go wrong in knockoff.
#[derive(Debug)]
pub struct Error {
    path: Option<PathBuf>,
    kind: ErrorKind,
}

/// What went wrong. Marked non-exhaustive: later versions add kinds.
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
    #[error("index format version {found} is not supported (this build reads version {supported}); rebuild the index")]
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

    /// A short, stable, machine-readable name of the kind (`"too_large"`, `"decode"` ...), for reports.
    pub fn code(&self) -> &'static str {
        match &self.kind {
            ErrorKind::Io(_) => "io",
            ErrorKind::Write(_) => "write",
            ErrorKind::NotRegularFile(_) => "not_regular_file",
            ErrorKind::InvalidConfig(_) => "invalid_config",
            ErrorKind::Empty => "empty",
            ErrorKind::UnknownFormat => "unknown_format",
            ErrorKind::Decode { .. } => "decode",
            ErrorKind::TooLarge { .. } => "too_large",
            ErrorKind::FileTooLarge { .. } => "file_too_large",
            ErrorKind::TooSmall { .. } => "too_small",
            ErrorKind::DecoderPanic(_) => "decoder_panic",
            ErrorKind::HashKindMismatch { .. } => "hash_kind_mismatch",
            ErrorKind::InvalidHash { .. } => "invalid_hash",
            ErrorKind::NotAnIndex => "not_an_index",
            ErrorKind::IndexVersion { .. } => "index_version",
            ErrorKind::IndexTruncated(_) => "index_truncated",
            ErrorKind::IndexCorrupt(_) => "index_corrupt",
            ErrorKind::ConfigMismatch(_) => "config_mismatch",
        }
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
            Some(path) => write!(f, "{}: {}", path.display(), self.kind),
            None => self.kind.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The kind's text is already part of our Display, so the chain continues with the kind's own source.
        std::error::Error::source(&self.kind)
    }
}

/// `Result` with knockoff's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
