//! The reference index: the authentic catalog's fingerprints, searchable and persistent.
//!
//! Build it once from the catalog folder ([`ReferenceIndex::build`]), save it ([`ReferenceIndex::save`]), and
//! open it for every scan ([`ReferenceIndex::open`]). Each reference has a stable id, its path relative to the
//! catalog folder, optional metadata (SKU, brand ...) and its [`Fingerprint`].

mod format;
mod inverted;
mod packed;
mod prefetch;
mod search;
mod source;
mod stored;
mod vocabulary;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use format::FORMAT_VERSION;
pub use inverted::{MAX_REFERENCES, WordIndex};
pub use search::{Candidate, SearchMethod};
pub use source::SourceFile;
pub(crate) use source::{hex, sha256};

use crate::decode::Photo;
use crate::error::{Error, ErrorKind, Result};
use crate::features::{Keypoint, LocalConfig, LocalFeatures};
use crate::fingerprint::{Fingerprint, FingerprintConfig, Fingerprinter};
use crate::hash::PdqHashes;
use crate::progress::{Counter, Progress};
use crate::similarity::{Ranked, Similarity, Thresholds, compare_with, hash_score};
use crate::zoom;
use search::MultiIndex;
use stored::{Span, StoredFeatures};

/// One authentic photo in the index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Stable id, never reused within an index.
    pub id: u64,
    /// Path relative to the catalog folder, with `/` separators.
    pub path: String,
    /// User metadata, e.g. `sku` → `A-1234`.
    pub metadata: BTreeMap<String, String>,
    /// The photo's fingerprint. In an index opened from a file, its local features stay in the file
    /// (`fingerprint.local` is `None`) until a search needs them: [`ReferenceIndex::fingerprint`] reads them,
    /// [`ReferenceIndex::load_features`] brings them all into memory.
    pub fingerprint: Fingerprint,
    /// The file the fingerprint was made from, as it was then (size, modification time, SHA-256): recorded by
    /// [`ReferenceIndex::build`] and [`ReferenceIndex::update`]; `None` for a reference given to
    /// [`ReferenceIndex::add`] or read from an index file older than format version 6 (the next `update` reads
    /// its file and records it).
    #[serde(default)]
    pub source: Option<SourceFile>,
}

/// How [`ReferenceIndex::search`] picks and ranks references for a listing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SearchOptions {
    /// How many references to return, best score first. Default 3 (a report then has up to three rows per listing;
    /// the `scan` example asks one unless given `--top`).
    pub top_k: usize,
    /// Catalogs up to this size are hash-scored in full (about 100 ns a reference) to pick candidates; larger ones
    /// take the PDQ candidates within `candidate_radius`. Default 20,000.
    pub exhaustive_up_to: usize,
    /// How many of the best hash-scored references are compared in full (local verification included) when their
    /// hash score shows some likeness (0.3), besides every one that reaches the review threshold by hashes alone
    /// and the best `top_k` in any case. Default 4.
    pub verify_top: usize,
    /// With local features, catalogs up to this size are verified against every reference (~1 ms a reference);
    /// larger ones verify the visual-word shortlist. Default 32.
    pub verify_all_up_to: usize,
    /// Size of the visual-word shortlist: the references whose descriptors the listing's own meet most often in
    /// the inverted file, turned, scaled and placed alike, verified even when their hashes are far (crops,
    /// collages, pasted copies). Default 20: on the catalog benchmark (5,099 references), the copies verification
    /// finds but the search left unverified went from 1.4% (10 deep) to 1.06%, and to 0.72% with the shortlist's
    /// third word per descriptor.
    pub shortlist: usize,
    /// PDQ distance (best dihedral variant) within which a reference is a candidate in large catalogs. A reference
    /// farther than 47 bits cannot reach the default review score. Default 47.
    pub candidate_radius: u32,
    /// Candidate search method. Default [`SearchMethod::Auto`].
    pub method: SearchMethod,
    /// Verdict thresholds; `None` (the default): the index's own, [`ReferenceIndex::thresholds`], which follow
    /// the catalog's size so that false verdicts per listing stay rare however large it grows.
    pub thresholds: Option<Thresholds>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            top_k: 3,
            exhaustive_up_to: 20_000,
            verify_top: 4,
            verify_all_up_to: 32,
            shortlist: 20,
            candidate_radius: 47,
            method: SearchMethod::Auto,
            thresholds: None,
        }
    }
}

crate::setters!(SearchOptions {
    /// Sets [`SearchOptions::top_k`].
    top_k: usize => with_top_k,
    /// Sets [`SearchOptions::exhaustive_up_to`].
    exhaustive_up_to: usize => with_exhaustive_up_to,
    /// Sets [`SearchOptions::verify_top`].
    verify_top: usize => with_verify_top,
    /// Sets [`SearchOptions::verify_all_up_to`].
    verify_all_up_to: usize => with_verify_all_up_to,
    /// Sets [`SearchOptions::shortlist`].
    shortlist: usize => with_shortlist,
    /// Sets [`SearchOptions::candidate_radius`].
    candidate_radius: u32 => with_candidate_radius,
    /// Sets [`SearchOptions::method`].
    method: SearchMethod => with_method,
});

impl SearchOptions {
    /// Sets [`SearchOptions::thresholds`]: these, whatever the catalog's size.
    #[must_use]
    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = Some(thresholds);
        self
    }

    /// Checks the options a search would otherwise follow to a useless answer: `top_k` of 0 (no result at all)
    /// and thresholds out of range ([`Thresholds::validate`]).
    ///
    /// ```
    /// use knockoff::{SearchOptions, Thresholds};
    ///
    /// assert!(SearchOptions::default().validate().is_ok());
    /// assert!(SearchOptions::default().with_top_k(0).validate().is_err());
    /// assert!(SearchOptions::default().with_thresholds(Thresholds::new(0.3, 0.9)).validate().is_err());
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] naming the option. [`ReferenceIndex::search`] and the scans check it first.
    pub fn validate(&self) -> Result<()> {
        if self.top_k == 0 {
            let message = "search options: top_k is 0 (a search would return nothing)".to_string();
            return Err(Error::new(ErrorKind::InvalidConfig(message)));
        }
        self.thresholds.as_ref().map_or(Ok(()), Thresholds::validate)
    }
}

/// No metadata, for [`ReferenceIndex::add`]: `index.add(path, fingerprint, NO_METADATA)`.
pub const NO_METADATA: [(&str, &str); 0] = [];

/// Hash score under which a reference is no hash candidate beyond the `top_k` (unrelated photos score 0-0.2).
const HASH_CANDIDATE_FLOOR: f32 = 0.3;

/// Which part of a sharded catalog an index holds ([`ReferenceIndex::split`]).
///
/// A catalog too large for one machine's memory is split into `count` indexes over disjoint sets of its
/// references; every listing is searched against each and the best results kept (references keep the ids they
/// have in the whole catalog, so results from different shards sort and deduplicate as from one index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard's number, from 1.
    pub number: u32,
    /// How many shards the catalog was split into.
    pub count: u32,
    /// References in the whole catalog (all shards together).
    pub catalog_references: u64,
}

/// At most this many shards: more would leave each a handful of references at any catalog size an index holds.
pub const MAX_SHARDS: u32 = 4096;

/// The files a build could not fingerprint; they are left out of the index.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BuildReport {
    /// One error per file (each carries its path).
    pub failures: Vec<Error>,
    /// Paths under the catalog that were not read (not photos, hidden, pipes and devices), with the reason.
    pub skipped: Vec<crate::walk::Skipped>,
}

/// What [`ReferenceIndex::update`] changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UpdateReport {
    /// The photos added, with their new ids, in path order.
    pub added: Vec<(u64, String)>,
    /// The references whose photo was replaced under their name, fingerprinted again (ids and metadata kept), with
    /// their ids, in index order.
    pub replaced: Vec<(u64, String)>,
    /// The references whose photo was moved (no longer at its path, found at another with the same SHA-256): id,
    /// old path, new path, in new-path order. They keep their id, fingerprint and metadata.
    pub moved: Vec<(u64, String, String)>,
    /// The paths of the references removed (their files are gone).
    pub removed: Vec<String>,
    /// References checked and kept as they were: the same size and time as recorded, or the same SHA-256.
    pub unchanged: usize,
    /// Of the unchanged, those whose file was read because its size or time changed (a copy, a `touch`) or that had
    /// no record yet (from `add`, or an index file before format version 6): their record is now the file's.
    pub touched: usize,
    /// References kept without being checked: their file could not be read this time, or it sits under an entry the
    /// walk could not read or left out (each listed in `failures` or `skipped`).
    pub unchecked: usize,
    /// One error per entry the walk could not read (a folder without permission, a dangling link; the references
    /// under it are kept), per held photo that could not be read again (kept) and per new photo that could not be
    /// fingerprinted (left out). Each carries its path.
    pub failures: Vec<Error>,
    /// Paths under the catalog that were not read (not photos, hidden, pipes and devices), with the reason.
    pub skipped: Vec<crate::walk::Skipped>,
}

