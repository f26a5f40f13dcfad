//! PDQ conformance with Meta's reference implementation.
//!
//! `testdata/golden/pdq.csv` holds, for every photo in the golden sets, the hashes that Meta's C++ PDQ (through
//! the `pdqhash` Python bindings) gives on the pixels *our* decoder produces at full size. It is made by
//! `testdata/golden/make_pdq_golden.py`, which runs `dump_decoded_pixels` below and hands the pixels to the
//! reference.

mod common;

use std::collections::BTreeMap;

use common::{GOLDEN_SETS, photos, relative, testdata};
use knockoff::{DecodeOptions, FingerprintConfig, Fingerprinter, Hash, HashKind, decode_path};

struct Golden {
    quality: u8,
    dihedral: Vec<Hash>,
}

fn golden() -> BTreeMap<String, Golden> {
    let text = std::fs::read_to_string(testdata("golden/pdq.csv")).expect("testdata/golden/pdq.csv");
    let mut out = BTreeMap::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let dihedral: Vec<Hash> =
            fields[4].split(' ').map(|h| Hash::from_hex(HashKind::Pdq, h).expect("golden hex")).collect();
        assert_eq!(dihedral.len(), 8);
        out.insert(fields[0].to_string(), Golden { quality: fields[3].parse().expect("quality"), dihedral });
    }
    assert!(out.len() >= 30, "golden file has only {} rows", out.len());
    out
}

/// Every photo of the golden sets has a golden row, and no row is stale.
#[test]
fn golden_vectors_cover_every_photo() {
    let golden = golden();
    let files: Vec<String> = GOLDEN_SETS.iter().flat_map(|s| photos(s)).map(|p| relative(&p)).collect();
    for f in &files {
        assert!(golden.contains_key(f), "{f} has no golden PDQ vector: run testdata/golden/make_pdq_golden.py");
    }
    assert_eq!(files.len(), golden.len(), "golden file has rows for photos that are gone");
}

/// Full-size mode: our PDQ is the reference's, bit for bit, for all eight dihedral variants, and the same quality.
#[test]
fn full_size_pdq_is_bit_exact_with_the_reference() {
    let mut config = FingerprintConfig::default();
    config.full_size = true;
    let f = Fingerprinter::new(config);
    for (path, expected) in golden() {
        let fp = f.fingerprint_path(testdata(&path)).unwrap();
        for (ours, theirs) in fp.photo_pdq().dihedral.iter().zip(&expected.dihedral) {
            assert_eq!(ours.distance(theirs).unwrap(), 0, "{path}: ours {ours} reference {theirs}");
        }
        assert_eq!(fp.photo_pdq().quality, expected.quality, "{path}");
    }
}

/// The fast path (reduced-scale decoding, PDQ resampled from the working image) stays within a few bits of the
/// reference's full-size hash for photos of quality 80 or more: median at most 6 bits, maximum at most 16. Only
/// photos larger than the working image count: smaller ones are hashed exactly.
#[test]
fn fast_path_stays_close_to_the_reference() {
    let config = FingerprintConfig::default();
    let f = Fingerprinter::new(config);
    let mut distances = Vec::new();
    for (path, expected) in golden() {
        let fp = f.fingerprint_path(testdata(&path)).unwrap();
        if expected.quality < 80 || fp.width.max(fp.height) <= config.working_size {
            continue;
        }
        let d = fp.photo_pdq().hash().distance(&expected.dihedral[0]).unwrap();
        println!("{d:3} {path}");
        distances.push(d);
    }
    assert!(distances.len() >= 20, "too few large photos of quality >= 80: {}", distances.len());
    distances.sort_unstable();
    let median = distances[distances.len() / 2];
    let max = *distances.last().unwrap();
    println!("fast path vs reference over {} photos: median {median}, max {max}", distances.len());
    assert!(median <= 6, "median {median}");
    assert!(max <= 16, "max {max}");
}

/// Writes our decoder's full-size pixels for every golden photo to `target/pdq-pixels/`, for the golden script.
#[test]
#[ignore = "run by testdata/golden/make_pdq_golden.py"]
fn dump_decoded_pixels() {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pdq-pixels");
    std::fs::create_dir_all(&out).unwrap();
    let mut manifest = String::new();
    for (i, path) in GOLDEN_SETS.iter().flat_map(|s| photos(s)).enumerate() {
        let photo = decode_path(&path, &DecodeOptions::default()).unwrap();
        let raw = format!("{i}.rgb");
        std::fs::write(out.join(&raw), photo.image.as_raw()).unwrap();
        manifest += &format!("{},{},{},{raw}\n", relative(&path), photo.image.width(), photo.image.height());
    }
    std::fs::write(out.join("manifest.csv"), manifest).unwrap();
}
