//! The index file format, version 6.
//!
//! ```text
//! "KNOCKIDX"                      8 bytes, magic
//! format version                  u32 little-endian (this file: 6; independent of the crate version)
//! header length H                 u32
//! header                          H bytes of JSON: fingerprint configuration and algorithm version, catalog
//!                                 folder, reference count, next id, shard, the crate version that wrote it
//! references                      count x record (below)
//! word-index flag                 u8: 1 if the visual-word index follows, 0 if not (it is then trained on the
//!                                 first search that needs it)
//! word index                      nodes u32, nodes x (centroid 4 x u64, first child u32, child count u8);
//!                                 per word (the leaves in node order): 24 signature bit numbers u8;
//!                                 per word: postings u32, postings x 8 bytes
//! features                        per reference with local features, in reference order: its n keypoints
//!                                 (x, y, size, angle f32, level u8, colour 3 x u8), their CRC-32 u32, its n
//!                                 descriptors (4 x u64), their CRC-32 u32
//! main length M                   u64: bytes before the features
//! features length                 u64
//! CRC-32 (IEEE)                   u32 of the first M bytes
//! "KIDX"                          4 bytes, end magic
//!
//! record: id u64, path (u32 length + UTF-8), metadata count u32, each (u32 length + UTF-8) x 2,
//!         width u32, height u32, aHash u64, dHash u64, pHash u64, content PDQ (8 variants x 4 x u64, quality u8),
//!         colour 16 x u8, photo-PDQ flag u8 (1: the whole photo's PDQ follows, in the same layout),
//!         local-features flag u8 (1: the reference has local features: their count n u32 follows, the
//!         features themselves are in the feature section),
//!         source flag u8 (1: the file it was fingerprinted from follows: size u64, modification time i64 in
//!         nanoseconds since the Unix epoch (i64::MIN: none), SHA-256 32 bytes)
//! ```
//!
//! Opening reads and checks the first M bytes (what a search needs in memory: hashes, paths, the word index) and
//! leaves the features in the file, where a search reads the blocks it needs, each checked against its own CRC
//! ([`stored`](super::stored)): the features are nine tenths of the file, and a scan that held them all would
//! need 26 KB of memory per reference. The word index is stored so that opening a large catalog does not train a
//! vocabulary and file every descriptor again (minutes at a million references), nor reads features back from
//! the file to do it; it is written whenever the references have local features.
//!
//! Older versions are migrated: version 5 is version 6 without the records' source (read as it is, in place; the
//! references get their source on the next [`ReferenceIndex::update`]); versions 2 to 4 are read whole, into
//! memory: version 4 kept the features in each record (with
//! one CRC for the whole file); version 3 stored postings without their keypoint numbers (7 bytes), so its
//! vocabulary is kept and the references are filed again on opening (seconds for thousands of references);
//! version 2 (no word index) gets its word index trained on first use. Version 1 (no local features) is refused
//! with [`ErrorKind::IndexVersion`]: its fingerprints are of an older algorithm version anyway, so the catalog
//! has to be indexed again.
//!
//! Files are written to a temporary file beside the target, fsynced, and renamed over it (then the folder is
//! fsynced), so a crash mid-save leaves the old index or the new one, never a broken one; a symlink is written
//! through, and a target that is not a regular file is refused. Opening checks magic, version and lengths before
//! reading the rest, parses as it reads (never holding the file's bytes beside the index they make), and keeps
//! what it parsed only once the checksum agrees; every read is bounds-checked and every count bounded by the
//! bytes left before anything is allocated for it: a damaged file is a typed error, never a panic.

use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::inverted::{Posting, WordIndex};
use super::packed::Packer;
use super::stored::{KEYPOINT_BYTES, Span, StoredFeatures};
use super::vocabulary::{SIGNATURE_BITS, Vocabulary};
use super::{ReferenceIndex, SourceFile};
use crate::colour::{BINS, ColourSignature};
use crate::error::{Error, ErrorKind, Result};
use crate::features::{Keypoint, LocalFeatures};
use crate::fingerprint::{FINGERPRINT_VERSION, Fingerprint, FingerprintConfig};
use crate::hash::{Hash, HashKind, PdqHashes};

/// The index file format version this build writes (it also reads versions 2 to 5).
pub const FORMAT_VERSION: u32 = 6;
/// The first version with its features in a section of their own, read in place.
const FEATURE_SECTION: u32 = 5;
/// The oldest format version this build reads.
const OLDEST_READ: u32 = 2;
/// More keypoints than any configuration extracts: a larger count is damage, not data.
const MAX_KEYPOINTS: u32 = 1 << 16;
const MAGIC: &[u8; 8] = b"KNOCKIDX";
const END_MAGIC: &[u8; 4] = b"KIDX";
/// What a file that does not end in a footer is told: the end is missing, or something was written after it.
const NO_FOOTER: &str = "no footer at its end (cut short, or bytes added after it)";
/// Footer bytes of versions 2 to 4 (length, CRC, end magic) and from version 5 (main length, features length, CRC,
/// end magic).
const FOOTER: usize = 16;
const FOOTER_V5: u64 = 24;

