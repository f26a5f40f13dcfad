//! Builds a reference index from the authentic catalog and saves it.
//!
//! ```text
//! cargo run --release --example index -- CATALOG_DIR -o catalog.idx [--full] [--metadata FILE.csv]
//! ```
//!
//! `--metadata` attaches metadata (SKU, brand ...) to references from a CSV file of `path,key,value` rows, `path`
//! relative to CATALOG_DIR (a first row `path,key,value` is a header; the value may contain commas); scan reports
//! carry it.
//!
//! Every file under CATALOG_DIR (recursively) is fingerprinted in parallel; files that are not readable photos are
//! listed on stderr and left out, never fatal. The index is written atomically. `--full` makes fingerprints with
//! full-size decoding (bit-exact PDQ); scans then use the same.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context, bail};
use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex};

fn main() -> anyhow::Result<()> {
    let mut catalog = None;
    let mut output = None;
    let mut config = FingerprintConfig::default();
    let mut metadata_csv = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-o" | "--output" => output = Some(args.next().context("-o needs a path")?),
            "--full" => config.full_size = true,
            "--metadata" => metadata_csv = Some(args.next().context("--metadata needs a CSV file")?),
            _ if catalog.is_none() => catalog = Some(arg),
            _ => bail!("usage: index CATALOG_DIR -o catalog.idx [--full] [--metadata FILE.csv]"),
        }
    }
    let (Some(catalog), Some(output)) = (catalog, output) else {
        bail!("usage: index CATALOG_DIR -o catalog.idx [--full] [--metadata FILE.csv]");
    };

    let start = Instant::now();
    let bar = progress_bar();
    let (mut index, report) = ReferenceIndex::build(&catalog, &Fingerprinter::new(config), |p| {
        if let Some(bar) = &bar {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    for failure in &report.failures {
        eprintln!("skipped {failure}");
    }
    for skipped in &report.skipped {
        eprintln!("skipped {skipped}");
    }
    if index.is_empty() {
        bail!("no photo could be indexed under {catalog}");
    }
    if let Some(csv) = metadata_csv {
        attach_metadata(&mut index, &csv)?;
    }
    index.save(&output)?;
    eprintln!(
        "indexed {} references ({} files skipped) in {:.2} s, {:.1} images/s; wrote {output} ({} bytes)",
        index.len(),
        report.failures.len(),
        start.elapsed().as_secs_f64(),
        (index.len() + report.failures.len()) as f64 / start.elapsed().as_secs_f64().max(1e-9),
        std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0)
    );
    Ok(())
}

/// Reads `path,key,value` rows and attaches them to the references with those paths.
fn attach_metadata(index: &mut ReferenceIndex, csv: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(csv).with_context(|| format!("reading {csv}"))?;
    let mut by_path: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut fields = line.splitn(3, ',');
        let (Some(path), Some(key), Some(value)) = (fields.next(), fields.next(), fields.next()) else {
            bail!("{csv}:{}: expected path,key,value", n + 1);
        };
        if n == 0 && (path, key, value) == ("path", "key", "value") {
            continue;
        }
        by_path.entry(path.trim().to_string()).or_default().push((key.trim().to_string(), value.trim().to_string()));
    }
    let ids: Vec<(u64, String)> = index.references().iter().map(|r| (r.id, r.path.clone())).collect();
    let mut attached = 0;
    for (id, path) in ids {
        if let Some(metadata) = by_path.remove(&path) {
            index.set_metadata(id, metadata);
            attached += 1;
        }
    }
    for path in by_path.keys() {
        eprintln!("metadata for {path}: no such reference");
    }
    eprintln!("metadata attached to {attached} references");
    Ok(())
}

/// A progress bar on stderr, only when stderr is a terminal (not in logs or pipes).
fn progress_bar() -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}") {
            bar.set_style(style);
        }
        bar
    })
}
