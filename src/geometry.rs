//! Plane geometry for verifying local matches: similarity transforms and homographies, estimated robustly with
//! seeded (deterministic) RANSAC, and taken apart into what a report needs (scale, rotation, mirror, where one
//! photo sits in the other).

use serde::{Deserialize, Serialize};

/// A point `(x, y)` in pixels, y down.
pub type Point = (f64, f64);

/// A projective transform of the plane as a row-major 3x3 matrix: `(x, y) -> ((m0 x + m1 y + m2) / w,
/// (m3 x + m4 y + m5) / w)` with `w = m6 x + m7 y + m8`. Similarities and affine maps have `m6 = m7 = 0`,
/// `m8 = 1`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// The matrix, row-major.
    pub m: [f64; 9],
}

impl Transform {
    /// The identity.
    pub const IDENTITY: Transform = Transform { m: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0] };

    /// The similarity `z -> a z + b` in complex form: scale and rotate by `a = (ar, ai)`, translate by `b`.
    pub fn similarity(ar: f64, ai: f64, bx: f64, by: f64) -> Transform {
        Transform { m: [ar, -ai, bx, ai, ar, by, 0.0, 0.0, 1.0] }
    }

    /// Mirror left to right about `x = 0`.
    pub const MIRROR: Transform = Transform { m: [-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0] };

    /// Where `p` lands; `None` if it lands at infinity (or the transform is not finite).
    pub fn apply(&self, (x, y): Point) -> Option<Point> {
        let m = &self.m;
        let w = m[6] * x + m[7] * y + m[8];
        if w.abs() < 1e-12 {
            return None;
        }
        let out = ((m[0] * x + m[1] * y + m[2]) / w, (m[3] * x + m[4] * y + m[5]) / w);
        (out.0.is_finite() && out.1.is_finite()).then_some(out)
    }

    /// `self` after `first`.
    pub fn after(&self, first: &Transform) -> Transform {
        let (a, b) = (&self.m, &first.m);
        Transform { m: std::array::from_fn(|k| (0..3).map(|j| a[(k / 3) * 3 + j] * b[j * 3 + k % 3]).sum()) }
    }

    /// The inverse, if the matrix is invertible.
    pub fn inverse(&self) -> Option<Transform> {
        let m = &self.m;
        let c = [
            m[4] * m[8] - m[5] * m[7],
            m[2] * m[7] - m[1] * m[8],
            m[1] * m[5] - m[2] * m[4],
            m[5] * m[6] - m[3] * m[8],
            m[0] * m[8] - m[2] * m[6],
            m[2] * m[3] - m[0] * m[5],
            m[3] * m[7] - m[4] * m[6],
            m[1] * m[6] - m[0] * m[7],
            m[0] * m[4] - m[1] * m[3],
        ];
        let det = m[0] * c[0] + m[1] * c[3] + m[2] * c[6];
        if !det.is_finite() || det.abs() < 1e-12 {
            return None;
        }
        let inv = Transform { m: c.map(|v| v / det) };
        inv.m.iter().all(|v| v.is_finite()).then_some(inv)
    }

    /// Scale, rotation, mirror and translation of the linear part (exact for similarities, the closest
    /// similarity's for other transforms).
    pub fn decompose(&self) -> Decomposition {
        let m = &self.m;
        let (a, b, c, d) = (m[0] / m[8], m[1] / m[8], m[3] / m[8], m[4] / m[8]);
        let det = a * d - b * c;
        let mirrored = det < 0.0;
        // Undo the mirror (x -> -x, applied first) to read the rotation: A M = [[-a, b], [-c, d]].
        let (a, c) = if mirrored { (-a, -c) } else { (a, c) };
        let angle = c.atan2(a);
        Decomposition {
            scale: det.abs().sqrt(),
            // y points down, so a positive angle in pixel axes turns clockwise as seen.
            rotation_degrees: normalise_degrees(-angle.to_degrees()),
            mirrored,
            translation: (m[2] / m[8], m[5] / m[8]),
        }
    }
}

/// What a transform does, in the words of a report.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decomposition {
    /// Size change (listing pixels per reference pixel).
    pub scale: f64,
    /// Rotation counter-clockwise as seen, in degrees, in (-180, 180].
    pub rotation_degrees: f64,
    /// Mirrored left to right (before the rotation).
    pub mirrored: bool,
    /// Where the reference's origin lands in the listing.
    pub translation: Point,
}

