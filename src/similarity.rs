//! Scores, evidence and verdicts: how similar two photos are, and why.
//!
//! The score is in [0, 1]. Each hash distance becomes a similarity `1 - d / (bits / 2)`, clamped at 0: half the
//! bits differing is what unrelated photos give, so 0 means "no more alike than chance" and 1 means "the same
//! hash". PDQ is taken under the best of its eight dihedral variants, so mirrored and right-angle-rotated copies
//! score like plain copies. The 64-bit hashes only see the photo as it is, so they join the score only when the
//! best PDQ orientation is the original one. A colour difference lowers the score slightly: recolouring is a
//! counterfeiter's edit, so it must not hide a copy, but it separates a template from the same template in
//! another colour.
//!
//! When both photos carry local features, they are verified geometrically too (see [`crate::features::verify`]),
//! and the score is the better of the hash score and the local score. The local score grows with the number of
//! inliers, discounted when they cover little of the region the photos share (photos that share only a logo or
//! a pattern), and falls to zero when the matched patches differ in hue by more than a counterfeiter's tint (the
//! same template in another colour). See [`Thresholds`] for how scores become verdicts.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::features::{LocalEvidence, Rect, VerifyConfig, verify};
use crate::fingerprint::Fingerprint;
use crate::hash::{Dihedral, Hash};

/// The decision for one listing/reference pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The listing copies the reference: strong enough for a takedown request.
    Match,
    /// Similar enough that an analyst should look.
    Review,
    /// Not a copy as far as the evidence goes.
    NoMatch,
}

impl Verdict {
    /// `"match"`, `"review"` or `"no_match"`, as in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::Review => "review",
            Verdict::NoMatch => "no_match",
        }
    }
}

/// Writes [`Verdict::as_str`]: `"match"`, `"review"` or `"no_match"`.
impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Score thresholds for the verdicts.
///
/// Two kinds of evidence are judged apart. Verified geometry (the local score) is a `Match` from `match_score`
/// and a `Review` from `review_score`. The hashes' likeness alone (when it, not the geometry, makes the score) needs
/// `hash_match_score` and `hash_review_score`; and when either photo has plenty of keypoints and verification
/// found no geometry at all, the hashes alone give at most `Review` (from `contradicted_review_score`): a copy of a
/// detailed photo keeps its keypoints, while two different products on the same white canvas keep only the hashes'
/// likeness.
///
/// The default suits comparing a few photos pairwise, and small catalogs. It was calibrated on the accuracy
/// benchmark (`cargo run --release --features bench-tools --example evaluate`: 264 edited references, 307 negatives
/// including hard ones; see the README): there, the highest-scoring negative scores 0.447 (every negative stays out
/// of `Match` from 0.45; the aim is at most 0.1% of negatives) and 0.42 keeps 1 of 307 (0.3%, the aim is at most
/// 1%) in `Review`. 307 negatives cannot resolve 0.1%, so the default `Match` threshold keeps a margin of 0.05
/// above the calibrated value; `Review` is the calibrated one. Copies verified by local features need 8 inliers
/// for `Match` (unrelated pairs reach 4). Against a catalog, a listing meets many unrelated references, so a
/// search uses [`Thresholds::for_catalog`] by default (see [`crate::calibration`]). Rerun the benchmarks after any
/// change to scoring.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Thresholds {
    /// Scores at or above this are [`Verdict::Match`]. Default 0.50.
    pub match_score: f32,
    /// Scores at or above this (and below `match_score`) are [`Verdict::Review`]. Default 0.42.
    pub review_score: f32,
    /// Where the hashes, not verified geometry, make the score: the score needed for [`Verdict::Match`]. Default
    /// 0.50; it rises with the catalog size ([`Thresholds::for_catalog`]).
    #[serde(default = "default_match_score")]
    pub hash_match_score: f32,
    /// Where the hashes make the score: the score needed for [`Verdict::Review`]. Default 0.42.
    #[serde(default = "default_review_score")]
    pub hash_review_score: f32,
    /// Where local features contradict the hashes (keypoint-rich photos, no verified geometry or geometry over a
    /// sliver of the overlap; never a `match`):
    /// the hash score needed for [`Verdict::Review`]. Default 0.42. Such likeness is common between unrelated
    /// photos on the same white canvas, so in large catalogs this bar rises fastest.
    #[serde(default = "default_review_score")]
    pub contradicted_review_score: f32,
}

fn default_match_score() -> f32 {
    0.50
}

fn default_review_score() -> f32 {
    0.42
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::new(default_match_score(), default_review_score())
    }
}

crate::setters!(Thresholds {
    /// Sets [`Thresholds::match_score`].
    match_score: f32 => with_match_score,
    /// Sets [`Thresholds::review_score`].
    review_score: f32 => with_review_score,
    /// Sets [`Thresholds::hash_match_score`].
    hash_match_score: f32 => with_hash_match_score,
    /// Sets [`Thresholds::hash_review_score`].
    hash_review_score: f32 => with_hash_review_score,
    /// Sets [`Thresholds::contradicted_review_score`].
    contradicted_review_score: f32 => with_contradicted_review_score,
});

impl Thresholds {
    /// Thresholds for `Match` at `match_score` and `Review` at `review_score`, whatever the evidence (scores in
    /// [0, 1]; `review_score` should not exceed `match_score`, or `Review` never happens).
    ///
    /// ```
    /// use knockoff::{Thresholds, Verdict};
    ///
    /// let strict = Thresholds::new(0.7, 0.5);
    /// assert_eq!(strict.verdict(0.6), Verdict::Review);
    /// ```
    pub fn new(match_score: f32, review_score: f32) -> Self {
        Thresholds {
            match_score,
            review_score,
            hash_match_score: match_score,
            hash_review_score: review_score,
            contradicted_review_score: review_score,
        }
    }

