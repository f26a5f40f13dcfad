//! Geometric verification of two photos' local features: match, fit a transform robustly (plain and mirrored),
//! and describe the result.

use serde::{Deserialize, Serialize};

use super::matcher::{MatchConfig, match_descriptors};
use super::{Keypoint, LocalFeatures};
use crate::geometry::{
    Correspondence, Decomposition, Point, RansacConfig, Transform, agrees, fit_homography, hull_area,
    ransac_homography, ransac_similarity,
};

/// How two photos' local features are verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifyConfig {
    /// Descriptor matching.
    pub matching: MatchConfig,
    /// Robust fitting.
    pub ransac: RansacConfig,
}

/// A rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rect {
    /// Left.
    pub x: f32,
    /// Top.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

/// What local features say about a reference and a listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalEvidence {
    /// The reference photo's size: the pixels every reference position below is in.
    pub reference_size: (u32, u32),
    /// The listing photo's size.
    pub listing_size: (u32, u32),
    /// Keypoints in the reference.
    pub reference_keypoints: usize,
    /// Keypoints in the listing.
    pub listing_keypoints: usize,
    /// Tentative matches (ratio test and cross-check passed) in the orientation that won.
    pub matches: usize,
    /// Matches consistent with one transform (position, keypoint orientation and size).
    pub inliers: usize,
    /// `inliers / matches`.
    pub inlier_ratio: f32,
    /// Inliers over the keypoints that could have matched: those of each photo that fall inside the other once
    /// mapped (the smaller count), and only those whose size the other photo's pyramid covers (a copy shown small
    /// has lost the reference's finest corners). A copy reaches 0.2-0.8; photos that share only a logo or a
    /// pattern stay low.
    pub coverage: f32,
    /// The listing is mirrored.
    pub mirrored: bool,
    /// The similarity transform mapping reference pixels to listing pixels.
    pub similarity: Transform,
    /// Its scale, rotation, mirror and translation.
    pub decomposition: Decomposition,
    /// A homography mapping reference pixels to listing pixels, when it explains clearly more matches than the
    /// similarity (perspective).
    pub homography: Option<Transform>,
    /// Inliers of the homography fit (0 without one).
    pub homography_inliers: usize,
    /// The region of the reference that the listing shows (reference pixels): the crop.
    pub reference_region: Rect,
    /// Where the reference sits in the listing (listing pixels): the quadrant of a collage, the pasted area.
    pub listing_region: Rect,
    /// The reference's outline mapped into the listing (corners from top-left, clockwise; may reach outside it).
    pub outline: [Point; 4],
    /// Median hue difference (degrees, listing minus reference, in (-180, 180]) between the coloured inlier
    /// patches; `None` when fewer than 5 inlier pairs are coloured.
    pub hue_shift_degrees: Option<f32>,
    /// Median brightness change of the inlier patches (listing minus reference, luma levels 0-255): a brightened
    /// or darkened copy, measured on the copied part only, so a pasted copy's new background does not count.
    pub brightness_shift: f32,
    /// Spread of the inlier patches' luma in the listing over that in the reference (under 1: less contrast);
    /// `None` with fewer than 8 inliers.
    pub contrast_ratio: Option<f32>,
    /// Median chroma of the listing's patches over that of the reference's, over the reference's coloured inlier
    /// patches: near 0 for a greyscale copy; `None` when fewer than 5 are coloured.
    pub saturation_ratio: Option<f32>,
    /// Parts of the copy that differ from the reference (listing pixels): overlaid text or a logo, found as a
    /// cell of the matched area (a 4x4 grid) where most of the listing's keypoints have no counterpart in the
    /// reference. Empty when none.
    #[serde(default)]
    pub overlays: Vec<Rect>,
    /// The inliers' median distance from where the transform puts them, in units of their tolerance (0 to 1; the
    /// tolerance grows with the keypoint's size). A copy's inliers sit tight.
    #[serde(default)]
    pub residual: f32,
    /// Matches that miss the transform by one to four tolerances while agreeing with its rotation and scale: right
    /// matches displaced by parallax or motion, the mark of another shot of the same scene rather than a copy.
    #[serde(default)]
    pub near_misses: usize,
    /// How much of the matches' misses their neighbours share, 0 to 1: after the least-squares homography through
    /// the inliers and near misses, the share of each one's miss (in tolerances) that the mean miss of its 6
    /// nearest neighbours predicts. A copy's keypoints jitter independently (about 0: on the re-shoot benchmark's
    /// copies at most 0.33); parallax, which follows depth, and things that moved shift neighbours alike (a stereo
    /// pair 0.57, frames of moving players 0.43). 0 with fewer than 12 such matches.
    #[serde(default)]
    pub shift_coherence: f32,
    /// How far the inliers spread over what both photos show: the area of the inliers' convex hull over the smaller
    /// of the two photos' hulls of keypoints that could have matched (both in reference pixels, within the region
    /// each shows of the other), 0 to 1. A copy's inliers span the region it shows; two different photos that carry
    /// the same logo or label match on that one spot while the rest, with keypoints in both, matches nowhere.
    #[serde(default = "whole")]
    pub spread: f32,
    /// The inlier pairs, best matches first (at most 64): reference point, listing point.
    pub inlier_pairs: Vec<(Point, Point)>,
    /// How much the listing was enlarged around the copy for a closer look ([`crate::zoom`]): a copy shown small
    /// is verified again on its own region of the listing's pixels, enlarged to about the reference's size. `None`
    /// when the listing was verified as it was fingerprinted. The other figures are then those of the closer look
    /// (its keypoints, matches and inliers), with every position in the listing's pixels, except what enlarged
    /// pixels cannot tell: no overlays or contrast are reported.
    #[serde(default)]
    pub zoom: Option<f32>,
}

