//! FAST-9 corners (Rosten and Drummond's segment test: 9 contiguous pixels of the 16 on a circle of radius 3 all
//! brighter, or all darker, than the centre by a threshold), scored and thinned by 3x3 non-maximum suppression.
//!
//! Half of extraction's time went here, testing pixel by pixel. With AVX2 the test runs 32 pixels at a time: one
//! byte comparison per circle position gives that position's bit for 32 pixels, and the arcs of 9 are found with
//! a few dozen ANDs on those masks; where it finds corners, the 32 pixels' scores are summed side by side too. Both
//! paths give the same corners and scores (a test holds them to each other).

use image::GrayImage;

use super::keypoints::EDGE;

/// The 16 offsets of the Bresenham circle of radius 3, clockwise from the top.
const CIRCLE: [(i32, i32); 16] = [
    (0, -3),
    (1, -3),
    (2, -2),
    (3, -1),
    (3, 0),
    (3, 1),
    (2, 2),
    (1, 3),
    (0, 3),
    (-1, 3),
    (-2, 2),
    (-3, 1),
    (-3, 0),
    (-3, -1),
    (-2, -2),
    (-1, -3),
];

/// FAST-9 corners of `image` (at least [`EDGE`] from every side) with their FAST score, after 3x3 non-maximum
/// suppression of that score.
pub(crate) fn fast9(image: &GrayImage, threshold: u8) -> Vec<(u32, u32, u16)> {
    fast9_in(image, threshold, (0, 0, image.width(), image.height()))
}

/// [`fast9`] within the rectangle `[x0, x1) x [y0, y1)` of `image`.
pub(crate) fn fast9_in(image: &GrayImage, threshold: u8, area: (u32, u32, u32, u32)) -> Vec<(u32, u32, u16)> {
    fast9_with(image, threshold, area, true)
}

/// [`fast9_in`], with the AVX2 segment test if `vector` and the processor has it.
fn fast9_with(
    image: &GrayImage,
    threshold: u8,
    (x0, y0, x1, y1): (u32, u32, u32, u32),
    vector: bool,
) -> Vec<(u32, u32, u16)> {
    let (w, h) = image.dimensions();
    if w <= 2 * EDGE || h <= 2 * EDGE {
        return Vec::new();
    }
    let (x0, y0, x1, y1) = (x0.max(EDGE), y0.max(EDGE), x1.min(w - EDGE), y1.min(h - EDGE));
    if x0 >= x1 || y0 >= y1 {
        return Vec::new();
    }
    // Scores over the rectangle grown by one pixel (for the suppression at its edges).
    let (sx0, sy0, sx1, sy1) =
        (x0.max(EDGE) - 1, y0.max(EDGE) - 1, (x1 + 1).min(w - EDGE + 1), (y1 + 1).min(h - EDGE + 1));
    let sw = (sx1 - sx0) as usize;
    let ring = Ring::new(image, threshold);
    let mut scores = vec![0u16; sw * (sy1 - sy0) as usize];
    let (ys, ye) = (sy0.max(EDGE), sy1.min(h - EDGE));
    let (xs, xe) = (sx0.max(EDGE), sx1.min(w - EDGE));
    let len = xe.saturating_sub(xs) as usize;
    let vector = vector && ring.has_avx2();
    // The scalar test's row of quick-rejection flags; the vector test needs none.
    let mut candidate = if vector { Vec::new() } else { vec![false; len] };
    // The corners' positions in `scores`, in raster order: the suppression visits them, not every pixel.
    let mut found = Vec::new();
    for y in ys..ye {
        let from = (y - sy0) as usize * sw + (xs - sx0) as usize;
        let row = Row { start: (y * w + xs) as usize, scores: &mut scores[from..from + len], from, found: &mut found };
        if vector {
            ring.score_row_avx2(row);
        } else {
            ring.score_row(row, &mut candidate);
        }
    }
    let mut out = Vec::new();
    for i in found {
        let (x, y) = (sx0 + (i % sw) as u32, sy0 + (i / sw) as u32);
        if !(x0..x1).contains(&x) || !(y0..y1).contains(&y) {
            continue;
        }
        let s = scores[i];
        let neighbours = [i - sw - 1, i - sw, i - sw + 1, i - 1, i + 1, i + sw - 1, i + sw, i + sw + 1];
        // Ties go to the first in raster order, so a plateau keeps exactly one corner.
        let is_max = neighbours.iter().enumerate().all(|(k, &n)| if k < 4 { s > scores[n] } else { s >= scores[n] });
        if is_max {
            out.push((x, y, s));
        }
    }
    out
}