    /// Checks that every bar is a number from 0 (above 1, a bar no score reaches: that verdict never given) and
    /// that neither review bar is above its match bar (which would make every review-level score a `match`:
    /// arguments given the wrong way round).
    ///
    /// ```
    /// use knockoff::Thresholds;
    ///
    /// assert!(Thresholds::new(0.6, 0.45).validate().is_ok());
    /// assert!(Thresholds::new(0.45, 0.6).validate().is_err());
    /// assert!(Thresholds::new(f32::NAN, 0.4).validate().is_err());
    /// assert!(Thresholds::new(1.5, 0.5).validate().is_ok()); // never `match`
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) naming the first bar that is not a number
    /// from 0, or out of order. A search or a scan given such thresholds refuses to run with it.
    pub fn validate(&self) -> crate::Result<()> {
        let invalid = |message: String| Err(crate::Error::new(crate::ErrorKind::InvalidConfig(message)));
        let scores = [
            ("match_score", self.match_score),
            ("review_score", self.review_score),
            ("hash_match_score", self.hash_match_score),
            ("hash_review_score", self.hash_review_score),
            ("contradicted_review_score", self.contradicted_review_score),
        ];
        if let Some((name, value)) = scores.iter().find(|(_, v)| v.is_nan() || *v < 0.0) {
            return invalid(format!("thresholds: {name} is {value}, not a score bar (a number from 0)"));
        }
        for (review, matched) in [(1, 0), (3, 2)] {
            let ((review, r), (matched, m)) = (scores[review], scores[matched]);
            if r > m {
                return invalid(format!(
                    "thresholds: {review} {r} is above {matched} {m} (every score from {r} would be a match; \
                     the two given the wrong way round?)"
                ));
            }
        }
        Ok(())
    }

    /// The thresholds that keep false verdicts per listing at the default rates (at most 0.1% of listings falsely
    /// `match`, 1% falsely `review`) against a catalog of `references` (see [`crate::calibration`]). What a search
    /// uses unless told otherwise.
    ///
    /// ```
    /// use knockoff::Thresholds;
    ///
    /// assert_eq!(Thresholds::for_catalog(8), Thresholds::default());
    /// assert!(Thresholds::for_catalog(100_000).hash_match_score > Thresholds::default().hash_match_score);
    /// ```
    pub fn for_catalog(references: usize) -> Self {
        crate::calibration::Calibration::default().thresholds(references)
    }

    /// The verdict for `score` as verified geometry (`match_score`, `review_score`). [`compare_with`] judges by the
    /// kind of evidence too; see the type's docs.
    pub fn verdict(&self, score: f32) -> Verdict {
        if score >= self.match_score {
            Verdict::Match
        } else if score >= self.review_score {
            Verdict::Review
        } else {
            Verdict::NoMatch
        }
    }

    /// The verdict for a pair whose score is made of `parts`: that of its score in the verdict's scale.
    fn judge(&self, parts: &Parts) -> Verdict {
        self.verdict(self.score(parts))
    }

    /// The score of a pair made of `parts`, in the verdict's scale: whatever the evidence, `match` from
    /// `match_score` and `review` from `review_score`. Verified geometry's part is used as it is; the hashes' part
    /// is carried piecewise linearly from its own bars (`hash_match_score`, `hash_review_score`, or for
    /// contradicted hashes `contradicted_review_score` and never up to `match_score`) onto those; another shot of
    /// the scene is held at the bottom of the review band. So ranking by score ranks by the verdict first: in a
    /// catalog of 5,000, two products on the same white canvas whose hashes score 0.63 (a `review`, contradicted)
    /// rank below a copy in a collage with 9 verified inliers (0.53, a `match`), where the raw parts ranked them
    /// above 76 of the catalog benchmark's copies that geometry had matched.
    fn score(&self, parts: &Parts) -> f32 {
        let (matched, review) = (self.match_score, self.review_score.min(self.match_score));
        let hash = if parts.contradicted {
            // Up to just under `match_score`: contradicted hashes are never a match.
            let top = review + 0.99 * (matched - review);
            carry(parts.hash, &[(0.0, 0.0), (self.contradicted_review_score, review), (1.0, top)])
        } else {
            let hash_review = self.hash_review_score.min(self.hash_match_score);
            carry(parts.hash, &[(0.0, 0.0), (hash_review, review), (self.hash_match_score, matched), (1.0, 1.0)])
        };
        let score = parts.local.max(hash);
        if parts.another_shot && score >= review {
            // Worth an analyst's look whatever it scores, never a takedown; and below every copy with review-level
            // evidence, since it copies none of the photo.
            score.min(review)
        } else {
            score
        }
    }
}

/// `x` carried along the piecewise linear map through `knots` (increasing in both coordinates; a step where two
/// knots share their first coordinate).
fn carry(x: f32, knots: &[(f32, f32)]) -> f32 {
    let mut y = knots.first().map_or(x, |k| k.1);
    for pair in knots.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if x >= x1 {
            y = y1;
        } else if x >= x0 {
            y = if x1 > x0 { y0 + (x - x0) / (x1 - x0) * (y1 - y0) } else { y1 };
            break;
        }
    }
    y.clamp(0.0, 1.0)
}

/// An edit the evidence says the listing made to the reference photo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Alteration {
    /// Mirrored (possibly also rotated, see the transform).
    Mirrored,
    /// Rotated (counter-clockwise degrees as seen): quarter turns from the hashes, any angle from local features.
    Rotated {
        /// In (-180, 180] from local features; 90, 180 or 270 from the hashes.
        degrees: f32,
    },
    /// Only part of the reference is shown (local features).
    Cropped {
        /// The part shown, in reference pixels.
        region: Rect,
    },
    /// The reference fills only part of the listing: padded, pasted onto another background, or in a collage
    /// (local features).
    Placed {
        /// Where it sits, in listing pixels.
        region: Rect,
    },
    /// Seen in perspective: a homography explains the matches clearly better than a similarity.
    Perspective,
    /// The colours differ noticeably while the structure matches (hue shift of the copied part, or of the whole
    /// photo when there is no local evidence).
    Recoloured,
    /// Turned to shades of grey.
    Greyscale,
    /// Brightened or darkened: the copied part's median brightness changed by `shift` levels (of 255).
    Brightness {
        /// Listing minus reference; positive is brighter.
        shift: f32,
    },
    /// Something drawn over the copy (text, a logo): a part of the matched area whose details the reference does
    /// not have.
    Overlay {
        /// Where, in listing pixels (the cells found, merged).
        region: Rect,
    },
    /// Contrast raised or lowered: the spread of the copied part's brightness, listing over reference.
    Contrast {
        /// Over 1: more contrast.
        ratio: f32,
    },
    /// The width/height ratio changed: cropped, padded or stretched.
    AspectChanged {
        /// Reference width / height.
        reference: f32,
        /// Listing width / height.
        listing: f32,
    },
    /// Shown at a different size (longer side of the listing over that of the reference).
    Resized {
        /// The size ratio.
        scale: f32,
    },
    /// Not a copy of this photo but another photograph of the same scene or product (the other camera of a stereo
    /// pair, another frame of a burst, a re-shoot on the same set): many right matches miss the one transform a
    /// copy would follow (parallax, things that moved), and the inliers themselves sit loosely. Worth an analyst's
    /// look (a leaked shoot), not a takedown: the verdict is at most `review`.
    AnotherShot {
        /// Matches displaced from the transform by one to four tolerances while agreeing with its rotation and
        /// scale ([`LocalEvidence::near_misses`]).
        near_misses: usize,
        /// The verified inliers, for comparison.
        inliers: usize,
    },
}