impl LocalEvidence {
    /// The transform to draw with: the homography when there is one, else the similarity.
    pub fn transform(&self) -> &Transform {
        self.homography.as_ref().unwrap_or(&self.similarity)
    }

    /// The rotation for reports: counter-clockwise degrees rounded to a tenth, and 0 under one degree (a fit
    /// of an unrotated copy lands a few tenths either side: noise, not an edit; this also never gives `-0.0`).
    pub fn rotation_degrees(&self) -> f32 {
        let degrees = (self.decomposition.rotation_degrees * 10.0).round() / 10.0;
        if degrees.abs() < 1.0 { 0.0 } else { degrees as f32 }
    }
}

/// Verifies a listing against a reference. `None` when no transform is supported by at least 4 matches
/// (unrelated photos, or a flat photo with no keypoints).
///
/// Descriptors are matched as they are and mirrored (see [`super::descriptor::mirrored`]); the orientation with
/// more inliers wins, so a mirrored listing is found and reported as such.
pub fn verify(
    reference: &LocalFeatures,
    reference_size: (u32, u32),
    listing: &LocalFeatures,
    listing_size: (u32, u32),
    config: &VerifyConfig,
) -> Option<LocalEvidence> {
    let (rw, rh) = (f64::from(reference_size.0), f64::from(reference_size.1));
    let frame = [(0.0, 0.0), (rw, 0.0), (rw, rh), (0.0, rh)];
    let mut best: Option<Fit> = None;
    for mirror in [false, true] {
        let matches = match_descriptors(&reference.descriptors, &listing.descriptors, mirror, &config.matching);
        let correspondences: Vec<Correspondence> = matches
            .iter()
            .map(|m| {
                correspondence(
                    &reference.keypoints[m.reference as usize],
                    &listing.keypoints[m.listing as usize],
                    mirror,
                )
            })
            .collect();
        // In the fitting frame the listing is mirrored back, so the reference outline keeps its orientation.
        let Some((similarity, inliers)) = ransac_similarity(&correspondences, &config.ransac) else { continue };
        if best.as_ref().is_some_and(|b| b.inliers.len() >= inliers.len()) {
            continue;
        }
        let homography = ransac_homography(&correspondences, &inliers, frame, &config.ransac)
            .filter(|(_, h)| h.len() >= inliers.len() + (inliers.len() / 10).max(3));
        best = Some(Fit { mirror, matches, correspondences, similarity, inliers, homography });
    }
    let fit = best?;
    if fit.inliers.len() < 4 {
        return None;
    }
    Some(fit.evidence(reference, reference_size, listing, listing_size, &config.ransac))
}

struct Fit {
    mirror: bool,
    matches: Vec<super::Match>,
    /// The matches as RANSAC saw them (in the fitting frame: the listing mirrored back when `mirror`).
    correspondences: Vec<Correspondence>,
    similarity: Transform,
    inliers: Vec<usize>,
    homography: Option<(Transform, Vec<usize>)>,
}