/// One row of pixels to score: the image's pixels from `start` on, their scores (zeros to be filled in), the
/// scores' position in the whole score array, and the list of corners found, to extend.
struct Row<'a> {
    start: usize,
    scores: &'a mut [u16],
    from: usize,
    found: &'a mut Vec<usize>,
}

impl Row<'_> {
    /// Records score `s` (not 0) of pixel `j` of the row, a corner.
    #[inline]
    fn put(&mut self, j: usize, s: u16) {
        self.scores[j] = s;
        self.found.push(self.from + j);
    }

    /// Scores pixel `j` of the row, and lists it if it is a corner.
    #[inline]
    fn score(&mut self, ring: &Ring, j: usize) {
        let s = ring.score(self.start + j);
        if s > 0 {
            self.put(j, s);
        }
    }
}

/// An image's pixels with the circle as offsets into them: what the segment test reads.
struct Ring<'a> {
    px: &'a [u8],
    width: usize,
    offsets: [isize; 16],
    threshold: u8,
}

impl<'a> Ring<'a> {
    fn new(image: &'a GrayImage, threshold: u8) -> Ring<'a> {
        let width = image.width() as usize;
        let offsets = CIRCLE.map(|(dx, dy)| dy as isize * width as isize + dx as isize);
        Ring { px: image.as_raw(), width, offsets, threshold }
    }

    /// The circle's 16 pixels around `i`. `i` is at least [`EDGE`] (>= 3) from every side of the image, as are
    /// all the pixels [`fast9_with`] tests, so they are inside it.
    fn pixels(&self, i: usize) -> [u8; 16] {
        std::array::from_fn(|k| self.px[(i as isize + self.offsets[k]) as usize])
    }

    /// The FAST score of the pixel at `i` (0 if it is not a corner).
    fn score(&self, i: usize) -> u16 {
        arc_score(&self.pixels(i).map(i16::from), i16::from(self.px[i]), i16::from(self.threshold))
    }

    /// Scores a row of pixels (each at least [`EDGE`] from every side), pixel by pixel.
    fn score_row(&self, mut row: Row, candidate: &mut [bool]) {
        let (start, len, wu, t) = (row.start, row.scores.len(), self.width, self.threshold);
        let candidate = &mut candidate[..len];
        let px = self.px;
        // Quick rejection for the whole row at once (the compiler vectorises it): an arc of 9 of the 16 contains
        // pixel 0 or 8 (above, below), and pixel 4 or 12 (right, left).
        let centre = &px[start..start + len];
        let (up, down) = (&px[start - 3 * wu..start - 3 * wu + len], &px[start + 3 * wu..start + 3 * wu + len]);
        let (right, left) = (&px[start + 3..start + 3 + len], &px[start - 3..start - 3 + len]);
        for (j, flag) in candidate.iter_mut().enumerate() {
            let (hi, lo) = (centre[j].saturating_add(t), centre[j].saturating_sub(t));
            let bright = (up[j] > hi) as u8 | (down[j] > hi) as u8;
            let bright = bright & ((right[j] > hi) as u8 | (left[j] > hi) as u8);
            let dark = (up[j] < lo) as u8 | (down[j] < lo) as u8;
            let dark = dark & ((right[j] < lo) as u8 | (left[j] < lo) as u8);
            *flag = (bright | dark) != 0;
        }
        for (j, _) in candidate.iter().enumerate().filter(|(_, c)| **c) {
            let ring = self.pixels(start + j);
            let (hi, lo) = (centre[j].saturating_add(t), centre[j].saturating_sub(t));
            let (mut bright, mut dark) = (0u32, 0u32);
            for (k, &v) in ring.iter().enumerate() {
                bright |= u32::from(v > hi) << k;
                dark |= u32::from(v < lo) << k;
            }
            if has_arc9(bright) || has_arc9(dark) {
                row.score(self, j);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn has_avx2(&self) -> bool {
        std::arch::is_x86_feature_detected!("avx2")
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn has_avx2(&self) -> bool {
        false
    }

    /// [`Ring::score_row`], 32 pixels at a time, on a processor with AVX2.
    #[cfg(target_arch = "x86_64")]
    fn score_row_avx2(&self, row: Row) {
        // SAFETY: callers check `has_avx2` first.
        unsafe { avx2::score_row(self, row) }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn score_row_avx2(&self, row: Row) {
        let mut candidate = vec![false; row.scores.len()];
        self.score_row(row, &mut candidate);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Ring, Row, arcs9};

    /// 32 bytes of `px` from `at`, if there are 32.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(px: &[u8], at: isize) -> Option<__m256i> {
        let bytes = px.get(usize::try_from(at).ok()?..)?.get(..32)?;
        // SAFETY: `bytes` holds 32 bytes; the load is unaligned.
        Some(unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) })
    }

    /// The lanes (bit j for byte j) where `a > b`, unsigned.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn above(a: __m256i, b: __m256i) -> u32 {
        // a > b exactly when the saturating a - b is not zero.
        !(_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_subs_epu8(a, b), _mm256_setzero_si256())) as u32)
    }