impl Alteration {
    /// The kind of edit, as serialised (the `kind` field of its JSON): `"mirrored"`, `"rotated"`, `"cropped"`,
    /// `"placed"`, `"perspective"`, `"recoloured"`, `"greyscale"`, `"brightness"`, `"overlay"`, `"contrast"`,
    /// `"aspect_changed"`, `"resized"` or `"another_shot"`: for counting or filtering edits without matching
    /// every variant.
    ///
    /// ```
    /// use knockoff::Alteration;
    ///
    /// assert_eq!(Alteration::Resized { scale: 0.5 }.kind(), "resized");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Alteration::Mirrored => "mirrored",
            Alteration::Rotated { .. } => "rotated",
            Alteration::Cropped { .. } => "cropped",
            Alteration::Placed { .. } => "placed",
            Alteration::Perspective => "perspective",
            Alteration::Recoloured => "recoloured",
            Alteration::Greyscale => "greyscale",
            Alteration::Brightness { .. } => "brightness",
            Alteration::Overlay { .. } => "overlay",
            Alteration::Contrast { .. } => "contrast",
            Alteration::AspectChanged { .. } => "aspect_changed",
            Alteration::Resized { .. } => "resized",
            Alteration::AnotherShot { .. } => "another_shot",
        }
    }

    /// Words for reports, e.g. "rotated 90° counter-clockwise".
    pub fn describe(&self) -> String {
        match self {
            Alteration::Mirrored => "mirrored".into(),
            Alteration::Rotated { degrees } if *degrees == 270.0 => "rotated 90° clockwise".into(),
            Alteration::Rotated { degrees } if *degrees == 180.0 || *degrees == -180.0 => "rotated 180°".into(),
            Alteration::Rotated { degrees } if *degrees < 0.0 => format!("rotated {}° clockwise", angle_text(-degrees)),
            Alteration::Rotated { degrees } => format!("rotated {}° counter-clockwise", angle_text(*degrees)),
            Alteration::Cropped { region: r } => {
                format!("cropped to {:.0}x{:.0} at ({:.0}, {:.0}) of the reference", r.width, r.height, r.x, r.y)
            }
            Alteration::Placed { region: r } => {
                format!("placed at ({:.0}, {:.0}), {:.0}x{:.0}, in the listing", r.x, r.y, r.width, r.height)
            }
            Alteration::Perspective => "seen in perspective".into(),
            Alteration::Recoloured => "recoloured".into(),
            Alteration::Greyscale => "greyscale".into(),
            Alteration::Overlay { region: r } => format!(
                "overlaid text or logo at ({:.0}, {:.0}), {:.0}x{:.0}, in the listing",
                r.x, r.y, r.width, r.height
            ),
            Alteration::Brightness { shift } if *shift >= 0.0 => format!("brighter (+{shift:.0} levels)"),
            Alteration::Brightness { shift } => format!("darker ({shift:.0} levels)"),
            Alteration::Contrast { ratio } if *ratio >= 1.0 => format!("more contrast (×{ratio:.2})"),
            Alteration::Contrast { ratio } => format!("less contrast (×{ratio:.2})"),
            Alteration::AspectChanged { reference, listing } => {
                format!("cropped, padded or stretched (aspect {reference:.2} → {listing:.2})")
            }
            Alteration::Resized { scale } => format!("resized ×{scale:.2}"),
            Alteration::AnotherShot { near_misses, inliers } => format!(
                "another shot of the same scene, not a copy ({near_misses} matches displaced by parallax or motion, \
                 {inliers} on the transform)"
            ),
        }
    }
}

/// Whole degrees without a decimal, others with one.
fn angle_text(degrees: f32) -> String {
    if degrees.fract() == 0.0 { format!("{degrees:.0}") } else { format!("{degrees:.1}") }
}

/// Why two photos scored as they did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// PDQ distance under the best dihedral transform (0 to 256).
    pub pdq_distance: u32,
    /// Which of PDQ's eight variants of the reference is nearest the listing (at `pdq_distance`). Only evidence of
    /// how the listing is oriented when that distance is small (see `transform`): between unrelated photos the
    /// nearest of eight is chance.
    pub pdq_variant: Dihedral,
    /// How the listing is oriented relative to the reference, as far as the evidence shows: from the verified
    /// geometry when there is one (`None` when it is rotated by other than a right angle), from PDQ's variant when
    /// PDQ is close enough to be evidence on its own (at most [`PDQ_EVIDENCE`] bits), otherwise `None`.
    pub transform: Option<Dihedral>,
    /// PDQ distance of the photos as they are.
    pub pdq_distance_as_is: u32,
    /// The lower of the two PDQ quality scores (0 to 100); under about 50 the PDQ distance says little.
    pub pdq_quality: u8,
    /// aHash distance (0 to 64), photos as they are.
    pub ahash_distance: u32,
    /// dHash distance (0 to 64), photos as they are.
    pub dhash_distance: u32,
    /// pHash distance (0 to 64), photos as they are.
    pub phash_distance: u32,
    /// Colour signature distance, 0 (same colours) to 1.
    pub colour_distance: f32,
    /// Hue distance of the chromatic parts, 0 to 1; `None` when either photo is mostly grey. Beyond 0.5 it lowers
    /// the score (another colour of the same template).
    pub hue_distance: Option<f32>,
    /// Geometric verification of the local features, when both photos have them and a transform was found.
    pub local: Option<LocalEvidence>,
    /// The score the local evidence alone gives (0 without it); the score is the better of this and `hash_score`.
    pub local_score: f32,
    /// The score the hashes and colours alone give (after the discount when `hashes_contradicted`).
    #[serde(default)]
    pub hash_score: f32,
    /// Either photo has plenty of keypoints and verification found no geometry (or geometry over under 5% of the
    /// overlap): the hashes' likeness is more likely layout than copying, and gives at most `review`.
    #[serde(default)]
    pub hashes_contradicted: bool,
    /// The edits the evidence points to, for reports.
    pub alterations: Vec<Alteration>,
}

