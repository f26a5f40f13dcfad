//! Explains how similar two photos are, and why.
//!
//! ```text
//! cargo run --release --example compare -- [--json] [--full] REFERENCE LISTING
//! ```
//!
//! Prints the score, the verdict and the evidence: each hash distance, whether the listing is the reference
//! mirrored or rotated, how far the colours differ, and the edits that points to. `--json` prints the same as one
//! JSON object. Exit status 0 whatever the verdict; 2 if either photo cannot be read.

use knockoff::{FingerprintConfig, Fingerprinter, Similarity, Thresholds, Verdict, compare_with};
use serde_json::json;

fn main() {
    let mut config = FingerprintConfig::default();
    let mut as_json = false;
    let mut paths = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => as_json = true,
            "--full" => config.full_size = true,
            _ => paths.push(arg),
        }
    }
    let [reference_path, listing_path] = paths.as_slice() else {
        eprintln!("usage: compare [--json] [--full] REFERENCE LISTING");
        std::process::exit(2);
    };

    let fingerprinter = Fingerprinter::new(config);
    let (reference, listing) =
        match (fingerprinter.fingerprint_path(reference_path), fingerprinter.fingerprint_path(listing_path)) {
            (Ok(r), Ok(l)) => (r, l),
            (r, l) => {
                for error in [r.err(), l.err()].into_iter().flatten() {
                    eprintln!("error: {error}");
                }
                std::process::exit(2);
            }
        };
    let thresholds = Thresholds::default();
    let similarity = compare_with(&reference, &listing, &thresholds);

    if as_json {
        let out = json!({
            "reference": reference_path,
            "listing": listing_path,
            "reference_size": [reference.width, reference.height],
            "listing_size": [listing.width, listing.height],
            "similarity": similarity,
            "thresholds": thresholds,
        });
        println!("{out:#}");
    } else {
        print!("{}", explain(reference_path, listing_path, &similarity, &thresholds));
    }
}

fn explain(reference: &str, listing: &str, s: &Similarity, t: &Thresholds) -> String {
    let e = &s.evidence;
    let verdict = match s.verdict {
        Verdict::Match => "MATCH: the listing copies the reference",
        Verdict::Review => "REVIEW: similar enough for an analyst to look",
        Verdict::NoMatch => "NO MATCH: not a copy as far as the evidence goes",
    };
    let mut out = format!(
        "reference: {reference}\nlisting:   {listing}\n\nscore {:.3}  ->  {verdict}\n  (match at >= {:.2}, review at >= {:.2})\n\nevidence:\n",
        s.score, t.match_score, t.review_score
    );
    out += &format!(
        "  PDQ      {:3} / 256 bits differ (listing = reference {}; as is: {})\n",
        e.pdq_distance,
        e.transform.describe(),
        e.pdq_distance_as_is
    );
    out += &format!(
        "  pHash    {:3} / 64\n  dHash    {:3} / 64\n  aHash    {:3} / 64\n",
        e.phash_distance, e.dhash_distance, e.ahash_distance
    );
    out += &format!("  colour   {:.3} (0 = same colours, 1 = none in common)\n", e.colour_distance);
    out += &format!(
        "  PDQ quality {} / 100{}\n",
        e.pdq_quality,
        if e.pdq_quality < 50 { " (low: flat image, PDQ says little)" } else { "" }
    );
    if e.transform != knockoff::Dihedral::Original {
        out +=
            "  (the 64-bit hashes see the photos as they are, so they do not count for a mirrored or rotated copy)\n";
    }
    out += "\nalterations:\n";
    if e.alterations.is_empty() {
        out += "  none detected\n";
    }
    for a in &e.alterations {
        out += &format!("  {}\n", a.describe());
    }
    out
}
