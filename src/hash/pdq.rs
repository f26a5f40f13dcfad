//! Meta's PDQ hash, written from its published description (pdqhash-2017-10-09) and checked bit for bit against
//! the reference implementation (see `testdata/golden/`).
//!
//! The pipeline: luma → two X/Y passes of 1-D box filters (Jarosz: a tent filter whose width follows the image
//! size) → decimate to 64x64 → quality from the 64x64 gradients → 16x16 block of the 2-D DCT skipping the DC row
//! and column → one bit per coefficient, "above the median".
//!
//! Every floating-point operation below happens in the same order and precision as in the reference, which is
//! what makes the output bit-exact; keep it that way when optimising (vectorise across independent lanes, never
//! reassociate a sum).

use serde::{Deserialize, Serialize};

use super::{Hash, HashKind};

/// Images smaller than this on either side get no PDQ hash (the reference returns an empty hash with quality 0).
pub const MIN_DIMENSION: usize = 5;

/// The 64x64 buffer size PDQ decimates to.
const DOWNSAMPLE: usize = 64;

/// The eight dihedral transforms (mirrors and right-angle rotations) of a square, in Meta's order.
///
/// PDQ computes the hash of each transform of the image from one DCT. When a listing's hash is close to a
/// reference's variant `d`, the listing is the reference with `d` applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dihedral {
    /// As is.
    Original,
    /// Rotated a quarter turn counter-clockwise.
    Rotate90,
    /// Rotated half a turn.
    Rotate180,
    /// Rotated a quarter turn clockwise.
    Rotate270,
    /// Mirrored top to bottom (Meta's "flip x": about the horizontal axis).
    MirrorVertical,
    /// Mirrored left to right, the usual "flipped" listing (Meta's "flip y": about the vertical axis).
    MirrorHorizontal,
    /// Transposed: mirrored about the main diagonal.
    Transpose,
    /// Mirrored about the anti-diagonal.
    AntiTranspose,
}

impl Dihedral {
    /// All eight, in Meta's order (the order of [`PdqHashes::dihedral`]).
    pub const ALL: [Dihedral; 8] = [
        Dihedral::Original,
        Dihedral::Rotate90,
        Dihedral::Rotate180,
        Dihedral::Rotate270,
        Dihedral::MirrorVertical,
        Dihedral::MirrorHorizontal,
        Dihedral::Transpose,
        Dihedral::AntiTranspose,
    ];

    /// Whether the transform mirrors the image (as opposed to only rotating it).
    pub fn is_mirrored(self) -> bool {
        matches!(
            self,
            Dihedral::MirrorHorizontal | Dihedral::MirrorVertical | Dihedral::Transpose | Dihedral::AntiTranspose
        )
    }

    /// Counter-clockwise rotation in degrees, applied after the horizontal mirror if [`Self::is_mirrored`]:
    /// every dihedral transform is "mirror left-right or not, then rotate by 0, 90, 180 or 270".
    pub fn rotation_degrees(self) -> u32 {
        match self {
            Dihedral::Original | Dihedral::MirrorHorizontal => 0,
            Dihedral::Rotate90 | Dihedral::Transpose => 90,
            Dihedral::Rotate180 | Dihedral::MirrorVertical => 180,
            Dihedral::Rotate270 | Dihedral::AntiTranspose => 270,
        }
    }

    /// The transform that undoes this one (rotations by a quarter turn swap; the rest undo themselves).
    pub fn inverse(self) -> Dihedral {
        match self {
            Dihedral::Rotate90 => Dihedral::Rotate270,
            Dihedral::Rotate270 => Dihedral::Rotate90,
            other => other,
        }
    }

    /// Words for reports: "as is", "mirrored", "rotated 90° counter-clockwise", ...
    pub fn describe(self) -> &'static str {
        match self {
            Dihedral::Original => "as is",
            Dihedral::Rotate90 => "rotated 90° counter-clockwise",
            Dihedral::Rotate180 => "rotated 180°",
            Dihedral::Rotate270 => "rotated 90° clockwise",
            Dihedral::MirrorHorizontal => "mirrored left-right",
            Dihedral::MirrorVertical => "mirrored top-bottom",
            Dihedral::Transpose => "mirrored and rotated 90° counter-clockwise",
            Dihedral::AntiTranspose => "mirrored and rotated 90° clockwise",
        }
    }
}

