//! Copy or re-shoot: compares each re-shoot pair of the benchmark (two photographs of the same scene or product,
//! written by `scripts/benchmark/reshoot_pairs.py`) and copies of the same reference photos under the accuracy
//! benchmark's edits, and prints the copy/re-shoot confusion table with the evidence behind it.
//!
//! ```text
//! cargo run --release --features bench-tools --example reshoots -- [--data target/benchmark] [--catalog 5099] [--pairs]
//! ```
//!
//! Verdicts are judged under the thresholds for a catalog of `--catalog` references (default 5,099, the benchmark's
//! largest); `--pairs` prints every pair's evidence.

use std::path::{Path, PathBuf};

use ab_glyph::FontArc;
use anyhow::{Context, bail};
use knockoff::edits::{Edit, EditKit};
use knockoff::{Alteration, FingerprintConfig, Fingerprinter, Photo, Similarity, Thresholds, Verdict, zoom};
use rayon::prelude::*;

struct Row {
    kind: String,
    name: String,
    similarity: Similarity,
}

/// The command line, for `--help` and for arguments it does not know.
const USAGE: &str = "reshoots [--data DIR] [--catalog N] [--pairs]";

fn main() -> anyhow::Result<()> {
    let (mut data, mut catalog, mut print_pairs) = (PathBuf::from("target/benchmark"), 5099usize, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--data" => data = PathBuf::from(value()?),
            "--catalog" => catalog = value()?.parse()?,
            "--pairs" => print_pairs = true,
            "-h" | "--help" => {
                println!("usage: {USAGE}");
                return Ok(());
            }
            other => bail!("unexpected argument {other:?}; usage: {USAGE}"),
        }
    }
    let folder = data.join("reshoots");
    let pairs: Vec<(String, String, String)> = std::fs::read_to_string(folder.join("pairs.csv"))
        .context("reading reshoots/pairs.csv: run scripts/benchmark/reshoot_pairs.py first")?
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (f.len() >= 4).then(|| (f[0].to_string(), f[1].to_string(), f[3].to_string()))
        })
        .collect();
    let thresholds = Thresholds::for_catalog(catalog);
    let config = FingerprintConfig::default();
    let (references, listings) = (Fingerprinter::for_references(config), Fingerprinter::for_listings(config));
    let font_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fonts/DejaVuSansMono-Bold.ttf");
    let font = FontArc::try_from_vec(std::fs::read(&font_path)?)?;
    let load = |name: &str| -> anyhow::Result<image::RgbImage> {
        Ok(image::open(folder.join(name)).with_context(|| format!("reading {name}"))?.to_rgb8())
    };
    // Backgrounds and collage fillers for the copies: the other pairs' second photos.
    let others: Vec<image::RgbImage> =
        pairs.iter().rev().take(4).map(|(_, b, _)| load(b)).collect::<anyhow::Result<_>>()?;
    let kit = EditKit { font, others };

    // Copies are made of each reference photo once, however many pairs it starts.
    let first_of_reference: Vec<bool> =
        pairs.iter().enumerate().map(|(i, (a, _, _))| !pairs[..i].iter().any(|(earlier, _, _)| earlier == a)).collect();
    let rows: Vec<Row> = pairs
        .par_iter()
        .zip(&first_of_reference)
        .flat_map_iter(|((a, b, kind), &make_copies)| {
            let mut rows = Vec::new();
            let (Ok(reference), Ok(photo), Ok((shot, shot_pixels))) = (
                references.fingerprint_path(folder.join(a)),
                load(a),
                listings.fingerprint_path_with_photo(folder.join(b)),
            ) else {
                eprintln!("{a} / {b}: unreadable");
                return rows;
            };
            // Compared as a scan compares: with a closer look at what is shown small.
            rows.push(Row {
                kind: format!("re-shoot ({kind})"),
                name: format!("{a} -> {b}"),
                similarity: zoom::compare_photo(&reference, &shot, &shot_pixels, &listings, &thresholds),
            });
            for (edit, op) in Edit::catalogue().into_iter().filter(|_| make_copies) {
                let edited = op.apply(&photo, &kit);
                let pixels = Photo::from(edited);
                let Ok(copy) = listings.fingerprint_photo(&pixels) else { continue };
                rows.push(Row {
                    kind: "copy".into(),
                    name: format!("{a}, {edit}"),
                    similarity: zoom::compare_photo(&reference, &copy, &pixels, &listings, &thresholds),
                });
            }
            rows
        })
        .collect();

    if print_pairs {
        for r in &rows {
            let s = &r.similarity;
            let (inliers, residual, near, coherence) = s
                .evidence
                .local
                .as_ref()
                .map_or((0, 0.0, 0, 0.0), |l| (l.inliers, l.residual, l.near_misses, l.shift_coherence));
            println!(
                "{:<22} {:<60} score {:.3} {:<8} inliers {inliers:>4} residual {residual:.2} near {near:>4} ({:.2}) coherence {coherence:.2} {}",
                r.kind,
                r.name,
                s.score,
                s.verdict.as_str(),
                near as f32 / inliers.max(1) as f32,
                if another_shot(s) { "another shot" } else { "" }
            );
        }
    }
    // The confusion table: each pair's verdict, and whether it was called another shot.
    println!("| photos | pairs | `match` (a copy) | `review`, another shot | `review`, other evidence | `no_match` |");
    println!("|---|---|---|---|---|---|");
    let mut kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let of: Vec<&Similarity> = rows.iter().filter(|r| r.kind == kind).map(|r| &r.similarity).collect();
        let count = |f: &dyn Fn(&Similarity) -> bool| of.iter().filter(|s| f(s)).count();
        println!(
            "| {kind} | {} | {} | {} | {} | {} |",
            of.len(),
            count(&|s| s.verdict == Verdict::Match),
            count(&|s| another_shot(s)),
            count(&|s| s.verdict == Verdict::Review && !another_shot(s)),
            count(&|s| s.verdict == Verdict::NoMatch)
        );
    }
    Ok(())
}

fn another_shot(s: &Similarity) -> bool {
    s.evidence.alterations.iter().any(|a| matches!(a, Alteration::AnotherShot { .. }))
}
