//! The file a reference was fingerprinted from, as it was then: its size, modification time and SHA-256.
//!
//! [`ReferenceIndex::update`](super::ReferenceIndex::update) compares them with the file on disk to find photos
//! replaced under their name (the size and time first, so an unchanged catalog is not read again; the SHA-256
//! decides, so a file copied or touched without a change is not fingerprinted again), and the HTML report checks the
//! SHA-256 before it shows a catalog photo as the one the evidence was found on. It is also what a takedown
//! request can cite: `sha256sum` on the authentic photo gives the same digest.

use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::error::Result;

/// A catalog photo's file as it was when its reference was fingerprinted.
///
/// ```
/// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs");
/// let (index, _) = ReferenceIndex::build(dir, &Fingerprinter::for_references(FingerprintConfig::default()), |_| {});
/// let coffee = index.by_path("coffee.jpg").and_then(|r| r.source).expect("built from its file");
/// assert_eq!(coffee.len, std::fs::metadata(format!("{dir}/coffee.jpg"))?.len());
/// assert_eq!(coffee.sha256_hex().len(), 64); // what `sha256sum coffee.jpg` prints
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Size in bytes.
    pub len: u64,
    /// Last modification time, in nanoseconds since the Unix epoch (`None` where the file system keeps none).
    pub modified_ns: Option<i64>,
    /// SHA-256 of the file's bytes (serialised as 64 lowercase hex digits).
    #[serde(serialize_with = "hex_out", deserialize_with = "hex_in")]
    pub sha256: [u8; 32],
}

impl SourceFile {
    /// The record of `bytes`, read from a file with `metadata`.
    pub(crate) fn of(bytes: &[u8], metadata: &std::fs::Metadata) -> SourceFile {
        SourceFile { len: bytes.len() as u64, modified_ns: modified_ns(metadata), sha256: sha256(bytes) }
    }

    /// The SHA-256 as 64 lowercase hex digits, as `sha256sum` prints it.
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }

    /// Whether the file at `path` still has this size and modification time: then it is taken as unchanged without
    /// reading it (what `make` and `rsync` do). A file system without modification times never says so.
    pub(crate) fn stamp_matches(&self, path: &Path) -> bool {
        match std::fs::metadata(path) {
            Ok(m) => m.is_file() && m.len() == self.len && self.modified_ns.is_some_and(|t| modified_ns(&m) == Some(t)),
            Err(_) => false,
        }
    }
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A digest as lowercase hex digits.
pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn modified_ns(metadata: &std::fs::Metadata) -> Option<i64> {
    let modified = metadata.modified().ok()?;
    Some(match modified.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    })
}

/// Reads the file at `path` (at most `limit` bytes) and records it.
///
/// # Errors
/// As [`crate::decode::decode_path`]'s reading part, with the path.
pub(crate) fn read(path: &Path, limit: u64) -> Result<(Vec<u8>, SourceFile)> {
    let (bytes, metadata) = crate::decode::read_regular(path, limit).map_err(|e| e.with_path(path))?;
    let source = SourceFile::of(&bytes, &metadata);
    Ok((bytes, source))
}

fn hex_out<S: Serializer>(digest: &[u8; 32], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex(digest))
}

fn hex_in<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<[u8; 32], D::Error> {
    let text = String::deserialize(d)?;
    let bad = || serde::de::Error::custom("a SHA-256 is 64 hex digits");
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad());
    }
    let mut digest = [0u8; 32];
    for (k, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * k..2 * k + 2], 16).map_err(|_| bad())?;
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_the_standard_one_and_round_trips_as_hex() {
        // FIPS 180-2's first example.
        let source = SourceFile { len: 3, modified_ns: None, sha256: sha256(b"abc") };
        assert_eq!(source.sha256_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let json = serde_json::to_string(&source).unwrap();
        assert_eq!(serde_json::from_str::<SourceFile>(&json).unwrap(), source);
        assert!(serde_json::from_str::<SourceFile>(&json.replace("ba78", "zz78")).is_err());
    }
}
