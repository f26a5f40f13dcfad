//! Explains how similar two photos are, and why.
//!
//! ```text
//! cargo run --release --example compare -- [--json] [--full] [--evidence OUT.png] REFERENCE LISTING
//! ```
//!
//! Prints the score, the verdict and the evidence: each hash distance, whether the listing is the reference
//! mirrored or rotated, how far the colours differ, the geometrically verified local matches (inliers, scale,
//! rotation, the crop of the reference shown and where it sits in the listing), and the edits that points to.
//! `--json` prints the same as one JSON object. `--evidence OUT.png` also draws the evidence picture: the two
//! photos side by side, the verified matches joined by lines, the reference's outline in the listing. Exit status
//! 0 whatever the verdict; 2 if either photo cannot be read or the picture cannot be written.

use knockoff::{
    DecodeOptions, FingerprintConfig, Fingerprinter, Similarity, Thresholds, Verdict, compare_with, decode_path,
};
use serde_json::json;

fn main() {
    let mut config = FingerprintConfig::default();
    let mut as_json = false;
    let mut evidence_path = None;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => as_json = true,
            "--full" => config.full_size = true,
            "--evidence" => match args.next() {
                Some(path) => evidence_path = Some(path),
                None => {
                    eprintln!("--evidence needs a path: compare --evidence OUT.png REFERENCE LISTING");
                    std::process::exit(2);
                }
            },
            _ => paths.push(arg),
        }
    }
    let [reference_path, listing_path] = paths.as_slice() else {
        eprintln!("usage: compare [--json] [--full] [--evidence OUT.png] REFERENCE LISTING");
        std::process::exit(2);
    };

    let (fingerprinter, listings) = (Fingerprinter::new(config), Fingerprinter::new(config.for_listings()));
    let (reference, listing) =
        match (fingerprinter.fingerprint_path(reference_path), listings.fingerprint_path(listing_path)) {
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

    if let Some(out) = &evidence_path
        && let Err(e) = write_evidence(out, reference_path, listing_path, &similarity)
    {
        eprintln!("error: evidence picture: {e}");
        std::process::exit(2);
    }

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

/// Draws the evidence picture, or the two photos side by side when local features found nothing to draw.
fn write_evidence(
    out: &str,
    reference_path: &str,
    listing_path: &str,
    similarity: &Similarity,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut options = DecodeOptions::default();
    options.reduce_to = Some(800);
    let (r, l) = (decode_path(reference_path, &options)?.image, decode_path(listing_path, &options)?.image);
    let local = similarity.evidence.local.as_ref();
    let picture = knockoff::evidence::draw(&r, &l, local);
    picture.save(out)?;
    eprintln!("evidence picture: {out}");
    Ok(())
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
    match &e.local {
        Some(l) => {
            let d = &l.decomposition;
            out += &format!(
                "  local    {} verified matches of {} ({:.0}% of the shared keypoints), local score {:.3}\n\
                 \x20          listing = reference{} scaled x{:.2}, rotated {:.1}° counter-clockwise{}\n",
                l.inliers,
                l.matches,
                l.coverage * 100.0,
                e.local_score,
                if l.mirrored { " mirrored," } else { "" },
                d.scale,
                d.rotation_degrees,
                if l.homography.is_some() { ", in perspective" } else { "" }
            );
            let (r, p) = (&l.reference_region, &l.listing_region);
            out += &format!(
                "           shows reference region {:.0}x{:.0} at ({:.0}, {:.0}), placed at ({:.0}, {:.0}) {:.0}x{:.0} in the listing\n",
                r.width, r.height, r.x, r.y, p.x, p.y, p.width, p.height
            );
        }
        None => out += "  local    no geometrically consistent matches\n",
    }
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
