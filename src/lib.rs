//! # knockoff
//!
//! Finds counterfeit product listings by their photos: listings that reuse a brand's authentic catalog photos,
//! cropped, resized, recompressed, mirrored, recoloured or watermarked to slip past exact matching.
//!
//! A photo becomes a [`Fingerprint`]: perceptual hashes (aHash, dHash, pHash and Meta's PDQ with its eight
//! dihedral variants), a colour signature, and local features (oriented keypoints with steered binary
//! descriptors). Two fingerprints become a [`Similarity`]: a score in [0, 1], the evidence behind it (each hash
//! distance; the geometrically verified matches with the transform taken apart into scale, rotation, mirror, the
//! crop of the reference shown and where it sits in the listing; how the colours differ) and a [`Verdict`].
//!
//! ## Quick start
//!
//! ```
//! use knockoff::{compare, top_k, Fingerprinter, FingerprintConfig, Verdict};
//!
//! // Build once; they are Send + Sync, share them across threads. Listings get their own fingerprinter (a larger
//! // keypoint budget: a copy may fill only a corner of a listing).
//! let config = FingerprintConfig::default();
//! let (fingerprinter, listings) = (Fingerprinter::for_references(config), Fingerprinter::for_listings(config));
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
//!
//! // The authentic catalog.
//! let references = ["coffee", "chelsea", "astronaut"]
//!     .map(|name| fingerprinter.fingerprint_path(format!("{dir}/refs/{name}.jpg")))
//!     .into_iter()
//!     .collect::<Result<Vec<_>, _>>()?;
//!
//! // A marketplace listing: the coffee photo, mirrored.
//! let listing = listings.fingerprint_path(format!("{dir}/listings/coffee-mirrored.jpg"))?;
//!
//! // The best references for this listing, compared in parallel.
//! let best = &top_k(&listing, &references, 1)[0];
//! assert_eq!(best.index, 0);
//! assert_eq!(best.similarity.verdict, Verdict::Match);
//! let evidence_json = serde_json::to_string(&best.similarity).unwrap(); // results are serde-serialisable
//! assert!(evidence_json.contains("mirror_horizontal"));
//!
//! // An unrelated photo does not match.
//! let unrelated = listings.fingerprint_path(format!("{dir}/listings/unrelated-camera.jpg"))?;
//! assert_eq!(compare(&references[0], &unrelated).verdict, Verdict::NoMatch);
//! # Ok::<(), knockoff::Error>(())
//! ```
//!
//! ## Modules
//! - [`decode`]: photo files to pixels, with limits, EXIF orientation, reduced-scale JPEG decoding, and caught
//!   decoder panics.
//! - [`hash`]: the perceptual hashes, each value carrying its kind.
//! - [`colour`]: the global colour signature.
//! - [`features`]: local features (keypoints, descriptors, matching, verification).
//! - [`geometry`]: similarity transforms and homographies, RANSAC, decomposition.
//! - [`fingerprint`]: everything kept about one photo.
//! - [`similarity`]: scores, evidence, verdicts, parallel top-k.
//! - [`calibration`]: false-verdict rates per listing, and thresholds that follow the catalog size.
//! - [`zoom`]: the closer look at a copy shown small: the listing's pixels around it enlarged and verified again.
//! - `evidence` (feature `report`, on by default): the evidence picture (matches, outline, labels) for takedown
//!   requests.
//! - [`index`]: the reference index: candidate search (brute force and multi-index hashing; a visual-word
//!   inverted file for local features), persistence.
//! - [`scan`]: scanning folders of listings against the index, in parallel, streaming.
//! - [`report`]: CSV and JSON-lines reports of a scan, (feature `report`) the HTML report, and (feature
//!   `arrow`) Arrow record batches and Parquet files of the same rows.
//! - `worker` (feature `arrow`): the worker protocol for engines such as Spark: listings in and results out as
//!   Arrow IPC streams (or lines), from a process that opened the index once.
//! - [`progress`]: progress reports for long runs.
//! - `edits`, `eval` (feature `bench-tools`): counterfeit-style edits and the accuracy benchmark built on them.
//! - [`walk`]: listing the files under folders, symlink-loop safe.
//! - [`error`]: the one error type.
//! - [`atomic`]: files written whole or not at all (temporary file, fsync, rename), as index saves and reports are.

#![warn(missing_docs)]

/// Chainable by-value `with_` setters for option structs, which are `#[non_exhaustive]` (so that later versions can
/// add options) and therefore cannot be written as struct literals outside this crate.
macro_rules! setters {
    ($ty:ident { $( $(#[$doc:meta])* $field:ident : $t:ty => $name:ident ),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $name(mut self, $field: $t) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

pub mod atomic;
pub mod calibration;
pub mod colour;
pub mod decode;
#[cfg(feature = "bench-tools")]
pub mod edits;
pub mod error;
#[cfg(feature = "bench-tools")]
pub mod eval;
#[cfg(feature = "report")]
pub mod evidence;
pub mod features;
pub mod fingerprint;
pub mod geometry;
pub mod hash;
pub mod index;
pub mod progress;
pub mod report;
pub mod scan;
pub mod similarity;
pub mod walk;
#[cfg(feature = "arrow")]
pub mod worker;
pub mod zoom;

pub use calibration::Calibration;
pub use colour::ColourSignature;
pub use decode::{DecodeOptions, Limits, Photo, decode_bytes, decode_path, decode_reader};
pub use error::{Error, ErrorCode, ErrorKind, Result, quiet_contained_panics};
pub use features::{Keypoint, LocalConfig, LocalEvidence, LocalFeatures, Rect};
pub use fingerprint::{FINGERPRINT_VERSION, Fingerprint, FingerprintConfig, Fingerprinter};
pub use geometry::Transform;
pub use hash::{Dihedral, Hash, HashKind, PdqHashes};
pub use index::{
    BuildReport, Candidate, NO_METADATA, Reference, ReferenceIndex, SearchMethod, SearchOptions, Shard, SourceFile,
    UpdateReport,
};
pub use progress::Progress;
pub use scan::{Hit, ListingReport, Outcome, ScanInput, ScanOptions, ScanSummary, Scanner};
pub use similarity::{
    Alteration, Evidence, PDQ_EVIDENCE, Ranked, Similarity, Thresholds, Verdict, compare, compare_with, hash_score,
    score, top_k, top_k_with,
};
pub use walk::{SkipReason, Skipped, WalkOptions};

/// The README's code runs as a doctest, so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
