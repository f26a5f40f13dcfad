//! Builds a reference index from the authentic catalog and saves it.
//!
//! ```text
//! cargo run --release --example index -- CATALOG_DIR -o catalog.idx [--full] [--metadata FILE.csv] [--shards N]
//!     [--update [--force]]
//! ```
//!
//! `--shards N` splits the catalog into N index files over disjoint sets of references, for catalogs larger than
//! one machine's memory: `-o DIR/catalog.idx` writes `DIR/catalog-1-of-N.idx` ... `DIR/catalog-N-of-N.idx`
//! (references keep their ids in the whole catalog). Search every listing against every shard and keep the best
//! results (the Spark job in `deploy/spark` does).
//!
//! `--update` brings an existing index (`-o`) up to date with CATALOG_DIR instead of building it anew: photos not
//! yet in it are fingerprinted and added with new ids, photos replaced under their name (another SHA-256 than the
//! one indexed; files whose size and time are as indexed are not read) are fingerprinted again and keep their id
//! and metadata, photos moved or renamed (found by their SHA-256, also onto another photo's old name or swapped)
//! keep their reference under the new path, references whose files are gone are removed, and every other reference
//! is kept as it is
//! (`ReferenceIndex::update`). CATALOG_DIR must be the catalog's folder: every reference not found under it is
//! removed (one under a folder that cannot be read, or whose file is now left out as not a photo, is kept, counted
//! as `kept unchecked`). The index is written over the old file atomically, then each change is listed (`added
//! PATH`, `replaced PATH`, `moved OLD -> NEW`, `removed PATH`, control characters in names escaped) and a summary
//! line `updated INDEX: A added, P replaced, M moved, R removed, U unchanged (F failed, S skipped) ...`; an index
//! whose references are all unchanged is not written (`INDEX is up to date: ...`). When more than half of the
//! references would go, or CATALOG_DIR is a folder above or inside the catalog folder the index records (every
//! reference would look moved), nothing is written unless `--force` is given (a wrong folder); a catalog folder
//! that cannot be read, or a photo given instead of a folder, is an error; without an index at `-o`, `--update`
//! builds it. With `--metadata`, a listed reference's
//! metadata is replaced by its rows; the others
//! keep theirs. Not with `--shards` (update the whole index, then split it) or `--full` (the index's own
//! configuration is used).
//!
//! `--metadata` attaches metadata (SKU, brand ...) to references from a CSV file of `path,key,value` rows, `path`
//! relative to CATALOG_DIR (a first row `path,key,value` is a header; fields may be quoted as CSV quotes them,
//! `"Acme, Inc"`, and an unquoted value may contain commas); scan's JSON lines and HTML reports carry it.
//!
//! Every file under CATALOG_DIR (recursively) is fingerprinted in parallel; photos that cannot be read are listed
//! on stderr as `failed PATH: reason`, files that are not photos as `skipped PATH: reason`, and both are left out,
//! never fatal (the summary counts each). The index is written atomically. `--full` makes fingerprints with
//! full-size decoding (bit-exact PDQ); scans then use the same. Exit status 0 on success, 1 on failure, 2 for a
//! usage error (`--help` lists the options). The index records the catalog folder both as it is and relative to
//! the index file, so an index kept beside its catalog finds the photos after both are moved.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use knockoff::{ErrorKind, FingerprintConfig, Fingerprinter, ReferenceIndex};

#[path = "common/output.rs"]
mod output;