/// A PDQ hash with its quality and the hashes of all eight dihedral transforms of the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PdqHashes {
    /// Hashes of the image under each transform, in [`Dihedral::ALL`] order; `dihedral[0]` is the hash itself.
    pub dihedral: [Hash; 8],
    /// Meta's quality score, 0 to 100: the amount of gradient in the 64x64 image. Below about 50 (flat or nearly
    /// blank images) the hash says little and matches on it are unreliable.
    pub quality: u8,
}

impl PdqHashes {
    /// The hash of the image as it is.
    pub fn hash(&self) -> &Hash {
        &self.dihedral[0]
    }

    /// The hash of the image under `transform`.
    pub fn variant(&self, transform: Dihedral) -> &Hash {
        &self.dihedral[transform as usize]
    }

    /// The smallest distance between `query`'s plain hash and any dihedral variant of `self`, with the variant: if
    /// the transform is `MirrorHorizontal`, the query looks like `self` mirrored. Ties go to the earlier transform
    /// in [`Dihedral::ALL`], so an unaltered copy reports `Original`.
    pub fn best_match(&self, query: &Hash) -> (u32, Dihedral) {
        let mut best = (u32::MAX, Dihedral::Original);
        for (hash, transform) in self.dihedral.iter().zip(Dihedral::ALL) {
            let d = hash.distance_unchecked(query);
            if d < best.0 {
                best = (d, transform);
            }
        }
        best
    }
}

/// Computes PDQ from an RGB image (row-major, 3 bytes a pixel) exactly as the reference does: bit-exact with it.
///
/// Returns `None` if either side is under [`MIN_DIMENSION`].
pub fn pdq_from_rgb(rgb: &[u8], width: usize, height: usize) -> Option<PdqHashes> {
    if width < MIN_DIMENSION || height < MIN_DIMENSION || rgb.len() < width * height * 3 {
        return None;
    }
    let mut luma = rgb_to_luma(rgb, width, height);
    let (rows, cols) = (height, width);
    let window_along_rows = jarosz_window(cols, DOWNSAMPLE);
    let window_along_cols = jarosz_window(rows, DOWNSAMPLE);
    // Filtered in place: each row from a copy of itself, the columns a strip at a time from a copy of the strip.
    // Every column's sums are the same operations in the same order as over the whole image at once (the lanes of
    // `box_filter` are independent), and the image needs one float buffer (4 bytes a pixel) instead of two.
    let mut line = vec![0f32; cols];
    let strip = COLUMN_STRIP.min(cols);
    let (mut strip_in, mut strip_out) = (vec![0f32; rows * strip], vec![0f32; rows * strip]);
    for _ in 0..2 {
        for row in luma.chunks_exact_mut(cols) {
            line.copy_from_slice(row);
            box_filter_row(&line, row, window_along_rows);
        }
        for x in (0..cols).step_by(strip) {
            let w = strip.min(cols - x);
            let (input, output) = (&mut strip_in[..rows * w], &mut strip_out[..rows * w]);
            for (to, row) in input.chunks_exact_mut(w).zip(luma.chunks_exact(cols)) {
                to.copy_from_slice(&row[x..x + w]);
            }
            box_filter(input, output, rows, w, window_along_cols);
            for (from, row) in output.chunks_exact(w).zip(luma.chunks_exact_mut(cols)) {
                row[x..x + w].copy_from_slice(from);
            }
        }
    }
    Some(hash_64x64(&decimate(&luma, rows, cols)))
}

/// Columns the exact PDQ filters at a time (see [`pdq_from_rgb`]).
const COLUMN_STRIP: usize = 64;