impl UpdateReport {
    /// Whether the update left the index's references as they were: nothing added, replaced, moved or removed,
    /// and no file's record touched (the catalog folder it records aside), so that saving it would write the same
    /// references again.
    pub fn changed_nothing(&self) -> bool {
        self.added.is_empty()
            && self.replaced.is_empty()
            && self.moved.is_empty()
            && self.removed.is_empty()
            && self.touched == 0
    }
}

/// A catalog file [`ReferenceIndex::update`] read.
struct Seen {
    /// Its record now.
    source: SourceFile,
    /// The photo recorded at its path (the same bytes, or for a reference without a record the same fingerprint).
    same: bool,
    /// Its fingerprint, made when the index does not know its bytes.
    fingerprint: Option<Box<Fingerprint>>,
}

/// A file [`ReferenceIndex::update`] read, or why not, with whether its bytes were read (a photo that does not
/// decode) or not (a file that cannot be read may hold any photo).
type SeenOrNot = std::result::Result<Seen, (Error, bool)>;

/// Where a reference stands in [`ReferenceIndex::update`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Its photo is at its path (checked by size and time, or read).
    InPlace,
    /// Not (yet) found: moved, replaced or gone.
    Displaced,
    /// Its photo found at another path.
    Moved,
    /// Another photo at its path.
    Replaced,
    /// Not checked: its file could not be read, or sits under an entry the walk could not read or left out.
    Unchecked,
    /// Its file could not be read or decoded this time: kept unless its photo is found elsewhere.
    Unreadable,
}

/// The order in which [`ReferenceIndex::update`] pairs references with the paths their bytes moved to.
#[derive(Clone, Copy)]
enum Pairing {
    SameName,
    PathGone,
    Any,
}

/// The authentic catalog: fingerprints with ids, paths and metadata, searchable by PDQ and by score.
///
/// ```
/// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, SearchOptions, Verdict};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
/// let fingerprinter = Fingerprinter::for_references(FingerprintConfig::default());
/// let (index, report) = ReferenceIndex::build(format!("{dir}/refs"), &fingerprinter, |_| {});
/// assert!(report.failures.is_empty());
///
/// // Listings get their own fingerprinter (a larger keypoint budget: a copy may fill only part of a listing);
/// // a search refuses a listing fingerprinted as a reference.
/// let listings = Fingerprinter::for_listings(*index.config());
/// let listing = listings.fingerprint_path(format!("{dir}/listings/rocket-recompressed.jpg"))?;
/// let hits = index.search(&listing, &SearchOptions::default())?;
/// assert!(index.search(&fingerprinter.fingerprint_path(format!("{dir}/listings/rocket-recompressed.jpg"))?, &SearchOptions::default()).is_err());
/// assert_eq!(index.references()[hits[0].index].path, "rocket.jpg");
/// assert_eq!(hits[0].similarity.verdict, Verdict::Match);
/// # Ok::<(), knockoff::Error>(())
/// ```
#[derive(Debug)]
pub struct ReferenceIndex {
    config: FingerprintConfig,
    /// The folder the references' paths are relative to, when known.
    catalog_root: Option<std::path::PathBuf>,
    references: Vec<Reference>,
    next_id: u64,
    /// Each reference's plain PDQ hash, contiguous for fast scans.
    hashes: Vec<[u64; 4]>,
    /// Multi-index tables, built on first use and dropped by any change.
    tables: OnceLock<MultiIndex>,
    /// The visual vocabulary and inverted file for local features: trained from the references' descriptors on
    /// first use, extended by `add` without retraining, re-filed with the same vocabulary after `remove`
    /// ([`ReferenceIndex::retrain_vocabulary`] trains afresh).
    words: OnceLock<WordIndex>,
    /// Which part of a sharded catalog this is, if it is one.
    shard: Option<Shard>,
    /// The file an opened index reads its references' local features from, and each reference's block there
    /// (`None` for a reference whose features are in memory, or that has none). Shared by the shards of a split.
    stored: Option<Arc<StoredFeatures>>,
    spans: Vec<Option<Span>>,
    /// A key of each reference's path ([`path_key`]), for [`ReferenceIndex::add`] to refuse a path it holds
    /// without reading every path: built by the first `add`, kept by later ones, dropped by `remove`. Scans never
    /// build it.
    path_keys: Option<HashSet<u64>>,
}

impl ReferenceIndex {
    /// An empty index for fingerprints made with `config`.
    pub fn new(config: FingerprintConfig) -> Self {
        ReferenceIndex {
            config,
            catalog_root: None,
            references: Vec::new(),
            next_id: 0,
            hashes: Vec::new(),
            tables: OnceLock::new(),
            words: OnceLock::new(),
            shard: None,
            stored: None,
            spans: Vec::new(),
            path_keys: None,
        }
    }

    /// Fingerprints every file under `catalog` in parallel (recursively) and indexes those that are photos.
    /// `progress` is called from worker threads after each file. Files that fail are listed in the report, never
    /// fatal. References are in path order, ids from 0. A `catalog` that does not exist is one of those failures
    /// (an empty index whose report names it): check `BuildReport::failures`, or the path, before saving.
    pub fn build(
        catalog: impl AsRef<Path>,
        fingerprinter: &Fingerprinter,
        progress: impl Fn(Progress) + Sync,
    ) -> (Self, BuildReport) {
        let catalog = catalog.as_ref();
        let walk = crate::walk::walk([catalog], &crate::walk::WalkOptions::default());
        let (files, mut failures) = (walk.files, walk.failures);
        let catalog = catalog_folder(catalog);
        let mut index = ReferenceIndex::new(*fingerprinter.config());
        index.catalog_root = Some(catalog.canonicalize().unwrap_or_else(|_| catalog.to_path_buf()));
        for (path, result) in fingerprint_files(catalog, &files, fingerprinter, progress) {
            match result {
                Ok((fingerprint, source)) => {
                    index.insert(path, fingerprint, BTreeMap::new(), Some(source));
                }
                Err(e) => failures.push(e),
            }
        }
        (index, BuildReport { failures, skipped: walk.skipped })
    }

