//! Fits the false-verdict model ([`knockoff::calibration`]) on the retrieval benchmark's negatives, and checks the
//! false-match rate it predicts per listing against the one the benchmark's scans observed.
//!
//! ```text
//! cargo run --release --features bench-tools --example calibrate -- [--data target/benchmark] [--size N] [--sample 64]
//! ```
//!
//! Needs a `benchmark` run at size N first (its index DATA/results/index-N.idx and its results
//! DATA/results/knockoff-N.csv; N defaults to the largest index there). Every negative listing (photos that copy no
//! reference: held-out photos under the benchmark's edits, neighbours, product shots on white) is fingerprinted as
//! a scan does and compared with the catalog's references:
//! - hashes: every pair is hash-scored; the pairs that reach the tail are compared in full, and the hash part of
//!   their score (after the discount for keypoint-rich photos without verified geometry) is kept;
//! - geometry: each negative is searched for as a scan does, and the best local score among the candidates the
//!   search verified is kept (spread over the catalog's references to give a share per pair); for comparison, each
//!   negative is also verified against `--sample` references drawn at random (fixed seed).
//!
//! Prints both fitted tails (as a `Calibration` to paste), the thresholds they give at several catalog sizes, the
//! negatives the scan called `match` (and `review` or `match`) beside the rates both models predict, with the exact
//! 95% interval of the observed share ([`knockoff::calibration::observed_rate_interval`]: whether this many
//! negatives can tell the prediction wrong at all), and,
//! for thresholds from 0.40 to 0.90, the share of negatives whose best pair reaches that with either part of its
//! score (the hashes' part, the local part: a false `review` under uniform thresholds) beside the share predicted by
//! the default model and by the fitted one. (The scan's own scores are in its thresholds' scale, which differs by
//! kind of evidence, so the parts are what a uniform bar compares with.)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use knockoff::calibration::{Calibration, Tail};
use knockoff::{Fingerprinter, ReferenceIndex, SearchOptions, Verdict, compare_with, decode_path, hash_score};
use rayon::prelude::*;

/// One negative against the catalog: the hash part of its pairs in the tail (and whether local features contradict
/// it), the local scores of the sampled pairs, and the best local score among its search's candidates.
type Negative = (Vec<(f32, bool)>, Vec<f32>, f32);

/// Pairs are kept from here: unrelated pairs' bulk lies below.
const FROM: f32 = 0.30;
/// The hash tails are fitted from here, where the thresholds of catalogs of 1,000 references and more lie.
const HASH_FIT_FROM: f32 = 0.40;

/// The command line, for `--help` and for arguments it does not know.
const USAGE: &str = "calibrate [--data DIR] [--size N] [--sample K]";