/// Builds a reference index from the authentic catalog and saves it.
#[derive(Parser)]
#[command(name = "index")]
struct Args {
    /// The catalog: a folder of authentic photos (walked recursively), or one photo.
    catalog: PathBuf,
    /// Where to write the index.
    #[arg(short, long, value_name = "catalog.idx")]
    output: PathBuf,
    /// Fingerprint with full-size decoding (bit-exact PDQ); scans then use the same.
    #[arg(long)]
    full: bool,
    /// A CSV of `path,key,value` rows to attach to the references (SKU, brand ...).
    #[arg(long, value_name = "FILE.csv")]
    metadata: Option<PathBuf>,
    /// Split the catalog into N index files (`-o DIR/catalog.idx` writes `DIR/catalog-1-of-N.idx` ...).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(knockoff::index::MAX_SHARDS)))]
    shards: Option<u32>,
    /// Update the index at -o rather than build anew: add new photos, fingerprint photos replaced under their name
    /// again, follow moved ones, remove those gone; ids kept.
    #[arg(long, conflicts_with_all = ["shards", "full"])]
    update: bool,
    /// With --update: save even when more than half of the references are gone from CATALOG, or when CATALOG is a
    /// folder above or inside the catalog folder the index records.
    #[arg(long, requires = "update")]
    force: bool,
}