/// How far outside a photo's keypoint sizes the other's keypoint may lie, once mapped, and still count towards
/// coverage: one pyramid step (1.2) and a little. On the catalog benchmark at 5,099 references, counting only
/// those matched 1,633 copies to their reference instead of 1,617 (pasted at 30%, pairwise: 85% to 88%) and found
/// 1,576 at zero false positives instead of 1,556; a third negative was called `match` (0.38 to 0.56): a gun icon
/// verified at 2.2x inside a game-mode icon that draws the same gun. Filtering the reference's keypoints only
/// (not symmetric: the score would depend on which photo is the reference) matched 1,630. Other slacks, same
/// run: 1.1 matched 1,636 and found 1,583 at zero false positives, but called 5 negatives `match`; 1.5 matched
/// 1,625 and found 1,570, with 3.
const SIZE_SLACK: f64 = 1.25;

/// The smallest and largest keypoint size (pixels); an empty range when there are none.
fn size_range(keypoints: &[Keypoint]) -> (f64, f64) {
    keypoints
        .iter()
        .fold((f64::INFINITY, 0.0), |(low, high), k| (low.min(f64::from(k.size)), high.max(f64::from(k.size))))
}

/// Whether a keypoint of `size` (in a photo's pixels) lies within that photo's keypoint sizes, give or take
/// `SIZE_SLACK`: whether its pyramid could have described it.
fn resolves((low, high): (f64, f64), size: f64) -> bool {
    size * SIZE_SLACK >= low && size <= high * SIZE_SLACK
}

fn correspondence(r: &Keypoint, l: &Keypoint, mirror: bool) -> Correspondence {
    let (lx, angle) = if mirror {
        (-f64::from(l.x), std::f64::consts::PI - f64::from(l.angle))
    } else {
        (f64::from(l.x), f64::from(l.angle))
    };
    Correspondence {
        reference: (f64::from(r.x), f64::from(r.y)),
        listing: (lx, f64::from(l.y)),
        // Keypoints found on coarser levels are located less precisely.
        tolerance: (0.12 * f64::from(l.size)).max(2.0),
        rotation: angle - f64::from(r.angle),
        scale: f64::from(l.size) / f64::from(r.size).max(1e-6),
    }
}

