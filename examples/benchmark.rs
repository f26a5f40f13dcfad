//! Runs knockoff on the retrieval benchmark the way a user would, at several catalog sizes, and measures the
//! retrieval loss (see `scripts/benchmark/README.md` for the whole pipeline).
//!
//! ```text
//! cargo run --release --example benchmark -- [--data target/benchmark] [--sizes 8,1000,all] [--listing-working-size PX]
//!     [--listing-budget N] [--listing-upscale X] [--reference-budget N]
//! ```
//!
//! `--listing-working-size` sets [`knockoff::LocalConfig::listing_working_size`] (the image listings' keypoints are
//! found on; default 800) for experiments on small copies; `--listing-budget`, `--listing-upscale` and
//! `--reference-budget` set `listing_budget`, `listing_upscale` and `budget` likewise. (A reference budget of 800
//! rather than 500, 2026-12-03, at 5,099 references: retrieval loss 15 -> 253 copies, recall at 0 FP 94.6% ->
//! 80.9%, likely because a posting names a reference keypoint in 9 bits, so the placement check cannot use those
//! past the 511th, and the shortlist's votes are tuned to 500 keypoints a reference.)
//!
//! For each size N (a number, or `all` for the whole catalog): a folder DATA/sizes/N/ of symlinks to the first N
//! references of DATA/catalog_order.txt (written by `make_benchmark`) is indexed with [`ReferenceIndex::build`],
//! and the listings that belong to that size (the positives whose reference is in it, and every negative) are
//! scanned with a [`Scanner`] under the `scan` example's defaults (default search options, best reference only).
//! Writes DATA/results/knockoff-N.csv (`listing,reference,score,verdict`: each listing's best reference, score and
//! verdict, empty, 0 and `no_match` when nothing was found), DATA/results/knockoff-N-retrieval-loss.csv and the
//! index (DATA/results/index-N.idx, for the `calibrate` example), and prints timings.
//!
//! Retrieval loss: a positive listing whose search did not return its true reference first, although
//! [`zoom::compare_photo`] of the true reference and the listing (fingerprinted as a scan does) says `match` and scores
//! above what the search returned. Those copies were lost by the candidate search, not by verification: had the
//! true reference been a candidate, it would have won.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use knockoff::{Fingerprinter, Outcome, ReferenceIndex, ScanOptions, Scanner, Verdict, zoom};
use rayon::prelude::*;

struct Truth {
    listing: String,
    reference: String,
    edit: String,
}

/// The command line, for `--help` and for arguments it does not know.
const USAGE: &str = "benchmark [--data DIR] [--sizes 8,1000,all] [--listing-working-size PX] [--listing-budget N]\n     [--listing-upscale X] [--reference-budget N]";