/// How similar a listing is to a reference, with the evidence and a verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    /// In [0, 1]; higher is more similar. In the verdict's scale: `match` from the thresholds' `match_score` and
    /// `review` from their `review_score`, whether verified geometry or the hashes make it (see
    /// [`Thresholds`]), so ranking by score ranks by the verdict first. Under the default thresholds it is the
    /// better of the hashes' part and the local part, but for hashes that local features contradict and another
    /// shot of the scene, which are held in the review band.
    pub score: f32,
    /// The verdict under the thresholds used.
    pub verdict: Verdict,
    /// What the score is made of.
    pub evidence: Evidence,
}

/// Colour distance above which a structural match is reported as recoloured.
const RECOLOURED: f32 = 0.35;
/// PDQ distance up to which PDQ alone is evidence of a copy (and of its orientation): its similarity part is then
/// at least one half. Unrelated photos differ by 128 ± 16 bits, and the nearest of eight variants still by ~110.
pub const PDQ_EVIDENCE: u32 = 64;
/// How much a complete hue mismatch between two chromatic photos lowers the score.
const HUE_WEIGHT: f32 = 0.5;
/// Hue distances up to this cost nothing: a light hue shift (a counterfeiter's edit) keeps neighbouring hue bins
/// in common; another colour of the same product does not.
const HUE_FREE: f32 = 0.5;

/// Compares a reference with a listing under the default [`Thresholds`].
///
/// The score is symmetric; the order only sets the direction of the reported transform (the listing as the
/// reference transformed).
///
/// Fingerprints alone: a copy shown small in the listing gets no closer look at its pixels here, as it does in
/// scans, [`ReferenceIndex::search_photo`](crate::ReferenceIndex::search_photo) and the `compare` example, so
/// those can score the same pair higher (the bundled rocket collage: 0.85 here, 0.94 there). For that, keep the
/// listing's pixels and call [`zoom::compare_photo`](crate::zoom::compare_photo).
///
/// ```
/// use knockoff::{compare, Fingerprinter, FingerprintConfig, Verdict};
///
/// let config = FingerprintConfig::default();
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
/// let reference = Fingerprinter::for_references(config).fingerprint_path(format!("{dir}/refs/coffee.jpg"))?;
/// let listing = Fingerprinter::for_listings(config).fingerprint_path(format!("{dir}/listings/coffee-mirrored.jpg"))?;
/// let similarity = compare(&reference, &listing);
/// assert_eq!(similarity.verdict, Verdict::Match);
/// assert!(similarity.evidence.transform.is_some_and(|t| t.is_mirrored()));
/// # Ok::<(), knockoff::Error>(())
/// ```
pub fn compare(reference: &Fingerprint, listing: &Fingerprint) -> Similarity {
    compare_with(reference, listing, &Thresholds::default())
}

/// [`compare`] with explicit thresholds.
pub fn compare_with(reference: &Fingerprint, listing: &Fingerprint, thresholds: &Thresholds) -> Similarity {
    judge_with_local(reference, listing, verify_local(reference, listing), thresholds)
}

/// The similarity of two fingerprints given what local verification found (`local`, in the listing's pixels): the
/// hashes compared here, the local evidence as found (by [`compare_with`] on the fingerprints, or by a closer look
/// at the listing's pixels, [`crate::zoom`]).
pub(crate) fn judge_with_local(
    reference: &Fingerprint,
    listing: &Fingerprint,
    local: Option<LocalEvidence>,
    thresholds: &Thresholds,
) -> Similarity {
    let (pdq_distance, transform) = best_pdq(reference, listing);
    let dist = |a: &Hash, b: &Hash| a.distance_unchecked(b);
    let ahash_distance = dist(&reference.ahash, &listing.ahash);
    let dhash_distance = dist(&reference.dhash, &listing.dhash);
    let phash_distance = dist(&reference.phash, &listing.phash);
    let colour_distance = reference.colour.distance(&listing.colour);
    let hue_distance = reference.colour.hue_distance(&listing.colour);
    let hash_score = combine(pdq_distance, transform, [ahash_distance, dhash_distance, phash_distance], hue_distance)
        * blank_factor(reference, listing);
    let parts = parts(reference, listing, hash_score, local.as_ref());
    let (local_score, score) = (parts.local, thresholds.score(&parts));
    // One source of truth for what was done: the verified geometry when it is trusted, PDQ when it is close
    // enough to be evidence on its own, otherwise nothing (an unrelated photo has no alterations).
    let (alterations, orientation) = match &local {
        Some(l) if local_score >= LOCAL_TRUSTED => {
            let mut alterations = local_alterations(reference, listing, l);
            if parts.another_shot {
                alterations.insert(0, Alteration::AnotherShot { near_misses: l.near_misses, inliers: l.inliers });
            }
            (alterations, geometry_dihedral(l))
        }
        _ if pdq_distance <= PDQ_EVIDENCE => (alterations(reference, listing, transform), Some(transform)),
        _ => (Vec::new(), None),
    };
    let evidence = Evidence {
        pdq_distance,
        pdq_variant: transform,
        transform: orientation,
        pdq_distance_as_is: dist(reference.pdq.hash(), listing.pdq.hash()),
        pdq_quality: reference.pdq.quality.min(listing.pdq.quality),
        ahash_distance,
        dhash_distance,
        phash_distance,
        colour_distance,
        hue_distance,
        local,
        local_score,
        hash_score: parts.hash,
        hashes_contradicted: parts.contradicted,
        alterations,
    };
    Similarity { score, verdict: thresholds.judge(&parts), evidence }
}

/// The score alone, without building the evidence (the same value as [`compare`]'s).
pub fn score(reference: &Fingerprint, listing: &Fingerprint) -> f32 {
    let parts = parts(reference, listing, hash_score(reference, listing), verify_local(reference, listing).as_ref());
    Thresholds::default().score(&parts)
}

