//! Hashes photos: one JSON object per line and per image.
//!
//! ```text
//! cargo run --release --example hash -- [--full] PATH...
//! ```
//!
//! PATH may be files or folders (walked recursively). Each line has `path`, `width`, `height`, `ahash`,
//! `dhash`, `phash`, `pdq` (64 hex digits, Meta's format: the whole photo's PDQ), `pdq_quality` (0-100),
//! `pdq_dihedral` (the eight variants in Meta's order), `content_pdq` (the PDQ matching uses when a uniform border
//! was trimmed, else null) and `colour`. A file that cannot be read prints `{"path": ..., "error": ...}` and the
//! run goes on; the exit status is 1 if any file failed, 2 for a usage error. `--full` decodes at full size, so PDQ
//! is bit-exact with Meta's reference; the default decodes JPEGs at reduced scale, which is faster and agrees to a
//! few bits. Folders are walked for photos only (a photo extension, or photo content without extension); other
//! files, hidden ones, pipes and devices are skipped and listed on stderr with the reason; `--all-files` hashes
//! every regular file. The timing summary goes to stderr; its rate counts the photos hashed. A closed output pipe
//! (`| head`) ends the run quietly.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use knockoff::{Fingerprint, FingerprintConfig, Fingerprinter};
use rayon::prelude::*;
use serde_json::json;

/// Hashes photos: one JSON object per line and per image.
#[derive(Parser)]
#[command(name = "hash")]
struct Args {
    /// Decode at full size: PDQ bit-exact with Meta's reference (slower).
    #[arg(long)]
    full: bool,
    /// Read every regular file under the folders, not only photos (pipes and devices are skipped either way).
    #[arg(long)]
    all_files: bool,
    /// Photo files and folders (walked recursively).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    // A decoder's panic on a hostile file is caught and recorded as that file's error; not printed as a crash.
    knockoff::quiet_contained_panics();
    let args = Args::parse();
    match run(&args) {
        Ok(failures) => ExitCode::from(u8::from(failures > 0)),
        // A closed pipe is how a reader says it has enough: end quietly, as any Unix tool does.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Hashes every photo and prints its line; the number of files that failed.
fn run(args: &Args) -> std::io::Result<usize> {
    let start = Instant::now();
    let fingerprinter = Fingerprinter::for_references(FingerprintConfig::hashes_only().with_full_size(args.full));
    let walk_options =
        if args.all_files { knockoff::walk::WalkOptions::all_files() } else { knockoff::walk::WalkOptions::default() };
    let walk = knockoff::walk::walk(&args.paths, &walk_options);
    let (files, walk_failures) = (walk.files, walk.failures);
    // A path named on the command line that cannot be hashed (a pipe, a device) fails as a missing one does: a
    // failure line and the exit status. Skipped entries inside folders are listed on stderr only.
    let (named_skipped, skipped): (Vec<_>, Vec<_>) = walk.skipped.iter().partition(|s| args.paths.contains(&s.path));
    for skipped in &skipped {
        eprintln!("skipped {skipped}");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failures = 0usize;
    for error in &walk_failures {
        writeln!(out, "{}", failure_line(error))?;
        failures += 1;
    }
    for skipped in &named_skipped {
        let line = json!({
            "path": skipped.path.display().to_string(),
            "error": skipped.to_string(),
            // The reason's own code: `not_regular_file`, `hidden`, `not_a_photo`.
            "error_kind": skipped.reason,
        });
        writeln!(out, "{line}")?;
        failures += 1;
    }
    // Fingerprint in parallel, a chunk at a time, printing in file order as each chunk finishes.
    for chunk in files.chunks(256) {
        let lines: Vec<(bool, String)> = chunk
            .par_iter()
            .map(|path| match fingerprinter.fingerprint_path(path) {
                Ok(fp) => (true, success_line(&path.display().to_string(), &fp)),
                Err(error) => (false, failure_line(&error)),
            })
            .collect();
        for (ok, line) in lines {
            failures += usize::from(!ok);
            writeln!(out, "{line}")?;
        }
    }
    out.flush()?;
    let seconds = start.elapsed().as_secs_f64();
    let files_found = files.len() + walk_failures.len() + named_skipped.len();
    let hashed = files_found - failures;
    if files_found == 0 {
        eprintln!("warning: no photo found, nothing was hashed");
    }
    eprintln!(
        "hashed {files_found} {} ({failures} failed, {} skipped) in {seconds:.2} s, {:.1} images/s on {} threads",
        if files_found == 1 { "file" } else { "files" },
        skipped.len(),
        hashed as f64 / seconds.max(1e-9),
        rayon::current_num_threads()
    );
    Ok(failures)
}

fn success_line(path: &str, fp: &Fingerprint) -> String {
    json!({
        "path": path,
        "width": fp.width,
        "height": fp.height,
        "ahash": fp.ahash.to_hex(),
        "dhash": fp.dhash.to_hex(),
        "phash": fp.phash.to_hex(),
        "pdq": fp.photo_pdq().hash().to_hex(),
        "pdq_quality": fp.photo_pdq().quality,
        "pdq_dihedral": fp.photo_pdq().dihedral.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
        "content_pdq": fp.photo_pdq.as_ref().map(|_| fp.pdq.hash().to_hex()),
        "colour": fp.colour.bins,
    })
    .to_string()
}

fn failure_line(error: &knockoff::Error) -> String {
    json!({
        "path": error.path().map(|p| p.display().to_string()),
        "error": error.to_string(),
        "error_kind": error.code(),
    })
    .to_string()
}