impl Fit {
    fn evidence(
        &self,
        reference: &LocalFeatures,
        (rw, rh): (u32, u32),
        listing: &LocalFeatures,
        (lw, lh): (u32, u32),
        ransac: &RansacConfig,
    ) -> LocalEvidence {
        // Back from the fitting frame (listing mirrored) to listing pixels.
        let unmirror = |t: &Transform| if self.mirror { Transform::MIRROR.after(t) } else { *t };
        let similarity = unmirror(&self.similarity);
        let decomposition = similarity.decompose();
        let homography = self.homography.as_ref().map(|(h, _)| unmirror(h));
        let (inliers, transform) = match (&self.homography, &homography) {
            (Some((_, hi)), Some(h)) => (hi.as_slice(), *h),
            _ => (self.inliers.as_slice(), similarity),
        };
        let inverse = transform.inverse();
        let (rwf, rhf, lwf, lhf) = (f64::from(rw), f64::from(rh), f64::from(lw), f64::from(lh));
        let inside = |(x, y): Point, w: f64, h: f64| x >= 0.0 && y >= 0.0 && x < w && y < h;
        // A keypoint could have matched only if the other photo's pyramid covers its size once mapped: a copy shown
        // at a third of its size has lost the reference's finest corners to the downsizing, and counting them
        // would make a small pasted copy look like a sliver of shared content (and the same the other way round,
        // for a reference shown enlarged). Under a homography the scale varies over the photo, and a chance one
        // can map the reference to a sliver: all keypoints count then.
        let scale = if homography.is_some() { None } else { Some(decomposition.scale) };
        let (reference_sizes, listing_sizes) = (size_range(&reference.keypoints), size_range(&listing.keypoints));
        // Both photos' keypoints that could have matched, in reference pixels.
        let visible_reference: Vec<Point> = reference
            .keypoints
            .iter()
            .filter(|k| scale.is_none_or(|scale| resolves(listing_sizes, f64::from(k.size) * scale)))
            .map(|k| (f64::from(k.x), f64::from(k.y)))
            .filter(|&p| transform.apply(p).is_some_and(|p| inside(p, lwf, lhf)))
            .collect();
        let listing_inside: Vec<Point> = listing
            .keypoints
            .iter()
            .filter(|k| scale.is_none_or(|scale| resolves(reference_sizes, f64::from(k.size) / scale)))
            .filter_map(|k| inverse.and_then(|inv| inv.apply((f64::from(k.x), f64::from(k.y)))))
            .filter(|&p| inside(p, rwf, rhf))
            .collect();
        // At least 20 in the denominator: a chance transform that maps the reference onto a speck of the listing
        // holds few keypoints, and a handful of chance inliers must not read as high coverage.
        let coverage =
            inliers.len() as f32 / visible_reference.len().min(listing_inside.len()).max(inliers.len()).max(20) as f32;

        let reference_frame = [(0.0, 0.0), (rwf, 0.0), (rwf, rhf), (0.0, rhf)];
        let listing_frame = [(0.0, 0.0), (lwf, 0.0), (lwf, lhf), (0.0, lhf)];
        let outline = reference_frame.map(|p| transform.apply(p).unwrap_or((f64::NAN, f64::NAN)));
        let listing_region = clipped_bounds(&outline, lwf, lhf);
        let shown: Vec<Point> = listing_frame.iter().filter_map(|&p| inverse.and_then(|inv| inv.apply(p))).collect();
        let reference_region = clipped_bounds(&shown, rwf, rhf);

        let pair = |i: usize| {
            let m = &self.matches[i];
            (&reference.keypoints[m.reference as usize], &listing.keypoints[m.listing as usize])
        };
        let mut hue_differences: Vec<f32> = inliers
            .iter()
            .filter_map(|&i| {
                let (r, l) = pair(i);
                Some(wrap_degrees(hue(l.colour)? - hue(r.colour)?))
            })
            .collect();
        let hue_shift_degrees = (hue_differences.len() >= 5).then(|| circular_median(&mut hue_differences));
        // Only for copies verified well enough for their alterations to be reported (see `similarity`).
        let overlays = if inliers.len() >= OVERLAY_MIN_INLIERS {
            overlays(reference, listing, &inverse, listing_region, decomposition.scale)
        } else {
            Vec::new()
        };
        let (brightness_shift, contrast_ratio, saturation_ratio) =
            patch_changes(inliers.iter().map(|&i| pair(i)).map(|(r, l)| (r.colour, l.colour)));
        let following = self.following(ransac);
        let (residual, near_misses) = self.residuals(&following);
        let shift_coherence = self.shift_coherence(&following);
        let inlier_points: Vec<Point> =
            inliers.iter().map(|&i| pair(i).0).map(|r| (f64::from(r.x), f64::from(r.y))).collect();
        let spread = spread(&visible_reference, &listing_inside, &inlier_points);
        let inlier_pairs = inliers
            .iter()
            .take(64)
            .map(|&i| {
                let (r, l) = pair(i);
                ((f64::from(r.x), f64::from(r.y)), (f64::from(l.x), f64::from(l.y)))
            })
            .collect();
        LocalEvidence {
            reference_size: (rw, rh),
            listing_size: (lw, lh),
            reference_keypoints: reference.len(),
            listing_keypoints: listing.len(),
            matches: self.matches.len(),
            inliers: inliers.len(),
            inlier_ratio: inliers.len() as f32 / self.matches.len().max(1) as f32,
            coverage,
            mirrored: self.mirror,
            decomposition,
            similarity,
            homography,
            homography_inliers: self.homography.as_ref().map_or(0, |(_, h)| h.len()),
            reference_region,
            listing_region,
            outline,
            hue_shift_degrees,
            brightness_shift,
            contrast_ratio,
            saturation_ratio,
            overlays,
            residual,
            near_misses,
            shift_coherence,
            spread,
            inlier_pairs,
            zoom: None,
        }
    }