fn normalise_degrees(d: f64) -> f64 {
    let d = d.rem_euclid(360.0);
    if d > 180.0 { d - 360.0 } else { d }
}

/// `a` in (-pi, pi]. Cheap for the small multiples of 2 pi that differences of wrapped angles give (no `fmod`
/// for them: this runs for every match of every hypothesis); anything larger is reduced with `rem_euclid` first,
/// so the loops below run at most twice whatever the input (a crafted index once stored an angle of -4.1e19,
/// and subtracting 2 pi from that changes nothing: the loop never ended).
pub(crate) fn wrap_angle(mut a: f64) -> f64 {
    use std::f64::consts::{PI, TAU};
    if !a.is_finite() {
        return a;
    }
    if a.abs() > 2.0 * TAU {
        a = a.rem_euclid(TAU);
    }
    while a > PI {
        a -= TAU;
    }
    while a <= -PI {
        a += TAU;
    }
    a
}

/// The area of the convex hull of `points` (Andrew's monotone chain, then the shoelace formula).
pub(crate) fn hull_area(points: &[Point]) -> f64 {
    let mut sorted: Vec<Point> = points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
    if sorted.len() < 3 {
        return 0.0;
    }
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut hull = half_hull(sorted.iter());
    hull.extend(half_hull(sorted.iter().rev()));
    let n = hull.len();
    let twice_area: f64 = (0..n)
        .map(|i| {
            let (a, b) = (hull[i], hull[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum();
    twice_area.abs() / 2.0
}

/// One side of the convex hull of points sorted by x (the lower side; the upper from the reversed order), without
/// its last point, which starts the other side.
fn half_hull<'a>(sorted: impl Iterator<Item = &'a Point>) -> Vec<Point> {
    let mut side: Vec<Point> = Vec::new();
    for &q in sorted {
        while side.len() >= 2 && cross(side[side.len() - 2], side[side.len() - 1], q) <= 0.0 {
            side.pop();
        }
        side.push(q);
    }
    side.pop();
    side
}

/// The cross product of `a - o` and `b - o`: positive when `o`, `a`, `b` turn counter-clockwise (y up).
fn cross(o: Point, a: Point, b: Point) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Hypotheses needed to draw, with 99.9% confidence, one all-inlier sample of `sample` matches when a share
/// `inlier_ratio` of them are inliers (the standard adaptive RANSAC bound).
fn enough_iterations(inlier_ratio: f64, sample: i32, cap: u32) -> u32 {
    let all_in = inlier_ratio.powi(sample);
    if all_in >= 1.0 {
        return 1;
    }
    if all_in <= 0.0 {
        return cap;
    }
    let n = (0.001f64.ln() / (1.0 - all_in).ln()).ceil();
    if n.is_finite() { (n as u32).clamp(1, cap) } else { cap }
}

/// A tentative correspondence for RANSAC: a reference point, a listing point, how far the listing point may be
/// from its prediction, and what the keypoints themselves say of the rotation and scale between them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Correspondence {
    pub reference: Point,
    pub listing: Point,
    pub tolerance: f64,
    /// Listing keypoint orientation minus the reference's, radians.
    pub rotation: f64,
    /// Listing keypoint size over the reference's.
    pub scale: f64,
}

/// RANSAC settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RansacConfig {
    /// Hypotheses tried for the similarity. Default 400.
    pub iterations: u32,
    /// Hypotheses tried for the homography. Default 200.
    pub homography_iterations: u32,
    /// Largest disagreement (radians) between a match's keypoint orientations and the hypothesis. Default 0.5.
    pub max_rotation_error: f64,
    /// Largest factor between a match's keypoint size ratio and the hypothesis' scale. Default 2.2.
    pub max_scale_error: f64,
    /// Seed: the same inputs and seed give the same result.
    pub seed: u64,
}

impl Default for RansacConfig {
    fn default() -> Self {
        RansacConfig {
            iterations: 400,
            homography_iterations: 200,
            max_rotation_error: 0.5,
            max_scale_error: 2.2,
            seed: 0x5eed,
        }
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % n as u64) as usize
    }
}

