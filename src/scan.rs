//! Scanning listing photos against a reference index: a folder ([`Scanner::scan`]) or any sequence of files and
//! in-memory photos ([`Scanner::scan_files`]).
//!
//! Every photo ends in the output as a [`ListingReport`]: its best references with scores, verdicts and evidence,
//! or the reason it failed. What a folder walk skips (not photos, hidden, pipes and devices; see [`crate::walk`])
//! has no report and is listed in [`ScanSummary::skipped`]. Inputs are fingerprinted in parallel, a chunk at a time
//! ([`ScanOptions::chunk_size`]), and each chunk's reports go to the caller's sink in input order as soon as the
//! chunk is done, so a report written as the scan goes keeps everything finished before an interruption.
//! Cancelling (through an `AtomicBool`, checked before each file and between sink calls) stops the scan early;
//! what was delivered is then always a prefix of the inputs, in order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::calibration::Calibration;
use crate::decode::Limits;
use crate::error::{Error, ErrorCode, ErrorKind, Result};
use crate::fingerprint::{FingerprintConfig, Fingerprinter};
use crate::index::{ReferenceIndex, SearchOptions, relative_path};
use crate::progress::{Counter, Progress};
use crate::similarity::{Evidence, Thresholds, Verdict};
use crate::walk::{Skipped, WalkOptions};

/// How to scan. Build with [`Default`] and the `with_` setters:
///
/// ```
/// use knockoff::{ScanOptions, SearchOptions};
///
/// let options = ScanOptions::default().with_chunk_size(8).with_search(SearchOptions::default().with_top_k(2));
/// assert_eq!(options.chunk_size, 8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScanOptions {
    /// How references are searched and ranked for each listing (`top_k` is the number of references reported per
    /// listing).
    pub search: SearchOptions,
    /// Files fingerprinted in parallel between two deliveries to the sink. Larger keeps more cores busy; smaller
    /// streams sooner and loses less to an interruption. Default 16 (at least 1 is used).
    #[serde(default = "default_chunk_size")]
    pub chunk_size: usize,
    /// Which files under a scanned folder are read (by default photos only; see [`WalkOptions`]).
    #[serde(default)]
    pub walk: WalkOptions,
    /// The limits listings are decoded under (default [`Limits::default`]). They belong to the machine that scans
    /// (its memory, what it will open), not to the catalog: the index's own limits, which anyone who wrote the
    /// index file chose, are for its references and never raise these. Everything else of the index's
    /// configuration (working sizes, keypoint budgets) is used as it is, so that listings stay comparable.
    #[serde(default)]
    pub limits: Limits,
}

fn default_chunk_size() -> usize {
    16
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            search: SearchOptions::default(),
            chunk_size: default_chunk_size(),
            walk: WalkOptions::default(),
            limits: Limits::default(),
        }
    }
}

crate::setters!(ScanOptions {
    /// Sets [`ScanOptions::search`].
    search: SearchOptions => with_search,
    /// Sets [`ScanOptions::chunk_size`].
    chunk_size: usize => with_chunk_size,
    /// Sets [`ScanOptions::walk`].
    walk: WalkOptions => with_walk,
    /// Sets [`ScanOptions::limits`].
    limits: Limits => with_limits,
});

/// One input of [`Scanner::scan_files`]: a file, or a photo already in memory (an upload, a download).
#[derive(Clone, Debug, PartialEq)]
pub enum ScanInput {
    /// A photo file; its report's `query` is the path as given.
    Path(PathBuf),
    /// A photo's bytes, with the name its report's `query` carries.
    Bytes {
        /// The name for reports (a URL, a listing id ...).
        name: String,
        /// The file's bytes.
        bytes: Vec<u8>,
    },
}

impl From<PathBuf> for ScanInput {
    fn from(path: PathBuf) -> Self {
        ScanInput::Path(path)
    }
}