#[derive(Serialize, Deserialize)]
struct Header {
    fingerprint_config: FingerprintConfig,
    fingerprint_version: u32,
    catalog_root: Option<String>,
    /// The catalog folder relative to the index file's folder, when both are on one path tree: an index kept
    /// beside its catalog (a committed fixture, a moved or copied catalog) finds its photos wherever it goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    catalog_root_relative: Option<String>,
    references: u64,
    next_id: u64,
    written_by: String,
    /// Which part of a sharded catalog the file holds (absent for a whole catalog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shard: Option<super::Shard>,
}

impl ReferenceIndex {
    /// Saves the index to `path` atomically (temporary file beside the target, fsync, rename).
    ///
    /// A symlink at `path` is written through: its target gets the new index and the link stays. Anything else
    /// that is not a regular file (a device, a pipe, a folder, a dangling link) is refused rather than replaced.
    /// Temporary files left by saves that were killed (`.NAME.tmp-PID` whose process is gone) are removed first.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] for a configuration that [`ReferenceIndex::open`] would refuse (see
    /// [`FingerprintConfig::validate`]), before anything is written; [`ErrorKind::NotRegularFile`] for a target
    /// that is not a regular file; [`ErrorKind::Write`] if writing fails (a full disk, a read-only folder); for an
    /// index opened from a file, the errors of reading its local features from that file to copy them
    /// ([`ErrorKind::IndexCorrupt`], [`ErrorKind::IndexTruncated`], [`ErrorKind::Io`]: the file damaged since it was
    /// opened). The previous file at `path`, if any, is then untouched. Errors carry the path.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        // A file that could never be opened again is worse than none: it would replace a good one.
        self.config.validate().map_err(|e| e.with_path(path))?;
        let relative = self.catalog_root.as_deref().and_then(|root| relative_root(root, path));
        crate::atomic::write_file(path, |file| {
            // The CRC is summed under the buffer, over the large writes it makes.
            let mut out =
                BufWriter::with_capacity(1 << 20, Summed { out: file, crc: crc32fast::Hasher::new(), len: 0 });
            self.write_to(&mut out, relative)?;
            out.flush().map_err(|e| Error::new(ErrorKind::Write(e)))
        })
    }

    /// Opens an index saved by [`ReferenceIndex::save`], adopting the fingerprint configuration it was built with.
    ///
    /// Only a regular file is read (a pipe or device is refused without opening it for reading), and its magic
    /// bytes are checked before the rest is read, so pointing this at a large file of another kind costs nothing.
    /// Every value is checked against the range the code supports, the header's configuration included.
    ///
    /// The references' local features stay in the file (the index keeps it open): a search reads those of the
    /// references it checks, each block checked against its own CRC when read ([`ReferenceIndex::fingerprint`],
    /// [`ReferenceIndex::load_features`]). Saving over the file an index was opened from is safe: the save writes
    /// a new file and renames it over the old, which the open index goes on reading. Files of format version 5 are
    /// read in place, without their references' [`SourceFile`] records; those of versions 2 to 4 are read whole,
    /// features included.
    ///
    /// # Errors
    /// [`ErrorKind::Io`], [`ErrorKind::NotRegularFile`], [`ErrorKind::NotAnIndex`], [`ErrorKind::IndexVersion`],
    /// [`ErrorKind::IndexTruncated`], [`ErrorKind::IndexCorrupt`], [`ErrorKind::InvalidConfig`] for a configuration
    /// out of range, and [`ErrorKind::ConfigMismatch`] if it was made by another version of the fingerprint
    /// algorithms. Errors carry the path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let (mut index, relative) = Self::read(path).map_err(|e| e.with_path(path))?;
        // The absolute path recorded at build time, unless it is gone (the catalog was moved, or the index comes
        // from another machine) and the catalog is found where it was relative to the index file.
        if !index.catalog_root.as_ref().is_some_and(|root| root.is_dir()) {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            if let Some(beside) = relative.map(|r| dir.join(r)).filter(|p| p.is_dir()) {
                index.catalog_root = Some(beside);
            }
        }
        Ok(index)
    }

    /// Like [`ReferenceIndex::open`], and also requires the index to have been built with `config`.
    ///
    /// # Errors
    /// Those of [`ReferenceIndex::open`]; [`ErrorKind::ConfigMismatch`] if the configurations differ.
    pub fn open_expecting(path: impl AsRef<Path>, config: &FingerprintConfig) -> Result<Self> {
        let path = path.as_ref();
        let index = Self::open(path)?;
        if index.config() != config {
            let message = format!("index has {:?}, expected {config:?}", index.config());
            return Err(Error::new(ErrorKind::ConfigMismatch(message)).with_path(path));
        }
        Ok(index)
    }

    /// Writes the file, with the catalog folder relative to the file's folder when known: the main part (its CRC
    /// and length summed on the way), then the feature blocks (from memory, or copied from the file this index was
    /// opened from, each checked on the way), then the footer. Streamed: a million references never sit in one
    /// buffer.
    fn write_to<W: Write>(&self, out: &mut BufWriter<Summed<W>>, catalog_root_relative: Option<String>) -> Result<()> {
        let write = |e: std::io::Error| Error::new(ErrorKind::Write(e));
        let header = Header {
            fingerprint_config: self.config,
            fingerprint_version: FINGERPRINT_VERSION,
            catalog_root: self.catalog_root.as_ref().map(|p| p.to_string_lossy().into_owned()),
            catalog_root_relative,
            references: self.references.len() as u64,
            next_id: self.next_id,
            written_by: format!("knockoff {}", env!("CARGO_PKG_VERSION")),
            shard: self.shard,
        };
        // Serialising plain data to a Vec cannot fail.
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let mut buffer = Vec::with_capacity(64 + header.len());
        buffer.extend_from_slice(MAGIC);
        buffer.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        buffer.extend_from_slice(&(header.len() as u32).to_le_bytes());
        buffer.extend_from_slice(&header);
        out.write_all(&buffer).map_err(write)?;
        let mut features_len = 0;
        for (position, r) in self.references.iter().enumerate() {
            buffer.clear();
            buffer.extend_from_slice(&r.id.to_le_bytes());
            put_str(&mut buffer, &r.path);
            buffer.extend_from_slice(&(r.metadata.len() as u32).to_le_bytes());
            for (k, v) in &r.metadata {
                put_str(&mut buffer, k);
                put_str(&mut buffer, v);
            }
            put_fingerprint(&mut buffer, &r.fingerprint);
            match self.keypoint_count(position) {
                Some(n) => {
                    buffer.push(1);
                    buffer.extend_from_slice(&n.to_le_bytes());
                    features_len += Span::len(n);
                }
                None => buffer.push(0),
            }
            match &r.source {
                Some(source) => {
                    buffer.push(1);
                    buffer.extend_from_slice(&source.len.to_le_bytes());
                    buffer.extend_from_slice(&source.modified_ns.unwrap_or(i64::MIN).to_le_bytes());
                    buffer.extend_from_slice(&source.sha256);
                }
                None => buffer.push(0),
            }
            out.write_all(&buffer).map_err(write)?;
        }
        match self.stored_word_index() {
            Some(words) => {
                out.write_all(&[1]).map_err(write)?;
                put_words(out, words).map_err(write)?;
            }
            None => out.write_all(&[0]).map_err(write)?,
        }
        out.flush().map_err(write)?;
        let (main_len, crc) = (out.get_ref().len, out.get_ref().crc.clone().finalize());
        for (position, r) in self.references.iter().enumerate() {
            match (&r.fingerprint.local, self.span(position)) {
                (Some(local), _) => {
                    buffer.clear();
                    put_block(&mut buffer, local);
                    out.write_all(&buffer).map_err(write)?;
                }
                (None, Some((stored, span))) => out.write_all(&stored.block(span)?).map_err(write)?,
                (None, None) => {}
            }
        }
        let mut footer = Vec::with_capacity(FOOTER_V5 as usize);
        footer.extend_from_slice(&main_len.to_le_bytes());
        footer.extend_from_slice(&features_len.to_le_bytes());
        footer.extend_from_slice(&crc.to_le_bytes());
        footer.extend_from_slice(END_MAGIC);
        out.write_all(&footer).map_err(write)
    }

    /// Reads the index file at `path`: a regular file only, its magic checked before anything else is read. A
    /// file of version 5 or later is read up to its features, which stay in the file; older versions are read whole.
    fn read(path: &Path) -> Result<(Self, Option<String>)> {
        let err = |kind: ErrorKind| Err(Error::new(kind));
        let io = |e: std::io::Error| Error::new(ErrorKind::Io(e));
        let (file, len) = crate::decode::open_regular(path)?;
        let mut start = Vec::with_capacity(12);
        (&file).take(MAGIC.len() as u64).read_to_end(&mut start).map_err(io)?;
        if start.as_slice() != MAGIC {
            return err(ErrorKind::NotAnIndex);
        }
        (&file).take(4).read_to_end(&mut start).map_err(io)?;
        let Ok(version) = <[u8; 4]>::try_from(&start[MAGIC.len()..]).map(u32::from_le_bytes) else {
            return err(ErrorKind::IndexTruncated("no format version".into()));
        };
        if !(FEATURE_SECTION..=FORMAT_VERSION).contains(&version) {
            let mut bytes = start;
            bytes.reserve(usize::try_from(len).unwrap_or(0).saturating_sub(bytes.len()));
            (&file).read_to_end(&mut bytes).map_err(io)?;
            return Self::decode(&bytes);
        }
        let mut footer = [0u8; FOOTER_V5 as usize];
        if len < 16 + FOOTER_V5 || super::stored::read_at(&file, &mut footer, len - FOOTER_V5).is_err() {
            return err(ErrorKind::IndexTruncated(NO_FOOTER.into()));
        }
        let word = |i: usize| u64::from_le_bytes(footer[8 * i..8 * i + 8].try_into().unwrap_or_default());
        let (main_len, features_len) = (word(0), word(1));
        let crc = u32::from_le_bytes(footer[16..20].try_into().unwrap_or_default());
        if &footer[20..] != END_MAGIC {
            return err(ErrorKind::IndexTruncated(NO_FOOTER.into()));
        }
        let stated = main_len.checked_add(features_len).and_then(|n| n.checked_add(FOOTER_V5));
        if stated != Some(len) || main_len < 16 {
            // The footer is there (its end marker read), so the file was not cut short: it is damaged.
            return err(ErrorKind::IndexCorrupt(format!(
                "footer says {main_len} + {features_len} bytes, file has {}",
                len - FOOTER_V5
            )));
        }
        // Parsed as it streams in, so that opening never holds the file's bytes beside the index they make (twice
        // the memory at its peak); what was parsed counts only once the checksum agrees, and a parse that fails
        // on a damaged file reports the checksum, not whatever the damage looked like.
        let mut crc_so_far = crc32fast::Hasher::new();
        crc_so_far.update(&start);
        let summing = Summing { inner: (&file).take(main_len - 12), crc: crc_so_far };
        let mut r = Reader::new(std::io::BufReader::with_capacity(1 << 20, summing), 12, main_len - 12);
        let parsed = Self::parse(&mut r, version, Some((main_len, features_len)));
        r.drain()?;
        if r.source.into_inner().crc.finalize() != crc {
            return err(ErrorKind::IndexCorrupt("checksum mismatch".into()));
        }
        let (mut index, relative) = parsed?;
        index.stored = Some(Arc::new(StoredFeatures::new(file, path, index.config)));
        Ok((index, relative))
    }

    /// The index in `bytes`, a whole file of version 2 to 4, and its catalog folder relative to the file's folder
    /// if recorded.
    fn decode(bytes: &[u8]) -> Result<(Self, Option<String>)> {
        let err = |kind: ErrorKind| Err(Error::new(kind));
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return err(ErrorKind::NotAnIndex);
        }
        if bytes.len() < MAGIC.len() + 4 {
            return err(ErrorKind::IndexTruncated("no format version".into()));
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if !(OLDEST_READ..FEATURE_SECTION).contains(&version) {
            return err(ErrorKind::IndexVersion { found: version, supported: FORMAT_VERSION });
        }
        if bytes.len() < 16 + FOOTER || &bytes[bytes.len() - 4..] != END_MAGIC {
            return err(ErrorKind::IndexTruncated(NO_FOOTER.into()));
        }
        let body_len = bytes.len() - FOOTER;
        let footer = &bytes[body_len..];
        let stated = u64::from_le_bytes(footer[..8].try_into().unwrap_or_default());
        if stated != body_len as u64 {
            // The footer is there (its end marker read), so the file was not cut short: it is damaged.
            return err(ErrorKind::IndexCorrupt(format!("footer says {stated} bytes, file has {body_len}")));
        }
        let crc = u32::from_le_bytes(footer[8..12].try_into().unwrap_or_default());
        if crc32fast::hash(&bytes[..body_len]) != crc {
            return err(ErrorKind::IndexCorrupt("checksum mismatch".into()));
        }
        let mut r = Reader::new(&bytes[12..body_len], 12, body_len as u64 - 12);
        Self::parse(&mut r, version, None)
    }

    /// Parses a file of `version` from `r` (after its version number). From version 5, `features` is where
    /// the feature section starts and how long it is: the references' blocks are placed in it, in order, and
    /// must fill it exactly.
    fn parse<R: Read>(r: &mut Reader<R>, version: u32, features: Option<(u64, u64)>) -> Result<(Self, Option<String>)> {
        let err = |kind: ErrorKind| Err(Error::new(kind));
        let header_len = r.u32()? as usize;
        let header: Header = serde_json::from_slice(r.take(header_len)?)
            .map_err(|e| Error::new(ErrorKind::IndexCorrupt(format!("header: {e}"))))?;
        if header.fingerprint_version != FINGERPRINT_VERSION {
            return err(ErrorKind::ConfigMismatch(format!(
                "fingerprint algorithm version {} (this build makes version {FINGERPRINT_VERSION}); rebuild the index",
                header.fingerprint_version
            )));
        }
        validate_header(&header)?;
        let mut index = ReferenceIndex::new(header.fingerprint_config);
        index.catalog_root = header.catalog_root.map(std::path::PathBuf::from);
        let relative = header.catalog_root_relative;
        let mut last_id = None;
        let mut block_at = features.map_or(0, |(at, _)| at);
        for _ in 0..header.references {
            let id = r.u64()?;
            if last_id.is_some_and(|last| id <= last) || id >= header.next_id {
                return err(ErrorKind::IndexCorrupt(format!("reference id {id} out of order")));
            }
            last_id = Some(id);
            let path = r.string()?;
            let pairs = r.u32()? as usize;
            let mut metadata = std::collections::BTreeMap::new();
            for _ in 0..pairs {
                metadata.insert(r.string()?, r.string()?);
            }
            let mut fingerprint = r.fingerprint()?;
            let span = match (r.array::<1>()?[0], features) {
                (0, _) => None,
                (1, None) => {
                    fingerprint.local = Some(Box::new(r.local()?));
                    None
                }
                (1, Some(_)) => {
                    let keypoints = r.u32()?;
                    let span = Span { at: block_at, keypoints };
                    block_at += Span::len(keypoints);
                    Some(span)
                }
                (flag, _) => return err(ErrorKind::IndexCorrupt(format!("bad local-features flag {flag}"))),
            };
            let source = match (version >= 6).then(|| r.array::<1>()).transpose()?.map(|[flag]| flag) {
                None | Some(0) => None,
                Some(1) => {
                    let len = r.u64()?;
                    let modified_ns = Some(r.u64()? as i64).filter(|&t| t != i64::MIN);
                    Some(SourceFile { len, modified_ns, sha256: r.array::<32>()? })
                }
                Some(flag) => return err(ErrorKind::IndexCorrupt(format!("bad source flag {flag}"))),
            };
            validate_record(&fingerprint, span.map(|s| s.keypoints), &header.fingerprint_config)?;
            // `add` hands out `next_id`: point it at the stored id so it keeps it.
            index.next_id = id;
            index.insert(path, fingerprint, metadata, source);
            if let Some(slot) = index.spans.last_mut() {
                *slot = span;
            }
        }
        if let Some((at, len)) = features.filter(|&(at, len)| block_at - at != len) {
            return err(ErrorKind::IndexCorrupt(format!(
                "the records' features take {} bytes, the feature section {len}",
                block_at - at
            )));
        }
        if version >= 3 {
            match r.array::<1>()?[0] {
                0 => {}
                1 if version == 3 => {
                    let vocabulary = r.vocabulary()?;
                    r.skip_postings(vocabulary.words as usize, 7)?;
                    let mut words = WordIndex::from_vocabulary(vocabulary);
                    words.extend(index.references.iter().map(|r| r.fingerprint.local.as_deref()));
                    words.shrink_to_fit();
                    let _ = index.words.set(words);
                }
                1 => {
                    let words = r.words(index.len())?;
                    // Set once, on an index that has none yet.
                    let _ = index.words.set(words);
                }
                flag => return err(ErrorKind::IndexCorrupt(format!("bad word-index flag {flag}"))),
            }
        }
        if r.left != 0 {
            return err(ErrorKind::IndexCorrupt(format!("{} unexpected bytes after the references", r.left)));
        }
        index.next_id = header.next_id;
        index.shard = header.shard;
        Ok((index, relative))
    }
}

