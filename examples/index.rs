//! Builds a reference index from the authentic catalog and saves it.
//!
//! ```text
//! cargo run --release --example index -- CATALOG_DIR -o catalog.idx [--full]
//! ```
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
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-o" | "--output" => output = Some(args.next().context("-o needs a path")?),
            "--full" => config.full_size = true,
            _ if catalog.is_none() => catalog = Some(arg),
            _ => bail!("usage: index CATALOG_DIR -o catalog.idx [--full]"),
        }
    }
    let (Some(catalog), Some(output)) = (catalog, output) else {
        bail!("usage: index CATALOG_DIR -o catalog.idx [--full]");
    };

    let start = Instant::now();
    let bar = progress_bar();
    let (index, report) = ReferenceIndex::build(&catalog, &Fingerprinter::new(config), |p| {
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
    if index.is_empty() {
        bail!("no photo could be indexed under {catalog}");
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
