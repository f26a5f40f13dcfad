//! Golden fingerprints: every hash kind, the colour signature and the local features (their count and a digest of
//! positions and descriptors, to keep the file small) of every test photo, pinned. A persisted index depends on
//! fingerprints never drifting silently, so any change to decoding, resizing, hashing or features fails here.
//!
//! After an intended change, regenerate with `KNOCKOFF_BLESS=1 cargo test --test golden` and say why in the
//! commit (and bump the index format's fingerprint version).

mod common;

use common::{GOLDEN_SETS, photos, relative, testdata};
use knockoff::{Fingerprint, FingerprintConfig, Fingerprinter};

fn current() -> String {
    let f = Fingerprinter::for_references(FingerprintConfig::default());
    let mut out = String::new();
    for path in GOLDEN_SETS.iter().flat_map(|s| photos(s)) {
        let mut fp = f.fingerprint_path(&path).unwrap();
        let local = fp.local.take().map(|l| {
            // FNV-1a over the descriptors and the positions to a hundredth of a pixel.
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            let mut eat = |v: u64| {
                for b in v.to_le_bytes() {
                    h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                }
            };
            for (k, d) in l.keypoints.iter().zip(&l.descriptors) {
                eat((k.x * 100.0).round() as i64 as u64);
                eat((k.y * 100.0).round() as i64 as u64);
                d.iter().for_each(|&w| eat(w));
            }
            serde_json::json!({ "keypoints": l.len(), "digest": format!("{h:016x}") })
        });
        let line = serde_json::json!({ "path": relative(&path), "fingerprint": fp, "local": local });
        out += &format!("{line}\n");
    }
    out
}

#[test]
fn fingerprints_match_the_pinned_golden_values() {
    let golden_path = testdata("golden/fingerprints.jsonl");
    let now = current();
    if std::env::var_os("KNOCKOFF_BLESS").is_some() {
        std::fs::write(&golden_path, &now).unwrap();
        return;
    }
    let pinned = std::fs::read_to_string(&golden_path).expect("testdata/golden/fingerprints.jsonl");
    let (pinned, now): (Vec<&str>, Vec<&str>) = (pinned.lines().collect(), now.lines().collect());
    assert!(pinned.len() >= 30);
    assert_eq!(pinned.len(), now.len(), "photo set changed: re-bless");
    for (p, n) in pinned.iter().zip(&now) {
        let p: serde_json::Value = serde_json::from_str(p).unwrap();
        let n: serde_json::Value = serde_json::from_str(n).unwrap();
        assert_eq!(p, n, "fingerprint drifted");
        // And the pinned JSON still deserialises into the current types.
        let _: Fingerprint = serde_json::from_value(p["fingerprint"].clone()).unwrap();
    }
}