/// Checks the header's configuration against the ranges the code supports: it comes from the file, and a value
/// out of range made scans panic (a keypoint budget of 2^63), fail every listing (limits of 0) or lose their bomb
/// protection (limits of `u64::MAX`).
fn validate_header(header: &Header) -> Result<()> {
    if header.references > super::MAX_REFERENCES as u64 {
        let m = format!("{} references, over the {} an index holds", header.references, super::MAX_REFERENCES);
        return Err(Error::new(ErrorKind::IndexCorrupt(m)));
    }
    if let Some(shard) = header.shard {
        let fits = (1..=shard.count).contains(&shard.number)
            && shard.count <= super::MAX_SHARDS
            && (header.references..=super::MAX_REFERENCES as u64 * u64::from(shard.count))
                .contains(&shard.catalog_references);
        if !fits {
            return Err(Error::new(ErrorKind::IndexCorrupt(format!(
                "shard {} of {} with {} of {} references",
                shard.number, shard.count, header.references, shard.catalog_references
            ))));
        }
    }
    header.fingerprint_config.validate().map_err(|e| match e.kind() {
        ErrorKind::InvalidConfig(m) => Error::new(ErrorKind::InvalidConfig(format!("index header: {m}"))),
        _ => e,
    })
}

/// Checks a parsed reference against what fingerprinting under `config` can produce: finite is not enough (an
/// angle of -4.1e19 once hung every scan). `stored` is the keypoint count of features left in the file (checked
/// when they are read).
fn validate_record(f: &Fingerprint, stored: Option<u32>, config: &FingerprintConfig) -> Result<()> {
    let corrupt = |m: String| Err(Error::new(ErrorKind::IndexCorrupt(m)));
    let (w, h) = (f.width, f.height);
    if w == 0 || h == 0 || w > config.limits.max_width || h > config.limits.max_height {
        return corrupt(format!("reference of {w}x{h} pixels"));
    }
    if f.pdq.quality > 100 || f.photo_pdq.as_ref().is_some_and(|p| p.quality > 100) {
        return corrupt("PDQ quality over 100".into());
    }
    let count = match (&f.local, stored) {
        (Some(local), _) => local.keypoints.len(),
        (None, Some(n)) => n as usize,
        (None, None) => return Ok(()),
    };
    let Some(local_config) = &config.local else {
        return corrupt("local features in an index configured without them".into());
    };
    if count > local_config.budget.max(local_config.listing_budget) {
        return corrupt(format!("{count} keypoints, over the configured budget"));
    }
    f.local.as_ref().map_or(Ok(()), |local| validate_keypoints(&local.keypoints, w, h, config))
}