/// The best similarity (no mirror) mapping reference points onto listing points, and the indices of its inliers.
/// `None` with fewer than two correspondences or when no hypothesis has two inliers.
pub(crate) fn ransac_similarity(c: &[Correspondence], config: &RansacConfig) -> Option<(Transform, Vec<usize>)> {
    if c.len() < 2 {
        return None;
    }
    let mut rng = Rng(config.seed ^ (c.len() as u64).wrapping_mul(0x9e37_79b9) | 1);
    let mut best: Option<(Transform, Vec<usize>)> = None;
    let pairs = c.len() * (c.len() - 1) / 2;
    let mut iterations = (config.iterations as usize).min(pairs.max(1) * 2);
    let mut tried = 0;
    while tried < iterations {
        tried += 1;
        let i = rng.below(c.len());
        let mut j = rng.below(c.len() - 1);
        if j >= i {
            j += 1;
        }
        let Some(t) = similarity_from_two(&c[i], &c[j], config) else { continue };
        let inliers = similarity_inliers(&t, c, config);
        if inliers.len() >= 2 && best.as_ref().is_none_or(|(_, b)| inliers.len() > b.len()) {
            // Stop as soon as enough hypotheses were tried for the inlier share found (a copy: a handful).
            let ratio = inliers.len() as f64 / c.len() as f64;
            iterations = iterations.min(enough_iterations(ratio, 2, config.iterations) as usize);
            best = Some((t, inliers));
        }
    }
    // Local optimisation: refit on the inliers by least squares and recount, while it helps.
    let refit = |inliers: &[usize]| least_squares_similarity(c, inliers);
    Some(refine(best?, 4, refit, |t| similarity_inliers(t, c, config)))
}

/// Local optimisation of a RANSAC winner: refit on its inliers and recount, up to `rounds` times, while the inliers
/// do not shrink and until they stop changing.
fn refine(
    (mut model, mut inliers): (Transform, Vec<usize>),
    rounds: usize,
    refit: impl Fn(&[usize]) -> Option<Transform>,
    inliers_of: impl Fn(&Transform) -> Vec<usize>,
) -> (Transform, Vec<usize>) {
    for _ in 0..rounds {
        let Some(better) = refit(&inliers) else { break };
        let again = inliers_of(&better);
        if again.len() < inliers.len() {
            break;
        }
        let converged = again == inliers;
        (model, inliers) = (better, again);
        if converged {
            break;
        }
    }
    (model, inliers)
}

fn similarity_from_two(p: &Correspondence, q: &Correspondence, config: &RansacConfig) -> Option<Transform> {
    let (dx, dy) = (q.reference.0 - p.reference.0, q.reference.1 - p.reference.1);
    let (ex, ey) = (q.listing.0 - p.listing.0, q.listing.1 - p.listing.1);
    let norm = dx * dx + dy * dy;
    if norm < 4.0 {
        return None;
    }
    // a = e / d in complex numbers.
    let ar = (ex * dx + ey * dy) / norm;
    let ai = (ey * dx - ex * dy) / norm;
    let scale = (ar * ar + ai * ai).sqrt();
    if !(0.04..=25.0).contains(&scale) || !scale.is_finite() {
        return None;
    }
    // Both keypoints must agree with the hypothesis before it is worth counting.
    let rotation = ai.atan2(ar);
    for k in [p, q] {
        if !agrees(k, rotation, scale, config) {
            return None;
        }
    }
    let bx = p.listing.0 - (ar * p.reference.0 - ai * p.reference.1);
    let by = p.listing.1 - (ai * p.reference.0 + ar * p.reference.1);
    Some(Transform::similarity(ar, ai, bx, by))
}

pub(crate) fn agrees(k: &Correspondence, rotation: f64, scale: f64, config: &RansacConfig) -> bool {
    let ratio = k.scale / scale;
    wrap_angle(k.rotation - rotation).abs() <= config.max_rotation_error
        && ratio <= config.max_scale_error
        && ratio >= 1.0 / config.max_scale_error
}