    /// How tightly the matches follow the transform: the inliers' median miss (in tolerances, 0 to 1), and the
    /// matches that miss it by `NEAR_MISS` tolerances or less but agree with its rotation and scale. A copy is one
    /// photo under one transform: its right matches land where the transform says, within the keypoints' own
    /// imprecision, and its wrong ones anywhere. Another shot of the same scene has parallax (points at other depths
    /// shift by other amounts) and things that moved: right matches that land near, not on, the prediction.
    fn residuals(&self, following: &[(usize, f64)]) -> (f32, usize) {
        let mut misses: Vec<f64> = following.iter().map(|&(_, miss)| miss).filter(|&miss| miss <= 1.0).collect();
        let near_misses = following.len() - misses.len();
        misses.sort_by(f64::total_cmp);
        let median = misses.get(misses.len() / 2).copied().unwrap_or(0.0);
        (median as f32, near_misses)
    }

    /// The matches that follow the fitted transform, with how far each misses it (in tolerances): the inliers
    /// (at most 1) and the near misses (up to `NEAR_MISS`, agreeing with its rotation and scale), in match order.
    /// What [`Fit::residuals`] and [`Fit::shift_coherence`] measure.
    fn following(&self, ransac: &RansacConfig) -> Vec<(usize, f64)> {
        let fitted = self.homography.as_ref().map_or(&self.similarity, |(h, _)| h);
        let (ar, ai) = (self.similarity.m[0], self.similarity.m[3]);
        let (rotation, scale) = (ai.atan2(ar), (ar * ar + ai * ai).sqrt());
        self.correspondences
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let p = fitted.apply(c.reference)?;
                let miss = (p.0 - c.listing.0).hypot(p.1 - c.listing.1) / c.tolerance;
                (miss <= 1.0 || (miss <= NEAR_MISS && agrees(c, rotation, scale, ransac))).then_some((i, miss))
            })
            .collect()
    }

    /// [`LocalEvidence::shift_coherence`]. Measured after the least-squares homography through the inliers and
    /// near misses, so that a perspective copy fitted by a similarity leaves no smooth field behind; comparing each
    /// miss with its neighbours' mean, not with a fitted model of the field, assumes nothing about its shape.
    fn shift_coherence(&self, following: &[(usize, f64)]) -> f32 {
        let near: Vec<usize> = following.iter().map(|&(i, _)| i).collect();
        if near.len() < SHIFT_FIELD_MIN_POINTS {
            return 0.0;
        }
        let Some(h) = fit_homography(&self.correspondences, &near) else { return 0.0 };
        // At most `SHIFT_FIELD_POINTS`, evenly through the list, so that the neighbour search stays cheap for a
        // copy with hundreds of inliers.
        let step = near.len().div_ceil(SHIFT_FIELD_POINTS);
        let points: Vec<(Point, Point)> = near
            .iter()
            .step_by(step)
            .filter_map(|&i| {
                let c = &self.correspondences[i];
                let p = h.apply(c.reference)?;
                Some((c.reference, ((p.0 - c.listing.0) / c.tolerance, (p.1 - c.listing.1) / c.tolerance)))
            })
            .collect();
        let n = points.len();
        if n < SHIFT_FIELD_MIN_POINTS {
            return 0.0;
        }
        let k = SHIFT_FIELD_NEIGHBOURS;
        let mean = points.iter().fold((0.0, 0.0), |m, (_, r)| (m.0 + r.0 / n as f64, m.1 + r.1 / n as f64));
        let scatter: f64 = points.iter().map(|(_, r)| (r.0 - mean.0).powi(2) + (r.1 - mean.1).powi(2)).sum();
        let mut unexplained = 0.0;
        let mut distances: Vec<(f64, usize)> = Vec::with_capacity(n);
        for (i, (p, r)) in points.iter().enumerate() {
            distances.clear();
            distances.extend(
                points
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(j, (q, _))| ((q.0 - p.0).powi(2) + (q.1 - p.1).powi(2), j)),
            );
            distances.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            let predicted = distances[..k]
                .iter()
                .fold((0.0, 0.0), |m, &(_, j)| (m.0 + points[j].1.0 / k as f64, m.1 + points[j].1.1 / k as f64));
            unexplained += (r.0 - predicted.0).powi(2) + (r.1 - predicted.1).powi(2);
        }
        if scatter <= f64::EPSILON || !unexplained.is_finite() {
            return 0.0;
        }
        // Independent misses differ from their neighbours' mean by their own spread and a k-th of it more.
        let chance = 1.0 + 1.0 / k as f64;
        (1.0 - unexplained / (scatter * chance)).clamp(0.0, 1.0) as f32
    }
}

