//! Scans listing photos against the authentic catalog and reports which listings copy which photos.
//!
//! ```text
//! cargo run --release --example scan -- --refs DIR_OR_INDEX --queries DIR [--format csv|jsonl|html] [-o PATH] [--top K]
//!     [--all-files]
//! cargo run --release --example scan            # the bundled testdata: refs/ against listings/, HTML report
//! ```
//!
//! `--refs` is a catalog folder (indexed on the fly) or an index file made by the `index` example. CSV columns:
//! `query,reference,score,verdict,rank,reference_id,transform,alterations,pdq_distance,pdq_quality,phash_distance,
//! dhash_distance,ahash_distance,colour_distance,error`, one row per listing and reference (`--top K`, default 1);
//! a listing with no candidate, or that could not be read, gets one row with an empty reference, score 0 and
//! `no_match` (the `error` column says why it failed). CSV and JSON lines go to `-o PATH` or stdout and are
//! flushed as the scan goes; the HTML report (default `scan-report.html`) is written at the end, with a CSV of the
//! same scan streamed beside it (`PATH.csv`) so an interrupted scan keeps its results. A progress bar shows on
//! stderr when it is a terminal; a one-line summary ends the run.
//!
//! Only photos are scanned: files with a photo extension, and files without extension whose content is a photo.
//! Other files, hidden ones and anything that is not a regular file (pipes, devices) are skipped and listed on
//! stderr with the reason (they have no row); `--all-files` scans every regular file.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use knockoff::report::{CsvReport, HtmlSources, JsonlReport, write_html};
use knockoff::{FingerprintConfig, Fingerprinter, ListingReport, ReferenceIndex, ScanOptions, Scanner};

const USAGE: &str =
    "usage: scan --refs DIR_OR_INDEX --queries DIR [--format csv|jsonl|html] [-o PATH] [--top K] [--all-files]";

#[derive(PartialEq)]
enum Format {
    Csv,
    Jsonl,
    Html,
}

fn main() -> anyhow::Result<()> {
    let (mut refs, mut queries, mut format, mut output, mut top) = (None, None, None, None, 1usize);
    let mut all_files = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--refs" => refs = Some(PathBuf::from(value()?)),
            "--queries" => queries = Some(PathBuf::from(value()?)),
            "--format" => {
                format = Some(match value()?.as_str() {
                    "csv" => Format::Csv,
                    "jsonl" => Format::Jsonl,
                    "html" => Format::Html,
                    other => bail!("unknown format {other:?}\n{USAGE}"),
                })
            }
            "-o" | "--output" => output = Some(PathBuf::from(value()?)),
            "--top" => top = value()?.parse().context("--top takes a whole number")?,
            "--all-files" => all_files = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unexpected argument {other:?}\n{USAGE}"),
        }
    }
    // With no arguments: the bundled testdata, as an HTML report.
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let no_arguments = refs.is_none() && queries.is_none();
    let refs = refs.unwrap_or_else(|| testdata.join("refs"));
    let queries = queries.unwrap_or_else(|| testdata.join("listings"));
    let format = format.unwrap_or(if no_arguments { Format::Html } else { Format::Csv });
    if format == Format::Html && output.is_none() {
        output = Some(PathBuf::from("scan-report.html"));
    }
    if !queries.is_dir() {
        bail!("--queries {} is not a folder\n{USAGE}", queries.display());
    }

    let index = if refs.is_file() {
        ReferenceIndex::open(&refs)?
    } else {
        let bar = progress_bar("indexing");
        let (index, report) = ReferenceIndex::build(&refs, &Fingerprinter::new(FingerprintConfig::default()), |p| {
            if let Some(bar) = &bar {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
            }
        });
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        for failure in &report.failures {
            eprintln!("reference skipped: {failure}");
        }
        index
    };
    if index.is_empty() {
        bail!("no reference photo in {}", refs.display());
    }

    let mut options = ScanOptions::default();
    options.search.top_k = top.max(1);
    if all_files {
        options.walk = knockoff::walk::WalkOptions::all_files();
    }
    let scanner = Scanner::new(&index, options);
    let bar = progress_bar("scanning");
    let progress = |p: knockoff::Progress| {
        if let Some(bar) = &bar {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
        }
    };
    let cancel = AtomicBool::new(false);
    let open = |path: &Path| -> anyhow::Result<Box<dyn Write>> {
        Ok(Box::new(BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?)))
    };
    let stdout = || -> Box<dyn Write> { Box::new(BufWriter::new(std::io::stdout())) };

    // Write errors name what was being written (a full disk, a closed pipe).
    let writing = |path: Option<&Path>| match path {
        Some(path) => format!("cannot write {}", path.display()),
        None => "cannot write to stdout".to_string(),
    };
    let (summary, kept) = match format {
        Format::Csv | Format::Jsonl => {
            let out = match &output {
                Some(path) => open(path)?,
                None => stdout(),
            };
            let summary = if format == Format::Csv {
                let mut csv = CsvReport::new(out).with_context(|| writing(output.as_deref()))?;
                scanner.scan(&queries, &cancel, progress, |r| csv.write(r))
            } else {
                let mut jsonl = JsonlReport::new(out);
                scanner.scan(&queries, &cancel, progress, |r| jsonl.write(r))
            };
            (summary.with_context(|| writing(output.as_deref()))?, Vec::new())
        }
        Format::Html => {
            let csv_path = output.clone().unwrap_or_default().with_extension("html.csv");
            let mut csv = CsvReport::new(open(&csv_path)?).with_context(|| writing(Some(&csv_path)))?;
            let mut kept: Vec<ListingReport> = Vec::new();
            let summary = scanner
                .scan(&queries, &cancel, progress, |r| {
                    kept.push(r.clone());
                    csv.write(r)
                })
                .with_context(|| writing(Some(&csv_path)))?;
            (summary, kept)
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if format == Format::Html {
        let path = output.unwrap_or_default();
        let sources = HtmlSources { queries: &queries, catalog: index.catalog_root(), limits: index.config().limits };
        let mut out = open(&path)?;
        write_html(&mut out, &kept, &summary, sources).with_context(|| writing(Some(&path)))?;
        eprintln!("wrote {} (and {})", path.display(), path.with_extension("html.csv").display());
    }
    for skipped in &summary.skipped {
        eprintln!("skipped {skipped}");
    }
    eprintln!(
        "scanned {} files against {} references: {} failures, {} matches, {} to review, {} skipped, {:.1} files/s on {} \
         threads",
        summary.scanned,
        index.len(),
        summary.failures,
        summary.matches,
        summary.reviews,
        summary.skipped.len(),
        summary.rate(),
        rayon::current_num_threads()
    );
    Ok(())
}

/// A progress bar on stderr, only when stderr is a terminal (not in logs or pipes).
fn progress_bar(what: &str) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        let template = format!("{what} {{bar:40}} {{pos}}/{{len}} {{per_sec}} eta {{eta}}");
        if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar
    })
}