/// Another shot of the scene is told from a copy by how loosely its matches follow the fitted transform: the near
/// misses ([`LocalEvidence::near_misses`]) as a share of the inliers, in units of this share...
const NEAR_MISS_UNIT: f32 = 0.12;
/// ... plus the inliers' median miss ([`LocalEvidence::residual`]), in units of this...
const RESIDUAL_UNIT: f32 = 0.5;
/// ... must reach this, with at least `ANOTHER_SHOT_NEAR_MISSES` near misses. When it was set, on the re-shoot
/// benchmark (`examples/reshoots.rs`), 989 verified copies (33 edits of 30 photos: JPEG 20, perspective, rotations,
/// crops, collages) reached at most 0.94 (listings' keypoints found at 640, 800 or 1,024 pixels); the stereo pairs
/// and frames of a moving camera that verify, 1.8 (at 1,024) to 3.2, with 5 to 22 near misses. One copy of the
/// accuracy benchmark (rotated 15°, cropped, JPEG 30: jittery keypoints) reached 1.40 on 3 near misses, hence the
/// minimum of 5. With the listing pyramid of 2026-11-30, copies reach up to 2.64; of those past 1.4, all but 3 of
/// the 990 (copies of chessboard photos, 1.45-1.94) have fewer than 5 near misses, and the re-shoots called another
/// shot measure 1.43-4.79: no margin is left, and this is the figure to move when a better measure is found.
const ANOTHER_SHOT: f32 = 1.4;
const ANOTHER_SHOT_NEAR_MISSES: usize = 5;
/// ... and the inliers themselves must sit loosely: parallax moves every match a little, so another shot's inliers
/// miss by a median of 0.24 to 0.41 tolerances (the re-shoot benchmark's stereo pair and frames of a moving camera).
/// A copy whose inliers sit tight but has a few near misses beside them (JPEG 30 blocks on a fine repeated texture,
/// a text watermark, the shrunk pixels of a small paste) is not another shot: on the catalog benchmark at 5,099
/// references, 6 of the 8 copies called another shot had a median miss of 0.09 to 0.15.
const ANOTHER_SHOT_RESIDUAL: f32 = 0.18;

/// Whether verified geometry is another photograph of the same scene rather than a copy (see
/// [`Alteration::AnotherShot`]): its matches sit loosely (the near misses and median miss above), or they sit
/// somewhat loosely and the way they miss is shared by neighbours (a field, as parallax and moved things make).
fn is_another_shot(e: &LocalEvidence) -> bool {
    let near_share = e.near_misses as f32 / e.inliers.max(1) as f32;
    let loose = e.near_misses >= ANOTHER_SHOT_NEAR_MISSES
        && e.residual >= ANOTHER_SHOT_RESIDUAL
        && near_share / NEAR_MISS_UNIT + e.residual / RESIDUAL_UNIT >= ANOTHER_SHOT;
    let shifted = e.inliers >= SHIFTED_INLIERS
        && e.near_misses >= ANOTHER_SHOT_NEAR_MISSES
        && e.residual >= SHIFTED_RESIDUAL
        && e.shift_coherence >= SHIFTED_COHERENCE;
    loose || shifted
}

/// The second test: at least this many inliers (the field is measured from their neighbours) ...
const SHIFTED_INLIERS: usize = 30;
/// ... a median miss of at least this (the view of the motorcycle a quarter of the stereo baseline away: 0.35,
/// with 11 near misses of 141 inliers, 1.35 by the first test; two optical-flow frames of moving players: 0.27) ...
const SHIFTED_RESIDUAL: f32 = 0.25;
/// ... and a [`LocalEvidence::shift_coherence`] of at least this (those two: 0.50 and 0.43). On the re-shoot
/// benchmark's 1,023 copies the coherence reached at most 0.33; tried alone (at 0.38, with a shared shift of 0.15
/// tolerances), a 40% crop of a calibration board on the catalog benchmark reached 0.41-0.46, but its matches sit
/// tight. With the median-miss floor no copy or negative of the catalog benchmark (3,265 listings) or of the same
/// catalog under the 33 everyday edits (5,825 listings), against 5,099 references, is called another shot by it.
const SHIFTED_COHERENCE: f32 = 0.4;

/// Keypoints either photo needs before the absence of geometric matches counts against the hashes.
const CONTRADICTION_KEYPOINTS: usize = 150;
/// The hash score's weight when local features had plenty to match and found nothing.
const CONTRADICTED_WEIGHT: f32 = 0.9;
/// Coverage under which verified geometry contradicts the hashes too: the photos share an element (a logo, a
/// repeated motif) while the rest of the overlap differs. On the catalog benchmark at 5,099 references, a
/// texture's neighbouring tile, whose repeated pattern gave 10 inliers over 2.5% of the overlap, was a hash-only
/// `match` (0.64 against a bar of 0.59); no copy there is matched by its hashes with verified geometry this thin.
const CONTRADICTING_COVERAGE: f32 = 0.05;

/// What a score is made of: the hashes' part, the local part, whether the geometry contradicts the hashes, and
/// whether it shows another shot of the scene.
struct Parts {
    hash: f32,
    local: f32,
    contradicted: bool,
    another_shot: bool,
}

/// The two parts of the score. When either photo is rich in keypoints and none match geometrically (or the matches
/// cover only a sliver of the overlap), the hashes' likeness is more likely layout than copying (two products on
/// the same white canvas, two tiles of one pattern): it counts a little less,
/// and it is marked contradicted (at most `Review`, see [`Thresholds`]). A copy of a detailed photo keeps keypoints
/// to match, and a copy of a flat shot has few on either side, so it keeps its hash score. Trusted geometry that
/// follows no single transform closely is another shot of the scene ([`Alteration::AnotherShot`]).
fn parts(reference: &Fingerprint, listing: &Fingerprint, hash_score: f32, local: Option<&LocalEvidence>) -> Parts {
    let local_score = local.map_or(0.0, local_score);
    let keypoints = |f: &Fingerprint| f.local.as_ref().map_or(0, |l| l.len());
    let rich = keypoints(reference).max(keypoints(listing)) >= CONTRADICTION_KEYPOINTS;
    let thin = local.is_some_and(|l| l.coverage < CONTRADICTING_COVERAGE);
    let contradicted = rich && (local_score < 0.1 || thin);
    let hash = if contradicted { hash_score * CONTRADICTED_WEIGHT } else { hash_score };
    let another_shot = local.is_some_and(|l| local_score >= LOCAL_TRUSTED && is_another_shot(l));
    Parts { hash, local: local_score, contradicted, another_shot }
}

/// The hashes' and colour's part of the score alone: ~100 ns, what picking candidates among many references
/// needs before verifying the best of them.
pub fn hash_score(reference: &Fingerprint, listing: &Fingerprint) -> f32 {
    let (pdq_distance, transform) = best_pdq(reference, listing);
    let d = [
        reference.ahash.distance_unchecked(&listing.ahash),
        reference.dhash.distance_unchecked(&listing.dhash),
        reference.phash.distance_unchecked(&listing.phash),
    ];
    combine(pdq_distance, transform, d, reference.colour.hue_distance(&listing.colour))
        * blank_factor(reference, listing)
}