    /// Brings the index up to date with the catalog folder `catalog` (the one it was built from, or where it is
    /// now; the index then records it as its catalog folder): photos not yet in the index are fingerprinted (in
    /// parallel, with this index's configuration) and added with new ids, photos replaced under their name are
    /// fingerprinted again and keep their id and metadata, photos moved (or renamed) keep their reference under
    /// the new path, references whose file is gone are removed, and every other reference is kept as it is. What a catalog that grows and changes needs, where a rebuild would
    /// fingerprint everything again and give every photo a new id. Point it at the right folder: every reference
    /// whose path is not found under `catalog` is removed.
    ///
    /// References are matched to files by path. A reference's file is read again only when its size or
    /// modification time differ from its [`SourceFile`] record, and fingerprinted again only when its SHA-256
    /// differs too (a catalog copied without its times is read once, not fingerprinted again). A reference without
    /// a record (given to [`ReferenceIndex::add`], or from an index file older than format version 6) has its file
    /// read and fingerprinted, and is replaced only when the fingerprint differs; either way its record is kept
    /// from then on. Photos follow their bytes, not their paths: where a reference's photo is no longer at its
    /// path (gone, or other bytes there) and its recorded SHA-256 is found at a path whose bytes are new (a new
    /// path, or one whose photo changed), that reference moved there: its path changes, nothing else (not
    /// fingerprinted again). So a rename, a move into a folder, a photo moved onto the name of one that left, or
    /// two names swapped keep each photo's id and metadata; so does a reference whose file cannot be read this time
    /// when its bytes are found elsewhere. Among references with the same bytes, those that kept their file name
    /// pair first, then those whose path is gone, the rest in index order. New bytes at a path whose reference did not move are a
    /// replacement (fingerprinted again, id kept); new bytes anywhere else are a new reference (bytes the index
    /// already holds take that reference's fingerprint rather than being decoded again). A reference whose file
    /// cannot be read or decoded this time, or that sits under an entry the walk cannot read or leaves out (a
    /// folder without permission, the whole catalog, a photo's file now a pipe or no longer a photo by its name
    /// and first bytes), is kept as it was and counted as unchecked, and the failure or skip listed; so is a
    /// reference whose photo is nowhere while some file or folder of the catalog could not be read (it may be
    /// there; a dangling link holds none), unless another reference moved to its path. `progress` counts the files read. New words come from the vocabulary in hand (see
    /// [`ReferenceIndex::retrain_vocabulary`] for when a retrain pays off); the references gone are removed in one
    /// pass ([`ReferenceIndex::remove_many`]) and the replaced ones filed again in one ([`WordIndex::refile`]).
    ///
    /// ```
    /// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex};
    ///
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    /// let (mut index, _) =
    ///     ReferenceIndex::build(format!("{dir}/refs"), &Fingerprinter::for_references(FingerprintConfig::default()), |_| {});
    /// let coffee = index.by_path("coffee.jpg").map(|r| r.id);
    /// let report = index.update(format!("{dir}/refs"), |_| {})?;
    /// assert_eq!((report.added.len(), report.replaced.len(), report.removed.len(), report.unchanged), (0, 0, 0, 6));
    /// assert_eq!(index.by_path("coffee.jpg").map(|r| r.id), coffee);
    /// # Ok::<(), knockoff::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] for a shard (update the whole index and split it again);
    /// [`ErrorKind::NotAFolder`] when `catalog` is not an existing folder (a single photo would make every other
    /// reference look gone; nothing is changed). Files that cannot be read are listed in the report, never fatal.
    pub fn update(&mut self, catalog: impl AsRef<Path>, progress: impl Fn(Progress) + Sync) -> Result<UpdateReport> {
        if self.shard.is_some() {
            let message = "a shard cannot be updated on its own: update the whole index and split it again";
            return Err(Error::new(ErrorKind::InvalidConfig(message.into())));
        }
        let catalog = catalog.as_ref();
        if !catalog.is_dir() {
            return Err(Error::new(ErrorKind::NotAFolder).with_path(catalog));
        }
        let walk = crate::walk::walk([catalog], &crate::walk::WalkOptions::default());
        let (files, failures) = (walk.files, walk.failures);
        let names: Vec<String> = files.iter().map(|f| relative_path(catalog, f)).collect();
        let found: std::collections::HashMap<&str, usize> =
            names.iter().enumerate().map(|(file, name)| (name.as_str(), file)).collect();
        // Bytes that could not be read may be a photo that moved: while there are any (a folder the walk could not
        // read, a file that could not be read; a dangling link holds none), no reference is removed for being
        // nowhere.
        let dangling = |path: &Path| {
            std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()) && std::fs::metadata(path).is_err()
        };
        let mut bytes_unread = failures.iter().any(|e| e.path().is_none_or(|p| !dangling(p)));
        // What the walk could not read (a file, a folder and all under it, the catalog itself: "") or left out (a
        // photo's file that is now a pipe, or no longer looks like a photo) may be back next time: the references
        // there are kept.
        let unreadable: HashSet<String> = failures
            .iter()
            .filter_map(|e| e.path())
            .chain(walk.skipped.iter().map(|s| s.path.as_path()))
            .map(|p| relative_path(catalog, p))
            .collect();
        // The path itself, each folder above it, or the catalog (""): a lookup a level, however many were left out.
        let under = |path: &str| {
            unreadable.contains("")
                || unreadable.contains(path)
                || path.match_indices('/').any(|(at, _)| unreadable.contains(&path[..at]))
        };
        let n = self.len();
        // Each reference: where it stands so far.
        let mut state = vec![Standing::Displaced; n];
        for (position, r) in self.references.iter().enumerate() {
            if !found.contains_key(r.path.as_str()) && under(&r.path) {
                state[position] = Standing::Unchecked;
            }
        }
        // What to read: every new photo, and every held one whose file no longer has the size and time recorded.
        // The reference each file's path holds, if any: in place until read otherwise.
        let mut at_path: Vec<Option<usize>> = vec![None; files.len()];
        for (position, r) in self.references.iter().enumerate() {
            if let Some(&file) = found.get(r.path.as_str()) {
                at_path[file] = Some(position);
                state[position] = Standing::InPlace;
            }
        }
        let to_read: Vec<(usize, Option<usize>)> = at_path
            .par_iter()
            .enumerate()
            .filter(|&(file, &position)| {
                position.is_none_or(|p| !self.references[p].source.is_some_and(|s| s.stamp_matches(&files[file])))
            })
            .map(|(file, &position)| (file, position))
            .collect();
        // Bytes the index already knows (a photo moved, or a copy of one it holds) are not fingerprinted again.
        let mut known: std::collections::HashMap<[u8; 32], usize> = std::collections::HashMap::new();
        for (position, r) in self.references.iter().enumerate() {
            if let Some(source) = r.source {
                known.entry(source.sha256).or_insert(position);
            }
        }
        let fingerprinter = Fingerprinter::for_references(self.config);
        let counter = Counter::new(to_read.len());
        let read: Vec<(usize, Option<usize>, SeenOrNot)> = to_read
            .par_iter()
            .map(|&(file, position)| {
                let result = self.read_again(&files[file], position, &known, &fingerprinter);
                progress(counter.finish(result.is_err()));
                (file, position, result)
            })
            .collect();
        let mut report = UpdateReport { failures, skipped: walk.skipped, ..UpdateReport::default() };
        // Read: the same photo (touched), or new bytes at a path (open, to be taken by a reference that moved there,
        // by its own reference as a replacement, or by a new one).
        let mut open: Vec<(usize, Seen)> = Vec::new();
        for (file, position, result) in read {
            match result {
                Ok(seen) if seen.same => {
                    if let Some(position) = position {
                        self.references[position].source = Some(seen.source);
                        report.touched += 1;
                    }
                }
                Ok(seen) => {
                    if let Some(position) = position {
                        state[position] = Standing::Displaced;
                    }
                    open.push((file, seen));
                }
                Err((e, read)) => {
                    if let Some(position) = position {
                        state[position] = Standing::Unreadable;
                    }
                    bytes_unread |= !read;
                    report.failures.push(e);
                }
            }
        }
        // A reference whose photo is not at its path (displaced, or its file there unreadable now) and whose
        // recorded bytes are found at an open path moved there: those that kept their file name first, then those
        // whose path is gone (a reference whose path has other bytes can still take them as a replacement), then
        // the rest in index order.
        let mut donors: std::collections::HashMap<[u8; 32], Vec<usize>> = std::collections::HashMap::new();
        for (position, r) in self.references.iter().enumerate() {
            if matches!(state[position], Standing::Displaced | Standing::Unreadable)
                && let Some(source) = r.source
            {
                donors.entry(source.sha256).or_default().push(position);
            }
        }
        let mut taken = vec![false; open.len()];
        let mut moves = Vec::new();
        for pass in [Pairing::SameName, Pairing::PathGone, Pairing::Any] {
            for (k, (file, seen)) in open.iter().enumerate() {
                let Some(candidates) = donors.get_mut(&seen.source.sha256).filter(|_| !taken[k]) else { continue };
                let name = crate::walk::file_name(&names[*file]);
                let pick = candidates.iter().position(|&p| {
                    let path = &self.references[p].path;
                    match pass {
                        Pairing::SameName => crate::walk::file_name(path) == name,
                        Pairing::PathGone => !found.contains_key(path.as_str()),
                        Pairing::Any => true,
                    }
                });
                if let Some(pick) = pick {
                    let position = candidates.remove(pick);
                    state[position] = Standing::Moved;
                    taken[k] = true;
                    moves.push((position, *file, seen.source));
                }
            }
        }
        // What is left open: a replacement for the reference that held the path (if it did not move away), or a new
        // photo. Bytes the index knows take the fingerprint of the reference they were made from.
        let (mut replaced, mut added) = (Vec::new(), Vec::new());
        for (k, (file, seen)) in open.into_iter().enumerate() {
            if taken[k] {
                continue;
            }
            let fingerprint = match seen.fingerprint {
                Some(fingerprint) => Ok(*fingerprint),
                None => match known.get(&seen.source.sha256).map(|&p| self.fingerprint(p)) {
                    Some(Ok(fingerprint)) => Ok(fingerprint.into_owned()),
                    _ => fingerprint_file(&files[file], &fingerprinter).map(|(fingerprint, _)| fingerprint),
                },
            };
            let holder = at_path[file].filter(|&p| state[p] == Standing::Displaced);
            match (fingerprint, holder) {
                (Ok(fingerprint), Some(position)) => {
                    state[position] = Standing::Replaced;
                    replaced.push((position, fingerprint, seen.source));
                }
                (Ok(fingerprint), None) => added.push((file, fingerprint, seen.source)),
                (Err(e), holder) => {
                    if let Some(position) = holder {
                        state[position] = Standing::Unchecked;
                    }
                    report.failures.push(e);
                }
            }
        }
        // A reference whose photo is nowhere now is removed, unless bytes that could not be read may be it; but not
        // kept at a path another reference moved to.
        let moved_to: HashSet<usize> = moves.iter().map(|&(_, file, _)| file).collect();
        let mut gone = Vec::new();
        for (standing, r) in state.iter_mut().zip(&self.references) {
            match *standing {
                Standing::Unreadable => *standing = Standing::Unchecked,
                Standing::Displaced => {
                    let taken = found.get(r.path.as_str()).is_some_and(|file| moved_to.contains(file));
                    if bytes_unread && !taken {
                        *standing = Standing::Unchecked;
                    } else {
                        gone.push(r.id);
                    }
                }
                _ => {}
            }
        }
        for (position, file, source) in moves {
            let reference = &mut self.references[position];
            let from = std::mem::replace(&mut reference.path, names[file].clone());
            reference.source = Some(source);
            report.moved.push((reference.id, from, names[file].clone()));
        }
        if !report.moved.is_empty() {
            report.moved.sort_by(|a, b| a.2.cmp(&b.2));
            // Paths changed: rebuilt from them by the next `add`.
            self.path_keys = None;
        }
        report.replaced =
            replaced.iter().map(|(p, ..)| (self.references[*p].id, self.references[*p].path.clone())).collect();
        self.replace_at(replaced);
        report.unchecked = state.iter().filter(|&&s| s == Standing::Unchecked).count();
        report.unchanged = state.iter().filter(|&&s| s == Standing::InPlace).count();
        report.removed = self.remove_many(gone).into_iter().map(|r| r.path).collect();
        report.removed.sort();
        added.sort_by_key(|(file, ..)| *file);
        for (file, fingerprint, source) in added {
            let path = names[file].clone();
            let id = self.insert(path.clone(), fingerprint, BTreeMap::new(), Some(source));
            report.added.push((id, path));
        }
        self.catalog_root = Some(catalog.canonicalize().unwrap_or_else(|_| catalog.to_path_buf()));
        Ok(report)
    }

    /// Reads the catalog photo at `path` for [`ReferenceIndex::update`] (held at `position`, or new): is it the
    /// photo recorded there? If not, its fingerprint, unless the index knows its bytes (`known`: SHA-256 to a
    /// reference made from them, whose fingerprint it can take) or it turns out the same photo. A failure says
    /// whether the bytes were read.
    fn read_again(
        &self,
        path: &Path,
        position: Option<usize>,
        known: &std::collections::HashMap<[u8; 32], usize>,
        fingerprinter: &Fingerprinter,
    ) -> SeenOrNot {
        let (bytes, source) = source::read(path, self.config.limits.max_file_bytes).map_err(|e| (e, false))?;
        let recorded = position.map(|p| self.references[p].source);
        let seen = |same, fingerprint| Ok(Seen { source, same, fingerprint });
        if let Some(Some(old)) = recorded
            && old.sha256 == source.sha256
        {
            return seen(true, None);
        }
        if known.contains_key(&source.sha256) {
            return seen(false, None);
        }
        let fingerprint = fingerprinter.fingerprint_bytes(&bytes).map_err(|e| (e.with_path(path), true))?;
        // No record (added, or from an older file): the same photo if it fingerprints the same. Features that can no
        // longer be read from the index file count as a change, which replaces them.
        if let (Some(None), Some(position)) = (recorded, position)
            && self.fingerprint(position).is_ok_and(|old| *old == fingerprint)
        {
            return seen(true, None);
        }
        seen(false, Some(Box::new(fingerprint)))
    }

    /// Gives the references at the positions in `replaced` their new fingerprint and file record (ids, paths and
    /// metadata kept), filing their words again in one pass.
    fn replace_at(&mut self, replaced: Vec<(usize, Fingerprint, SourceFile)>) {
        if replaced.is_empty() {
            return;
        }
        let positions: Vec<usize> = replaced.iter().map(|(p, ..)| *p).collect();
        for (position, fingerprint, source) in replaced {
            self.hashes[position] = search::words_of(fingerprint.pdq.hash());
            self.spans[position] = None;
            let reference = &mut self.references[position];
            reference.fingerprint = fingerprint;
            reference.source = Some(source);
        }
        self.tables = OnceLock::new();
        if let Some(words) = self.words.get_mut() {
            let references = &self.references;
            let changed: Vec<(usize, Option<&LocalFeatures>)> =
                positions.iter().map(|&p| (p, references[p].fingerprint.local.as_deref())).collect();
            words.refile(&changed);
        }
    }

    /// The fingerprint configuration every reference was made with; listings must use the same, except for its
    /// [`limits`](FingerprintConfig::limits): those are what the references were decoded under, and an index file
    /// from elsewhere may carry any (within [`Limits::validate`](crate::Limits::validate)). A scan decodes
    /// listings under its own ([`ScanOptions::limits`](crate::ScanOptions::limits)); a program that fingerprints
    /// listings itself can do the same with [`FingerprintConfig::with_limits`].
    pub fn config(&self) -> &FingerprintConfig {
        &self.config
    }

    /// The catalog folder the reference paths are relative to (absolute when the index was built from a folder;
    /// `None` for an index assembled by hand). Reports use it to show the reference photos.
    pub fn catalog_root(&self) -> Option<&Path> {
        self.catalog_root.as_deref()
    }

    /// Sets the catalog folder, e.g. after moving the catalog. Saved indexes also record it relative to the index
    /// file, and [`ReferenceIndex::open`] prefers that when it exists.
    pub fn set_catalog_root(&mut self, root: Option<std::path::PathBuf>) {
        self.catalog_root = root;
    }

    /// References in the whole catalog: this index's, or all shards' together for a shard.
    pub fn catalog_len(&self) -> usize {
        self.shard.map_or(self.len(), |s| usize::try_from(s.catalog_references).unwrap_or(usize::MAX))
    }

    /// The verdict thresholds for this catalog's size ([`Thresholds::for_catalog`] of [`Self::catalog_len`]): what
    /// a search uses unless [`SearchOptions::thresholds`] says otherwise.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds::for_catalog(self.catalog_len())
    }

    /// The thresholds a search under `options` uses.
    pub fn thresholds_for(&self, options: &SearchOptions) -> Thresholds {
        options.thresholds.unwrap_or_else(|| self.thresholds())
    }

    /// Which part of a sharded catalog this index holds (`None` for a whole catalog).
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }

    /// Splits the catalog into `count` shards over disjoint sets of references, for catalogs larger than one
    /// machine's memory: reference `i` (in index order) goes to shard `i % count + 1`, so shards are within one
    /// reference of the same size whatever the catalog's order. References keep their ids, paths and metadata;
    /// each shard records its number, the shard count and the whole catalog's size ([`ReferenceIndex::shard`]).
    ///
    /// Search every listing against every shard and keep the best `top_k` hits by score (ties by reference id):
    /// scores are per pair, so a hit scores the same in its shard as in the whole index. A shard verifies at
    /// least the hash candidates the whole index would among its references (in a catalog up to
    /// [`SearchOptions::exhaustive_up_to`], the best few of each shard: a superset), and every shard files its
    /// references under the whole catalog's visual vocabulary, so each reference gets the same words.
    ///
    /// A reference added to a shard later gets an id past every id of the whole catalog, but shards do not know
    /// of each other's additions: grow the whole catalog and split it again rather than adding to several shards.
    ///
    /// ```
    /// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex};
    ///
    /// let fingerprinter = Fingerprinter::for_references(FingerprintConfig::hashes_only());
    /// let (index, _) = ReferenceIndex::build(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs"), &fingerprinter, |_| {});
    /// let shards = index.split(2)?;
    /// assert_eq!(shards.iter().map(|s| s.len()).sum::<usize>(), index.len());
    /// assert_eq!(shards[1].shard().map(|s| (s.number, s.count)), Some((2, 2)));
    /// # Ok::<(), knockoff::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] if `count` is 0, over [`MAX_SHARDS`], over the number of references, or if
    /// this index is itself a shard.
    pub fn split(&self, count: usize) -> Result<Vec<ReferenceIndex>> {
        let invalid = |m: String| Err(Error::new(ErrorKind::InvalidConfig(m)));
        if self.shard.is_some() {
            return invalid("this index is already a shard; split the whole catalog".into());
        }
        if count == 0 || count > MAX_SHARDS as usize || count > self.len() {
            return invalid(format!(
                "cannot split {} references into {count} shards (1 to {} shards, at most one per reference)",
                self.len(),
                MAX_SHARDS
            ));
        }
        let mut shards: Vec<ReferenceIndex> = (0..count)
            .map(|k| {
                let mut shard = ReferenceIndex::new(self.config);
                shard.catalog_root = self.catalog_root.clone();
                // Features left in this index's file stay there: the shards read them from it too.
                shard.stored = self.stored.clone();
                shard.shard =
                    Some(Shard { number: k as u32 + 1, count: count as u32, catalog_references: self.len() as u64 });
                shard
            })
            .collect();
        for (i, r) in self.references.iter().enumerate() {
            let shard = &mut shards[i % count];
            // `insert` hands out `next_id`: point it at the reference's id so it keeps it.
            shard.next_id = r.id;
            shard.insert(r.path.clone(), r.fingerprint.clone(), r.metadata.clone(), r.source);
            if let Some(slot) = shard.spans.last_mut() {
                *slot = self.spans[i];
            }
        }
        // One vocabulary for all: trained on the whole catalog, so a reference's words, and so its shortlist
        // score, are the same in its shard as in the whole (document frequencies are the shard's: a round-robin
        // sample of the catalog, so about the same share of every word). The whole catalog's postings are dealt
        // out as the references are, so no descriptor is read or filed again.
        let words = self.has_local_features().then(|| self.word_index());
        for (k, shard) in shards.iter_mut().enumerate() {
            // A reference added to the shard later gets an id past the whole catalog's.
            shard.next_id = self.next_id;
            if let Some(words) = words {
                let _ = shard.words.set(words.shard(k, count));
            }
        }
        Ok(shards)
    }

    /// The references, in index order (positions in search results refer to this slice).
    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    /// Number of references.
    pub fn len(&self) -> usize {
        self.references.len()
    }

    /// Whether the index has no references.
    pub fn is_empty(&self) -> bool {
        self.references.is_empty()
    }

    /// The position of the reference with `id`.
    pub fn position(&self, id: u64) -> Option<usize> {
        // Ids grow with position (removal keeps order), so binary search works.
        self.references.binary_search_by_key(&id, |r| r.id).ok()
    }

    /// The reference at `path` (relative to the catalog folder, `/` separators), if any.
    pub fn by_path(&self, path: &str) -> Option<&Reference> {
        self.references.iter().find(|r| r.path == path)
    }

    /// Adds a reference and returns its id. `metadata` is any sequence of key/value pairs of strings (an array of
    /// `(&str, &str)`, a map ...).
    ///
    /// `path` names the photo's file relative to the catalog folder (reports and the HTML report find the photo
    /// there). Copy the photo into the catalog under that path: [`ReferenceIndex::update`] makes the index follow
    /// the folder, and removes a reference whose file is nowhere in it (one added from another folder).
    ///
    /// ```
    /// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex};
    ///
    /// let config = FingerprintConfig::default();
    /// let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs/rocket.jpg");
    /// let mut index = ReferenceIndex::new(config);
    /// let id = index.add("rocket.jpg", Fingerprinter::for_references(config).fingerprint_path(photo)?, [("sku", "R-1")])?;
    /// assert_eq!(index.by_path("rocket.jpg").map(|r| (r.id, r.metadata["sku"].as_str())), Some((id, "R-1")));
    ///
    /// // A listing's fingerprint (larger keypoint budget) does not belong in an index.
    /// let listing = Fingerprinter::for_listings(config).fingerprint_path(photo)?;
    /// assert!(index.add("again.jpg", listing, [("sku", "R-1")]).is_err());
    /// # Ok::<(), knockoff::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::FingerprintMismatch`] when the fingerprint cannot have been made with this index's
    /// configuration: local features where the index has none or the reverse, another keypoint budget
    /// ([`Fingerprint::keypoint_budget`]: a listing's fingerprint), or more keypoints than the reference budget
    /// allows. Settings a fingerprint does not record (full-size decoding, the pyramid's levels) are not checked:
    /// fingerprint references with `Fingerprinter::for_references(*index.config())`.
    /// [`ErrorKind::ReferencePath`] when the index already holds a reference at `path` (remove it first to
    /// replace it), or when `path` is not relative to the catalog folder (empty, absolute, or with a `..` part).
    pub fn add<K, V>(
        &mut self,
        path: impl Into<String>,
        fingerprint: Fingerprint,
        metadata: impl IntoIterator<Item = (K, V)>,
    ) -> Result<u64>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mismatch = |message: String| Err(Error::new(ErrorKind::FingerprintMismatch(message)));
        match (&self.config.local, &fingerprint.local) {
            (None, Some(_)) => return mismatch("it has local features; the index is hashes only".into()),
            (Some(_), None) => return mismatch("it has no local features; the index has them".into()),
            (Some(config), Some(local)) if local.len() > config.budget => {
                return mismatch(format!(
                    "{} keypoints, over the reference budget of {} (a listing's fingerprint?)",
                    local.len(),
                    config.budget
                ));
            }
            (Some(config), Some(_)) => {
                if let Some(budget) = fingerprint.keypoint_budget.filter(|&b| b as usize != config.budget) {
                    return mismatch(format!(
                        "made with a keypoint budget of {budget}, not the index's reference budget of {}{}",
                        config.budget,
                        if budget as usize == config.listing_budget { " (a listing's fingerprint?)" } else { "" }
                    ));
                }
            }
            _ => {}
        }
        if self.references.len() >= MAX_REFERENCES {
            let message = format!("an index holds at most {MAX_REFERENCES} references; shard larger catalogs");
            return Err(Error::new(ErrorKind::InvalidConfig(message)));
        }
        let path = path.into();
        let refused = |why: &str| Err(Error::new(ErrorKind::ReferencePath(format!("{path:?}: {why}"))));
        let Some(decoded) = crate::walk::relative_name(&path) else {
            return refused("not a path relative to the catalog folder (empty, absolute, or with a `..` part)");
        };
        // One text per file, as a build writes it: "./a.jpg", "a//b.jpg" or "b/" would name a file the index may
        // already hold under its plain name.
        if !written_as_built(&decoded, &path) {
            return refused(
                "not written as a build writes paths (no `.` or empty parts, no trailing `/`, `\\xHH` only for bytes that are not UTF-8)",
            );
        }
        let references = &self.references;
        let keys = self.path_keys.get_or_insert_with(|| references.iter().map(|r| path_key(&r.path)).collect());
        // A key can be shared by two paths: only the paths themselves say it is the same one.
        if keys.contains(&path_key(&path)) && self.by_path(&path).is_some() {
            return refused("the index already holds a reference at this path (remove it first to replace it)");
        }
        let metadata = metadata.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        Ok(self.insert(path, fingerprint, metadata, None))
    }

    /// Adds a reference already known to fit (built or stored by this index) and returns its id.
    pub(crate) fn insert(
        &mut self,
        path: String,
        mut fingerprint: Fingerprint,
        metadata: BTreeMap<String, String>,
        source: Option<SourceFile>,
    ) -> u64 {
        // Every reference is fingerprinted with the index's configuration (`add` checks what it can); an opened
        // index's records do not repeat it.
        fingerprint.keypoint_budget = self.config.local.map(|l| l.budget as u32);
        let id = self.next_id;
        self.next_id += 1;
        self.hashes.push(search::words_of(fingerprint.pdq.hash()));
        self.spans.push(None);
        // Words are assigned with the vocabulary in hand: an index grows without retraining.
        if let Some(words) = self.words.get_mut() {
            words.add(fingerprint.local.as_deref());
        }
        if let Some(keys) = &mut self.path_keys {
            keys.insert(path_key(&path));
        }
        self.references.push(Reference { id, path, metadata, fingerprint, source });
        self.tables = OnceLock::new();
        id
    }

    /// Replaces the metadata of the reference with `id`; false if there is no such reference.
    pub fn set_metadata<K, V>(&mut self, id: u64, metadata: impl IntoIterator<Item = (K, V)>) -> bool
    where
        K: Into<String>,
        V: Into<String>,
    {
        match self.position(id) {
            Some(position) => {
                self.references[position].metadata = metadata.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
                true
            }
            None => false,
        }
    }

    /// Removes the reference with `id`, returning it (with its local features when they were in memory).
    pub fn remove(&mut self, id: u64) -> Option<Reference> {
        let position = self.position(id)?;
        self.hashes.remove(position);
        self.spans.remove(position);
        self.tables = OnceLock::new();
        // Another reference may share the removed one's key: rebuilt from the paths by the next `add`.
        self.path_keys = None;
        // Positions after it shift: their postings move down with them, under the same vocabulary.
        if let Some(words) = self.words.get_mut() {
            words.remove(position);
        }
        Some(self.references.remove(position))
    }

    /// Removes the references with `ids` (ids not in the index are ignored) and returns them in index order: one
    /// pass over the index's tables, where removing them one by one with [`ReferenceIndex::remove`] takes a pass
    /// each (thousands of references gone from a catalog of a million).
    pub fn remove_many(&mut self, ids: impl IntoIterator<Item = u64>) -> Vec<Reference> {
        let mut positions: Vec<usize> = ids.into_iter().filter_map(|id| self.position(id)).collect();
        positions.sort_unstable();
        positions.dedup();
        if positions.is_empty() {
            return Vec::new();
        }
        let mut gone = vec![false; self.len()];
        for &p in &positions {
            gone[p] = true;
        }
        // `retain` visits each element once, in order.
        let kept = |at: &mut usize| {
            let keep = !gone[*at];
            *at += 1;
            keep
        };
        let mut at = 0;
        self.hashes.retain(|_| kept(&mut at));
        let mut at = 0;
        self.spans.retain(|_| kept(&mut at));
        let mut removed = Vec::with_capacity(positions.len());
        let mut references = Vec::with_capacity(self.references.len() - positions.len());
        for (position, reference) in std::mem::take(&mut self.references).into_iter().enumerate() {
            if gone[position] {
                removed.push(reference);
            } else {
                references.push(reference);
            }
        }
        self.references = references;
        self.tables = OnceLock::new();
        self.path_keys = None;
        if let Some(words) = self.words.get_mut() {
            words.remove_many(&positions);
        }
        removed
    }

    /// References whose PDQ hash is within `radius` bits of any dihedral variant of `query`, nearest first (ties
    /// by position). Both methods return exactly the same.
    pub fn within(&self, query: &PdqHashes, radius: u32, method: SearchMethod) -> Vec<Candidate> {
        let queries = search::query_words(query);
        if search::use_multi_index(method, radius) {
            self.tables().within(&self.hashes, &queries, radius)
        } else {
            search::brute_within(&self.hashes, &queries, radius)
        }
    }

    /// The `k` references nearest to `query` by PDQ (best dihedral variant), nearest first (ties by position).
    /// Multi-index hashing answers when `k` references lie within a small radius (`Auto`: 31 bits; `MultiIndex`:
    /// 15, 31, then 47); otherwise brute force does. Every method returns the same.
    pub fn nearest(&self, query: &PdqHashes, k: usize, method: SearchMethod) -> Vec<Candidate> {
        let queries = search::query_words(query);
        // Multi-index probing pays only when k references lie within a small radius (near-duplicate catalogs);
        // otherwise it is wasted before the brute-force pass, so `Auto` makes one cheap attempt at radius 31.
        let radii: &[u32] = match method {
            SearchMethod::BruteForce => &[],
            SearchMethod::Auto => &[31],
            SearchMethod::MultiIndex => &search::GROWING_RADII,
        };
        {
            for &radius in radii {
                let found = self.tables().within(&self.hashes, &queries, radius);
                if found.len() >= k {
                    return found.into_iter().take(k).collect();
                }
            }
        }
        search::brute_nearest(&self.hashes, &queries, k)
    }

    /// The `top_k` references most similar to `listing` by [`score`](crate::score), best first, with full
    /// evidence.
    ///
    /// Candidates come from the hashes (the best `verify_top` by hash score in catalogs up to `exhaustive_up_to`,
    /// PDQ neighbours within `candidate_radius` beyond) and, when the listing and the index have local features,
    /// from the descriptors (every reference in catalogs up to `verify_all_up_to`, the visual-word shortlist
    /// beyond). Each candidate is then compared in full, local verification included.
    ///
    /// With only the fingerprint at hand, a copy shown small in the listing (a pasted copy, a collage tile) is
    /// judged on the keypoints the listing's pyramid gave it; [`ReferenceIndex::search_photo`], given the decoded
    /// pixels too, takes a closer look at that region and scores such copies higher (the bundled rocket collage:
    /// 0.85 here, 0.94 there), as a [`Scanner`](crate::Scanner) does.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] for options that [`SearchOptions::validate`] refuses.
    /// [`ErrorKind::FingerprintMismatch`] when `listing` was not fingerprinted for this index's listings: without
    /// local features where the index has them (a hashes-only fingerprinter), or with the reference keypoint
    /// budget ([`Fingerprinter::for_references`](crate::Fingerprinter::for_references) rather than
    /// [`Fingerprinter::for_listings`](crate::Fingerprinter::for_listings), which finds fewer copies: the bundled
    /// rocket collage scores 0.42, a `review`, rather than 0.85, a `match`). Fingerprint listings with
    /// `Fingerprinter::for_listings(*index.config())`.
    ///
    /// In an index opened from a file, reading a candidate's local features from it can fail: the file damaged
    /// since it was opened ([`ErrorKind::IndexCorrupt`], [`ErrorKind::IndexTruncated`]) or unreadable
    /// ([`ErrorKind::Io`]). Errors carry the index file's path.
    pub fn search(&self, listing: &Fingerprint, options: &SearchOptions) -> Result<Vec<Ranked>> {
        self.search_with(listing, None, options)
    }

    /// [`ReferenceIndex::search`] for a listing whose decoded pixels are at hand (`photo`, fingerprinted as
    /// `listing` by a listing fingerprinter of this index's configuration): the candidates that verification
    /// places small in the listing (a pasted copy, a collage tile) get a closer look at that region of the pixels
    /// ([`crate::zoom`]), the best three of them by their first score. What [`Scanner`](crate::Scanner) does.
    ///
    /// ```
    /// use knockoff::{decode_path, FingerprintConfig, Fingerprinter, ReferenceIndex, SearchOptions};
    ///
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    /// let (index, _) =
    ///     ReferenceIndex::build(format!("{dir}/refs"), &Fingerprinter::for_references(FingerprintConfig::default()), |_| {});
    /// let listings = Fingerprinter::for_listings(*index.config());
    /// let photo = decode_path(format!("{dir}/listings/rocket-collage.jpg"), &listings.decode_options())?;
    /// let hits = index.search_photo(&listings.fingerprint_photo(&photo)?, &photo, &SearchOptions::default())?;
    /// assert!(index.references()[hits[0].index].path.ends_with("rocket.jpg"));
    /// # Ok::<(), knockoff::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`ReferenceIndex::search`].
    pub fn search_photo(&self, listing: &Fingerprint, photo: &Photo, options: &SearchOptions) -> Result<Vec<Ranked>> {
        self.search_with(listing, Some(photo), options)
    }

    /// A search result as a scan reports it: the reference named by its path, id, metadata and file's SHA-256
    /// rather than by its position in this index (which another index, or this one after a change, gives to
    /// another photo), with the score, verdict and evidence. Serialisable, for a service's answers.
    ///
    /// ```
    /// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, SearchOptions};
    ///
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    /// let (index, _) =
    ///     ReferenceIndex::build(format!("{dir}/refs"), &Fingerprinter::for_references(FingerprintConfig::default()), |_| {});
    /// let listing = Fingerprinter::for_listings(*index.config()).fingerprint_path(format!("{dir}/listings/rocket-collage.jpg"))?;
    /// let best = index.search(&listing, &SearchOptions::default())?.into_iter().next().map(|r| index.hit(r));
    /// assert_eq!(best.map(|hit| hit.reference), Some("rocket.jpg".to_string()));
    /// # Ok::<(), knockoff::Error>(())
    /// ```
    ///
    /// # Panics
    /// If `ranked.index` is not below [`ReferenceIndex::len`] (a result of another index).
    pub fn hit(&self, ranked: Ranked) -> crate::Hit {
        let reference = &self.references[ranked.index];
        crate::Hit {
            reference: reference.path.clone(),
            reference_id: reference.id,
            metadata: reference.metadata.clone(),
            reference_sha256: reference.source.map(|s| s.sha256_hex()),
            score: ranked.similarity.score,
            verdict: ranked.similarity.verdict,
            evidence: ranked.similarity.evidence,
        }
    }

    /// Refuses a listing fingerprint that a search against this index would quietly score lower than it
    /// should (see [`ReferenceIndex::search`]'s errors).
    fn check_listing(&self, listing: &Fingerprint) -> Result<()> {
        let Some(config) = &self.config.local else { return Ok(()) };
        let mismatch = |what: String| {
            let message = format!(
                "the listing's fingerprint {what}; fingerprint listings with `Fingerprinter::for_listings(*index.config())` \
                 (keypoint budget {})",
                config.listing_budget
            );
            Err(Error::new(ErrorKind::FingerprintMismatch(message)))
        };
        if listing.local.is_none() {
            return mismatch("has no local features and the index has them".into());
        }
        match listing.keypoint_budget {
            Some(budget) if budget as usize == config.budget && config.budget != config.listing_budget => {
                mismatch(format!("was made with the reference keypoint budget of {budget}, which finds fewer copies"))
            }
            _ => Ok(()),
        }
    }

    fn search_with(
        &self,
        listing: &Fingerprint,
        photo: Option<&Photo>,
        options: &SearchOptions,
    ) -> Result<Vec<Ranked>> {
        options.validate()?;
        self.check_listing(listing)?;
        let thresholds = self.thresholds_for(options);
        let mut candidates: Vec<usize> = if self.len() <= options.exhaustive_up_to {
            let mut scored: Vec<(f32, usize)> =
                self.references.par_iter().enumerate().map(|(i, r)| (hash_score(&r.fingerprint, listing), i)).collect();
            scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            // The best `top_k` always (a report shows them), more only if the hashes see some likeness: a far
            // hash candidate is worth verifying only when its descriptors vote for it, below.
            let keep = options.verify_top.max(options.top_k);
            scored
                .iter()
                .enumerate()
                .take_while(|(rank, (s, _))| {
                    *rank < options.top_k
                        || (*rank < keep && *s >= HASH_CANDIDATE_FLOOR)
                        || *s
                            >= thresholds
                                .review_score
                                .min(thresholds.hash_review_score)
                                .min(thresholds.contradicted_review_score)
                })
                .map(|(_, &(_, i))| i)
                .collect()
        } else {
            self.within(&listing.pdq, options.candidate_radius, options.method).iter().map(|c| c.position).collect()
        };
        if let Some(local) = listing.local.as_deref().filter(|l| !l.is_empty()) {
            if self.len() <= options.verify_all_up_to {
                candidates = (0..self.len()).collect();
            } else {
                candidates.extend(self.shortlist(local, options.shortlist)?.into_iter().map(|(position, _)| position));
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut ranked: Vec<Ranked> = candidates
            .par_iter()
            .map(|&position| {
                let reference = self.fingerprint(position)?;
                Ok(Ranked { index: position, similarity: compare_with(&reference, listing, &thresholds) })
            })
            .collect::<Result<_>>()?;
        if let (Some(photo), Some(config)) = (photo, self.config.for_listings().local) {
            self.look_closer(&mut ranked, listing, photo, &config, &thresholds)?;
        }
        ranked.sort_by(|a, b| b.similarity.score.total_cmp(&a.similarity.score).then(a.index.cmp(&b.index)));
        ranked.truncate(options.top_k);
        Ok(ranked)
    }

    /// Replaces the similarity of the best [`zoom::MAX_LOOKS`] candidates that want a closer look by what it finds,
    /// where that is better.
    fn look_closer(
        &self,
        ranked: &mut [Ranked],
        listing: &Fingerprint,
        photo: &Photo,
        config: &LocalConfig,
        thresholds: &Thresholds,
    ) -> Result<()> {
        let mut wanting: Vec<usize> =
            (0..ranked.len()).filter(|&i| zoom::wants_closer_look(&ranked[i].similarity)).collect();
        wanting.sort_by(|&a, &b| {
            ranked[b]
                .similarity
                .score
                .total_cmp(&ranked[a].similarity.score)
                .then(ranked[a].index.cmp(&ranked[b].index))
        });
        wanting.truncate(zoom::MAX_LOOKS);
        let closer: Vec<(usize, Option<Similarity>)> = wanting
            .par_iter()
            .map(|&i| {
                let reference = self.fingerprint(ranked[i].index)?;
                Ok((i, zoom::closer_look(&reference, listing, photo, config, &ranked[i].similarity, thresholds)))
            })
            .collect::<Result<_>>()?;
        for (i, similarity) in closer {
            if let Some(similarity) = similarity {
                ranked[i].similarity = similarity;
            }
        }
        Ok(())
    }

    /// The fingerprint of the reference at `position`, local features included: as it is in memory, or with its
    /// features read from the index file.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("knockoff-doc-fingerprint-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex};
    ///
    /// let refs = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs");
    /// let (built, _) = ReferenceIndex::build(refs, &Fingerprinter::for_references(FingerprintConfig::default()), |_| {});
    /// built.save(dir.join("refs.idx"))?;
    ///
    /// // Opening leaves the features in the file ...
    /// let opened = ReferenceIndex::open(dir.join("refs.idx"))?;
    /// assert!(opened.references()[0].fingerprint.local.is_none());
    /// // ... and reads them when asked.
    /// assert_eq!(*opened.fingerprint(0)?, built.references()[0].fingerprint);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Those of [`ReferenceIndex::search`], for reading the features.
    ///
    /// # Panics
    /// If `position` is not below [`ReferenceIndex::len`], as indexing [`ReferenceIndex::references`] would.
    pub fn fingerprint(&self, position: usize) -> Result<Cow<'_, Fingerprint>> {
        let reference = &self.references[position];
        let Some((stored, span)) = self.span(position) else { return Ok(Cow::Borrowed(&reference.fingerprint)) };
        let (width, height) = (reference.fingerprint.width, reference.fingerprint.height);
        let local = stored.features(span, width, height).map_err(|e| self.damaged(position, e))?;
        Ok(Cow::Owned(Fingerprint { local: Some(Box::new(local)), ..reference.fingerprint.clone() }))
    }

    /// Reads and checks every reference's local features in the index file (in parallel), which opening leaves
    /// to the searches that need them: a service can check its index at start-up rather than have searches fail
    /// on a damaged block later. Reads the whole feature section (about 26 KB a reference) and keeps nothing:
    /// the catalog benchmark's 5,098 references (a 184 MB file) took 0.03 s from the page cache on two cores
    /// (0.13 s the first time). An index built or loaded in memory has nothing to check.
    ///
    /// ```
    /// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex};
    ///
    /// let dir = std::env::temp_dir().join(format!("knockoff-doc-verify-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let refs = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs");
    /// let (built, _) = ReferenceIndex::build(refs, &Fingerprinter::for_references(FingerprintConfig::default()), |_| {});
    /// built.save(dir.join("refs.idx"))?;
    /// ReferenceIndex::open(dir.join("refs.idx"))?.verify()?;
    ///
    /// // One byte of the last reference's descriptors damaged: opening cannot tell, `verify` can.
    /// let mut bytes = std::fs::read(dir.join("refs.idx"))?;
    /// let at = bytes.len() - 200;
    /// bytes[at] ^= 1;
    /// std::fs::write(dir.join("refs.idx"), &bytes)?;
    /// let damaged = ReferenceIndex::open(dir.join("refs.idx"))?;
    /// assert!(damaged.verify().unwrap_err().to_string().contains("rebuild the index"));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::IndexCorrupt`] or [`ErrorKind::IndexTruncated`] naming the first reference (in index order)
    /// whose features are damaged, [`ErrorKind::Io`] if the file cannot be read; errors carry the index file's
    /// path.
    pub fn verify(&self) -> Result<()> {
        (0..self.len()).into_par_iter().try_for_each(|position| {
            let Some((stored, span)) = self.span(position) else { return Ok(()) };
            let f = &self.references[position].fingerprint;
            stored.features(span, f.width, f.height).map(drop).map_err(|e| self.damaged(position, e))
        })
    }

    /// `e`, from reading the stored features of the reference at `position`, saying which reference and what to
    /// do about it when the file is damaged.
    fn damaged(&self, position: usize, e: Error) -> Error {
        let reference = &self.references[position];
        let said =
            |m: &str| format!("{m}, in the features of {:?} (id {}); rebuild the index", reference.path, reference.id);
        let kind = match e.kind() {
            ErrorKind::IndexCorrupt(m) => ErrorKind::IndexCorrupt(said(m)),
            ErrorKind::IndexTruncated(m) => ErrorKind::IndexTruncated(said(m)),
            _ => return e,
        };
        let path = e.path().map(Path::to_path_buf);
        let error = Error::new(kind);
        match path {
            Some(path) => error.with_path(path),
            None => error,
        }
    }

    /// Reads every reference's local features from the index file into memory (in parallel), e.g. before
    /// comparing each reference many times; a search needs none of this. About 26 KB per reference.
    ///
    /// # Errors
    /// Those of [`ReferenceIndex::search`], for the first reference whose features cannot be read; the index is
    /// then as it was.
    pub fn load_features(&mut self) -> Result<()> {
        let loaded: Vec<Option<LocalFeatures>> = (0..self.len())
            .into_par_iter()
            .map(|position| {
                let Some((stored, span)) = self.span(position) else { return Ok(None) };
                let f = &self.references[position].fingerprint;
                stored.features(span, f.width, f.height).map(Some).map_err(|e| self.damaged(position, e))
            })
            .collect::<Result<_>>()?;
        for ((reference, span), local) in self.references.iter_mut().zip(&mut self.spans).zip(loaded) {
            if let Some(local) = local {
                reference.fingerprint.local = Some(Box::new(local));
                *span = None;
            }
        }
        self.stored = None;
        Ok(())
    }

    /// The stored block of the reference at `position`, when its features are in the file.
    fn span(&self, position: usize) -> Option<(&StoredFeatures, Span)> {
        Some((self.stored.as_deref()?, (*self.spans.get(position)?)?))
    }

    /// How many keypoints the reference at `position` has, if it has local features (in memory or in the file).
    fn keypoint_count(&self, position: usize) -> Option<u32> {
        match (&self.references[position].fingerprint.local, self.span(position)) {
            (Some(local), _) => Some(local.len() as u32),
            (None, Some((_, span))) => Some(span.keypoints),
            (None, None) => None,
        }
    }

    /// The keypoints of the reference at `position`, from memory or the file, for the shortlist's placement
    /// check.
    fn keypoints(&self, position: usize) -> Result<Option<Cow<'_, [Keypoint]>>> {
        let Some(reference) = self.references.get(position) else { return Ok(None) };
        if let Some(local) = &reference.fingerprint.local {
            return Ok(Some(Cow::Borrowed(local.keypoints.as_slice())));
        }
        let Some((stored, span)) = self.span(position) else { return Ok(None) };
        let f = &reference.fingerprint;
        Ok(Some(Cow::Owned(stored.keypoints(span, f.width, f.height).map_err(|e| self.damaged(position, e))?)))
    }

    /// Approximate memory held, in bytes: references (their local features when in memory), hash array, and the
    /// search tables if built.
    pub fn memory_bytes(&self) -> usize {
        let per_reference: usize = self
            .references
            .iter()
            .map(|r| {
                std::mem::size_of::<Reference>()
                    + r.fingerprint.local.as_ref().map_or(0, |l| l.memory_bytes())
                    + r.path.len()
                    + r.metadata.iter().map(|(k, v)| k.len() + v.len() + 64).sum::<usize>()
            })
            .sum();
        per_reference
            + self.spans.capacity() * std::mem::size_of::<Option<Span>>()
            + self.hashes.len() * 32
            + self.tables.get().map_or(0, MultiIndex::memory_bytes)
            + self.words.get().map_or(0, WordIndex::memory_bytes)
    }

    /// The visual-word shortlist [`search`](Self::search) verifies for a listing's local features in catalogs
    /// over `verify_all_up_to`: up to `k` reference positions, best first, with their scores
    /// ([`WordIndex::shortlist_placed`] with these references' keypoints).
    ///
    /// ```
    /// use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex};
    ///
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    /// let (index, _) = ReferenceIndex::build(
    ///     format!("{dir}/refs"),
    ///     &Fingerprinter::for_references(FingerprintConfig::default()),
    ///     |_| {},
    /// );
    /// let listing = Fingerprinter::for_listings(*index.config())
    ///     .fingerprint_path(format!("{dir}/listings/rocket-collage.jpg"))?;
    /// let shortlist = index.shortlist(listing.local.as_deref().expect("local features"), 3)?;
    /// assert_eq!(index.references()[shortlist[0].0].path, "rocket.jpg");
    /// # Ok::<(), knockoff::Error>(())
    /// ```
    ///
    /// # Errors
    /// Those of [`ReferenceIndex::search`], for reading the candidates' keypoints.
    pub fn shortlist(&self, listing: &LocalFeatures, k: usize) -> Result<Vec<(usize, f32)>> {
        let failure = std::sync::Mutex::new(None);
        let keypoints = |position: usize| {
            self.keypoints(position).unwrap_or_else(|e| {
                if let Ok(mut first) = failure.lock() {
                    first.get_or_insert(e);
                }
                None
            })
        };
        let shortlist = self.word_index().shortlist_placed_with(listing, k, &keypoints);
        match failure.into_inner().ok().flatten() {
            Some(e) => Err(e),
            None => Ok(shortlist),
        }
    }

    /// The retrieval index for local features, trained and filed on first use (a saved index with local features
    /// stores it, so opening one does not train again). Features left in the index file are read for the
    /// training; here a reference whose features cannot be read is filed without them
    /// ([`ReferenceIndex::retrain_vocabulary`] fails instead).
    pub fn word_index(&self) -> &WordIndex {
        self.words.get_or_init(|| Self::trained(self.training_features(false).unwrap_or_default()))
    }

    /// Every reference's local features, for training (`None` for one without); with `strict`, the first that
    /// cannot be read from the index file is an error, otherwise it counts as having none.
    fn training_features(&self, strict: bool) -> Result<Vec<Option<Cow<'_, LocalFeatures>>>> {
        (0..self.len())
            .into_par_iter()
            .map(|position| match self.fingerprint(position) {
                Ok(Cow::Borrowed(f)) => Ok(f.local.as_deref().map(Cow::Borrowed)),
                Ok(Cow::Owned(f)) => Ok(f.local.map(|l| Cow::Owned(*l))),
                Err(e) if strict => Err(e),
                Err(_) => Ok(None),
            })
            .collect()
    }

    /// A vocabulary trained on `features` (references in index order), with them filed.
    fn trained(features: Vec<Option<Cow<'_, LocalFeatures>>>) -> WordIndex {
        // An even sample, drawn as it is collected: a million references' descriptors would take 16 GB.
        let total: usize = features.iter().flatten().map(|l| l.len()).sum();
        let step = total.div_ceil(WordIndex::training_size(total).max(1)).max(1);
        let sample: Vec<_> =
            features.iter().flatten().flat_map(|l| l.descriptors.iter().copied()).step_by(step).collect();
        let mut words = WordIndex::train_on_sample(sample, total);
        words.extend(features.iter().map(|f| f.as_deref()));
        words.shrink_to_fit();
        words
    }

    /// Trains the visual vocabulary afresh from the references now in the index and files them again.
    ///
    /// Adding references assigns their descriptors to the words of the vocabulary in hand, which keeps working as
    /// long as the new photos look like the old (the words cover the descriptor space, not particular photos).
    /// Retraining pays off when the catalog has grown several times over since the vocabulary was trained, or
    /// when its kind of photos has changed (say, from product shots on white to street scenes); it takes about a
    /// second per million descriptors (more beyond 4 million, where it trains on a growing sample), and reads
    /// the features an opened index left in its file.
    ///
    /// # Errors
    /// Those of [`ReferenceIndex::search`], for the first reference whose features cannot be read; the index then
    /// keeps the vocabulary it had.
    pub fn retrain_vocabulary(&mut self) -> Result<()> {
        let words = Self::trained(self.training_features(true)?);
        self.words = OnceLock::from(words);
        Ok(())
    }

    fn tables(&self) -> &MultiIndex {
        self.tables.get_or_init(|| MultiIndex::build(&self.hashes))
    }

    /// Builds the search tables now rather than on the first search (e.g. before timing searches): the
    /// multi-index tables, and the vocabulary and inverted file when local verification will need them.
    pub fn prepare(&self) {
        self.tables();
        if self.searches_words() {
            self.word_index();
        }
    }

    /// Whether searches with the default options go through the word index: local features, and more references
    /// than are verified one by one: what `prepare` builds.
    fn searches_words(&self) -> bool {
        self.len() > SearchOptions::default().verify_all_up_to && self.has_local_features()
    }

    /// Whether any reference has local features (in memory or in the file).
    fn has_local_features(&self) -> bool {
        (0..self.len()).any(|position| self.keypoint_count(position).is_some())
    }
}

