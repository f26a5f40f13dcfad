//! Scanning folders of listing photos against a reference index.
//!
//! Every photo the walk lists ends in the output as a [`ListingReport`]: its best references with scores, verdicts
//! and evidence, or the reason it failed. What the walk skips (not photos, hidden, pipes and devices; see
//! [`crate::walk`]) has no report and is listed in [`ScanSummary::skipped`]. Files are fingerprinted in parallel, a chunk at a time, and each chunk's
//! reports go to the caller's sink in file order as soon as the chunk is done, so a report written as the scan
//! goes keeps everything finished before an interruption. Cancelling (through an `AtomicBool`) stops the scan
//! after the files already started.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::fingerprint::Fingerprinter;
use crate::index::{ReferenceIndex, SearchOptions, relative_path};
use crate::progress::{Counter, Progress};
use crate::similarity::{Evidence, Verdict};
use crate::walk::{Skipped, WalkOptions};

/// How to scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScanOptions {
    /// How references are searched and ranked for each listing (`top_k` is the number of references reported per
    /// listing).
    pub search: SearchOptions,
    /// Which files under the folder are read (by default photos only; see [`WalkOptions`]).
    pub walk: WalkOptions,
}

/// One reference found for a listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The reference's path relative to the catalog folder.
    pub reference: String,
    /// The reference's id in the index.
    pub reference_id: u64,
    /// The reference's metadata (SKU, brand ...).
    pub metadata: Vec<(String, String)>,
    /// Similarity score in [0, 1].
    pub score: f32,
    /// The verdict.
    pub verdict: Verdict,
    /// Why.
    pub evidence: Evidence,
}

/// What became of one listing file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Fingerprinted and searched: the best references, best first (empty if no reference was a candidate).
    Searched {
        /// The references found.
        hits: Vec<Hit>,
    },
    /// The file could not be fingerprinted.
    Failed {
        /// Machine-readable error kind, e.g. `"decode"`.
        error_kind: String,
        /// The error, in words.
        error: String,
    },
}

/// The result for one listing file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListingReport {
    /// Path relative to the scanned folder, with `/` separators.
    pub query: String,
    /// Its references or its failure.
    pub outcome: Outcome,
}

impl ListingReport {
    /// The best verdict among the hits (`NoMatch` for failures and listings with no hit).
    pub fn verdict(&self) -> Verdict {
        match &self.outcome {
            Outcome::Searched { hits } => hits.iter().map(|h| h.verdict).min().unwrap_or(Verdict::NoMatch),
            Outcome::Failed { .. } => Verdict::NoMatch,
        }
    }

    /// The best score among the hits (0 for failures and listings with no hit).
    pub fn best_score(&self) -> f32 {
        match &self.outcome {
            Outcome::Searched { hits } => hits.iter().map(|h| h.score).fold(0.0, f32::max),
            Outcome::Failed { .. } => 0.0,
        }
    }
}

/// Totals for a finished (or cancelled) scan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanSummary {
    /// Files found under the folder to scan (including any not scanned because of cancellation, excluding
    /// those skipped).
    pub files: usize,
    /// Files reported (fingerprinted or failed).
    pub scanned: usize,
    /// Paths the walk left out (not photos, hidden, pipes and devices), with the reason. They have no report.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Files that could not be fingerprinted.
    pub failures: usize,
    /// Listings whose best verdict is `match`.
    pub matches: usize,
    /// Listings whose best verdict is `review`.
    pub reviews: usize,
    /// Whether the scan was cancelled before the end.
    pub cancelled: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl ScanSummary {
    /// Files read per second (fingerprinted or failed; skipped paths do not count).
    pub fn rate(&self) -> f64 {
        self.scanned as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Scans listing photos against a [`ReferenceIndex`], with the fingerprint configuration the index was built
/// with (so listings and references are always comparable).
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, ScanOptions, Scanner, Verdict};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
/// let (index, _) = ReferenceIndex::build(format!("{dir}/refs"), &Fingerprinter::new(FingerprintConfig::default()), |_| {});
/// let scanner = Scanner::new(&index, ScanOptions::default());
/// let mut reports = Vec::new();
/// let summary = scanner.scan(format!("{dir}/listings"), &AtomicBool::new(false), |_| {}, |r| {
///     reports.push(r.clone());
///     Ok(())
/// })?;
/// assert_eq!(summary.scanned, reports.len());
/// let mirrored = reports.iter().find(|r| r.query == "coffee-mirrored.jpg").unwrap();
/// assert_eq!(mirrored.verdict(), Verdict::Match);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Scanner<'a> {
    index: &'a ReferenceIndex,
    fingerprinter: Fingerprinter,
    options: ScanOptions,
}