impl From<&Path> for ScanInput {
    fn from(path: &Path) -> Self {
        ScanInput::Path(path.to_path_buf())
    }
}

impl From<&str> for ScanInput {
    fn from(path: &str) -> Self {
        ScanInput::Path(PathBuf::from(path))
    }
}

impl<N: Into<String>> From<(N, Vec<u8>)> for ScanInput {
    fn from((name, bytes): (N, Vec<u8>)) -> Self {
        ScanInput::Bytes { name: name.into(), bytes }
    }
}

/// One reference found for a listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The reference's path relative to the catalog folder.
    pub reference: String,
    /// The reference's id in the index.
    pub reference_id: u64,
    /// The reference's metadata (SKU, brand ...).
    pub metadata: BTreeMap<String, String>,
    /// The SHA-256 of the authentic photo's file as it was indexed (64 hex digits, as `sha256sum` prints it; see
    /// [`SourceFile`](crate::SourceFile)), where the index records it: what a takedown request can cite, and what
    /// the HTML report checks before it shows the catalog photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_sha256: Option<String>,
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
        /// What kind of failure (serialised as e.g. `"decode"`).
        error_kind: ErrorCode,
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
    /// The best verdict among the hits (`NoMatch` for failures, see [`ListingReport::failure`], and listings with
    /// no hit).
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

    /// The hits, best first (none for failures).
    pub fn hits(&self) -> &[Hit] {
        match &self.outcome {
            Outcome::Searched { hits } => hits,
            Outcome::Failed { .. } => &[],
        }
    }

    /// Why the listing could not be fingerprinted or searched: the kind of failure and the error in words (`None`
    /// when it was searched). A failed listing's [`ListingReport::verdict`] is `NoMatch`; this tells it from one
    /// that matched nothing.
    pub fn failure(&self) -> Option<(ErrorCode, &str)> {
        match &self.outcome {
            Outcome::Searched { .. } => None,
            Outcome::Failed { error_kind, error } => Some((*error_kind, error)),
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
    /// Of the failures, listings whose search could not read the index file's stored features back (a damaged or
    /// truncated index: rows of kind `index_corrupt` or `index_truncated`). The index's fault, not the listing's: a
    /// scan with any is incomplete, and the `scan` example exits with status 1 after writing its report.
    #[serde(default)]
    pub index_failures: usize,
    /// Listings whose best verdict is `match`.
    pub matches: usize,
    /// Listings whose best verdict is `review`.
    pub reviews: usize,
    /// Whether the scan was cancelled before the end.
    pub cancelled: bool,
    /// Wall time.
    pub elapsed: Duration,
    /// The verdict thresholds the scan used (by default those for the catalog's size, see [`Thresholds::for_catalog`]).
    #[serde(default)]
    pub thresholds: Thresholds,
    /// The predicted share of listings that get a false `match` under those thresholds against this catalog (see
    /// [`crate::calibration`]): at most about 0.001 with the catalog's own thresholds, whatever its size (less in
    /// small catalogs, where the pairwise defaults are stricter than the rate needs).
    #[serde(default)]
    pub false_match_rate: f64,
}

impl ScanSummary {
    /// Files read per second (fingerprinted or failed; skipped paths do not count).
    pub fn rate(&self) -> f64 {
        self.scanned as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// How many of this scan's `match` verdicts are expected to be false: the predicted rate times the listings
    /// searched.
    pub fn expected_false_matches(&self) -> f64 {
        self.false_match_rate * self.scanned.saturating_sub(self.failures) as f64
    }
}

/// Scans listing photos against a [`ReferenceIndex`], with the fingerprint configuration the index was built
/// with (so listings and references are always comparable). It shares the index through an [`Arc`], so a service
/// can keep the scanner (and the index) in one struct.
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, ScanOptions, Scanner, Verdict};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
/// let references = Fingerprinter::for_references(FingerprintConfig::default());
/// let (index, _) = ReferenceIndex::build(format!("{dir}/refs"), &references, |_| {});
/// let scanner = Scanner::new(index, ScanOptions::default());
/// let mut reports = Vec::new();
/// let summary = scanner.scan(format!("{dir}/listings"), &AtomicBool::new(false), |_| {}, |r| {
///     reports.push(r.clone());
///     Ok(())
/// })?;
/// assert_eq!(summary.scanned, reports.len());
/// let mirrored = reports.iter().find(|r| r.query == "coffee-mirrored.jpg").unwrap();
/// assert_eq!(mirrored.verdict(), Verdict::Match);
/// # Ok::<(), knockoff::Error>(())
/// ```
#[derive(Debug)]
pub struct Scanner {
    index: Arc<ReferenceIndex>,
    fingerprinter: Fingerprinter,
    options: ScanOptions,
}

impl Scanner {
    /// A scanner over `index` (a [`ReferenceIndex`], moved in, or an `Arc` of one, shared).
    pub fn new(index: impl Into<Arc<ReferenceIndex>>, options: ScanOptions) -> Self {
        let index = index.into();
        let config = FingerprintConfig { limits: options.limits, ..*index.config() };
        Scanner { fingerprinter: Fingerprinter::for_listings(config), index, options }
    }

    /// The index scanned against.
    pub fn index(&self) -> &Arc<ReferenceIndex> {
        &self.index
    }

    /// The index back, to change it (add or remove references) and scan on with a new scanner: the index itself
    /// when this scanner held the only reference to it (`Arc::try_unwrap`), else the shared `Arc` as an error.
    ///
    /// ```
    /// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, ScanOptions, Scanner};
    ///
    /// let fingerprinter = Fingerprinter::for_references(FingerprintConfig::hashes_only());
    /// let (index, _) = ReferenceIndex::build(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs"), &fingerprinter, |_| {});
    /// let scanner = Scanner::new(index, ScanOptions::default());
    /// let mut index = scanner.into_index().expect("not shared");
    /// index.remove(0);
    /// let scanner = Scanner::new(index, ScanOptions::default());
    /// assert_eq!(scanner.index().len(), 5);
    /// ```
    ///
    /// # Errors
    /// The `Arc` itself when it is shared (another scanner, or a clone the caller kept).
    pub fn into_index(self) -> std::result::Result<ReferenceIndex, Arc<ReferenceIndex>> {
        Arc::try_unwrap(self.index)
    }

    /// The options.
    pub fn options(&self) -> &ScanOptions {
        &self.options
    }

    /// The verdict thresholds the scans use: [`SearchOptions::thresholds`](crate::SearchOptions::thresholds) when
    /// set, otherwise those for the catalog's size.
    pub fn thresholds(&self) -> Thresholds {
        self.index.thresholds_for(&self.options.search)
    }

    /// The predicted share of listings that get a false `match` under [`Self::thresholds`] against this catalog.
    pub fn false_match_rate(&self) -> f64 {
        Calibration::default().false_match_rate(&self.thresholds(), self.index.catalog_len())
    }

    /// Scans every photo under `folder` (recursively, symlink-loop safe; which files, see [`ScanOptions::walk`]; the
    /// rest are listed in [`ScanSummary::skipped`]): first a failed report for each entry the walk could not read
    /// (a dangling link, a link loop, a folder without permission), then the files in path order; each report's
    /// `query` is the path relative to `folder`. A link to a folder is followed wherever it points (a link to `/`
    /// walks the whole machine), each folder once. `progress` is called from worker threads after each file;
    /// `sink` receives each listing's report in that order, chunk by chunk, and should write and flush it. Setting
    /// `cancel` stops the scan before the next file (files already finished are still delivered) or, when set while
    /// reports are being delivered (e.g. by the sink), before the next sink call; what reached the sink is a prefix
    /// of that order.
    ///
    /// # Errors
    /// [`ErrorKind::NotAFolder`] (with the path) if `folder` does not exist or is not a folder,
    /// [`ErrorKind::InvalidConfig`] for search options that [`SearchOptions::validate`] refuses (before any file
    /// is read), and the sink's own I/O errors ([`ErrorKind::Write`]: the sink writes); bad files are reports, not
    /// errors.
    pub fn scan(
        &self,
        folder: impl AsRef<Path>,
        cancel: &AtomicBool,
        progress: impl Fn(Progress) + Sync,
        sink: impl FnMut(&ListingReport) -> std::io::Result<()>,
    ) -> Result<ScanSummary> {
        let folder = folder.as_ref();
        if !folder.is_dir() {
            return Err(Error::new(ErrorKind::NotAFolder).with_path(folder));
        }
        let walk = crate::walk::walk([folder], &self.options.walk);
        let failures = walk.failures.into_iter().map(|error| {
            let query = error.path().map(|p| relative_path(folder, p)).unwrap_or_default();
            failed(query, &error)
        });
        let inputs = walk.files.into_iter().map(|path| (relative_path(folder, &path), ScanInput::Path(path)));
        let mut summary = self.run(failures.collect(), inputs.collect(), cancel, progress, sink)?;
        summary.skipped = walk.skipped;
        Ok(summary)
    }

    /// Scans `inputs` (paths, or photos in memory: anything that converts into a [`ScanInput`]) in the order
    /// given, as [`Scanner::scan`] does a folder. A path's report has the path as given as its `query`; bytes'
    /// reports have their name.
    ///
    /// ```
    /// use std::sync::atomic::AtomicBool;
    /// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, ScanInput, ScanOptions, Scanner, Verdict};
    ///
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    /// let references = Fingerprinter::for_references(FingerprintConfig::default());
    /// let (index, _) = ReferenceIndex::build(format!("{dir}/refs"), &references, |_| {});
    /// let scanner = Scanner::new(index, ScanOptions::default());
    /// let upload = std::fs::read(format!("{dir}/listings/rocket-collage.jpg"))?;
    /// let inputs = vec![ScanInput::from(("upload-1", upload)), ScanInput::from(format!("{dir}/listings/coffee.webp").as_str())];
    /// let mut verdicts = Vec::new();
    /// scanner.scan_files(inputs, &AtomicBool::new(false), |_| {}, |r| {
    ///     verdicts.push((r.query.clone(), r.verdict()));
    ///     Ok(())
    /// })?;
    /// assert_eq!(verdicts[0], ("upload-1".to_string(), Verdict::Match));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] for search options that [`SearchOptions::validate`] refuses (before any input
    /// is read), and the sink's own I/O errors ([`ErrorKind::Write`]: the sink writes).
    pub fn scan_files<I>(
        &self,
        inputs: impl IntoIterator<Item = I>,
        cancel: &AtomicBool,
        progress: impl Fn(Progress) + Sync,
        sink: impl FnMut(&ListingReport) -> std::io::Result<()>,
    ) -> Result<ScanSummary>
    where
        I: Into<ScanInput>,
    {
        let inputs = inputs
            .into_iter()
            .map(|input| {
                let input = input.into();
                let query = match &input {
                    ScanInput::Path(path) => relative_path(Path::new(""), path),
                    ScanInput::Bytes { name, .. } => name.clone(),
                };
                (query, input)
            })
            .collect();
        self.run(Vec::new(), inputs, cancel, progress, sink)
    }

    /// The scan itself: `failures` (found before fingerprinting) first, then `inputs` in chunks.
    fn run(
        &self,
        failures: Vec<ListingReport>,
        inputs: Vec<(String, ScanInput)>,
        cancel: &AtomicBool,
        progress: impl Fn(Progress) + Sync,
        mut sink: impl FnMut(&ListingReport) -> std::io::Result<()>,
    ) -> Result<ScanSummary> {
        // Options a search would refuse would fail every listing alike: refused once, before anything is read.
        self.options.search.validate()?;
        let total = inputs.len() + failures.len();
        let counter = Counter::new(total);
        let mut summary = ScanSummary {
            files: total,
            thresholds: self.thresholds(),
            false_match_rate: self.false_match_rate(),
            ..ScanSummary::default()
        };
        let mut record = |report: ListingReport, summary: &mut ScanSummary| -> Result<()> {
            summary.scanned += 1;
            match (&report.outcome, report.verdict()) {
                (Outcome::Failed { error_kind, .. }, _) => {
                    summary.failures += 1;
                    if matches!(error_kind, ErrorCode::IndexCorrupt | ErrorCode::IndexTruncated) {
                        summary.index_failures += 1;
                    }
                }
                (_, Verdict::Match) => summary.matches += 1,
                (_, Verdict::Review) => summary.reviews += 1,
                _ => {}
            }
            sink(&report).map_err(|e| Error::new(ErrorKind::Write(e)))
        };
        let cancelled = || cancel.load(Ordering::Relaxed);
        let stop = |summary: &mut ScanSummary| {
            summary.cancelled = true;
            summary.elapsed = counter.snapshot().elapsed;
            Ok(summary.clone())
        };
        for report in failures {
            if cancelled() {
                return stop(&mut summary);
            }
            progress(counter.finish(true));
            record(report, &mut summary)?;
        }
        for chunk in inputs.chunks(self.options.chunk_size.max(1)) {
            if cancelled() {
                return stop(&mut summary);
            }
            let reports: Vec<Option<ListingReport>> = chunk
                .par_iter()
                .map(|(query, input)| {
                    if cancelled() {
                        return None;
                    }
                    let report = self.scan_input(query.clone(), input);
                    progress(counter.finish(matches!(report.outcome, Outcome::Failed { .. })));
                    Some(report)
                })
                .collect();
            // Only the prefix up to the first file skipped by a cancellation: what the sink sees stays a prefix of
            // the inputs, in order, whatever order the workers finished in. Files finished before a cancellation
            // during the chunk are kept; a cancellation while delivering (from the sink itself) stops at once.
            let cancelled_during_chunk = cancelled();
            for report in reports {
                let Some(report) = report else { return stop(&mut summary) };
                if !cancelled_during_chunk && cancelled() {
                    return stop(&mut summary);
                }
                record(report, &mut summary)?;
            }
            if cancelled_during_chunk {
                return stop(&mut summary);
            }
        }
        summary.elapsed = counter.snapshot().elapsed;
        Ok(summary)
    }

    fn scan_input(&self, query: String, input: &ScanInput) -> ListingReport {
        // The decoded pixels are kept for the search, which may take a closer look at a copy shown small in them
        // (`zoom`); they are dropped with it.
        let photo = match input {
            ScanInput::Path(path) => self.fingerprinter.fingerprint_path_with_photo(path),
            ScanInput::Bytes { bytes, .. } => self.fingerprinter.fingerprint_bytes_with_photo(bytes),
        };
        // A listing that cannot be read, or whose candidates' features cannot be read from the index file, is a
        // failure row: the scan goes on.
        let searched =
            photo.and_then(|(listing, photo)| self.index.search_photo(&listing, &photo, &self.options.search));
        match searched {
            Err(error) => failed(query, &error),
            Ok(ranked) => {
                let hits = ranked.into_iter().map(|ranked| self.index.hit(ranked)).collect();
                ListingReport { query, outcome: Outcome::Searched { hits } }
            }
        }
    }

    /// Fingerprints and searches one file; its report's `query` is `path` relative to `folder`.
    pub fn scan_file(&self, folder: &Path, path: &Path) -> ListingReport {
        self.scan_input(relative_path(folder, path), &ScanInput::Path(path.to_path_buf()))
    }
}

fn failed(query: String, error: &Error) -> ListingReport {
    ListingReport { query, outcome: Outcome::Failed { error_kind: error.code(), error: error.kind().to_string() } }
}