/// `path` relative to `root`, with `/` separators (the path as given if it is not under `root`).
pub(crate) fn relative_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| match c {
            // An absolute path stays one: "/a/b", not "//a/b".
            std::path::Component::RootDir => String::new(),
            c => crate::walk::name_text(c.as_os_str()),
        })
        .collect();
    parts.join("/")
}

/// A fixed 64-bit key of a reference path, for [`ReferenceIndex::add`]'s check (SipHash with fixed keys: the same
/// on every run).
fn path_key(path: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

/// The folder a catalog's paths are relative to: the catalog itself, or for a single photo (a catalog of one) its
/// folder, so that its path is its file name, not "".
fn catalog_folder(catalog: &Path) -> &Path {
    match catalog.parent() {
        Some(parent) if catalog.is_file() => {
            if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            }
        }
        _ => catalog,
    }
}

/// Fingerprints `files` in parallel, each with its path relative to `catalog` and the record of its file, in the
/// order given; `progress` after each file.
fn fingerprint_files(
    catalog: &Path,
    files: &[std::path::PathBuf],
    fingerprinter: &Fingerprinter,
    progress: impl Fn(Progress) + Sync,
) -> Vec<(String, Result<(Fingerprint, SourceFile)>)> {
    let counter = Counter::new(files.len());
    files
        .par_iter()
        .map(|path| {
            let result = fingerprint_file(path, fingerprinter);
            progress(counter.finish(result.is_err()));
            (relative_path(catalog, path), result)
        })
        .collect()
}

/// The fingerprint of the photo at `path` and the record of its file, from one read of it.
fn fingerprint_file(path: &Path, fingerprinter: &Fingerprinter) -> Result<(Fingerprint, SourceFile)> {
    let (bytes, source) = source::read(path, fingerprinter.config().limits.max_file_bytes)?;
    let fingerprint = fingerprinter.fingerprint_bytes(&bytes).map_err(|e| e.with_path(path))?;
    Ok((fingerprint, source))
}

/// Whether `text`, naming the relative path `decoded` ([`crate::walk::relative_name`]), is written as
/// [`relative_path`] writes a catalog file's path: no `.` parts (nor the empty ones and trailing `/` that
/// components drop), `\xHH` escapes only for bytes that are not UTF-8.
fn written_as_built(decoded: &Path, text: &str) -> bool {
    decoded.components().all(|c| matches!(c, std::path::Component::Normal(_)))
        && relative_path(Path::new(""), decoded) == text
}