/// Bytes [`pdq_from_rgb`] allocates for a `width` x `height` image: its float luma, 4 bytes a pixel (the strips
/// and the line buffer are small beside it).
pub(crate) fn exact_pdq_bytes(width: u32, height: u32) -> u64 {
    4 * u64::from(width) * u64::from(height)
}

/// Approximates [`pdq_from_rgb`] of a `full_width` x `full_height` photo from a reduced copy of it (`width` x
/// `height`, e.g. a DCT-scaled JPEG decode shrunk to the working size).
///
/// The reference's 64x64 buffer holds, at each sample point, a tent-weighted mean of the full-size luma: two box
/// passes of its Jarosz window make a tent of that half-width, centred on the sampled pixel (half a pixel further
/// per pass when the window is even, as the reference's box filter is then off-centre). Here each of those means
/// is computed in continuous coordinates from the reduced image, integrating the tent over each reduced pixel's
/// footprint (a reduced pixel is the mean of the full-size pixels it covers). Resampling the reduced image and
/// running the Jarosz filter on it instead would put the samples up to ~1.5 reduced pixels off, costing about 14
/// bits of agreement at a 256-pixel working size; this stays within a few bits (see the README).
///
/// Returns `None` if either side of either size is under [`MIN_DIMENSION`].
pub fn pdq_from_reduced_rgb(
    rgb: &[u8],
    width: usize,
    height: usize,
    full_width: usize,
    full_height: usize,
) -> Option<PdqHashes> {
    if width.min(height).min(full_width).min(full_height) < MIN_DIMENSION || rgb.len() < width * height * 3 {
        return None;
    }
    let across = tent_weights(width, full_width);
    let down = tent_weights(height, full_height);
    // Horizontal pass: height x 64, then vertical: 64 x 64. Luma a row at a time: a whole-image float copy would
    // cost four bytes a pixel (400 MB for a 10000 x 10000 PNG, which is decoded at full size).
    let mut rows = vec![0f32; height * DOWNSAMPLE];
    for (y, pixels) in rgb.chunks_exact(width * 3).take(height).enumerate() {
        let row = rgb_to_luma(pixels, width, 1);
        for (j, (start, weights)) in across.iter().enumerate() {
            rows[y * DOWNSAMPLE + j] = weights.iter().zip(&row[*start..]).map(|(w, x)| w * x).sum();
        }
    }
    let mut small = vec![0f32; DOWNSAMPLE * DOWNSAMPLE];
    for (i, (start, weights)) in down.iter().enumerate() {
        for (k, w) in weights.iter().enumerate() {
            let row = &rows[(start + k) * DOWNSAMPLE..][..DOWNSAMPLE];
            for (out, x) in small[i * DOWNSAMPLE..][..DOWNSAMPLE].iter_mut().zip(row) {
                *out += w * x;
            }
        }
    }
    Some(hash_64x64(&small))
}

/// For each of the 64 sample points along an axis of `full` pixels, the first reduced pixel it draws on and the
/// normalised weights of the reduced pixels from there, as described at [`pdq_from_reduced_rgb`].
fn tent_weights(reduced: usize, full: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = reduced as f64 / full as f64;
    let window = jarosz_window(full, DOWNSAMPLE);
    let shift = if window.is_multiple_of(2) { 1.0 } else { 0.0 };
    let half_width = (window as f64 * scale).max(1e-6);
    // Integral of the unit-area tent of `half_width` from -infinity to t.
    let cdf = |t: f64| {
        let u = (t / half_width).clamp(-1.0, 1.0);
        if u <= 0.0 { (1.0 + u) * (1.0 + u) / 2.0 } else { 1.0 - (1.0 - u) * (1.0 - u) / 2.0 }
    };
    (0..DOWNSAMPLE)
        .map(|j| {
            let sampled = ((j as f64 + 0.5) * full as f64 / DOWNSAMPLE as f64).floor();
            let centre = (sampled + 0.5 + shift) * scale;
            let first = ((centre - half_width).floor().max(0.0) as usize).min(reduced - 1);
            let last = ((centre + half_width).ceil() as usize).clamp(first + 1, reduced);
            let weights: Vec<f64> =
                (first..last).map(|q| cdf(q as f64 + 1.0 - centre) - cdf(q as f64 - centre)).collect();
            let total: f64 = weights.iter().sum();
            let weights = if total > 0.0 {
                weights.iter().map(|w| (w / total) as f32).collect()
            } else {
                // The tent fell between pixel centres at the image edge: take the nearest pixel.
                let mut nearest = vec![0f32; weights.len()];
                nearest[0] = 1.0;
                nearest
            };
            (first, weights)
        })
        .collect()
}