fn main() -> ExitCode {
    // A decoder's panic on a hostile file is caught and recorded as that file's error; not printed as a crash.
    knockoff::quiet_contained_panics();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}`: the whole chain on one line, and never a backtrace: these are the user's errors.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    if !args.catalog.exists() {
        bail!("{}: no such folder or photo", args.catalog.display());
    }
    let outputs = match args.shards {
        None => vec![args.output.clone()],
        Some(count) => (1..=count as usize).map(|k| shard_path(&args.output, k, count)).collect(),
    };
    let mut inputs: Vec<&Path> = vec![&args.catalog];
    inputs.extend(args.metadata.as_deref());
    for path in &outputs {
        output::check("-o", path, &inputs)?;
    }
    // Read before the catalog is fingerprinted: a mistake in it should cost seconds, not the whole build.
    let metadata = args.metadata.as_deref().map(read_metadata).transpose()?;
    if args.update && !args.catalog.is_dir() {
        bail!("--update: {} is not a folder: an index is updated from its catalog's folder", args.catalog.display());
    }
    if args.update && args.output.exists() {
        return update(args, metadata);
    }
    let start = Instant::now();
    let bar = progress_bar();
    let config = FingerprintConfig::default().with_full_size(args.full);
    let (mut index, report) =
        ReferenceIndex::build(&args.catalog, &Fingerprinter::for_references(config), |p| advance(&bar, p));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    list_left_out(&report.failures, &report.skipped);
    if index.is_empty() {
        bail!("no photo could be indexed under {}", args.catalog.display());
    }
    if let Some(rows) = metadata {
        attach_metadata(&mut index, rows);
    }
    let files = match args.shards {
        None => vec![(args.output.clone(), index)],
        Some(count) => {
            let shards = index.split(count as usize).context("--shards")?;
            shards.into_iter().enumerate().map(|(k, shard)| (shard_path(&args.output, k + 1, count), shard)).collect()
        }
    };
    let references: usize = files.iter().map(|(_, index)| index.len()).sum();
    let mut written = Vec::new();
    for (output, index) in &files {
        // The error names the file.
        index.save(output).context("cannot write the index")?;
        let bytes = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
        written.push(format!("{} ({bytes} bytes)", output.display()));
    }
    eprintln!(
        "indexed {} ({} failed, {} skipped) in {:.2} s, {:.1} images/s; wrote {}",
        plural(references, "reference"),
        report.failures.len(),
        report.skipped.len(),
        start.elapsed().as_secs_f64(),
        (references + report.failures.len()) as f64 / start.elapsed().as_secs_f64().max(1e-9),
        written.join(", ")
    );
    Ok(())
}

/// `--update` with an index at `-o`: opened, brought up to date with the catalog, saved over itself (unless nothing
/// changed).
fn update(args: &Args, metadata: Option<Metadata>) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut index = ReferenceIndex::open(&args.output).context("--update: cannot open the index")?;
    let (before, root_before) = (index.len(), index.catalog_root().map(Path::to_path_buf));
    // The folder above the catalog, or one inside it, would make every reference look moved: a wrong folder.
    if let (Some(root), Ok(given)) = (root_before.as_deref().filter(|r| r.is_dir()), args.catalog.canonicalize())
        && given != root
        && (root.starts_with(&given) || given.starts_with(root))
        && !args.force
    {
        let side = if root.starts_with(&given) { "above" } else { "inside" };
        bail!(
            "--update: {} is a folder {side} the catalog folder the index records ({}); update against that \
             folder, or add --force; {} left as it was",
            args.catalog.display(),
            root.display(),
            args.output.display()
        );
    }
    let bar = progress_bar();
    let report = index.update(&args.catalog, |p| advance(&bar, p)).context("--update")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // Nothing was checked: not a success to report.
    if let Some(e) = report.failures.iter().find(|e| e.path() == Some(args.catalog.as_path())) {
        bail!("--update: cannot read the catalog folder ({e}); {} left as it was", args.output.display());
    }
    list_left_out(&report.failures, &report.skipped);
    // Most of a catalog gone at once is more often the wrong folder than a catalog's life.
    if report.removed.len() * 2 > before && !args.force {
        bail!(
            "--update: {} of the index's {before} references are not under {} (is it the catalog's folder?); {} \
             left as it was: add --force to remove them",
            report.removed.len(),
            args.catalog.display(),
            args.output.display()
        );
    }
    // The same mistake after the catalog folder itself moved (the folder it records is gone): every photo moved
    // under one folder named as the catalog folder was.
    if let Some(folder) = moved_under_old_name(&report, before, root_before.as_deref())
        && !args.force
    {
        bail!(
            "--update: every photo would move under {folder}/, the name of the catalog folder the index records: is \
             {} the folder above the catalog? Update against {}, or add --force; {} left as it was",
            args.catalog.display(),
            args.catalog.join(&folder).display(),
            args.output.display()
        );
    }
    if index.is_empty() {
        bail!("no photo left to index under {}; {} left as it was", args.catalog.display(), args.output.display());
    }
    let counts = format!(
        "{} added, {} replaced, {} moved, {} removed, {} unchanged{}{} ({} failed, {} skipped) in {:.2} s",
        report.added.len(),
        report.replaced.len(),
        report.moved.len(),
        report.removed.len(),
        report.unchanged,
        if report.touched > 0 { format!(" ({} read and recorded again)", report.touched) } else { String::new() },
        if report.unchecked > 0 { format!(", {} kept unchecked", report.unchecked) } else { String::new() },
        report.failures.len(),
        report.skipped.len(),
        start.elapsed().as_secs_f64(),
    );
    // An unchanged catalog is not worth rewriting its index (gigabytes for a large one).
    if report.changed_nothing() && metadata.is_none() && index.catalog_root() == root_before.as_deref() {
        let state = if report.failures.is_empty() && report.unchecked == 0 {
            "is up to date"
        } else {
            "has nothing to change in what could be checked"
        };
        eprintln!("{} {state}: {counts}; not written", args.output.display());
        return Ok(());
    }
    if let Some(rows) = metadata {
        attach_metadata(&mut index, rows);
    }
    // Saving copies the kept references' features from the old file: that is where a damaged index shows.
    if let Err(e) = index.save(&args.output) {
        if matches!(e.kind(), ErrorKind::IndexCorrupt(_) | ErrorKind::IndexTruncated(_)) {
            bail!("--update: the index is damaged ({e}); it is left as it was: build it anew without --update");
        }
        return Err(e).context("cannot write the index");
    }
    // Only once saved: until then nothing changed. Paths come from file names: control characters escaped.
    for (_, path) in &report.added {
        eprintln!("added {}", shown(path));
    }
    for (_, path) in &report.replaced {
        eprintln!("replaced {}", shown(path));
    }
    for (_, from, to) in &report.moved {
        eprintln!("moved {} -> {}", shown(from), shown(to));
    }
    for path in &report.removed {
        eprintln!("removed {}", shown(path));
    }
    if let Some(root) = index.catalog_root().filter(|&root| Some(root) != root_before.as_deref()) {
        eprintln!("catalog folder now {}", root.display());
    }
    let bytes = std::fs::metadata(&args.output).map(|m| m.len()).unwrap_or(0);
    eprintln!("updated {}: {counts}; wrote {bytes} bytes", args.output.display());
    Ok(())
}

/// The folder every reference of the index (`before` of them) would move under, when it is named as the catalog
/// folder the index records (`root`, no longer there): the folder above a catalog that was moved.
fn moved_under_old_name(report: &knockoff::UpdateReport, before: usize, root: Option<&Path>) -> Option<String> {
    let name = root.filter(|r| !r.is_dir())?.file_name()?.to_string_lossy().into_owned();
    let under = |(_, from, to): &(u64, String, String)| to.strip_prefix(&format!("{name}/")) == Some(from.as_str());
    (report.moved.len() == before && before > 0 && report.moved.iter().all(under)).then_some(name)
}

/// A reference's path as a line of output shows it: control characters (a newline, a terminal escape) escaped, as
/// in every error message, so that a file's name cannot forge or hide lines.
fn shown(path: &str) -> knockoff::error::Printable<'_> {
    knockoff::error::Printable(Path::new(path))
}

/// `DIR/catalog.idx` → `DIR/catalog-K-of-N.idx`.
fn shard_path(output: &Path, k: usize, count: u32) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "catalog".into());
    let name = match output.extension() {
        Some(ext) => format!("{stem}-{k}-of-{count}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{k}-of-{count}"),
    };
    output.with_file_name(name)
}

/// "1 reference", "2 references".
fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Metadata rows by reference path.
type Metadata = std::collections::BTreeMap<String, Vec<(String, String)>>;

/// Reads `path,key,value` rows.
fn read_metadata(csv: &Path) -> anyhow::Result<Metadata> {
    let text = std::fs::read_to_string(csv).with_context(|| format!("cannot read --metadata {}", csv.display()))?;
    // A spreadsheet's "CSV UTF-8" starts with a byte-order mark, which would otherwise join the first path.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let csv = csv.display();
    let mut by_path = Metadata::default();
    let mut first = true;
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let Some(fields) = csv_fields(line) else {
            bail!("{csv}:{}: a quoted field does not end on its line", n + 1);
        };
        let [path, key, value @ ..] = fields.as_slice() else {
            bail!("{csv}:{}: expected path,key,value", n + 1);
        };
        if value.is_empty() {
            bail!("{csv}:{}: expected path,key,value", n + 1);
        }
        // Unquoted commas after the key stay in the value, as they always have.
        let value = value.join(",");
        if std::mem::take(&mut first) && (path.trim(), key.trim(), value.trim()) == ("path", "key", "value") {
            continue;
        }
        by_path.entry(path.trim().to_string()).or_default().push((key.trim().to_string(), value.trim().to_string()));
    }
    Ok(by_path)
}

/// Attaches metadata rows to the references with those paths; rows naming no reference are listed on stderr.
fn attach_metadata(index: &mut ReferenceIndex, mut by_path: Metadata) {
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
    eprintln!("metadata attached to {}", plural(attached, "reference"));
}

/// The fields of one CSV line (RFC 4180 quoting: `"Acme, Inc"`, `""` for a quote inside quotes); `None` when a
/// quoted field runs past the line.
fn csv_fields(line: &str) -> Option<Vec<String>> {
    let (mut fields, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => (field, quoted) = (String::new(), true),
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    (!quoted).then_some(fields)
}

/// Moves the progress bar, when there is one, to `p`.
fn advance(bar: &Option<indicatif::ProgressBar>, p: knockoff::Progress) {
    if let Some(bar) = bar {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
    }
}

/// Lists on stderr the photos that could not be read and the files that are not photos.
fn list_left_out(failures: &[knockoff::Error], skipped: &[knockoff::walk::Skipped]) {
    for failure in failures {
        eprintln!("failed {failure}");
    }
    for skipped in skipped {
        eprintln!("skipped {skipped}");
    }
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
