//! Scans listing photos against the authentic catalog and reports which listings copy which photos.
//!
//! ```text
//! cargo run --release --example scan -- --refs DIR_OR_INDEX --queries DIR [--format csv|jsonl|html|parquet] [-o PATH] [--top K]
//!                                        [--catalog-root DIR]
//!     [--all-files]
//! cargo run --release --example scan            # the bundled testdata: refs/ against listings/, HTML report
//! ```
//!
//! `--refs` is a catalog folder (indexed on the fly) or an index file made by the `index` example. Without
//! `--format`, the `-o` file's extension picks it (`.csv`, `.jsonl`, `.html`, `.parquet`; CSV otherwise). CSV columns:
//! `query,reference,score,verdict,rank,reference_id,transform,alterations,pdq_distance,pdq_quality,phash_distance,
//! dhash_distance,ahash_distance,colour_distance,inliers,rotation_degrees,reference_region,listing_region,error`
//! (see the README), one row per listing and reference (`--top K`, default 1);
//! a listing with no candidate, or that could not be read, gets one row with an empty reference, score 0 and
//! `no_match` (the `error` column says why it failed). CSV and JSON lines go to `-o PATH` or stdout and are
//! flushed as the scan goes; the HTML report (default `scan-report.html`) is written whole at the end (into a
//! temporary file renamed over `PATH`, so a full disk leaves no half report), with a CSV of the
//! same scan streamed beside it (`PATH` with `.csv` added: `scan-report.html.csv`) so an interrupted
//! scan keeps its results. Parquet (a build with `--features arrow`; default `scan-report.parquet`) has the CSV's
//! columns typed (null for an empty field), then
//! `error_kind`, `path` (the listing's full path) and `config` (the run's configuration, JSON); it is complete when
//! the scan ends (Parquet's footer comes last). A progress bar shows on
//! stderr when it is a terminal; a one-line summary, then the verdict thresholds and the false-match rate per listing
//! they predict, end the run. With any argument, `--refs` and `--queries` are
//! both required. `--catalog-root DIR` says where the catalog's photos are now, for the HTML report's pictures.
//! Exit status 0 on success, 1 on failure, 2 for a usage error (`--help` lists the options); listings that cannot
//! be read are rows of the report, not a failure of the scan. An index whose stored features turn out damaged
//! while scanning fails the listings that needed them (rows of kind `index_corrupt`) and, once the report is
//! written, the scan: exit status 1. A closed output pipe ends the run quietly.
//!
//! Only photos are scanned: files with a photo extension, and files without extension whose content is a photo.
//! Other files, hidden ones and anything that is not a regular file (pipes, devices) are skipped and listed on
//! stderr with the reason (they have no row); `--all-files` scans every regular file.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, ValueEnum};
use knockoff::report::{CsvReport, HtmlSources, JsonlReport, write_html};
use knockoff::{ErrorKind, FingerprintConfig, Fingerprinter, ListingReport, ReferenceIndex, ScanOptions, Scanner};

#[path = "common/output.rs"]
mod output;