/// What the hashes' likeness is worth: all of it, but where either photo is blank (PDQ quality 0: no gradient
/// anywhere). A blank photo hashes to zeros whatever its colour, so its hashes agree with every other blank's (a
/// white placeholder "matched" a black one at 0.56): only the colours can tell two such photos apart.
fn blank_factor(reference: &Fingerprint, listing: &Fingerprint) -> f32 {
    if reference.pdq.quality.min(listing.pdq.quality) == 0 {
        (1.0 - reference.colour.distance(&listing.colour)).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// Best PDQ distance over the dihedral variants, looked for in both directions (the variants are computed from
/// each photo's own DCT, so the two directions can differ by a few bits; taking the better keeps the score
/// symmetric).
fn best_pdq(reference: &Fingerprint, listing: &Fingerprint) -> (u32, Dihedral) {
    let forward = reference.pdq.best_match(listing.pdq.hash());
    let (backward_distance, backward) = listing.pdq.best_match(reference.pdq.hash());
    if backward_distance < forward.0 { (backward_distance, backward.inverse()) } else { forward }
}

fn combine(pdq_distance: u32, transform: Dihedral, [a, d, p]: [u32; 3], hue_distance: Option<f32>) -> f32 {
    let sim = |distance: u32, bits: u32| (1.0 - distance as f32 / (bits as f32 / 2.0)).clamp(0.0, 1.0);
    let pdq = sim(pdq_distance, 256);
    let structural = if transform == Dihedral::Original {
        0.6 * pdq + 0.25 * sim(p, 64) + 0.1 * sim(d, 64) + 0.05 * sim(a, 64)
    } else {
        pdq
    };
    let hue_penalty = hue_distance.map_or(0.0, |h| HUE_WEIGHT * ((h - HUE_FREE) / (1.0 - HUE_FREE)).clamp(0.0, 1.0));
    (structural - hue_penalty).clamp(0.0, 1.0)
}

/// Local score from which the alterations are read from the verified geometry rather than the hashes.
const LOCAL_TRUSTED: f32 = 0.5;
/// Inliers at which the local score reaches one half (before the coverage discount). On the accuracy benchmark
/// unrelated pairs reach at most 4 inliers and copies at least 11 (a 40% crop of a silhouette).
const LOCAL_HALF: f32 = 8.0;
/// Coverage at and above which inliers count in full: copies reach 0.1 to 0.9 even in collages; photos sharing
/// only a logo, a label or a pattern stay under it.
const COVERAGE_FULL: f32 = 0.15;
/// Share of a photo's area the overlap's bounds must reach for the photo to count as held whole by the other.
const HELD_WHOLE: f32 = 0.9;

/// How much of the local evidence counts given how the photos overlap: all of it where one photo lies (nearly)
/// whole within the other under the verified geometry, less as the overlap shrinks. A copy shows the whole
/// reference (resized, padded, pasted, in a collage) or lies within it (cropped), and the overlap's bounds then
/// fill one of the two photos. Where one photo's edge cuts through the other, they share a part: a repeated asset
/// (a vent grille, a logo on two products), a texture's neighbouring tile, another shot from a moved camera, or a
/// crop placed into a collage.
fn containment_factor(e: &LocalEvidence) -> f32 {
    let share =
        |r: &Rect, (w, h): (u32, u32)| (r.width.max(0.0) * r.height.max(0.0)) / (w.max(1) as f32 * h.max(1) as f32);
    let held = share(&e.listing_region, e.listing_size).max(share(&e.reference_region, e.reference_size));
    (held / HELD_WHOLE).min(1.0)
}

/// Hue shifts of the matched patches up to this (degrees) cost nothing: a counterfeiter's tint...
const LOCAL_HUE_FREE: f32 = 60.0;
/// ... and from this on, the photos are the same template in another colour, not a copy.
const LOCAL_HUE_NONE: f32 = 100.0;

fn verify_local(reference: &Fingerprint, listing: &Fingerprint) -> Option<LocalEvidence> {
    let (r, l) = (reference.local.as_deref()?, listing.local.as_deref()?);
    verify(r, (reference.width, reference.height), l, (listing.width, listing.height), &VerifyConfig::default())
}

/// Verified inliers of a similarity fit (at full coverage, no hue shift; a homography needs `HOMOGRAPHY_CHARGE`
/// more) whose local score reaches `score`: the inverse of
/// [`local_score`], for reports that say what a threshold asks.
#[cfg(feature = "report")]
pub(crate) fn inliers_for_local_score(score: f32) -> f32 {
    LOCAL_HALF * score / (1.0 - score).max(1e-3)
}

/// Inliers a homography fit is charged beyond a similarity fit: its minimal sample is four matches rather than
/// two, and a sample's own matches are inliers whatever the photos. With few matches, its freedom (eight degrees
/// rather than four) finds alignments a similarity does not: on the catalog benchmark at 5,099 references, two
/// different textures cut to the same ellipse on white verified with 9 homography inliers along the rim (a
/// `match`), while of the 1,639 copies verified there, one used a homography, with more than 10 inliers.
const HOMOGRAPHY_CHARGE: f32 = 2.0;

/// How much of the local evidence counts given how the inliers spread over what both photos show: all of it
/// when they spread as a copy's do, less and less as they gather on one spot of a region both photos fill with
/// detail (the same logo or label on two different photos). The inliers' hull ([`LocalEvidence::spread`]) is
/// measured against what as many points scattered evenly over a square would cover, `1 - 8/3 ln n / n` (Rényi and
/// Sulanke), since a few inliers cover little of any region. Measured: a text label stamped on two different photos
/// (20 to 50% of the width) spreads 0.01 to 0.10 (at most 0.13 of even scattering), while of the catalog
/// benchmark's 1,744 copies with 8 or more inliers 7 spread under 0.3 of even scattering, the lowest (0.07, 0.10)
/// flat crops whose few inliers sit in one corner while a watermark adds keypoints over the rest. Squared, so that
/// a label's tens of inliers weigh as a handful.
fn spread_factor(e: &LocalEvidence) -> f32 {
    if e.inliers < SPREAD_MIN_INLIERS {
        return 1.0;
    }
    let n = e.inliers as f32;
    let even = 1.0 - 8.0 / 3.0 * n.ln() / n;
    let spread = e.spread / even;
    (spread / SPREAD_FULL).min(1.0).powi(2)
}

/// Inliers from which their spread counts (fewer cover too little of anything to tell).
const SPREAD_MIN_INLIERS: usize = 8;
/// Spread (relative to even scattering) from which the inliers count in full.
const SPREAD_FULL: f32 = 0.3;

/// The local evidence as a score in [0, 1].
fn local_score(e: &LocalEvidence) -> f32 {
    let charge = if e.homography.is_some() { HOMOGRAPHY_CHARGE } else { 0.0 };
    let inliers = (e.inliers as f32 - charge).max(0.0);
    let strength = inliers * (e.coverage / COVERAGE_FULL).min(1.0) * containment_factor(e) * spread_factor(e);
    let hue = e
        .hue_shift_degrees
        .map_or(1.0, |h| 1.0 - ((h.abs() - LOCAL_HUE_FREE) / (LOCAL_HUE_NONE - LOCAL_HUE_FREE)).clamp(0.0, 1.0));
    strength / (strength + LOCAL_HALF) * hue
}

/// The dihedral transform the verified geometry amounts to, when it is rotated by a right angle (within 5°).
fn geometry_dihedral(e: &LocalEvidence) -> Option<Dihedral> {
    let degrees = e.decomposition.rotation_degrees.rem_euclid(360.0);
    let quarter = (degrees / 90.0).round();
    if (degrees - quarter * 90.0).abs() > 5.0 {
        return None;
    }
    // Dihedral's convention is the decomposition's: mirror left to right first, then rotate counter-clockwise.
    Dihedral::ALL.into_iter().find(|d| {
        d.is_mirrored() == e.mirrored && f64::from(d.rotation_degrees()) == (quarter * 90.0).rem_euclid(360.0)
    })
}

/// Brightness changes (luma levels) up to this are recompression and resampling, not an edit.
const BRIGHTNESS_FREE: f32 = 12.0;
/// Contrast ratios within this factor either way are not an edit.
const CONTRAST_FREE: f32 = 1.25;
/// Saturation ratio under which a copy of a coloured photo is greyscale.
const GREYSCALE: f32 = 0.25;

/// The edits local verification shows: exact rotation, mirror, crop and placement, perspective, scale, and the
/// colour changes of the copied part (hue, greyscale, brightness, contrast), measured on the matched patches so
/// a new background around a pasted copy does not count.
fn local_alterations(reference: &Fingerprint, listing: &Fingerprint, e: &LocalEvidence) -> Vec<Alteration> {
    let mut out = Vec::new();
    let d = &e.decomposition;
    if e.mirrored {
        out.push(Alteration::Mirrored);
    }
    if e.rotation_degrees().abs() >= 1.5 {
        out.push(Alteration::Rotated { degrees: e.rotation_degrees() });
    }
    if e.homography.is_some() {
        out.push(Alteration::Perspective);
    }
    let area = |r: &Rect| r.width * r.height;
    let reference_area = reference.width as f32 * reference.height as f32;
    if area(&e.reference_region) < 0.95 * reference_area {
        out.push(Alteration::Cropped { region: e.reference_region });
    }
    let listing_area = listing.width as f32 * listing.height as f32;
    if area(&e.listing_region) < 0.9 * listing_area {
        out.push(Alteration::Placed { region: e.listing_region });
    }
    if (d.scale - 1.0).abs() > 0.05 {
        out.push(Alteration::Resized { scale: d.scale as f32 });
    }
    if e.saturation_ratio.is_some_and(|s| s < GREYSCALE) {
        out.push(Alteration::Greyscale);
    } else if e.hue_shift_degrees.is_some_and(|h| h.abs() > 15.0) {
        out.push(Alteration::Recoloured);
    }
    if e.brightness_shift.abs() > BRIGHTNESS_FREE {
        out.push(Alteration::Brightness { shift: e.brightness_shift.round() });
    }
    if let Some(ratio) = e.contrast_ratio.filter(|r| !(1.0 / CONTRAST_FREE..=CONTRAST_FREE).contains(r)) {
        out.push(Alteration::Contrast { ratio });
    }
    if let Some(first) = e.overlays.first() {
        // One region for the report: the cells' bounding box.
        let region = e.overlays.iter().fold(*first, |a, b| {
            let (x0, y0) = (a.x.min(b.x), a.y.min(b.y));
            let (x1, y1) = ((a.x + a.width).max(b.x + b.width), (a.y + a.height).max(b.y + b.height));
            Rect { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }
        });
        out.push(Alteration::Overlay { region });
    }
    out
}

/// Share of chromatic pixels above which a photo counts as coloured, and under which as grey.
const COLOURED_SHARE: f32 = 0.15;
const GREY_SHARE: f32 = 0.02;

/// The edits the hashes point to (no trusted geometry, PDQ close): PDQ's variant, the colours, the shape.
fn alterations(reference: &Fingerprint, listing: &Fingerprint, t: Dihedral) -> Vec<Alteration> {
    let mut out = Vec::new();
    if t.is_mirrored() {
        out.push(Alteration::Mirrored);
    }
    if t.rotation_degrees() != 0 {
        out.push(Alteration::Rotated { degrees: t.rotation_degrees() as f32 });
    }
    if reference.colour.chromatic_share() >= COLOURED_SHARE && listing.colour.chromatic_share() <= GREY_SHARE {
        out.push(Alteration::Greyscale);
    } else if reference.colour.distance(&listing.colour) > RECOLOURED {
        out.push(Alteration::Recoloured);
    }
    // Compare shapes in the reference's orientation: a quarter turn swaps width and height.
    let (lw, lh) = if t.rotation_degrees() % 180 == 90 {
        (listing.height, listing.width)
    } else {
        (listing.width, listing.height)
    };
    let aspect = |w: u32, h: u32| w as f32 / h.max(1) as f32;
    let (ra, la) = (aspect(reference.width, reference.height), aspect(lw, lh));
    if (ra / la - 1.0).abs() > 0.03 {
        out.push(Alteration::AspectChanged { reference: ra, listing: la });
    }
    let scale = lw.max(lh) as f32 / reference.width.max(reference.height).max(1) as f32;
    if (scale - 1.0).abs() > 0.05 {
        out.push(Alteration::Resized { scale });
    }
    out
}

/// One reference in a ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// Position of the reference in the slice that was searched.
    pub index: usize,
    /// How it compares with the listing.
    pub similarity: Similarity,
}

/// The `k` references most similar to `listing`, best first (ties by index), compared in parallel: every
/// reference, by [`compare`]. For a catalog, a [`ReferenceIndex`](crate::ReferenceIndex) shortlists first.
///
/// ```
/// use knockoff::{top_k, Fingerprinter, FingerprintConfig};
///
/// let config = FingerprintConfig::default();
/// let (references, listings) = (Fingerprinter::for_references(config), Fingerprinter::for_listings(config));
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
/// let refs = ["coffee", "chelsea", "rocket"]
///     .map(|name| references.fingerprint_path(format!("{dir}/refs/{name}.jpg")))
///     .into_iter()
///     .collect::<Result<Vec<_>, _>>()?;
/// let listing = listings.fingerprint_path(format!("{dir}/listings/rocket-recompressed.jpg"))?;
/// let best = top_k(&listing, &refs, 1);
/// assert_eq!(best[0].index, 2);
/// # Ok::<(), knockoff::Error>(())
/// ```
pub fn top_k(listing: &Fingerprint, references: &[Fingerprint], k: usize) -> Vec<Ranked> {
    top_k_with(listing, references, k, &Thresholds::default())
}

/// [`top_k`] with explicit thresholds.
pub fn top_k_with(listing: &Fingerprint, references: &[Fingerprint], k: usize, thresholds: &Thresholds) -> Vec<Ranked> {
    let references: Vec<&Fingerprint> = references.iter().collect();
    top_k_of(listing, &references, k, thresholds)
}

/// [`top_k_with`] over borrowed fingerprints.
pub(crate) fn top_k_of(
    listing: &Fingerprint,
    references: &[&Fingerprint],
    k: usize,
    thresholds: &Thresholds,
) -> Vec<Ranked> {
    // Local verification costs about as much as the evidence, so every reference is compared in full.
    let mut ranked: Vec<Ranked> = references
        .par_iter()
        .enumerate()
        .map(|(index, r)| Ranked { index, similarity: compare_with(r, listing, thresholds) })
        .collect();
    ranked.sort_by(|a, b| b.similarity.score.total_cmp(&a.similarity.score).then(a.index.cmp(&b.index)));
    ranked.truncate(k);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FingerprintConfig, Fingerprinter};

    /// `kind` names each edit as its JSON does.
    #[test]
    fn an_alterations_kind_is_its_serialised_kind() {
        let region = Rect { x: 1.0, y: 2.0, width: 3.0, height: 4.0 };
        let all = [
            Alteration::Mirrored,
            Alteration::Rotated { degrees: 10.0 },
            Alteration::Cropped { region },
            Alteration::Placed { region },
            Alteration::Perspective,
            Alteration::Recoloured,
            Alteration::Greyscale,
            Alteration::Brightness { shift: 3.0 },
            Alteration::Overlay { region },
            Alteration::Contrast { ratio: 1.2 },
            Alteration::AspectChanged { reference: 1.0, listing: 1.5 },
            Alteration::Resized { scale: 0.5 },
            Alteration::AnotherShot { near_misses: 3, inliers: 40 },
        ];
        let mut kinds: Vec<&str> = all.iter().map(Alteration::kind).collect();
        for a in &all {
            let json = serde_json::to_value(a).expect("serialisable");
            assert_eq!(json["kind"].as_str(), Some(a.kind()), "{a:?}");
        }
        kinds.dedup();
        assert_eq!(kinds.len(), all.len(), "one kind per variant");
    }

    /// The testdata coffee photo and its 25% crop, as reference and listing.
    fn coffee_and_crop() -> (Fingerprint, Fingerprint) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
        let config = FingerprintConfig::default();
        let reference = Fingerprinter::for_references(config).fingerprint_path(format!("{dir}/refs/coffee.jpg"));
        let listing = Fingerprinter::for_listings(config).fingerprint_path(format!("{dir}/listings/coffee-crop25.jpg"));
        (reference.expect("reference"), listing.expect("listing"))
    }

    #[test]
    fn geometry_over_a_sliver_of_the_overlap_contradicts_the_hashes() {
        let (reference, listing) = coffee_and_crop();
        let mut e = verify_local(&reference, &listing).expect("a crop verifies");
        assert!(!parts(&reference, &listing, 0.9, Some(&e)).contradicted, "a copy's geometry backs its hashes");
        // Ten inliers over 2.5% of the overlap: one shared element, the rest different.
        (e.inliers, e.coverage) = (10, 0.025);
        let thin = parts(&reference, &listing, 0.9, Some(&e));
        assert!(thin.contradicted && thin.local > 0.1, "{} {}", thin.contradicted, thin.local);
        let t = Thresholds::default();
        assert_eq!(t.judge(&thin), Verdict::Review, "hashes alone, contradicted: at most review");
    }

    #[test]
    fn a_homography_needs_two_more_inliers_than_a_similarity() {
        let (reference, listing) = coffee_and_crop();
        let mut e = verify_local(&reference, &listing).expect("a crop verifies");
        e.coverage = 1.0;
        e.hue_shift_degrees = None;
        e.homography = None;
        e.inliers = 9;
        let similarity = local_score(&e);
        e.homography = Some(e.similarity);
        e.inliers = 11;
        assert_eq!(local_score(&e), similarity);
        e.inliers = 9;
        assert!(local_score(&e) < 0.5 && similarity > 0.5, "9 inliers match only as a similarity");
    }

    /// The same matches count for less where neither photo lies within the other: a shared element at the edge of
    /// each (the catalog benchmark's vent grille: 16 inliers over 13% of the overlap, a `match` at 0.64 that set
    /// the zero-false-positive bar at every catalog size) rather than a crop of the reference.
    #[test]
    fn evidence_from_photos_that_merely_overlap_counts_for_less() {
        let (reference, listing) = coffee_and_crop();
        let mut e = verify_local(&reference, &listing).expect("a crop verifies");
        (e.inliers, e.coverage, e.hue_shift_degrees, e.homography) = (16, 0.134, None, None);
        let held = local_score(&e);
        assert!(held > 0.6, "a crop lies within its reference: {held}");
        let band = |(w, h): (u32, u32), y: f32, share: f32| Rect {
            x: 0.0,
            y: y * h as f32,
            width: w as f32,
            height: share * h as f32,
        };
        // The listing's top 43% shows the reference's bottom 24%.
        e.listing_region = band(e.listing_size, 0.0, 0.43);
        e.reference_region = band(e.reference_size, 0.76, 0.24);
        let partly = local_score(&e);
        assert!(partly < LOCAL_TRUSTED && partly < held, "a shared part at both photos' edges: {partly}");
        // A crop placed in a 2x2 collage fills more of the two photos, and its dense matches still match.
        e.listing_region = band(e.listing_size, 0.0, 0.5);
        e.reference_region = band(e.reference_size, 0.4, 0.6);
        (e.inliers, e.coverage) = (30, 0.15);
        assert!(local_score(&e) >= LOCAL_TRUSTED, "{}", local_score(&e));
    }
}