/// Fewest inliers and near misses from which their shift field is measured.
const SHIFT_FIELD_MIN_POINTS: usize = 12;
/// Most of them measured.
const SHIFT_FIELD_POINTS: usize = 256;
/// Neighbours whose mean residual predicts a point's.
const SHIFT_FIELD_NEIGHBOURS: usize = 6;

/// Matches missing the fitted transform by more than their tolerance and up to this many tolerances count as near
/// misses ([`LocalEvidence::near_misses`]).
const NEAR_MISS: f64 = 4.0;

/// Bounding box of `points` clipped to `[0, w] x [0, h]` (empty at the origin if nothing is left).
fn clipped_bounds(points: &[Point], w: f64, h: f64) -> Rect {
    let finite: Vec<Point> = points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
    if finite.is_empty() {
        return Rect { x: 0.0, y: 0.0, width: 0.0, height: 0.0 };
    }
    let x0 = finite.iter().map(|p| p.0).fold(f64::INFINITY, f64::min).clamp(0.0, w);
    let x1 = finite.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max).clamp(0.0, w);
    let y0 = finite.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).clamp(0.0, h);
    let y1 = finite.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max).clamp(0.0, h);
    Rect { x: x0 as f32, y: y0 as f32, width: (x1 - x0) as f32, height: (y1 - y0) as f32 }
}

/// A [`LocalEvidence::spread`] for evidence saved before it was measured: no discount.
fn whole() -> f32 {
    1.0
}

/// [`LocalEvidence::spread`]: `reference` and `listing` are the keypoints that could have matched and `inliers` the
/// inliers' reference keypoints, all in reference pixels. Convex hulls rather than a grid: they need no cell size,
/// and a copy's inliers, however few, span the region the photos share while a shared logo's stay inside the logo.
fn spread(reference: &[Point], listing: &[Point], inliers: &[Point]) -> f32 {
    let shared = hull_area(reference).min(hull_area(listing));
    if shared <= 0.0 {
        return 1.0;
    }
    (hull_area(inliers) / shared).min(1.0) as f32
}

/// Inliers from which overlays are looked for: below, the copy is too weakly verified for alterations to be
/// reported at all.
const OVERLAY_MIN_INLIERS: usize = 12;
/// Cells per side of the grid laid over the matched area to find overlays.
const OVERLAY_GRID: usize = 4;
/// A cell is overlaid when at least this many of its listing keypoints ...
const OVERLAY_MIN_UNEXPLAINED: u32 = 40;
/// ... and at least this share of them have no reference keypoint where they map back to ...
const OVERLAY_SHARE: f32 = 0.6;
/// ... and the cell has more of them than the matched area's typical share would leave it, by at least this share of
/// an average cell's keypoints: what is drawn on a copy adds keypoints of its own. A listing has 2.5 times the
/// keypoints of a reference, so many are unexplained everywhere, and a cell of fine texture, a rotated copy's white
/// corner or a crop's edge reaches the share alone (bundled copies: a WebP's corner cell 45 of 70, a crop's 63 of 90,
/// a rotated copy's 58 of 93, all reported as overlays when the share decided alone). Measured on the bundled
/// references with text and a badge drawn on (24 copies) and re-encoded, cropped, rotated, shrunk and mirrored (30):
/// with the share alone, 18 overlays found and 9 clean copies given one; the clean copies' cells exceed the typical
/// share by at most 0.48 of an average cell, the overlays found now by 0.67-6.9 (15 of 24; the 3 lost: 0.22-0.49).
const OVERLAY_EXCESS: f32 = 0.6;

