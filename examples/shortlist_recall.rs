//! How well the visual-word shortlist alone finds each copy on the retrieval benchmark: where the true reference
//! ranks among the shortlisted candidates, per edit, before any verification.
//!
//! ```text
//! cargo run --release --example shortlist_recall -- [--data target/benchmark] [--size N] [--votes-only]
//! ```
//!
//! Needs a `benchmark` run at size N first (its index DATA/results/index-N.idx). Every positive listing of that
//! size is fingerprinted as a scan does and shortlisted as a search does, with [`ReferenceIndex::shortlist`] (with
//! `--votes-only`: [`WordIndex::shortlist`], turn and scale but no placement check), 40 candidates deep. Prints, per edit, the share
//! of copies whose true reference is among the best 1, 5, 10 (the search's default) and 40, and the time the
//! shortlist took per listing (wall time per call, with every thread busy).
//!
//! This is the figure to watch when changing the word index: retrieval loss (the `benchmark` example) mixes it with
//! the hash candidates and with verification.
//!
//! [`ReferenceIndex::shortlist`]: knockoff::ReferenceIndex::shortlist
//! [`WordIndex::shortlist`]: knockoff::index::WordIndex::shortlist

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use knockoff::{Fingerprinter, ReferenceIndex};
use rayon::prelude::*;

const DEPTHS: [usize; 4] = [1, 5, 10, 40];

/// The command line, for `--help` and for arguments it does not know.
const USAGE: &str = "shortlist_recall [--data DIR] [--size N] [--votes-only]";

fn main() -> anyhow::Result<()> {
    let (mut data, mut size, mut votes_only) = (PathBuf::from("target/benchmark"), 5099usize, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--data" => data = PathBuf::from(value()?),
            "--size" => size = value()?.parse()?,
            "--votes-only" => votes_only = true,
            "-h" | "--help" => {
                println!("usage: {USAGE}");
                return Ok(());
            }
            other => bail!("unexpected argument {other:?}; usage: {USAGE}"),
        }
    }
    let path = data.join("results").join(format!("index-{size}.idx"));
    let index =
        ReferenceIndex::open(&path).with_context(|| format!("{}: run the benchmark example first", path.display()))?;
    let position: BTreeMap<&str, usize> =
        index.references().iter().enumerate().map(|(i, r)| (r.path.as_str(), i)).collect();
    let truth = std::fs::read_to_string(data.join("truth.csv")).context("truth.csv: run make_benchmark first")?;
    // (listing, edit, true reference's position) for the positives of this size.
    let copies: Vec<(&str, &str, usize)> = truth
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let (listing, reference, edit) = (fields.first()?, fields.get(1)?, fields.get(2)?);
            Some((*listing, *edit, *position.get(reference)?))
        })
        .collect();
    let words = index.word_index();
    let fingerprinter = Fingerprinter::for_listings(*index.config());
    let depth = DEPTHS[DEPTHS.len() - 1];
    // (edit, rank of the true reference from 1, or 0 if not shortlisted), and the shortlist's time.
    let ranked: Vec<(&str, usize, Duration)> = copies
        .par_iter()
        .filter_map(|&(listing, edit, truth)| {
            let fingerprint = fingerprinter.fingerprint_path(data.join("listings").join(listing)).ok()?;
            let local = fingerprint.local.as_deref()?;
            let start = Instant::now();
            let shortlist =
                if votes_only { words.shortlist(local, depth) } else { index.shortlist(local, depth).ok()? };
            let took = start.elapsed();
            Some((edit, shortlist.iter().position(|s| s.0 == truth).map_or(0, |p| p + 1), took))
        })
        .collect();
    let mut by_edit: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for &(edit, rank, _) in &ranked {
        by_edit.entry(edit).or_default().push(rank);
    }
    let line = |name: &str, ranks: &[usize]| {
        let shares: Vec<String> = DEPTHS
            .iter()
            .map(|&d| {
                let found = ranks.iter().filter(|&&r| r > 0 && r <= d).count();
                format!("{:5.1}", 100.0 * found as f64 / ranks.len().max(1) as f64)
            })
            .collect();
        println!("{name:<34} {:>5}  {}", ranks.len(), shares.join("  "));
    };
    println!(
        "true reference among the shortlist's best 1 / 5 / 10 / 40 (%), {size} references{}",
        if votes_only { ", votes only" } else { "" }
    );
    println!("{:<34} {:>5}  {}", "edit", "n", DEPTHS.map(|d| format!("{d:>5}")).join("  "));
    for (edit, ranks) in &by_edit {
        line(edit, ranks);
    }
    let all: Vec<usize> = ranked.iter().map(|r| r.1).collect();
    line("all", &all);
    let total: Duration = ranked.iter().map(|r| r.2).sum();
    println!(
        "shortlist: {:.2} ms per listing ({} threads busy)",
        total.as_secs_f64() * 1e3 / ranked.len().max(1) as f64,
        rayon::current_num_threads()
    );
    Ok(())
}
