//! A listing derived from a reference matches it; unrelated photos do not. On the bundled testdata.

use std::path::{Path, PathBuf};

use knockoff::{Fingerprint, FingerprintConfig, Fingerprinter, Verdict, compare, top_k};

fn testdata(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(sub)
}

/// Every photo in a testdata folder, fingerprinted, by file stem. Fails if the folder is empty.
fn load(sub: &str, config: FingerprintConfig) -> Vec<(String, Fingerprint)> {
    let f = Fingerprinter::new(config);
    let (files, failures) = knockoff::walk::files([testdata(sub)]);
    assert!(failures.is_empty(), "{failures:?}");
    let out: Vec<_> = files
        .iter()
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), f.fingerprint_path(p).unwrap()))
        .collect();
    assert!(out.len() >= 5, "testdata/{sub} has too few photos");
    out
}

/// The reference a listing was made from: the part of its name before the first '-' or '.', if that is a
/// reference; unrelated-* listings have none.
fn source_of<'a>(listing: &str, refs: &'a [(String, Fingerprint)]) -> Option<&'a str> {
    let stem = listing.split(['-', '.']).next().unwrap_or("");
    refs.iter().map(|(n, _)| n.as_str()).find(|n| *n == stem)
}

#[test]
fn print_matrix() {
    let refs = load("refs", FingerprintConfig::default());
    let listings = load("listings", FingerprintConfig::default());
    for (ln, l) in &listings {
        let mut row = format!("{ln:28}");
        for (_, r) in &refs {
            let s = compare(r, l);
            row += &format!(" {:.3}/{:3}", s.score, s.evidence.pdq_distance);
        }
        println!("{row}");
    }
}