/// The cells of the matched area (`region`, listing pixels) where the listing has keypoints the reference does not
/// explain: something was drawn over the copy. A listing keypoint is explained when a reference keypoint lies
/// within a quarter of its patch size (at least 4 pixels) of where it maps back to.
fn overlays(
    reference: &LocalFeatures,
    listing: &LocalFeatures,
    inverse: &Option<Transform>,
    region: Rect,
    scale: f64,
) -> Vec<Rect> {
    let Some(inverse) = inverse else { return Vec::new() };
    if region.width < 1.0 || region.height < 1.0 {
        return Vec::new();
    }
    // The reference keypoints in buckets of BUCKET pixels, so each listing keypoint looks at its neighbours only.
    const BUCKET: f64 = 32.0;
    let bucket = |x: f64, y: f64| ((x / BUCKET).floor() as i64, (y / BUCKET).floor() as i64);
    let mut buckets: std::collections::HashMap<(i64, i64), Vec<(f64, f64)>> = std::collections::HashMap::new();
    for q in &reference.keypoints {
        let p = (f64::from(q.x), f64::from(q.y));
        buckets.entry(bucket(p.0, p.1)).or_default().push(p);
    }
    let g = OVERLAY_GRID;
    let (mut found, mut unexplained) = (vec![0u32; g * g], vec![0u32; g * g]);
    for k in &listing.keypoints {
        let (x, y) = (f64::from(k.x), f64::from(k.y));
        let (u, v) = ((k.x - region.x) / region.width, (k.y - region.y) / region.height);
        if !(0.0..1.0).contains(&u) || !(0.0..1.0).contains(&v) {
            continue;
        }
        let Some((rx, ry)) = inverse.apply((x, y)) else { continue };
        let cell = (v * g as f32) as usize * g + (u * g as f32) as usize;
        found[cell] += 1;
        let radius = (f64::from(k.size) / scale.max(0.1) * 0.25).clamp(4.0, BUCKET);
        let (bx, by) = bucket(rx, ry);
        let explained = (bx - 1..=bx + 1).flat_map(|i| (by - 1..=by + 1).map(move |j| (i, j))).any(|b| {
            buckets.get(&b).is_some_and(|points| {
                points.iter().any(|&(qx, qy)| (qx - rx) * (qx - rx) + (qy - ry) * (qy - ry) <= radius * radius)
            })
        });
        unexplained[cell] += u32::from(!explained);
    }
    // The typical share: the median over the cells with keypoints enough to have one.
    let mut shares: Vec<f32> =
        (0..g * g).filter(|&c| found[c] >= 8).map(|c| unexplained[c] as f32 / found[c] as f32).collect();
    shares.sort_unstable_by(f32::total_cmp);
    let Some(&typical) = shares.get(shares.len() / 2) else { return Vec::new() };
    let average = found.iter().sum::<u32>() as f32 / (g * g) as f32;
    let (cw, ch) = (region.width / g as f32, region.height / g as f32);
    (0..g * g)
        .filter(|&c| {
            let (unexplained, found) = (unexplained[c] as f32, found[c] as f32);
            unexplained >= OVERLAY_MIN_UNEXPLAINED as f32
                && unexplained >= OVERLAY_SHARE * found
                && unexplained - typical * found >= OVERLAY_EXCESS * average
        })
        .map(|c| Rect { x: region.x + (c % g) as f32 * cw, y: region.y + (c / g) as f32 * ch, width: cw, height: ch })
        .collect()
}