/// Luma as the reference's Python bindings compute it: in double precision, rounded to single.
pub(crate) fn rgb_to_luma(rgb: &[u8], width: usize, height: usize) -> Vec<f32> {
    rgb.chunks_exact(3)
        .take(width * height)
        .map(|p| (f64::from(p[0]) * 0.299 + f64::from(p[1]) * 0.587 + f64::from(p[2]) * 0.114) as f32)
        .collect()
}

/// Quality, DCT and the eight dihedral hashes from the 64x64 buffer.
fn hash_64x64(small: &[f32]) -> PdqHashes {
    let quality = quality(small);
    let dct = dct_64_to_16(small);
    let dihedral = Dihedral::ALL.map(|t| bits_above_median(&transform_dct(&dct, t)));
    PdqHashes { dihedral, quality }
}

/// The per-pass box window: half of one 64th of the dimension, rounded (two passes make a tent of one 64th).
fn jarosz_window(old_dimension: usize, new_dimension: usize) -> usize {
    old_dimension.div_ceil(2 * new_dimension)
}

/// Running-mean box filter of `window` along `len` elements, on `lanes` independent vectors at once: element `i`
/// of lane `l` is at `i * lanes + l`. Near the ends the window shrinks, as in the reference. Running the lanes side
/// by side (instead of striding down one column at a time) keeps the column pass cache-friendly while every lane
/// sees exactly the reference's sequence of additions, subtractions and divisions.
fn box_filter(input: &[f32], output: &mut [f32], len: usize, lanes: usize, window: usize) {
    let half = (window + 2) / 2;
    let phase1 = half - 1;
    let phase2 = window + 1 - half;
    let phase3 = len.saturating_sub(window);
    let phase4 = half - 1;
    let mut sum = vec![0f32; lanes];
    let row = |i: usize| i * lanes..(i + 1) * lanes;
    let (mut left, mut right, mut out) = (0, 0, 0);
    let mut count = 0usize;
    for _ in 0..phase1 {
        sum.iter_mut().zip(&input[row(right)]).for_each(|(s, x)| *s += x);
        count += 1;
        right += 1;
    }
    for _ in 0..phase2 {
        sum.iter_mut().zip(&input[row(right)]).for_each(|(s, x)| *s += x);
        count += 1;
        let n = count as f32;
        output[row(out)].iter_mut().zip(&sum).for_each(|(o, s)| *o = s / n);
        right += 1;
        out += 1;
    }
    let n = count as f32;
    for _ in 0..phase3 {
        let (add, sub) = (&input[row(right)], &input[row(left)]);
        for ((s, a), b) in sum.iter_mut().zip(add).zip(sub) {
            *s += a;
            *s -= b;
        }
        output[row(out)].iter_mut().zip(&sum).for_each(|(o, s)| *o = s / n);
        left += 1;
        right += 1;
        out += 1;
    }
    for _ in 0..phase4 {
        sum.iter_mut().zip(&input[row(left)]).for_each(|(s, x)| *s -= x);
        count -= 1;
        let n = count as f32;
        output[row(out)].iter_mut().zip(&sum).for_each(|(o, s)| *o = s / n);
        left += 1;
        out += 1;
    }
}