/// Checks stored keypoints of a `w` x `h` reference: they lie on the photo (a pixel of slack for rounding), sizes
/// are patch diameters, angles come from atan2, levels are the configuration's.
pub(super) fn validate_keypoints(keypoints: &[Keypoint], w: u32, h: u32, config: &FingerprintConfig) -> Result<()> {
    let corrupt = |m: String| Err(Error::new(ErrorKind::IndexCorrupt(m)));
    let Some(local_config) = &config.local else {
        return corrupt("local features in an index configured without them".into());
    };
    let angle_bound = std::f32::consts::PI + 1e-3;
    let (wf, hf) = (w as f32, h as f32);
    // A photo smaller than the working size may have enlarged levels above its own.
    let levels = local_config.levels + crate::features::keypoints::enlarged_count(1, local_config);
    for k in keypoints {
        let on_photo = (-1.0..=wf + 1.0).contains(&k.x) && (-1.0..=hf + 1.0).contains(&k.y);
        let sized = k.size > 0.0 && k.size <= 1e6;
        if !on_photo || !sized || !(-angle_bound..=angle_bound).contains(&k.angle) {
            return corrupt(format!(
                "keypoint out of range (x {}, y {}, size {}, angle {}) on a {w}x{h} photo",
                k.x, k.y, k.size, k.angle
            ));
        }
        if usize::from(k.level) >= levels {
            return corrupt(format!("keypoint on pyramid level {} of {levels}", k.level));
        }
    }
    Ok(())
}