fn main() -> anyhow::Result<()> {
    let (mut data, mut size, mut sample) = (PathBuf::from("target/benchmark"), None::<usize>, 64usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--data" => data = PathBuf::from(value()?),
            "--size" => size = Some(value()?.parse()?),
            "--sample" => sample = value()?.parse()?,
            "-h" | "--help" => {
                println!("usage: {USAGE}");
                return Ok(());
            }
            other => bail!("unexpected argument {other:?}; usage: {USAGE}"),
        }
    }
    let results = data.join("results");
    let size = match size {
        Some(n) => n,
        None => std::fs::read_dir(&results)
            .with_context(|| format!("{}: run the benchmark example first", results.display()))?
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_prefix("index-")?.strip_suffix(".idx")?.parse::<usize>().ok()
            })
            .max()
            .context("no index-N.idx: run the benchmark example first")?,
    };
    let mut index = ReferenceIndex::open(results.join(format!("index-{size}.idx")))?;
    // Every negative is compared with many references: read their features once.
    index.load_features()?;
    let n = index.len();
    let negatives: Vec<String> = std::fs::read_to_string(data.join("truth.csv"))?
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (f.len() >= 3 && f[1].is_empty()).then(|| f[0].to_string())
        })
        .collect();
    let start = Instant::now();
    let fingerprinter = Fingerprinter::for_listings(*index.config());
    let listings = data.join("listings");
    let fingerprints: Vec<(String, knockoff::Fingerprint)> = negatives
        .par_iter()
        .filter_map(|name| Some((name.clone(), fingerprinter.fingerprint_path(listings.join(name)).ok()?)))
        .collect();
    eprintln!("{} negatives fingerprinted in {:.1} s", fingerprints.len(), start.elapsed().as_secs_f64());

    // Each negative against the catalog: the hash part of every pair in the tail, the local score of a sample.
    let start = Instant::now();
    let thresholds = index.thresholds();
    let references = index.references();
    let search = SearchOptions::default().with_top_k(64).with_thresholds(thresholds);
    let per_negative: Vec<Negative> = fingerprints
        .par_iter()
        .enumerate()
        .map(|(q, (name, listing))| {
            let hashes: Vec<(f32, bool)> = references
                .iter()
                .filter(|r| hash_score(&r.fingerprint, listing) >= FROM)
                .map(|r| {
                    let e = compare_with(&r.fingerprint, listing, &thresholds).evidence;
                    (e.hash_score, e.hashes_contradicted)
                })
                .filter(|(s, _)| *s >= FROM)
                .collect();
            let sampled: Vec<f32> = (0..sample)
                .map(|k| {
                    let r = &references[(splitmix(((q as u64) << 20) ^ k as u64) % n as u64) as usize];
                    compare_with(&r.fingerprint, listing, &thresholds).evidence.local_score
                })
                .collect();
            // What a search verifies: the best local score among its candidates, closer looks included (the
            // pixels decoded again: a catalog's worth of listings' pixels would not stay in memory).
            let photo = decode_path(listings.join(name), &fingerprinter.decode_options());
            let searched = photo
                .and_then(|photo| index.search_photo(listing, &photo, &search))
                .iter()
                .flatten()
                .map(|r| r.similarity.evidence.local_score)
                .fold(0.0, f32::max);
            (hashes, sampled, searched)
        })
        .collect();
    let hash_part = |contradicted: bool| -> Vec<f32> {
        per_negative.iter().flat_map(|p| p.0.iter().filter(|h| h.1 == contradicted).map(|h| h.0)).collect()
    };
    let (hash_scores, contradicted_scores) = (hash_part(false), hash_part(true));
    let sampled_scores: Vec<f32> = per_negative.iter().flat_map(|p| p.1.iter().copied()).collect();
    let searched_scores: Vec<f32> = per_negative.iter().map(|p| p.2).collect();
    let (hash_pairs, sampled_pairs) = ((fingerprints.len() * n) as u64, (fingerprints.len() * sample) as u64);
    eprintln!(
        "{hash_pairs} pairs hash-scored ({} in the tail), {sampled_pairs} sampled pairs and every search's candidates \
         verified, in {:.1} s",
        hash_scores.len() + contradicted_scores.len(),
        start.elapsed().as_secs_f64()
    );

    let survival = |scores: &[f32], pairs: u64| {
        let mut line = String::new();
        for s in [0.3f32, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8] {
            let count = scores.iter().filter(|v| **v >= s).count();
            line += &format!(" {s:.2}: {count} ({:.1e});", count as f64 / pairs as f64);
        }
        line
    };
    println!("catalog of {n} references, {} negatives", fingerprints.len());
    println!("hash part, pairs scoring at least:{}", survival(&hash_scores, hash_pairs));
    println!("hash part contradicted, pairs scoring at least:{}", survival(&contradicted_scores, hash_pairs));
    println!("local score, sampled pairs scoring at least:{}", survival(&sampled_scores, sampled_pairs));
    println!(
        "local score, best of a search's candidates, per listing-reference pair:{}",
        survival(&searched_scores, hash_pairs)
    );
    // Verification meets the references a search picks, not random ones: the geometry tail is fitted on each
    // listing's best verified candidate, spread over the catalog (a listing's chance of a false geometric match
    // grows with the references that could supply one).
    let hashes = Tail::fit(&hash_scores, hash_pairs, HASH_FIT_FROM, 5);
    let contradicted = Tail::fit(&contradicted_scores, hash_pairs, HASH_FIT_FROM, 5);
    let geometry = Tail::fit(&searched_scores, hash_pairs, FROM, 3);
    println!("fitted hash tail: {hashes:?}");
    println!("fitted contradicted hash tail: {contradicted:?}");
    println!("fitted geometry tail: {geometry:?}");
    let default = Calibration::default();
    let fitted = default
        .with_hashes(hashes.unwrap_or(default.hashes))
        .with_contradicted_hashes(contradicted.unwrap_or(default.contradicted_hashes))
        .with_geometry(geometry.unwrap_or(default.geometry));
    for (name, c) in [("default", default), ("fitted", fitted)] {
        print!("{name} model thresholds (match / hash match / review / hash review / contradicted review):");
        for size in [8, 100, 1_000, 5_000, 100_000, 1_000_000] {
            let t = c.thresholds(size);
            print!(
                " {size}: {:.2} / {:.2} / {:.2} / {:.2} / {:.2};",
                t.match_score, t.hash_match_score, t.review_score, t.hash_review_score, t.contradicted_review_score
            );
        }
        println!();
    }

    // Observed per listing, from the benchmark's scan at this size: the verdict on every negative's best hit (its
    // score is in the thresholds' scale, so the single bars below use the parts instead).
    let scan = std::fs::read_to_string(results.join(format!("knockoff-{size}.csv")))
        .with_context(|| format!("knockoff-{size}.csv: run the benchmark example at this size"))?;
    let verdicts: BTreeMap<&str, &str> = scan
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            // A row whose score does not parse is not a scan's row.
            f.get(2)?.parse::<f32>().ok()?;
            Some((f[0], f.get(3).copied().unwrap_or("")))
        })
        .collect();
    let observed: Vec<&str> = negatives.iter().filter_map(|q| verdicts.get(q.as_str()).copied()).collect();
    let count = |f: &dyn Fn(&str) -> bool| observed.iter().filter(|v| f(v)).count() as u64;
    let total = observed.len() as u64;
    // Observed against predicted, with the exact 95% interval of the observed share: a prediction inside it is not
    // contradicted by this many negatives, whatever the ratio.
    let line = |name: &str, events: u64, default_rate: f64, fitted_rate: f64| {
        let (low, high) = knockoff::calibration::observed_rate_interval(events, total, 0.95);
        let verdict = |rate: f64| if (low..=high).contains(&rate) { "inside" } else { "outside" };
        println!(
            "negatives called {name}: {events} of {total}, {:.3}% (95% interval {:.3}% to {:.3}%); predicted {:.3}% \
             by the default model ({} the interval), {:.3}% by the fitted one ({})",
            100.0 * events as f64 / total.max(1) as f64,
            100.0 * low,
            100.0 * high,
            100.0 * default_rate,
            verdict(default_rate),
            100.0 * fitted_rate,
            verdict(fitted_rate),
        );
    };
    println!("under the index's thresholds ({thresholds:?}):");
    line(
        "match",
        count(&|v| v == Verdict::Match.as_str()),
        default.false_match_rate(&thresholds, n),
        fitted.false_match_rate(&thresholds, n),
    );
    line(
        "review or match",
        count(&|v| v != Verdict::NoMatch.as_str()),
        default.false_review_rate(&thresholds, n),
        fitted.false_review_rate(&thresholds, n),
    );
    // Each negative's best part over the catalog: its best hash part, or the best local score its search verified.
    let best_part: Vec<f32> = per_negative.iter().map(|p| p.0.iter().map(|h| h.0).fold(p.2, f32::max)).collect();
    println!("| threshold | negatives whose best pair reaches it | predicted (default) | predicted (fitted) |");
    println!("|---|---|---|---|");
    for step in 0..=10 {
        let t = 0.40 + 0.05 * step as f32;
        // Any evidence reaching t, the contradicted hashes included: the review rate of uniform thresholds.
        let uniform = knockoff::Thresholds::new(t, t);
        println!(
            "| {t:.2} | {:.2}% | {:.2}% | {:.2}% |",
            100.0 * best_part.iter().filter(|&&b| b >= t).count() as f64 / best_part.len().max(1) as f64,
            100.0 * default.false_review_rate(&uniform, n),
            100.0 * fitted.false_review_rate(&uniform, n)
        );
    }
    Ok(())
}

/// A fixed, well-mixed sequence (SplitMix64): the reference sample is the same on every run.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