    /// For each of the 32 pixels from `i`: the sums over its circle of `v - hi` and of `lo - v`, each floored at 0.
    #[target_feature(enable = "avx2")]
    fn excess(ring: &Ring, i: isize, hi: __m256i, lo: __m256i) -> Option<([u16; 32], [u16; 32])> {
        let zero = _mm256_setzero_si256();
        let (mut over, mut under) = ([zero; 2], [zero; 2]);
        for &offset in &ring.offsets {
            let v = load(ring.px, i + offset)?;
            for (sums, x) in [(&mut over, _mm256_subs_epu8(v, hi)), (&mut under, _mm256_subs_epu8(lo, v))] {
                // At most 16 x 255: 16 bits, one lane per pixel.
                sums[0] = _mm256_add_epi16(sums[0], _mm256_cvtepu8_epi16(_mm256_castsi256_si128(x)));
                sums[1] = _mm256_add_epi16(sums[1], _mm256_cvtepu8_epi16(_mm256_extracti128_si256::<1>(x)));
            }
        }
        let mut out = ([0u16; 32], [0u16; 32]);
        for (sums, to) in [(over, &mut out.0), (under, &mut out.1)] {
            for (half, chunk) in sums.iter().zip(to.chunks_exact_mut(16)) {
                // SAFETY: `chunk` holds 16 u16, 32 bytes; the store is unaligned.
                unsafe { _mm256_storeu_si256(chunk.as_mut_ptr().cast(), *half) };
            }
        }
        Some(out)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn score_row(ring: &Ring, mut row: Row) {
        let t = _mm256_set1_epi8(ring.threshold as i8);
        let (mut j, len) = (0, row.scores.len());
        while j < len {
            let i = row.start + j;
            let lanes = (len - j).min(32);
            let valid = if lanes == 32 { u32::MAX } else { (1u32 << lanes) - 1 };
            // Every pixel of a row is at least EDGE (16) from the sides, so 32 bytes from any of them, and from
            // its circle, end inside the image (the next rows' pixels); `load` checks anyway, and a chunk it
            // cannot load is tested pixel by pixel (every pixel scored: the score is 0 off corners).
            let mut corners = valid;
            'test: {
                let Some(c) = load(ring.px, i as isize) else { break 'test };
                let (hi, lo) = (_mm256_adds_epu8(c, t), _mm256_subs_epu8(c, t));
                let (mut bright, mut dark) = ([0u32; 16], [0u32; 16]);
                // The compass points first: an arc of 9 holds one of 0 and 8 and one of 4 and 12.
                for k in [0, 4, 8, 12, 1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15] {
                    let Some(v) = load(ring.px, i as isize + ring.offsets[k]) else { break 'test };
                    (bright[k], dark[k]) = (above(v, hi), above(lo, v));
                    if k == 12 {
                        let b = (bright[0] | bright[8]) & (bright[4] | bright[12]);
                        let d = (dark[0] | dark[8]) & (dark[4] | dark[12]);
                        if (b | d) & valid == 0 {
                            corners = 0;
                            break 'test;
                        }
                    }
                }
                let (on_bright, on_dark) = (arcs9(&bright) & valid, arcs9(&dark) & valid);
                corners = 0;
                if on_bright | on_dark == 0 {
                    break 'test;
                }
                // Scores, all 32 at once: the sum over the circle of how far each pixel is beyond the threshold on
                // the corner's side (the saturating differences are exactly those amounts, see `arc_score`).
                let Some((over, under)) = excess(ring, i as isize, hi, lo) else {
                    corners = valid;
                    break 'test;
                };
                let mut lanes = on_bright | on_dark;
                while lanes != 0 {
                    let lane = lanes.trailing_zeros() as usize;
                    lanes &= lanes - 1;
                    // A pixel cannot have both arcs: 9 + 9 positions of 16.
                    let sum = if on_bright >> lane & 1 == 1 { over[lane] } else { under[lane] };
                    row.put(j + lane, sum.max(1));
                }
            }
            while corners != 0 {
                let lane = corners.trailing_zeros() as usize;
                corners &= corners - 1;
                row.score(ring, j + lane);
            }
            j += 32;
        }
    }
}

/// The lanes of 32 pixels with 9 contiguous circle positions set, given each position's lanes in `m`.
#[inline]
fn arcs9(m: &[u32; 16]) -> u32 {
    let two: [u32; 16] = std::array::from_fn(|k| m[k] & m[(k + 1) & 15]);
    let four: [u32; 16] = std::array::from_fn(|k| two[k] & two[(k + 2) & 15]);
    let eight: [u32; 16] = std::array::from_fn(|k| four[k] & four[(k + 4) & 15]);
    (0..16).fold(0, |any, k| any | (eight[k] & m[(k + 8) & 15]))
}

/// Whether 9 contiguous bits of the 16-bit circular `mask` are set.
#[inline]
fn has_arc9(mask: u32) -> bool {
    let m = mask | (mask << 16);
    // After k steps, bit i is set iff bits i..=i+k all are.
    let m = m & (m >> 1);
    let m = m & (m >> 2);
    let m = m & (m >> 4);
    let m = m & (m >> 1);
    m & 0xffff != 0
}

/// Whether `ring` has 9 contiguous pixels all brighter than `c + t` or all darker than `c - t`; if so, the sum of
/// the absolute differences beyond `t` over the ring's pixels on that side (the corner's strength), else 0.
fn arc_score(ring: &[i16; 16], c: i16, t: i16) -> u16 {
    let (mut bright, mut dark) = (0u32, 0u32);
    for (k, &v) in ring.iter().enumerate() {
        bright |= u32::from(v > c + t) << k;
        dark |= u32::from(v < c - t) << k;
    }
    let mut best = 0u16;
    for (sign, mask) in [(1i16, bright), (-1, dark)] {
        if has_arc9(mask) {
            let sum: i32 = ring.iter().map(|&v| i32::from((sign * (v - c) - t).max(0))).sum();
            best = best.max(sum.clamp(1, i32::from(u16::MAX)) as u16);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arcs_of_nine_are_found_across_the_wrap() {
        assert!(has_arc9(0b1_1111_1111));
        assert!(!has_arc9(0b1111_1111));
        assert!(has_arc9(0b1111_0000_0000_0001_1111u32 & 0xffff | 0b1111 << 12));
        assert!(has_arc9(0xf00f | 0x0010)); // bits 12-15 and 0-4 wrap around: 9
        assert!(!has_arc9(0xf00f)); // 8 across the wrap
        assert!(!has_arc9(0b1010_1010_1010_1010));
    }

    #[test]
    fn the_lane_arcs_agree_with_the_single_arcs() {
        // Lane j of the 32 holds circle mask `masks[j]`: every lane must say what `has_arc9` says of its mask.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..200 {
            let masks: [u32; 32] = std::array::from_fn(|j| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let random = (state >> 32) as u32 & 0xffff;
                // Mostly random masks, plus runs of 8, 9 and 10 at every start (the edge cases).
                match (round + j) % 4 {
                    0 => random,
                    1 => ((0x1ffu32 << (j % 16)) | (0x1ff >> (16 - j % 16))) & 0xffff,
                    2 => ((0xffu32 << (j % 16)) | (0xff >> (16 - j % 16))) & 0xffff,
                    _ => random | random >> 3,
                }
            });
            let by_position: [u32; 16] =
                std::array::from_fn(|k| (0..32).fold(0, |lanes, j| lanes | ((masks[j] >> k) & 1) << j));
            let expected = (0..32).fold(0u32, |lanes, j| lanes | u32::from(has_arc9(masks[j])) << j);
            assert_eq!(arcs9(&by_position), expected, "{masks:x?}");
        }
    }

    #[test]
    fn a_bright_square_has_corners_and_a_flat_image_none() {
        let mut img = GrayImage::from_pixel(100, 100, image::Luma([30]));
        for y in 40..60 {
            for x in 40..60 {
                img.put_pixel(x, y, image::Luma([220]));
            }
        }
        for vector in [false, true] {
            let corners = fast9_with(&img, 20, (0, 0, 100, 100), vector);
            assert!(corners.len() >= 4, "{corners:?}");
            for (x, y, _) in &corners {
                assert!((38..=61).contains(x) && (38..=61).contains(y), "({x}, {y})");
            }
            assert!(
                fast9_with(&GrayImage::from_pixel(100, 100, image::Luma([255])), 5, (0, 0, 100, 100), vector)
                    .is_empty()
            );
        }
    }

    #[test]
    fn the_vector_test_finds_the_same_corners_as_the_scalar_one() {
        // Noise, blocks of flat colour (saturation at 0 and 255) and a real photo, whole and in odd rectangles
        // (partial chunks of 32), at the two thresholds extraction uses and the extremes.
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let noise = GrayImage::from_fn(131, 77, |_, _| image::Luma([next() as u8]));
        let blocks = GrayImage::from_fn(150, 90, |x, y| {
            image::Luma([[0u8, 255, 30, 220, 128][((x / 7 + y / 5 + (x * y) % 3) % 5) as usize]])
        });
        let photo = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs/coffee.jpg"))
            .expect("testdata photo")
            .to_luma8();
        let photo = image::imageops::thumbnail(&photo, 400, 300);
        for image in [&noise, &blocks, &photo] {
            let (w, h) = image.dimensions();
            for threshold in [0, 1, 7, 20, 80, 255] {
                for area in [(0, 0, w, h), (17, 21, 17 + 33, 21 + 9), (40, 16, w - 3, h - 20), (60, 30, 61, 31)] {
                    let scalar = fast9_with(image, threshold, area, false);
                    let vector = fast9_with(image, threshold, area, true);
                    assert_eq!(scalar, vector, "{w}x{h}, threshold {threshold}, area {area:?}");
                }
            }
            assert!(!fast9(image, 20).is_empty(), "{w}x{h}: no corners to compare");
        }
    }
}
