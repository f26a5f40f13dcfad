//! Hashes photos: one JSON object per line and per image.
//!
//! ```text
//! cargo run --release --example hash -- [--full] [--all-files] PATH...
//! ```
//!
//! PATH may be files or folders (walked recursively). Each line has `path`, `width`, `height`, `format`, `ahash`,
//! `dhash`, `phash`, `pdq` (64 hex digits, Meta's format: the whole photo's PDQ), `pdq_quality` (0-100),
//! `pdq_dihedral` (the eight variants in Meta's order), `content_pdq` (the PDQ matching uses when a uniform border
//! was trimmed, else null) and `colour`. A file that cannot be read prints `{"path": ..., "error": ...}` and the
//! run goes on; the exit status is 1 if any file failed. `--full` decodes at full size, so PDQ is bit-exact with
//! Meta's reference; the default decodes JPEGs at reduced scale, which is faster and agrees to a few bits.
//! Folders are walked for photos only (a photo extension, or photo content without extension); other files,
//! hidden ones, pipes and devices are skipped and listed on stderr with the reason; `--all-files` hashes every
//! regular file. The timing summary goes to stderr; its rate counts the photos hashed.

use std::io::Write;

use anyhow::Context;
use std::time::Instant;

use knockoff::{Fingerprint, FingerprintConfig, Fingerprinter};
use rayon::prelude::*;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let mut config = FingerprintConfig::hashes_only();
    let mut paths = Vec::new();
    let mut walk_options = knockoff::walk::WalkOptions::default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--full" => config.full_size = true,
            "--all-files" => walk_options = knockoff::walk::WalkOptions::all_files(),
            "-h" | "--help" => {
                eprintln!("usage: hash [--full] [--all-files] PATH...");
                return Ok(());
            }
            _ => paths.push(arg),
        }
    }
    if paths.is_empty() {
        anyhow::bail!("usage: hash [--full] [--all-files] PATH...");
    }

    let start = Instant::now();
    let fingerprinter = Fingerprinter::new(config);
    let walk = knockoff::walk::walk(&paths, &walk_options);
    let (files, walk_failures) = (walk.files, walk.failures);
    for skipped in &walk.skipped {
        eprintln!("skipped {skipped}");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failures = 0usize;
    for error in &walk_failures {
        writeln!(out, "{}", failure_line(error)).context("cannot write to stdout")?;
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
            writeln!(out, "{line}").context("cannot write to stdout")?;
        }
    }
    out.flush().context("cannot write to stdout")?;
    let seconds = start.elapsed().as_secs_f64();
    let hashed = files.len() + walk_failures.len() - failures;
    eprintln!(
        "hashed {} files ({} failed, {} skipped) in {:.2} s, {:.1} images/s on {} threads",
        files.len() + walk_failures.len(),
        failures,
        walk.skipped.len(),
        seconds,
        hashed as f64 / seconds.max(1e-9),
        rayon::current_num_threads()
    );
    std::process::exit(i32::from(failures > 0));
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
