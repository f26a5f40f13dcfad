//! Local features left in the index file: an opened index keeps each reference's hashes in memory and reads its
//! keypoints and descriptors (26 KB of the ~31 KB a reference takes) only when a search needs them, so a scan's
//! memory grows with the retrieval structures (~5 KB a reference), not with the features.
//!
//! Each reference's block in the file's feature section (see [`format`](super::format)) is its keypoints and their
//! CRC-32, then its descriptors and theirs: the placement check of the shortlist reads only the keypoints, a
//! verification both. Every read is checked against its CRC and the keypoints against the photo's size and the
//! configuration, as opening checks everything else; a damaged block is a typed error for the search that reads
//! it, never a panic.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::features::{Keypoint, LocalFeatures};
use crate::fingerprint::FingerprintConfig;

/// Bytes of one stored keypoint (x, y, size, angle as f32, level, colour) and one descriptor.
pub(super) const KEYPOINT_BYTES: u64 = 20;
pub(super) const DESCRIPTOR_BYTES: u64 = 32;

/// Where one reference's features sit in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// The block's first byte.
    pub(crate) at: u64,
    /// Its number of keypoints.
    pub(crate) keypoints: u32,
}

impl Span {
    /// Bytes of the block: keypoints, their CRC, descriptors, theirs.
    pub(super) fn len(keypoints: u32) -> u64 {
        u64::from(keypoints) * (KEYPOINT_BYTES + DESCRIPTOR_BYTES) + 8
    }

    fn keypoint_bytes(self) -> u64 {
        u64::from(self.keypoints) * KEYPOINT_BYTES
    }
}

/// An index file opened for its feature section.
#[derive(Debug)]
pub(crate) struct StoredFeatures {
    file: File,
    path: PathBuf,
    config: FingerprintConfig,
}

impl StoredFeatures {
    pub(super) fn new(file: File, path: &Path, config: FingerprintConfig) -> StoredFeatures {
        StoredFeatures { file, path: path.to_path_buf(), config }
    }

    /// The keypoints of the block at `span`, for a reference of `width` x `height` pixels, checked.
    pub(crate) fn keypoints(&self, span: Span, width: u32, height: u32) -> Result<Vec<Keypoint>> {
        let bytes = self.read(span.at, span.keypoint_bytes() + 4)?;
        checked(&bytes).and_then(|b| self.parse_keypoints(b, span, width, height)).map_err(|e| self.located(e, span))
    }

    /// The whole block at `span` (keypoints and descriptors), checked.
    pub(crate) fn features(&self, span: Span, width: u32, height: u32) -> Result<LocalFeatures> {
        let bytes = self.block(span)?;
        let split = span.keypoint_bytes() as usize + 4;
        let keypoints =
            self.parse_keypoints(&bytes[..split - 4], span, width, height).map_err(|e| self.located(e, span))?;
        let descriptors = bytes[split..bytes.len() - 4]
            .chunks_exact(DESCRIPTOR_BYTES as usize)
            .map(|c| {
                let word = |i: usize| u64::from_le_bytes(c[8 * i..8 * i + 8].try_into().unwrap_or_default());
                [word(0), word(1), word(2), word(3)]
            })
            .collect();
        Ok(LocalFeatures { keypoints, descriptors })
    }

    /// Keypoints from their checked bytes, validated against the photo and the configuration.
    fn parse_keypoints(&self, bytes: &[u8], span: Span, width: u32, height: u32) -> Result<Vec<Keypoint>> {
        let keypoints = super::format::keypoints(bytes, span.keypoints)?;
        super::format::validate_keypoints(&keypoints, width, height, &self.config)?;
        Ok(keypoints)
    }

    /// The block's bytes as stored, both checksums checked: what a save of the index copies.
    pub(crate) fn block(&self, span: Span) -> Result<Vec<u8>> {
        let bytes = self.read(span.at, Span::len(span.keypoints))?;
        let split = span.keypoint_bytes() as usize + 4;
        checked(&bytes[..split]).and(checked(&bytes[split..])).map_err(|e| self.located(e, span))?;
        Ok(bytes)
    }

    fn read(&self, at: u64, len: u64) -> Result<Vec<u8>> {
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
        read_at(&self.file, &mut bytes, at).map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::UnexpectedEof => ErrorKind::IndexTruncated(format!(
                    "features at byte {at}: the file is shorter than its footer says"
                )),
                _ => ErrorKind::Io(e),
            };
            Error::new(kind).with_path(&self.path)
        })?;
        Ok(bytes)
    }

    fn located(&self, e: Error, span: Span) -> Error {
        let kind = match e.kind() {
            ErrorKind::IndexCorrupt(m) => ErrorKind::IndexCorrupt(format!("features at byte {}: {m}", span.at)),
            _ => return e.with_path(&self.path),
        };
        Error::new(kind).with_path(&self.path)
    }
}

/// `bytes` without their trailing CRC-32, if it matches.
fn checked(bytes: &[u8]) -> Result<&[u8]> {
    let (data, crc) = bytes.split_at(bytes.len().saturating_sub(4));
    match <[u8; 4]>::try_from(crc) {
        Ok(crc) if crc32fast::hash(data) == u32::from_le_bytes(crc) => Ok(data),
        _ => Err(Error::new(ErrorKind::IndexCorrupt("checksum mismatch".into()))),
    }
}

/// Fills `buf` from `file` at `offset`, without moving a shared cursor: searches on several threads read at once.
#[cfg(unix)]
pub(super) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
pub(super) fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