fn similarity_inliers(t: &Transform, c: &[Correspondence], config: &RansacConfig) -> Vec<usize> {
    let (ar, ai) = (t.m[0], t.m[3]);
    let (rotation, scale) = (ai.atan2(ar), (ar * ar + ai * ai).sqrt());
    c.iter()
        .enumerate()
        .filter(|(_, k)| {
            let px = ar * k.reference.0 - ai * k.reference.1 + t.m[2];
            let py = ai * k.reference.0 + ar * k.reference.1 + t.m[5];
            let (ex, ey) = (px - k.listing.0, py - k.listing.1);
            ex * ex + ey * ey <= k.tolerance * k.tolerance && agrees(k, rotation, scale, config)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Least-squares similarity through the correspondences `which`.
fn least_squares_similarity(c: &[Correspondence], which: &[usize]) -> Option<Transform> {
    if which.len() < 2 {
        return None;
    }
    let n = which.len() as f64;
    let mean = |f: &dyn Fn(&Correspondence) -> Point| {
        let (sx, sy) = which.iter().fold((0.0, 0.0), |(sx, sy), &i| {
            let p = f(&c[i]);
            (sx + p.0, sy + p.1)
        });
        (sx / n, sy / n)
    };
    let (rx, ry) = mean(&|k| k.reference);
    let (lx, ly) = mean(&|k| k.listing);
    let (mut num_r, mut num_i, mut den) = (0.0, 0.0, 0.0);
    for &i in which {
        let (dx, dy) = (c[i].reference.0 - rx, c[i].reference.1 - ry);
        let (ex, ey) = (c[i].listing.0 - lx, c[i].listing.1 - ly);
        num_r += ex * dx + ey * dy;
        num_i += ey * dx - ex * dy;
        den += dx * dx + dy * dy;
    }
    if den < 1e-9 {
        return None;
    }
    let (ar, ai) = (num_r / den, num_i / den);
    let t = Transform::similarity(ar, ai, lx - (ar * rx - ai * ry), ly - (ai * rx + ar * ry));
    t.m.iter().all(|v| v.is_finite()).then_some(t)
}

/// The best homography mapping reference points onto listing points, tried from random four-point samples and
/// from `seed_inliers` (the similarity's), with its inliers. Only homographies that keep `frame` (the reference's
/// outline) a convex quadrilateral in front of the camera and with the orientation the similarity found are
/// accepted: anything else is a degenerate fit, not a photo.
pub(crate) fn ransac_homography(
    c: &[Correspondence],
    seed_inliers: &[usize],
    frame: [Point; 4],
    config: &RansacConfig,
) -> Option<(Transform, Vec<usize>)> {
    if c.len() < 4 {
        return None;
    }
    let inliers_of = |h: &Transform| -> Vec<usize> {
        c.iter()
            .enumerate()
            .filter(|(_, k)| {
                h.apply(k.reference).is_some_and(|(px, py)| {
                    let (ex, ey) = (px - k.listing.0, py - k.listing.1);
                    ex * ex + ey * ey <= k.tolerance * k.tolerance
                })
            })
            .map(|(i, _)| i)
            .collect()
    };
    let plausible = |h: &Transform| plausible_homography(h, frame);
    let mut best: Option<(Transform, Vec<usize>)> = None;
    let consider = |h: Transform, best: &mut Option<(Transform, Vec<usize>)>| {
        if !plausible(&h) {
            return;
        }
        let inliers = inliers_of(&h);
        if inliers.len() >= 4 && best.as_ref().is_none_or(|(_, b)| inliers.len() > b.len()) {
            *best = Some((h, inliers));
        }
    };
    if let Some(h) = fit_homography(c, seed_inliers) {
        consider(h, &mut best);
    }
    let mut rng = Rng(config.seed.rotate_left(17) ^ c.len() as u64 | 1);
    let ratio =
        |best: &Option<(Transform, Vec<usize>)>| best.as_ref().map_or(0.0, |(_, b)| b.len() as f64 / c.len() as f64);
    let mut tried = 0;
    while tried < enough_iterations(ratio(&best), 4, config.homography_iterations) {
        tried += 1;
        let pick: [usize; 4] = std::array::from_fn(|_| rng.below(c.len()));
        if (0..4).any(|a| (a + 1..4).any(|b| pick[a] == pick[b])) {
            continue;
        }
        if let Some(h) = fit_homography(c, &pick) {
            consider(h, &mut best);
        }
    }
    Some(refine(best?, 3, |inliers| fit_homography(c, inliers).filter(plausible), inliers_of))
}

fn plausible_homography(h: &Transform, frame: [Point; 4]) -> bool {
    let Some(q) = frame.iter().map(|&p| h.apply(p)).collect::<Option<Vec<Point>>>() else { return false };
    let m = &h.m;
    // Every corner in front (w > 0 with the matrix scaled so that m8 > 0), no extreme perspective.
    let sign = m[8].signum();
    if frame.iter().any(|&(x, y)| sign * (m[6] * x + m[7] * y + m[8]) <= 0.0) {
        return false;
    }
    let turns: Vec<f64> = (0..4).map(|i| cross(q[i], q[(i + 1) % 4], q[(i + 2) % 4])).collect();
    let convex = turns.iter().all(|&t| t > 0.0) || turns.iter().all(|&t| t < 0.0);
    // Opposite sides may not differ in length by more than 4x (a photo of a photo, not a sliver).
    let len = |a: Point, b: Point| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    let sides = [len(q[0], q[1]), len(q[1], q[2]), len(q[2], q[3]), len(q[3], q[0])];
    let balanced = sides[0] <= 4.0 * sides[2]
        && sides[2] <= 4.0 * sides[0]
        && sides[1] <= 4.0 * sides[3]
        && sides[3] <= 4.0 * sides[1];
    convex && balanced && sides.iter().all(|&s| s > 1.0)
}

/// Least-squares homography (direct linear transform with `m8 = 1`, on normalised points) through the
/// correspondences `which`; `None` if they are degenerate (fewer than four, collinear, NaN).
pub(crate) fn fit_homography(c: &[Correspondence], which: &[usize]) -> Option<Transform> {
    if which.len() < 4 {
        return None;
    }
    let (nr, nl) =
        (normaliser(which.iter().map(|&i| c[i].reference))?, normaliser(which.iter().map(|&i| c[i].listing))?);
    let mut ata = [[0f64; 8]; 8];
    let mut atb = [0f64; 8];
    for &i in which {
        let (x, y) = nr.apply(c[i].reference)?;
        let (u, v) = nl.apply(c[i].listing)?;
        for (row, rhs) in
            [([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u), ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v)]
        {
            for a in 0..8 {
                atb[a] += row[a] * rhs;
                for b in 0..8 {
                    ata[a][b] += row[a] * row[b];
                }
            }
        }
    }
    let h = solve8(ata, atb)?;
    let normalised = Transform { m: [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0] };
    let t = nl.inverse()?.after(&normalised.after(&nr));
    let scale = t.m[8];
    if scale.abs() < 1e-12 {
        return None;
    }
    let t = Transform { m: t.m.map(|v| v / scale) };
    t.m.iter().all(|v| v.is_finite()).then_some(t)
}

/// Hartley normalisation: centroid to the origin, mean distance sqrt(2).
fn normaliser(points: impl Iterator<Item = Point>) -> Option<Transform> {
    let points: Vec<Point> = points.collect();
    let n = points.len() as f64;
    let (cx, cy) = points.iter().fold((0.0, 0.0), |(a, b), p| (a + p.0 / n, b + p.1 / n));
    let spread = points.iter().map(|p| ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()).sum::<f64>() / n;
    if spread.is_nan() || spread <= 1e-6 {
        return None;
    }
    let s = std::f64::consts::SQRT_2 / spread;
    Some(Transform { m: [s, 0.0, -s * cx, 0.0, s, -s * cy, 0.0, 0.0, 1.0] })
}

/// Solves an 8x8 system by Gaussian elimination with partial pivoting; `None` if it is (nearly) singular.
fn solve8(mut a: [[f64; 8]; 8], mut b: [f64; 8]) -> Option<[f64; 8]> {
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale.is_nan() || scale <= 0.0 || !scale.is_finite() {
        return None;
    }
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-10 * scale {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..8 {
            let f = a[row][col] / a[col][col];
            let pivot_row = a[col];
            for (v, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *v -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0f64; 8];
    for row in (0..8).rev() {
        let s: f64 = (row + 1..8).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_area_ignores_interior_points_and_degenerate_sets() {
        let square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (5.0, 5.0), (2.0, 7.0), (10.0, 5.0)];
        assert!((hull_area(&square) - 100.0).abs() < 1e-9);
        assert_eq!(hull_area(&[(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]), 0.0);
        assert_eq!(hull_area(&[(0.0, 0.0), (1.0, 1.0)]), 0.0);
        assert!((hull_area(&[(0.0, 0.0), (4.0, 0.0), (0.0, 3.0), (f64::NAN, 1.0)]) - 6.0).abs() < 1e-9);
    }

    #[test]
    fn wrap_angle_ends_for_any_magnitude() {
        use std::f64::consts::PI;
        for a in [-4.1e19, 4.1e19, 1e300, -f64::MAX, f64::MAX, 7.0 * PI, -7.0 * PI, 0.5] {
            let w = wrap_angle(a);
            assert!(w > -PI - 1e-9 && w <= PI + 1e-9, "{a} -> {w}");
        }
        assert!((wrap_angle(2.0 * PI + 0.25) - 0.25).abs() < 1e-12);
    }

    fn correspondences(t: &Transform, n: usize, outliers: usize) -> Vec<Correspondence> {
        let d = t.decompose();
        let mut s = 12345u64;
        let mut next = move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 33) as f64 / (1u64 << 31) as f64
        };
        (0..n + outliers)
            .map(|i| {
                let r = (next() * 600.0, next() * 400.0);
                let l = if i < n { t.apply(r).unwrap() } else { (next() * 600.0, next() * 400.0) };
                Correspondence {
                    reference: r,
                    listing: l,
                    tolerance: 4.0,
                    rotation: -d.rotation_degrees.to_radians(),
                    scale: d.scale,
                }
            })
            .collect()
    }

    #[test]
    fn similarity_is_recovered_among_outliers() {
        let angle = -20f64.to_radians(); // 20 degrees counter-clockwise as seen
        let t = Transform::similarity(0.7 * angle.cos(), 0.7 * angle.sin(), 35.0, -12.0);
        let c = correspondences(&t, 40, 60);
        let (found, inliers) = ransac_similarity(&c, &RansacConfig::default()).unwrap();
        assert!(inliers.len() >= 40 && inliers.len() <= 42, "{}", inliers.len());
        let d = found.decompose();
        assert!((d.scale - 0.7).abs() < 0.01 && (d.rotation_degrees - 20.0).abs() < 0.5, "{d:?}");
        assert!(!d.mirrored);
        // Deterministic.
        assert_eq!(ransac_similarity(&c, &RansacConfig::default()).unwrap().1, inliers);
    }

    #[test]
    fn homography_fits_a_perspective_warp_and_degenerate_input_is_refused() {
        let h = Transform { m: [0.9, 0.1, 20.0, -0.05, 1.0, 10.0, 0.0002, 0.0001, 1.0] };
        let c = correspondences(&h, 30, 0);
        let all: Vec<usize> = (0..c.len()).collect();
        let fit = fit_homography(&c, &all).unwrap();
        for k in &c {
            let p = fit.apply(k.reference).unwrap();
            assert!((p.0 - k.listing.0).abs() < 1e-6 && (p.1 - k.listing.1).abs() < 1e-6);
        }
        // Collinear points: no homography, no panic.
        let line: Vec<Correspondence> = (0..10)
            .map(|i| Correspondence {
                reference: (i as f64, 2.0 * i as f64),
                listing: (i as f64, 2.0 * i as f64),
                tolerance: 3.0,
                rotation: 0.0,
                scale: 1.0,
            })
            .collect();
        assert!(fit_homography(&line, &(0..10).collect::<Vec<_>>()).is_none());
        // NaN in, nothing out.
        let mut nan = line.clone();
        nan[0].reference = (f64::NAN, 0.0);
        assert!(fit_homography(&nan, &(0..10).collect::<Vec<_>>()).is_none());
        assert!(ransac_similarity(&nan[..1], &RansacConfig::default()).is_none());
    }

    #[test]
    fn decomposition_reads_mirror_rotation_and_scale() {
        let angle = -90f64.to_radians();
        let t = Transform::similarity(2.0 * angle.cos(), 2.0 * angle.sin(), 0.0, 0.0).after(&Transform::MIRROR);
        let d = t.decompose();
        assert!(d.mirrored && (d.scale - 2.0).abs() < 1e-9 && (d.rotation_degrees - 90.0).abs() < 1e-9, "{d:?}");
        let inv = t.inverse().unwrap();
        let p = inv.apply(t.apply((3.0, 4.0)).unwrap()).unwrap();
        assert!((p.0 - 3.0).abs() < 1e-9 && (p.1 - 4.0).abs() < 1e-9);
    }
}