/// `n` stored keypoints from `bytes` (exactly their size), each finite with a positive size. Parsed from fixed
/// offsets: the placement check of every search reads hundreds of references' keypoints.
pub(super) fn keypoints(bytes: &[u8], n: u32) -> Result<Vec<Keypoint>> {
    let corrupt = |m: String| Error::new(ErrorKind::IndexCorrupt(m));
    if n > MAX_KEYPOINTS || bytes.len() as u64 != u64::from(n) * KEYPOINT_BYTES {
        return Err(corrupt(format!("{} bytes for {n} keypoints", bytes.len())));
    }
    bytes
        .chunks_exact(KEYPOINT_BYTES as usize)
        .map(|c| {
            let value = |i: usize| f32::from_le_bytes([c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]]);
            let [x, y, size, angle] = [value(0), value(1), value(2), value(3)];
            if ![x, y, size, angle].iter().all(|v| v.is_finite()) || size <= 0.0 {
                return Err(corrupt("keypoint with a non-finite position, size or angle".into()));
            }
            Ok(Keypoint { x, y, size, angle, level: c[16], colour: [c[17], c[18], c[19]] })
        })
        .collect()
}

impl ReferenceIndex {
    /// The word index a save stores: the one in hand if trained, else one trained now when the references have
    /// local features.
    fn stored_word_index(&self) -> Option<&WordIndex> {
        if let Some(words) = self.words.get() {
            return Some(words);
        }
        // Also for catalogs verified one by one: an opened index should never train from features in its file
        // (a block it cannot read would go unnoticed), and a small catalog's vocabulary is cheap.
        self.has_local_features().then(|| self.word_index())
    }
}