/// [`box_filter`] for one contiguous vector: the same operations in the same order, without the per-lane
/// slicing that makes the general version slow on a single lane (measured 4x on the row pass).
fn box_filter_row(input: &[f32], output: &mut [f32], window: usize) {
    let len = input.len().min(output.len());
    let half = (window + 2) / 2;
    let (phase1, phase2, phase3, phase4) = (half - 1, window + 1 - half, len.saturating_sub(window), half - 1);
    let (mut left, mut right, mut out) = (0, 0, 0);
    let mut sum = 0f32;
    let mut count = 0usize;
    for _ in 0..phase1 {
        sum += input[right];
        count += 1;
        right += 1;
    }
    for _ in 0..phase2 {
        sum += input[right];
        count += 1;
        output[out] = sum / count as f32;
        right += 1;
        out += 1;
    }
    let n = count as f32;
    for _ in 0..phase3 {
        sum += input[right];
        sum -= input[left];
        output[out] = sum / n;
        left += 1;
        right += 1;
        out += 1;
    }
    for _ in 0..phase4 {
        sum -= input[left];
        count -= 1;
        output[out] = sum / count as f32;
        left += 1;
        out += 1;
    }
}

/// Samples the filtered image at the centres of a 64x64 grid.
fn decimate(input: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; DOWNSAMPLE * DOWNSAMPLE];
    for i in 0..DOWNSAMPLE {
        let ini = ((i as f64 + 0.5) * rows as f64 / DOWNSAMPLE as f64) as usize;
        for j in 0..DOWNSAMPLE {
            let inj = ((j as f64 + 0.5) * cols as f64 / DOWNSAMPLE as f64) as usize;
            out[i * DOWNSAMPLE + j] = input[ini * cols + inj];
        }
    }
    out
}

/// Meta's quality heuristic: the sum of absolute vertical and horizontal steps in the 64x64 image, in percent of
/// full scale, divided by 90 and capped at 100.
fn quality(small: &[f32]) -> u8 {
    let step = |u: f32, v: f32| (((u - v) * 100.0) / 255.0) as i32;
    let mut sum: i32 = 0;
    for i in 0..DOWNSAMPLE - 1 {
        for j in 0..DOWNSAMPLE {
            sum += step(small[i * DOWNSAMPLE + j], small[(i + 1) * DOWNSAMPLE + j]).abs();
        }
    }
    for i in 0..DOWNSAMPLE {
        for j in 0..DOWNSAMPLE - 1 {
            sum += step(small[i * DOWNSAMPLE + j], small[i * DOWNSAMPLE + j + 1]).abs();
        }
    }
    (sum / 90).min(100) as u8
}

/// The 16x64 DCT matrix: rows 1..=16 of the orthonormal DCT-II of size 64 (row 0, the DC term, is skipped).
fn dct_matrix() -> &'static [[f32; 64]; 16] {
    static MATRIX: std::sync::OnceLock<[[f32; 64]; 16]> = std::sync::OnceLock::new();
    MATRIX.get_or_init(|| {
        let scale = (2.0f64 / 64.0).sqrt();
        let mut d = [[0f32; 64]; 16];
        for (i, row) in d.iter_mut().enumerate() {
            for (j, value) in row.iter_mut().enumerate() {
                let angle = (std::f64::consts::PI / 2.0 / 64.0) * (i + 1) as f64 * (2 * j + 1) as f64;
                *value = (scale * angle.cos()) as f32;
            }
        }
        d
    })
}

/// `D · A · Dᵀ` for the 64x64 image `A`, giving the 16x16 low-frequency block.
fn dct_64_to_16(a: &[f32]) -> [[f32; 16]; 16] {
    let d = dct_matrix();
    let mut t = [[0f32; 64]; 16];
    for i in 0..16 {
        for j in 0..64 {
            let mut sum = 0f32;
            for k in 0..64 {
                sum += d[i][k] * a[k * DOWNSAMPLE + j];
            }
            t[i][j] = sum;
        }
    }
    let mut b = [[0f32; 16]; 16];
    for i in 0..16 {
        for j in 0..16 {
            let mut sum = 0f32;
            for k in 0..64 {
                sum += t[i][k] * d[j][k];
            }
            b[i][j] = sum;
        }
    }
    b
}

