//! Explains how similar two photos are, and why.
//!
//! ```text
//! cargo run --release --example compare -- [--json] [--full] [--evidence OUT.png] REFERENCE LISTING
//! ```
//!
//! Prints the score, the verdict and the evidence: each hash distance, whether the listing is the reference
//! mirrored or rotated, how far the colours differ, the geometrically verified local matches (inliers, scale,
//! rotation, the crop of the reference shown and where it sits in the listing), and the edits that points to.
//! `--json` prints the same as one JSON object (indented over several lines). `--evidence OUT.png` also draws the
//! evidence picture: the two photos side by side, the verified matches joined by lines, the reference's outline in
//! the listing. Exit status 0 whatever the verdict; 1 if either photo cannot be read or the picture is refused or
//! cannot be written; 2 for a usage error (`--help` lists the options). A closed output pipe ends it quietly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use knockoff::{
    DecodeOptions, FingerprintConfig, Fingerprinter, PDQ_EVIDENCE, Similarity, Thresholds, Verdict, decode_path, zoom,
};
use serde_json::json;

#[path = "common/output.rs"]
#[allow(dead_code)] // An evidence picture may replace an older one: only the inputs are checked.
mod output;

/// Explains how similar two photos are, and why.
#[derive(Parser)]
#[command(name = "compare")]
struct Args {
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    /// Decode at full size (bit-exact PDQ; slower).
    #[arg(long)]
    full: bool,
    /// Also draw the evidence picture to this PNG (or JPEG) file.
    #[arg(long, value_name = "OUT.png")]
    evidence: Option<PathBuf>,
    /// The authentic photo.
    reference: PathBuf,
    /// The listing photo.
    listing: PathBuf,
}

fn main() -> ExitCode {
    // A decoder's panic on a hostile file is caught and recorded as that file's error; not printed as a crash.
    knockoff::quiet_contained_panics();
    let args = Args::parse();
    // Before any work, and in words rather than the image library's "extension `.\"txt\"` not recognized".
    if let Some(out) = &args.evidence {
        let extension = out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if !matches!(extension.as_deref(), Some("png" | "jpg" | "jpeg")) {
            eprintln!(
                "error: --evidence {}: the picture is written as PNG or JPEG; name a .png or .jpg file",
                out.display()
            );
            return ExitCode::FAILURE;
        }
        if let Err(e) = output::not_an_input("--evidence", out, &[&args.reference, &args.listing]) {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    }
    let mut config = FingerprintConfig::default();
    config.full_size = args.full;
    let (fingerprinter, listings) = (Fingerprinter::for_references(config), Fingerprinter::for_listings(config));
    // The listing's pixels are kept so that a copy shown small in it can get a closer look (`zoom`).
    let listing = listings.fingerprint_path_with_photo(&args.listing);
    let (reference, (listing, photo)) = match (fingerprinter.fingerprint_path(&args.reference), listing) {
        (Ok(r), Ok(l)) => (r, l),
        (r, l) => {
            for error in [r.err(), l.err()].into_iter().flatten() {
                eprintln!("error: {error}");
            }
            // A photo that cannot be read is a failure of the run (1), as in `hash`, `index` and `scan`; 2 is
            // for the command line itself (clap's usage errors).
            return ExitCode::FAILURE;
        }
    };
    let thresholds = Thresholds::default();
    let similarity = zoom::compare_photo(&reference, &listing, &photo, &listings, &thresholds);
    drop(photo);

    if let Some(out) = &args.evidence
        && let Err(e) = write_evidence(out, &args, &similarity)
    {
        eprintln!("error: evidence picture {}: {e}", out.display());
        return ExitCode::FAILURE;
    }

    let (reference_path, listing_path) = (args.reference.display().to_string(), args.listing.display().to_string());
    let text = if args.json {
        let out = json!({
            "reference": reference_path,
            "listing": listing_path,
            "reference_size": [reference.width, reference.height],
            "listing_size": [listing.width, listing.height],
            "similarity": similarity,
            "thresholds": thresholds,
        });
        format!("{out:#}\n")
    } else {
        explain(&reference_path, &listing_path, &similarity, &thresholds)
    };
    // A closed pipe (`compare ... | head -1`) ends the program quietly, as with any Unix tool.
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: writing the result: {e}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Draws the evidence picture, or the two photos side by side when local features found nothing to draw.
fn write_evidence(out: &Path, args: &Args, similarity: &Similarity) -> Result<(), Box<dyn std::error::Error>> {
    let mut options = DecodeOptions::default();
    options.reduce_to = Some(800);
    let (r, l) = (decode_path(&args.reference, &options)?.image, decode_path(&args.listing, &options)?.image);
    let names = (file_name(&args.reference), file_name(&args.listing));
    let picture = knockoff::evidence::draw_labelled(&r, &l, similarity, (&names.0, &names.1));
    picture.save(out)?;
    eprintln!("evidence picture: {}", out.display());
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
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
    // PDQ's nearest variant says how the listing is oriented only when PDQ itself is evidence of a copy.
    let orientation = if e.pdq_distance <= PDQ_EVIDENCE {
        format!("listing = reference {}", e.pdq_variant.describe())
    } else {
        "too far to say how it is oriented".to_string()
    };
    out += &format!(
        "  PDQ      {:3} / 256 bits differ ({orientation}; as is: {})\n",
        e.pdq_distance, e.pdq_distance_as_is
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
            let rotation = match l.rotation_degrees() {
                0.0 => "not rotated".to_string(),
                r if r < 0.0 => format!("rotated {:.1}° clockwise", -r),
                r => format!("rotated {r:.1}° counter-clockwise"),
            };
            out += &format!(
                "  local    {} verified matches of {} tentative ones, covering {:.0}% of the shared keypoints; local score {:.3}\n\
                 \x20          listing = reference{} scaled x{:.2}, {rotation}{}\n",
                l.inliers,
                l.matches,
                l.coverage * 100.0,
                e.local_score,
                if l.mirrored { " mirrored," } else { "" },
                d.scale,
                if l.homography.is_some() { ", in perspective" } else { "" }
            );
            let (r, p) = (&l.reference_region, &l.listing_region);
            out += &format!(
                "           shows reference region {:.0}x{:.0} at ({:.0}, {:.0}), placed at ({:.0}, {:.0}) {:.0}x{:.0} in the listing\n",
                r.width, r.height, r.x, r.y, p.x, p.y, p.width, p.height
            );
            if let Some(zoom) = l.zoom {
                out += &format!("           found on that part of the listing enlarged x{zoom:.1} (a closer look)\n");
            }
        }
        None => out += "  local    no geometrically consistent matches\n",
    }
    if e.pdq_variant != knockoff::Dihedral::Original && e.pdq_distance <= PDQ_EVIDENCE {
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
