//! What each fuzz target does with one input, shared by the cargo-fuzz targets in `fuzz/` (long runs, see the
//! README) and by `tests/fuzz_smoke.rs` (the seed corpus and a few thousand mutations of it, on stable, in CI).
//! Every function must return, without panicking, for any input: that is the whole property.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;

use knockoff::{Fingerprint, FingerprintConfig, Fingerprinter, ReferenceIndex, ScanOptions, Scanner, SearchOptions};

/// Limits small enough that a fuzzer's memory limit (2 GB by default) is never the finding.
pub fn config() -> FingerprintConfig {
    let mut config = FingerprintConfig::default();
    config.limits.max_alloc = 64 << 20;
    config.limits.max_pixels = 4_000_000;
    config
}

/// `testdata/` of the repository, from the main crate's tests or from the fuzz crate one folder down.
fn testdata(sub: &str) -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = if manifest.join("testdata").is_dir() { manifest } else { manifest.join("..") };
    root.join("testdata").join(sub)
}

/// Decoding and fingerprinting: bytes as a listing photo.
pub fn decode(data: &[u8]) {
    static FINGERPRINTER: OnceLock<Fingerprinter> = OnceLock::new();
    let fingerprinter = FINGERPRINTER.get_or_init(|| Fingerprinter::for_listings(config()));
    let _ = fingerprinter.fingerprint_bytes(data);
}

/// The fingerprint of a real listing, searched in every index that opens.
fn listing() -> &'static Fingerprint {
    static LISTING: OnceLock<Fingerprint> = OnceLock::new();
    LISTING.get_or_init(|| {
        let fingerprinter = Fingerprinter::for_listings(FingerprintConfig::default());
        match fingerprinter.fingerprint_path(testdata("listings/coffee-mirrored.jpg")) {
            Ok(f) => f,
            Err(e) => panic!("seed listing: {e}"),
        }
    })
}

/// A path of our own under the temp folder (one per process and target, reused for every input).
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("knockoff-fuzz-{}-{name}", std::process::id()))
}

/// Removes the file [`index`] writes, once a test run of it is over (a fuzzer reuses it to the end).
#[allow(dead_code)]
pub fn remove_index_scratch() {
    let _ = std::fs::remove_file(scratch("index.idx"));
}

/// Removes the folder [`scan`] writes, once a test run of it is over.
#[allow(dead_code)]
pub fn remove_scan_scratch() {
    let _ = std::fs::remove_dir_all(scratch("listings"));
}

/// Index opening and search: `data` is an index file without its checksum and end magic (and, before version 5,
/// without its length); the correct checksum (of the first bytes the footer says the features follow, from
/// version 5 on) and end magic are appended, so that the fuzzer explores the header, records, word index and feature
/// blocks rather than the checksum. The feature blocks are read when a search or `load_features` needs them.
pub fn index(data: &[u8]) {
    let mut bytes = data.to_vec();
    let version = data.get(8..12).and_then(|v| v.try_into().ok()).map(u32::from_le_bytes);
    if version.is_some_and(|v| v >= 5) {
        let main = data.len().checked_sub(16).and_then(|at| data[at..at + 8].try_into().ok()).map(u64::from_le_bytes);
        let main = main.and_then(|m| usize::try_from(m).ok()).unwrap_or(0).min(data.len());
        bytes.extend_from_slice(&crc32fast::hash(&data[..main]).to_le_bytes());
    } else {
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&(data.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc.to_le_bytes());
    }
    bytes.extend_from_slice(b"KIDX");
    let path = scratch("index.idx");
    if std::fs::write(&path, &bytes).is_err() {
        return;
    }
    if let Ok(mut index) = ReferenceIndex::open(&path) {
        let _ = index.search(listing(), &SearchOptions::default());
        // The stored word index too (small indexes are verified in full and never reach it in a search).
        if let Some(local) = listing().local.as_deref() {
            let _ = index.word_index().shortlist(local, 10);
        }
        let _ = index.load_features();
    }
}

/// The worker protocol (feature `arrow`): the first byte picks Arrow IPC (even) or lines (odd), the rest is the
/// stream a worker reads, served against the reference index of `testdata/refs` (hashes only: the protocol is
/// the target, not the features).
#[cfg(feature = "arrow")]
pub fn worker(data: &[u8]) {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    let scanner = SCANNER.get_or_init(|| {
        let mut config = config();
        config.local = None;
        let (index, _) = ReferenceIndex::build(testdata("refs"), &Fingerprinter::for_references(config), |_| {});
        Scanner::new(index, ScanOptions::default())
    });
    let Some((&mode, stream)) = data.split_first() else { return };
    let mut out = Vec::new();
    let _ = if mode % 2 == 0 {
        knockoff::worker::serve_arrow(scanner, stream, &mut out, "{}")
    } else {
        knockoff::worker::serve_lines(scanner, stream, &mut out, "{}")
    };
}

/// The worker/scan path: `data` written as a file in a listing folder (its first byte picks the name: with a photo
/// extension, with another, or none) and scanned against the reference index of `testdata/refs`.
pub fn scan(data: &[u8]) {
    static INDEX: OnceLock<std::sync::Arc<ReferenceIndex>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let (index, _) = ReferenceIndex::build(testdata("refs"), &Fingerprinter::for_references(config()), |_| {});
        std::sync::Arc::new(index)
    });
    let folder = scratch("listings");
    let _ = std::fs::remove_dir_all(&folder);
    if std::fs::create_dir_all(&folder).is_err() {
        return;
    }
    let name = match data.first().map(|b| b % 3) {
        Some(0) => "listing.jpg",
        Some(1) => "listing.txt",
        _ => "listing",
    };
    if std::fs::write(folder.join(name), data).is_err() {
        return;
    }
    let scanner = Scanner::new(index.clone(), ScanOptions::default());
    let _ = scanner.scan(&folder, &AtomicBool::new(false), |_| {}, |_| Ok(()));
}