/// The DCT of the transformed image, from the DCT of the original: mirroring a 64-sample axis multiplies
/// coefficient `u` (basis index `u + 1`) by `(-1)^(u+1)`, and transposing the image transposes the block.
fn transform_dct(a: &[[f32; 16]; 16], transform: Dihedral) -> [[f32; 16]; 16] {
    let mut b = [[0f32; 16]; 16];
    let odd = |x: usize| x & 1 == 1;
    for i in 0..16 {
        for j in 0..16 {
            let v = a[i][j];
            match transform {
                Dihedral::Original => b[i][j] = v,
                Dihedral::Rotate90 => b[j][i] = if odd(j) { v } else { -v },
                Dihedral::Rotate180 => b[i][j] = if odd(i + j) { -v } else { v },
                Dihedral::Rotate270 => b[j][i] = if odd(i) { v } else { -v },
                Dihedral::MirrorHorizontal => b[i][j] = if odd(j) { v } else { -v },
                Dihedral::MirrorVertical => b[i][j] = if odd(i) { v } else { -v },
                Dihedral::Transpose => b[j][i] = v,
                Dihedral::AntiTranspose => b[j][i] = if odd(i + j) { -v } else { v },
            }
        }
    }
    b
}

/// One bit per coefficient: set when it is above the median (the 128th smallest of the 256, as the reference's
/// Torben median returns for an even count).
fn bits_above_median(block: &[[f32; 16]; 16]) -> Hash {
    let flat: Vec<f32> = block.iter().flatten().copied().collect();
    let mut sorted = flat.clone();
    let (_, median, _) = sorted.select_nth_unstable_by(127, f32::total_cmp);
    let median = *median;
    Hash::from_fn(HashKind::Pdq, |k| flat[k] > median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_follows_reference_formula() {
        assert_eq!(jarosz_window(1024, 64), 8);
        assert_eq!(jarosz_window(1600, 64), 13);
        assert_eq!(jarosz_window(64, 64), 1);
        assert_eq!(jarosz_window(5, 64), 1);
    }

    #[test]
    fn box_filter_with_window_one_is_identity() {
        let input: Vec<f32> = (0..10).map(|x| x as f32).collect();
        let mut out = vec![0f32; 10];
        box_filter(&input, &mut out, 10, 1, 1);
        assert_eq!(out, input);
    }

    #[test]
    fn box_filter_lanes_equal_single_vectors() {
        let (len, lanes) = (37, 5);
        let input: Vec<f32> = (0..len * lanes).map(|x| ((x * 7919) % 255) as f32).collect();
        let mut together = vec![0f32; len * lanes];
        box_filter(&input, &mut together, len, lanes, 4);
        for lane in 0..lanes {
            let column: Vec<f32> = (0..len).map(|i| input[i * lanes + lane]).collect();
            let mut alone = vec![0f32; len];
            box_filter(&column, &mut alone, len, 1, 4);
            let from_together: Vec<f32> = (0..len).map(|i| together[i * lanes + lane]).collect();
            assert_eq!(alone, from_together);
        }
    }

    #[test]
    fn row_filter_equals_the_general_filter_bit_for_bit() {
        for (len, window) in [(37, 4), (1600, 13), (5, 1), (64, 1), (300, 3), (9, 9)] {
            let input: Vec<f32> = (0..len).map(|x| ((x * 7919) % 255) as f32 * 0.37).collect();
            let (mut a, mut b) = (vec![0f32; len], vec![0f32; len]);
            box_filter(&input, &mut a, len, 1, window);
            box_filter_row(&input, &mut b, window);
            assert_eq!(a, b, "len {len} window {window}");
        }
    }

    #[test]
    fn tiny_images_get_no_hash() {
        assert!(pdq_from_rgb(&[0; 4 * 4 * 3], 4, 4).is_none());
        assert!(pdq_from_rgb(&[0; 5 * 5 * 3], 5, 5).is_some());
    }

    #[test]
    fn flat_image_has_zero_quality() {
        let hashes = pdq_from_rgb(&vec![200; 100 * 80 * 3], 100, 80).unwrap();
        assert_eq!(hashes.quality, 0);
    }
}