fn main() -> anyhow::Result<()> {
    let (mut data, mut sizes) = (PathBuf::from("target/benchmark"), "8,1000,all".to_string());
    let mut config = knockoff::FingerprintConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--data" => data = PathBuf::from(value()?),
            "--sizes" => sizes = value()?,
            "--listing-working-size" => {
                let size = value()?.parse()?;
                config.local = config.local.map(|l| l.with_listing_working_size(size));
            }
            "--listing-upscale" => {
                let factor = value()?.parse()?;
                config.local = config.local.map(|l| l.with_listing_upscale(factor));
            }
            "--listing-budget" => {
                let budget = value()?.parse()?;
                config.local = config.local.map(|l| l.with_listing_budget(budget));
            }
            "--reference-budget" => {
                let budget = value()?.parse()?;
                config.local = config.local.map(|l| l.with_budget(budget));
            }
            "-h" | "--help" => {
                println!("usage: {USAGE}");
                return Ok(());
            }
            other => bail!("unexpected argument {other:?}; usage: {USAGE}"),
        }
    }
    // Out-of-range values are refused here, not after the first index is built and read back.
    config.validate()?;
    let order: Vec<String> = std::fs::read_to_string(data.join("catalog_order.txt"))
        .context("reading catalog_order.txt: run the make_benchmark example first")?
        .lines()
        .map(str::to_string)
        .collect();
    let truth: Vec<Truth> = std::fs::read_to_string(data.join("truth.csv"))?
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (f.len() >= 3).then(|| Truth { listing: f[0].into(), reference: f[1].into(), edit: f[2].into() })
        })
        .collect();
    let results = data.join("results");
    std::fs::create_dir_all(&results)?;
    let listings = data.join("listings");

    for size in sizes.split(',') {
        let n = if size == "all" { order.len() } else { size.parse::<usize>()?.min(order.len()) };
        let catalog: BTreeSet<&str> = order[..n].iter().map(String::as_str).collect();

        // The catalog of this size as a folder, as a user would have it.
        let folder = data.join("sizes").join(n.to_string());
        if folder.exists() {
            std::fs::remove_dir_all(&folder)?;
        }
        for reference in &catalog {
            let link = folder.join(reference);
            std::fs::create_dir_all(link.parent().unwrap_or(&folder))?;
            let target = std::path::absolute(data.join("catalog").join(reference))?;
            std::os::unix::fs::symlink(target, &link)?;
        }
        let start = Instant::now();
        let fingerprinter = Fingerprinter::for_references(config);
        let (index, report) = ReferenceIndex::build(&folder, &fingerprinter, |_| {});
        let index_seconds = start.elapsed().as_secs_f64();
        // Kept for the `calibrate` example, which models unrelated pairs' scores at this size, and scanned as
        // `scan --refs INDEX` would: opened, its features left in the file.
        let saved = results.join(format!("index-{n}.idx"));
        index.save(&saved)?;
        drop(index);
        let index = std::sync::Arc::new(ReferenceIndex::open(&saved)?);
        for failure in &report.failures {
            eprintln!("reference skipped: {failure}");
        }

        // The listings of this size: positives of its references, and every negative.
        let scanned: Vec<&Truth> =
            truth.iter().filter(|t| t.reference.is_empty() || catalog.contains(t.reference.as_str())).collect();
        let mut options = ScanOptions::default();
        options.search.top_k = 1;
        let scanner = Scanner::new(index.clone(), options);
        let start = Instant::now();
        let reports: Vec<_> =
            scanned.par_iter().map(|t| scanner.scan_file(&listings, &listings.join(&t.listing))).collect();
        let scan_seconds = start.elapsed().as_secs_f64();

        let mut csv = String::from("listing,reference,score,verdict\n");
        let mut best: BTreeMap<&str, (String, f32)> = BTreeMap::new();
        for (t, r) in scanned.iter().zip(&reports) {
            let (reference, score, verdict) = match &r.outcome {
                Outcome::Searched { hits } if !hits.is_empty() => {
                    (hits[0].reference.clone(), hits[0].score, hits[0].verdict)
                }
                Outcome::Failed { error, .. } => {
                    eprintln!("{}: {error}", t.listing);
                    (String::new(), 0.0, Verdict::NoMatch)
                }
                _ => (String::new(), 0.0, Verdict::NoMatch),
            };
            let _ = writeln!(csv, "{},{},{:.6},{}", t.listing, reference, score, verdict.as_str());
            best.insert(&t.listing, (reference, score));
        }
        std::fs::write(results.join(format!("knockoff-{n}.csv")), csv)?;

        // Retrieval loss: the positives the search missed, compared pairwise with their true reference.
        let start = Instant::now();
        let listing_fingerprinter = Fingerprinter::for_listings(*index.config());
        let by_path: BTreeMap<&str, usize> =
            index.references().iter().enumerate().map(|(i, r)| (r.path.as_str(), i)).collect();
        let missed: Vec<&&Truth> =
            scanned.iter().filter(|t| !t.reference.is_empty() && best[t.listing.as_str()].0 != t.reference).collect();
        let thresholds = index.thresholds_for(&options.search);
        let lost: Vec<String> = missed
            .par_iter()
            .filter_map(|t| {
                let reference = index.fingerprint(*by_path.get(t.reference.as_str())?).ok()?;
                let (listing, photo) =
                    listing_fingerprinter.fingerprint_path_with_photo(listings.join(&t.listing)).ok()?;
                // As the scan compares: with a closer look at a copy shown small.
                let pair = zoom::compare_photo(&reference, &listing, &photo, &listing_fingerprinter, &thresholds);
                let (found, found_score) = &best[t.listing.as_str()];
                (pair.verdict == Verdict::Match && pair.score > *found_score).then(|| {
                    format!("{},{},{},{:.6},{},{:.6}", t.listing, t.reference, t.edit, pair.score, found, found_score)
                })
            })
            .collect();
        let mut loss_csv = String::from("listing,reference,edit,pairwise_score,search_reference,search_score\n");
        for line in &lost {
            let _ = writeln!(loss_csv, "{line}");
        }
        std::fs::write(results.join(format!("knockoff-{n}-retrieval-loss.csv")), loss_csv)?;
        let positives = scanned.iter().filter(|t| !t.reference.is_empty()).count();
        eprintln!(
            "{n} references: indexed in {index_seconds:.1} s ({:.1} references/s); scanned {} listings in {scan_seconds:.1} s \
             ({:.1} listings/s, {} threads); {} positives missed, {} of them lost by retrieval ({:.2}% of {} positives; \
             checked in {:.1} s)",
            n as f64 / index_seconds.max(1e-9),
            scanned.len(),
            scanned.len() as f64 / scan_seconds.max(1e-9),
            rayon::current_num_threads(),
            missed.len(),
            lost.len(),
            100.0 * lost.len() as f64 / positives.max(1) as f64,
            positives,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