/// Files fingerprinted between two deliveries to the sink: big enough to keep every core busy, small enough that an
/// interruption loses little.
const CHUNK: usize = 64;

impl<'a> Scanner<'a> {
    /// A scanner over `index`.
    pub fn new(index: &'a ReferenceIndex, options: ScanOptions) -> Self {
        Scanner { index, fingerprinter: Fingerprinter::new(index.config().for_listings()), options }
    }

    /// Scans every photo under `folder` (recursively, symlink-loop safe; which files, see [`ScanOptions::walk`]; the
    /// rest are listed in [`ScanSummary::skipped`]). `progress` is called from worker threads
    /// after each file; `sink` receives each listing's report in file order, chunk by chunk, and should write and
    /// flush it. Setting `cancel` stops the scan after the files in flight.
    ///
    /// # Errors
    /// Only the sink's own I/O errors stop a scan; bad files are reports, not errors.
    pub fn scan(
        &self,
        folder: impl AsRef<Path>,
        cancel: &AtomicBool,
        progress: impl Fn(Progress) + Sync,
        mut sink: impl FnMut(&ListingReport) -> std::io::Result<()>,
    ) -> std::io::Result<ScanSummary> {
        let folder = folder.as_ref();
        let walk = crate::walk::walk([folder], &self.options.walk);
        let (files, walk_failures) = (walk.files, walk.failures);
        let counter = Counter::new(files.len() + walk_failures.len());
        let mut summary =
            ScanSummary { files: files.len() + walk_failures.len(), skipped: walk.skipped, ..ScanSummary::default() };
        let mut record = |report: ListingReport, summary: &mut ScanSummary| -> std::io::Result<()> {
            summary.scanned += 1;
            match (&report.outcome, report.verdict()) {
                (Outcome::Failed { .. }, _) => summary.failures += 1,
                (_, Verdict::Match) => summary.matches += 1,
                (_, Verdict::Review) => summary.reviews += 1,
                _ => {}
            }
            sink(&report)
        };
        for error in walk_failures {
            let query = error.path().map(|p| relative_path(folder, p)).unwrap_or_default();
            progress(counter.finish(true));
            record(failed(query, &error), &mut summary)?;
        }
        for chunk in files.chunks(CHUNK) {
            if cancel.load(Ordering::Relaxed) {
                summary.cancelled = true;
                break;
            }
            let reports: Vec<Option<ListingReport>> = chunk
                .par_iter()
                .map(|path| {
                    if cancel.load(Ordering::Relaxed) {
                        return None;
                    }
                    let report = self.scan_file(folder, path);
                    progress(counter.finish(matches!(report.outcome, Outcome::Failed { .. })));
                    Some(report)
                })
                .collect();
            summary.cancelled |= reports.iter().any(Option::is_none);
            for report in reports.into_iter().flatten() {
                record(report, &mut summary)?;
            }
        }
        summary.elapsed = counter.snapshot().elapsed;
        Ok(summary)
    }

    /// Fingerprints and searches one file.
    pub fn scan_file(&self, folder: &Path, path: &Path) -> ListingReport {
        let query = relative_path(folder, path);
        match self.fingerprinter.fingerprint_path(path) {
            Err(error) => failed(query, &error),
            Ok(listing) => {
                let hits = self
                    .index
                    .search(&listing, &self.options.search)
                    .into_iter()
                    .map(|ranked| {
                        let reference = &self.index.references()[ranked.index];
                        Hit {
                            reference: reference.path.clone(),
                            reference_id: reference.id,
                            metadata: reference.metadata.clone(),
                            score: ranked.similarity.score,
                            verdict: ranked.similarity.verdict,
                            evidence: ranked.similarity.evidence,
                        }
                    })
                    .collect();
                ListingReport { query, outcome: Outcome::Searched { hits } }
            }
        }
    }
}

fn failed(query: String, error: &Error) -> ListingReport {
    ListingReport {
        query,
        outcome: Outcome::Failed { error_kind: error.code().to_string(), error: error.kind().to_string() },
    }
}
