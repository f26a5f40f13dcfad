//! A long-lived scan worker for engines (Spark's `mapInArrow` or `RDD.pipe`, any program with a pipe): opens the
//! index once, reads listings from stdin until it ends, writes results to stdout as they are ready.
//!
//! ```text
//! cargo run --release --features arrow --example worker -- --index catalog.idx [--top K] [--input arrow|lines]
//!                                                          [--threads N]
//! ```
//!
//! `--input arrow` (default): stdin is an Arrow IPC stream of record batches with a `path` column (string, the
//! listing's path or URI) and a `content` column (binary, the photo's bytes), other columns ignored; stdout is an
//! Arrow IPC stream with one batch of results per batch read, flushed as it is ready. `--input lines`: stdin has
//! one `PATH<TAB>BASE64` line per listing; stdout has one JSON object per result row. The result columns are the
//! CSV report's (`query` is the path as given), then `error_kind`, `path` and `config` (the run's configuration,
//! JSON). A record that is not a photo, or a line that is not `PATH<TAB>BASE64`, gets a failure row and the stream
//! goes on. `--threads N`: threads for this process (default: all cores; run one worker per core with
//! `--threads 1`). On stderr: the time to open the index (and build its search tables), and a summary line at the
//! end. Exit status 0 at the end of the input, 1 if the index
//! cannot be opened or the input is not the protocol (every result before it is written and the output stream
//! closed properly), 2 for a usage error.

use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use knockoff::report::columnar::run_config;
use knockoff::{ReferenceIndex, ScanOptions, Scanner, worker};

/// A long-lived scan worker: listings from stdin, results to stdout.
#[derive(Parser)]
#[command(name = "worker")]
struct Args {
    /// The index file made by the `index` example (or one shard of it).
    #[arg(long, value_name = "PATH")]
    index: PathBuf,
    /// References reported per listing.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    top: u16,
    /// What stdin carries: an Arrow IPC stream of (path, content) batches, or PATH<TAB>BASE64 lines.
    #[arg(long, value_enum, default_value_t = Input::Arrow)]
    input: Input,
    /// Threads for this process (default: all cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Input {
    Arrow,
    Lines,
}

fn main() -> ExitCode {
    // A decoder's panic on a hostile file is caught and recorded as that file's error; not printed as a crash.
    knockoff::quiet_contained_panics();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(usize::from(threads))
            .build_global()
            .context("cannot start the thread pool")?;
    }
    let start = std::time::Instant::now();
    // The error names the path itself: "--index: PATH: not a knockoff index file".
    let index = ReferenceIndex::open(&args.index).context("--index")?;
    // Build the search structures now, not on the first listing: the first batch's latency stays a batch's.
    index.prepare();
    eprintln!(
        "worker: opened {} ({} references) in {:.2} s",
        args.index.display(),
        index.len(),
        start.elapsed().as_secs_f64()
    );
    let mut options = ScanOptions::default();
    options.search.top_k = usize::from(args.top);
    let scanner = Scanner::new(index, options);
    let name = args.index.file_name().map(|n| n.to_string_lossy().into_owned());
    let config = run_config(&scanner, name.as_deref());
    let stdin = BufReader::with_capacity(1 << 20, std::io::stdin().lock());
    let mut stdout = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let summary = match args.input {
        Input::Arrow => worker::serve_arrow(&scanner, stdin, &mut stdout, &config),
        Input::Lines => worker::serve_lines(&scanner, stdin, &mut stdout, &config),
    };
    stdout.flush().context("cannot write to stdout")?;
    let summary = summary?;
    eprintln!(
        "worker: {} {}, {} {}, {:.1} listings/s (wall time, waiting for input included)",
        summary.listings,
        if summary.listings == 1 { "listing" } else { "listings" },
        summary.failures,
        if summary.failures == 1 { "failure" } else { "failures" },
        summary.rate()
    );
    if summary.index_failures > 0 {
        bail!(
            "the index is damaged: {} could not be searched against it (their rows say where); rebuild it with \
             the `index` example",
            if summary.index_failures == 1 {
                "1 listing".to_string()
            } else {
                format!("{} listings", summary.index_failures)
            }
        );
    }
    Ok(())
}