fn put_words(out: &mut impl Write, words: &WordIndex) -> std::io::Result<()> {
    let (vocabulary, inverted) = words.parts();
    let tree = vocabulary.tree();
    out.write_all(&(tree.len() as u32).to_le_bytes())?;
    for (centroid, first, count) in tree {
        for w in centroid {
            out.write_all(&w.to_le_bytes())?;
        }
        out.write_all(&first.to_le_bytes())?;
        // At most 16 children (`Vocabulary::from_tree` checks on reading).
        out.write_all(&[count as u8])?;
    }
    for bits in (0..vocabulary.words).map(|w| vocabulary.signature_bits_of(w)) {
        out.write_all(bits)?;
    }
    for w in 0..vocabulary.words as usize {
        let list = inverted.list(w);
        out.write_all(&(list.len() as u32).to_le_bytes())?;
        for p in list.iter() {
            out.write_all(&p.to_bytes())?;
        }
    }
    Ok(())
}

/// A writer that sums what passes through it: the main part's CRC and length (under a buffered writer, so that
/// the CRC is summed over large pieces).
struct Summed<W> {
    out: W,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for Summed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_fingerprint(out: &mut Vec<u8>, f: &Fingerprint) {
    out.extend_from_slice(&f.width.to_le_bytes());
    out.extend_from_slice(&f.height.to_le_bytes());
    for h in [&f.ahash, &f.dhash, &f.phash] {
        out.extend_from_slice(&h.words()[0].to_le_bytes());
    }
    put_pdq(out, &f.pdq);
    out.extend_from_slice(&f.colour.bins);
    match &f.photo_pdq {
        Some(photo) => {
            out.push(1);
            put_pdq(out, photo);
        }
        None => out.push(0),
    }
}

/// One reference's feature block: keypoints, their CRC, descriptors, theirs.
fn put_block(out: &mut Vec<u8>, local: &LocalFeatures) {
    let start = out.len();
    for k in &local.keypoints {
        for v in [k.x, k.y, k.size, k.angle] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(k.level);
        out.extend_from_slice(&k.colour);
    }
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
    let start = out.len();
    for d in &local.descriptors {
        for w in d {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

fn put_pdq(out: &mut Vec<u8>, pdq: &PdqHashes) {
    for h in &pdq.dihedral {
        for w in h.words() {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
    out.push(pdq.quality);
}

/// A bounds-checked reader of a file's bytes, in memory or streamed from the file (so that opening holds the
/// parsed index, not the file's bytes too): running past the end is a typed error.
struct Reader<R> {
    source: R,
    /// Bytes read so far (counted from the file's start) and left to read.
    at: u64,
    left: u64,
    scratch: Vec<u8>,
}

/// A reader that sums what passes through it into a CRC, in the large reads a buffered reader makes of it.
struct Summing<R> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Read for Summing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> Reader<R> {
    /// Reads `len` bytes from `source`, which starts at byte `at` of the file.
    fn new(source: R, at: u64, len: u64) -> Self {
        Reader { source, at, left: len, scratch: Vec::new() }
    }

    fn fill(&mut self, out: &mut [u8]) -> Result<()> {
        if out.len() as u64 > self.left {
            return Err(Error::new(ErrorKind::IndexCorrupt(format!("record runs past the end at byte {}", self.at))));
        }
        self.source.read_exact(out).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                Error::new(ErrorKind::IndexTruncated("the file shrank while it was read".into()))
            }
            _ => Error::new(ErrorKind::Io(e)),
        })?;
        self.at += out.len() as u64;
        self.left -= out.len() as u64;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if n as u64 > self.left {
            return Err(Error::new(ErrorKind::IndexCorrupt(format!("record runs past the end at byte {}", self.at))));
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(n, 0);
        let filled = self.fill(&mut scratch);
        self.scratch = scratch;
        filled.map(|()| self.scratch.as_slice())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        self.fill(&mut out)?;
        Ok(out)
    }

    /// Reads what is left, unparsed (after a parse that stopped early, at damage that the checksum will name).
    fn drain(&mut self) -> Result<()> {
        let mut rest = (&mut self.source).take(self.left);
        std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| Error::new(ErrorKind::Io(e)))?;
        self.left = 0;
        Ok(())
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Bytes left to read.
    fn left(&self) -> usize {
        usize::try_from(self.left).unwrap_or(usize::MAX)
    }

    /// A stored word index for `references` references, checked (tree shape, one posting list per word,
    /// positions in range). Counts are bounded by the bytes left before anything is allocated for them.
    fn words(&mut self, references: usize) -> Result<WordIndex> {
        let corrupt = |m: String| Error::new(ErrorKind::IndexCorrupt(format!("word index: {m}")));
        let vocabulary = self.vocabulary()?;
        // The posting lists end the part of the file read at opening: what is left, less the counts, is their
        // postings, so the packed array is allocated once (a growing one would copy itself and peak at twice its
        // size).
        let words = vocabulary.words as usize;
        let postings = self.left().saturating_sub(4 * words) / 8;
        let mut packer = Packer::new(words, postings, references);
        for _ in 0..words {
            let (_, bytes) = self.posting_list(8)?;
            let list = bytes.chunks_exact(8).map(|c| Posting::from_bytes(c.try_into().unwrap_or([0; 8])));
            packer.push(list).map_err(corrupt)?;
        }
        WordIndex::from_parts(vocabulary, packer.finish(), references).map_err(corrupt)
    }

    /// Passes over `words` posting lists of `size`-byte postings (an older version's, filed again on opening).
    fn skip_postings(&mut self, words: usize, size: usize) -> Result<()> {
        for _ in 0..words {
            self.posting_list(size)?;
        }
        Ok(())
    }

    /// One word's posting list of `size`-byte postings: its count, and their bytes (bounds-checked).
    fn posting_list(&mut self, size: usize) -> Result<(u32, &[u8])> {
        let n = self.u32()?;
        let bytes = (n as usize).checked_mul(size);
        let bytes = bytes.ok_or_else(|| Error::new(ErrorKind::IndexCorrupt(format!("word index: {n} postings"))))?;
        Ok((n, self.take(bytes)?))
    }

    /// A stored vocabulary tree, checked.
    fn vocabulary(&mut self) -> Result<Vocabulary> {
        let corrupt = |m: String| Error::new(ErrorKind::IndexCorrupt(format!("word index: {m}")));
        const NODE: usize = 32 + 4 + 1;
        let nodes = self.u32()? as usize;
        if nodes > self.left() / NODE {
            return Err(corrupt(format!("{nodes} nodes in {} bytes", self.left())));
        }
        let mut centroids = Vec::with_capacity(nodes);
        let mut children = Vec::with_capacity(nodes);
        for _ in 0..nodes {
            centroids.push([self.u64()?, self.u64()?, self.u64()?, self.u64()?]);
            let first = self.u32()?;
            children.push((first, u32::from(self.array::<1>()?[0])));
        }
        let leaves = children.iter().filter(|c| c.1 == 0).count();
        if leaves > self.left() / SIGNATURE_BITS {
            return Err(corrupt(format!("{leaves} words in {} bytes", self.left())));
        }
        let signature_bits = (0..leaves).map(|_| self.array::<SIGNATURE_BITS>()).collect::<Result<Vec<_>>>()?;
        Vocabulary::from_tree(centroids, children, signature_bits).map_err(corrupt)
    }

    fn string(&mut self) -> Result<String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| Error::new(ErrorKind::IndexCorrupt("path or metadata is not UTF-8".into())))
    }

    fn fingerprint(&mut self) -> Result<Fingerprint> {
        let width = self.u32()?;
        let height = self.u32()?;
        let ahash = Hash::from_words(HashKind::AHash, [self.u64()?, 0, 0, 0]);
        let dhash = Hash::from_words(HashKind::DHash, [self.u64()?, 0, 0, 0]);
        let phash = Hash::from_words(HashKind::PHash, [self.u64()?, 0, 0, 0]);
        let pdq = self.pdq()?;
        let bins = self.array::<BINS>()?;
        let photo_pdq = match self.array::<1>()?[0] {
            0 => None,
            1 => Some(Box::new(self.pdq()?)),
            flag => return Err(Error::new(ErrorKind::IndexCorrupt(format!("bad photo-PDQ flag {flag}")))),
        };
        let colour = ColourSignature { bins };
        // The keypoint budget is the index's own, set as the reference is inserted.
        Ok(Fingerprint {
            width,
            height,
            ahash,
            dhash,
            phash,
            pdq,
            photo_pdq,
            colour,
            local: None,
            keypoint_budget: None,
        })
    }

    /// Features stored in a record (versions 2 to 4): their count, keypoints, descriptors.
    fn local(&mut self) -> Result<LocalFeatures> {
        let n = self.u32()?;
        let keypoints = self.keypoints(n)?;
        let mut descriptors = Vec::with_capacity(n as usize);
        for _ in 0..n {
            descriptors.push([self.u64()?, self.u64()?, self.u64()?, self.u64()?]);
        }
        Ok(LocalFeatures { keypoints, descriptors })
    }

    fn keypoints(&mut self, n: u32) -> Result<Vec<Keypoint>> {
        if n > MAX_KEYPOINTS {
            return Err(Error::new(ErrorKind::IndexCorrupt(format!("{n} keypoints in one record"))));
        }
        keypoints(self.take(n as usize * KEYPOINT_BYTES as usize)?, n)
    }

    fn pdq(&mut self) -> Result<PdqHashes> {
        let mut dihedral = [Hash::from_words(HashKind::Pdq, [0; 4]); 8];
        for h in &mut dihedral {
            *h = Hash::from_words(HashKind::Pdq, [self.u64()?, self.u64()?, self.u64()?, self.u64()?]);
        }
        let quality = self.array::<1>()?[0];
        Ok(PdqHashes { dihedral, quality })
    }
}

/// `root` relative to the folder of the index file at `index_path`, when both are absolute or both relative on
/// the same tree (`../catalog`, `refs`), with `/` separators; `None` otherwise.
fn relative_root(root: &Path, index_path: &Path) -> Option<String> {
    // A bare file name's parent is the empty path, which has no absolute form: it is the current folder.
    let dir = index_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let absolute = |p: &Path| std::path::absolute(p).ok();
    let (root, dir) = (absolute(root)?, absolute(dir)?);
    let common = root.components().zip(dir.components()).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let ups = dir.components().count() - common;
    let parts: Vec<String> = std::iter::repeat_n("..".to_string(), ups)
        .chain(root.components().skip(common).map(|c| c.as_os_str().to_string_lossy().into_owned()))
        .collect();
    Some(if parts.is_empty() { ".".to_string() } else { parts.join("/") })
}

#[cfg(test)]
mod tests {
    use super::relative_root;
    use std::path::Path;

    /// `index photos -o catalog.idx` (the README's own command) names the index by a bare file name: the catalog
    /// is recorded relative to the current folder, so the two can move together.
    #[test]
    fn a_catalog_is_recorded_relative_to_an_index_named_by_a_bare_file_name() {
        assert_eq!(relative_root(Path::new("photos"), Path::new("catalog.idx")).as_deref(), Some("photos"));
        assert_eq!(relative_root(Path::new("photos"), Path::new("./catalog.idx")).as_deref(), Some("photos"));
        assert_eq!(relative_root(Path::new("photos"), Path::new("out/catalog.idx")).as_deref(), Some("../photos"));
        assert_eq!(relative_root(Path::new("."), Path::new("catalog.idx")).as_deref(), Some("."));
    }
}