/// Scans listing photos against the authentic catalog and reports which listings copy which photos. With no
/// arguments: the bundled testdata (refs/ against listings/), as an HTML report.
#[derive(Parser)]
#[command(name = "scan")]
struct Args {
    /// The authentic catalog: a folder (indexed on the fly) or an index file made by the `index` example.
    #[arg(long, value_name = "DIR_OR_INDEX", requires = "queries")]
    refs: Option<PathBuf>,
    /// The folder of listing photos to scan (walked recursively).
    #[arg(long, value_name = "DIR", requires = "refs")]
    queries: Option<PathBuf>,
    /// Report format; default from the -o file's extension (.csv, .jsonl, .html, .parquet), else csv (html for the
    /// no-argument demo). Parquet needs a build with `--features arrow`.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Where to write the report (CSV and JSON lines default to stdout, HTML to scan-report.html).
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// References reported per listing.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    top: u16,
    /// Where the catalog's photos are now, for the HTML report's pictures (default: where the index says).
    #[arg(long, value_name = "DIR")]
    catalog_root: Option<PathBuf>,
    /// Scan every regular file under the queries folder, not only photos (pipes and devices are skipped either way).
    #[arg(long)]
    all_files: bool,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Format {
    Csv,
    Jsonl,
    Html,
    Parquet,
}

fn main() -> ExitCode {
    // A decoder's panic on a hostile file is caught and recorded as that file's error; not printed as a crash.
    knockoff::quiet_contained_panics();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`scan ... | head`) is how a reader says it has enough: end quietly, as any Unix tool does.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}`: the whole chain on one line, and never a backtrace: these are the user's errors.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The CSV streamed beside an HTML report: its name with `.csv` added (`scan-report.html.csv`), whatever the
/// HTML file's extension.
fn companion_csv(html: &Path) -> PathBuf {
    let mut name = html.as_os_str().to_owned();
    name.push(".csv");
    PathBuf::from(name)
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<knockoff::Error>()
                .is_some_and(|k| matches!(k.kind(), ErrorKind::Io(io) | ErrorKind::Write(io) if io.kind() == std::io::ErrorKind::BrokenPipe))
    })
}

fn run(args: Args) -> anyhow::Result<()> {
    // With no arguments: the bundled testdata, as an HTML report. With any, both --refs and --queries (clap
    // enforces that each needs the other; the check below, that other arguments need them), so a forgotten one is
    // an error rather than a silent scan of the demo photos.
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let demo = args.refs.is_none();
    if demo && std::env::args_os().len() > 1 {
        // `--format csv -o results.csv` alone would otherwise scan the demo photos into results.csv.
        Args::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--refs and --queries are required with any other argument (run with none for the bundled demo)",
            )
            .exit();
    }
    let refs = args.refs.unwrap_or_else(|| testdata.join("refs"));
    let queries = args.queries.unwrap_or_else(|| testdata.join("listings"));
    // Without --format, the output's extension says (`-o report.html` is the HTML report, not CSV in a .html file).
    let named = args.output.as_deref().and_then(|p| p.extension()).and_then(|e| e.to_str()).and_then(|e| {
        match e.to_ascii_lowercase().as_str() {
            "html" | "htm" => Some(Format::Html),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    });
    let format = args.format.or(named).unwrap_or(if demo { Format::Html } else { Format::Csv });
    let output = match (&args.output, format) {
        (None, Format::Html) => Some(PathBuf::from("scan-report.html")),
        (None, Format::Parquet) => Some(PathBuf::from("scan-report.parquet")),
        (output, _) => output.clone(),
    };
    // Before indexing a catalog for nothing.
    if format == Format::Parquet && cfg!(not(feature = "arrow")) {
        // A usage error (exit status 2): this build has no such format.
        Args::command()
            .error(
                clap::error::ErrorKind::InvalidValue,
                "--format parquet: this build has no Parquet support; build with `--features arrow`",
            )
            .exit();
    }
    if let Some(path) = &output {
        output::check("-o", path, &[&refs])?;
        if format == Format::Html {
            output::check("-o", &companion_csv(path), &[&refs])?;
        }
    }
    if !queries.exists() {
        bail!("--queries {}: no such folder", queries.display());
    }
    if !queries.is_dir() {
        bail!("--queries {} is not a folder", queries.display());
    }
    let mut index = if refs.is_file() {
        match ReferenceIndex::open(&refs) {
            Ok(index) => index,
            Err(e) if matches!(e.kind(), ErrorKind::NotAnIndex) => bail!(
                "--refs {}: not an index file (give a folder of reference photos, or an index made by the `index` \
                 example)",
                refs.display()
            ),
            // The error names the file: "--refs PATH: what is wrong", as the other --refs errors read.
            Err(e) => bail!("--refs {e}"),
        }
    } else if refs.is_dir() {
        let bar = progress_bar("indexing");
        let fingerprinter = Fingerprinter::for_references(FingerprintConfig::default());
        let (index, report) = ReferenceIndex::build(&refs, &fingerprinter, |p| {
            if let Some(bar) = &bar {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
            }
        });
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        // Worded as the `index` example words them: a photo that could not be read failed, a file that is not a
        // photo was skipped.
        for failure in &report.failures {
            eprintln!("reference failed {failure}");
        }
        for skipped in &report.skipped {
            eprintln!("reference skipped {skipped}");
        }
        index
    } else {
        if refs.exists() {
            bail!("--refs {}: not a folder or a regular file (a pipe, socket or device)", refs.display());
        }
        bail!("--refs {}: no such folder or index file", refs.display());
    };
    if index.is_empty() {
        bail!("no reference photo in {}", refs.display());
    }
    if let Some(root) = &args.catalog_root {
        if !root.is_dir() {
            bail!("--catalog-root {} is not a folder", root.display());
        }
        index.set_catalog_root(Some(root.clone()));
    }
    // Said before the scan rather than found on every card of the report.
    if format == Format::Html && !index.catalog_root().is_some_and(Path::is_dir) {
        let missing = index.catalog_root().map_or("the index does not record its catalog folder".to_string(), |r| {
            format!("the catalog folder {} is not there", r.display())
        });
        eprintln!("warning: {missing}: the HTML report will show no authentic photos; scan with --catalog-root DIR");
    }
    let references = index.len();
    let mut options = ScanOptions::default();
    options.search.top_k = usize::from(args.top);
    if args.all_files {
        options.walk = knockoff::walk::WalkOptions::all_files();
    }
    let scanner = Scanner::new(index, options);
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
        // The cause says "cannot write: ..." itself.
        Some(path) => path.display().to_string(),
        None => "stdout".to_string(),
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
            let summary = summary.with_context(|| writing(output.as_deref()))?;
            // Said for every file format, as the HTML and Parquet reports say it.
            if let Some(path) = &output {
                eprintln!("wrote {}", path.display());
            }
            (summary, Vec::new())
        }
        #[cfg(feature = "arrow")]
        Format::Parquet => {
            use knockoff::report::columnar::{ParquetReport, run_config};
            let path = output.clone().unwrap_or_default();
            let file =
                BufWriter::new(File::create(&path).with_context(|| format!("cannot create {}", path.display()))?);
            let name = refs.file_name().map(|n| n.to_string_lossy().into_owned());
            let mut parquet = ParquetReport::new(file, run_config(&scanner, name.as_deref()))
                .with_context(|| writing(Some(&path)))?;
            let summary = scanner
                .scan(&queries, &cancel, progress, |r| parquet.write(r, &queries.join(&r.query).to_string_lossy()))
                .with_context(|| writing(Some(&path)))?;
            parquet.finish().with_context(|| writing(Some(&path)))?;
            eprintln!("wrote {}", path.display());
            (summary, Vec::new())
        }
        #[cfg(not(feature = "arrow"))]
        Format::Parquet => bail!("--format parquet: this build has no Parquet support; build with `--features arrow`"),
        Format::Html => {
            let csv_path = companion_csv(&output.clone().unwrap_or_default());
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
    if summary.files == 0 && summary.skipped.is_empty() {
        eprintln!("warning: no files under {}: nothing was scanned", queries.display());
    } else if summary.files == 0 {
        eprintln!(
            "warning: no photos under {}: {} skipped (listed below), nothing was scanned",
            queries.display(),
            plural(summary.skipped.len(), "file")
        );
    }
    if format == Format::Html {
        let path = output.unwrap_or_default();
        let sources = HtmlSources {
            queries: &queries,
            catalog: scanner.index().catalog_root(),
            limits: scanner.options().limits,
        };
        // Written whole or not at all: a full disk leaves no half report (nor destroys an earlier one).
        // The error names the file.
        knockoff::atomic::write_file(&path, |file| {
            write_html(&mut BufWriter::new(file), &kept, &summary, sources)
                .map_err(|e| knockoff::Error::new(ErrorKind::Write(e)))
        })?;
        eprintln!("wrote {} (and {})", path.display(), companion_csv(&path).display());
    }
    for skipped in &summary.skipped {
        eprintln!("skipped {skipped}");
    }
    eprintln!(
        "scanned {} against {}: {}, {}, {} to review, {} skipped, {:.1} files/s on {} threads",
        plural(summary.scanned, "file"),
        plural(references, "reference"),
        plural(summary.failures, "failure"),
        plural(summary.matches, "match"),
        summary.reviews,
        summary.skipped.len(),
        summary.rate(),
        rayon::current_num_threads()
    );
    let t = summary.thresholds;
    eprintln!(
        "thresholds for {}: match from {:.2} (hashes alone {:.2}), review from {:.2} (hashes alone {:.2}, \
         contradicted by local features {:.2}); expected false matches: {} ({:.2} in this scan)",
        plural(scanner.index().catalog_len(), "reference"),
        t.match_score,
        t.hash_match_score,
        t.review_score,
        t.hash_review_score,
        t.contradicted_review_score,
        knockoff::report::rate_text(summary.false_match_rate),
        summary.expected_false_matches()
    );
    if summary.index_failures > 0 {
        bail!(
            "the index is damaged: {} could not be searched against it (their rows say where); rebuild it with the \
             `index` example",
            plural(summary.index_failures, "listing")
        );
    }
    Ok(())
}

/// "1 reference", "2 references", "2 matches".
fn plural(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        _ if what.ends_with("ch") => format!("{n} {what}es"),
        _ => format!("{n} {what}s"),
    }
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