/// How the inlier patches' colours changed from reference to listing: median brightness shift, contrast ratio,
/// saturation ratio (see the fields of [`LocalEvidence`]).
fn patch_changes(pairs: impl Iterator<Item = ([u8; 3], [u8; 3])>) -> (f32, Option<f32>, Option<f32>) {
    let luma = |[r, g, b]: [u8; 3]| 0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b);
    let median = |v: &mut Vec<f32>| {
        v.sort_unstable_by(f32::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let (mut shifts, mut saturations, mut lumas) = (Vec::new(), Vec::new(), Vec::new());
    for (r, l) in pairs {
        let (lr, ll) = (luma(r), luma(l));
        shifts.push(ll - lr);
        lumas.push((lr, ll));
        let (_, reference_chroma) = crate::colour::hue_and_chroma(r);
        if reference_chroma >= 40.0 {
            saturations.push(crate::colour::hue_and_chroma(l).1 / reference_chroma);
        }
    }
    let contrast = (lumas.len() >= 8).then(|| {
        let spread = |values: &mut dyn Iterator<Item = f32>| {
            let v: Vec<f32> = values.collect();
            let mean = v.iter().sum::<f32>() / v.len() as f32;
            (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32).sqrt()
        };
        let reference = spread(&mut lumas.iter().map(|p| p.0));
        spread(&mut lumas.iter().map(|p| p.1)) / reference.max(1.0)
    });
    let saturation = if saturations.len() >= 5 { median(&mut saturations) } else { None };
    (median(&mut shifts).unwrap_or(0.0), contrast, saturation)
}

/// Hue in degrees of a colour with enough saturation to have one.
fn hue(rgb: [u8; 3]) -> Option<f32> {
    let (hue, chroma) = crate::colour::hue_and_chroma(rgb);
    let max = rgb.iter().max().copied().unwrap_or(0);
    (chroma >= 40.0 && max >= 40).then_some(hue * 60.0)
}

fn wrap_degrees(d: f32) -> f32 {
    let d = d.rem_euclid(360.0);
    if d > 180.0 { d - 360.0 } else { d }
}

/// Median of angular differences, taken around their circular mean so that values near ±180 do not split.
fn circular_median(values: &mut [f32]) -> f32 {
    let (s, c) = values.iter().fold((0.0f32, 0.0f32), |(s, c), v| (s + v.to_radians().sin(), c + v.to_radians().cos()));
    let centre = s.atan2(c).to_degrees();
    let mut around: Vec<f32> = values.iter().map(|v| wrap_degrees(v - centre)).collect();
    around.sort_by(f32::total_cmp);
    wrap_degrees(centre + around[around.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inliers_on_one_spot_spread_little_and_inliers_everywhere_spread_fully() {
        let grid: Vec<Point> =
            (0..10).flat_map(|i| (0..10).map(move |j| (f64::from(i) * 10.0, f64::from(j) * 10.0))).collect();
        let spot: Vec<Point> = grid.iter().copied().filter(|p| p.0 <= 20.0 && p.1 <= 20.0).collect();
        assert!(spread(&grid, &grid, &spot) < 0.06);
        assert!((spread(&grid, &grid, &grid) - 1.0).abs() < 1e-6);
        // Nothing shared to spread over: no discount.
        assert_eq!(spread(&grid[..2], &grid, &grid[..2]), 1.0);
    }

    /// Matches on a 400 x 400 grid, each displaced by `miss` (in tolerances of 4 pixels) from where the identity
    /// puts it.
    fn fit_with_misses(miss: impl Fn(f64, f64, usize) -> (f64, f64)) -> Fit {
        let correspondences: Vec<Correspondence> = (0..20)
            .flat_map(|i| (0..20).map(move |j| (f64::from(i) * 20.0 + 10.0, f64::from(j) * 20.0 + 10.0)))
            .enumerate()
            .map(|(k, (x, y))| {
                let (dx, dy) = miss(x, y, k);
                Correspondence {
                    reference: (x, y),
                    listing: (x + 4.0 * dx, y + 4.0 * dy),
                    tolerance: 4.0,
                    rotation: 0.0,
                    scale: 1.0,
                }
            })
            .collect();
        let inliers = (0..correspondences.len()).collect();
        Fit {
            mirror: false,
            matches: Vec::new(),
            correspondences,
            similarity: Transform::IDENTITY,
            inliers,
            homography: None,
        }
    }

    #[test]
    fn parallax_shifts_neighbours_alike_and_jitter_does_not() {
        let ransac = RansacConfig::default();
        // A copy: each keypoint off by its own amount (a fixed pseudo-random jitter of up to 0.4 tolerances).
        let jitter = |k: usize| ((k * 7919 % 101) as f64 / 101.0 - 0.5) * 0.8;
        let copy = fit_with_misses(|_, _, k| (jitter(k), jitter(k * 31 + 5)));
        let copy_coherence = copy.shift_coherence(&copy.following(&ransac));
        // Another shot: a sideways displacement that follows depth, smooth over the scene (no plane explains it),
        // plus the same jitter.
        let depth = |x: f64, y: f64| 0.6 * ((x / 90.0).sin() * (y / 120.0).cos());
        let shot = fit_with_misses(|x, y, k| (depth(x, y) + 0.3 * jitter(k), 0.3 * jitter(k * 31 + 5)));
        let shot_coherence = shot.shift_coherence(&shot.following(&ransac));
        assert!(copy_coherence < 0.2, "copy: {copy_coherence}");
        assert!(shot_coherence > 0.6, "another shot: {shot_coherence}");
        // Too few matches to tell: 0.
        let mut few = fit_with_misses(|x, y, _| (depth(x, y), 0.0));
        few.correspondences.truncate(10);
        assert_eq!(few.shift_coherence(&few.following(&ransac)), 0.0);
    }
}
