//! Steered BRIEF: 256 intensity comparisons in a smoothed patch, rotated to the keypoint's orientation.
//!
//! The test pattern is generated at compile time from a fixed seed with integer arithmetic only, so it is the
//! same on every machine and in every version (descriptors are persisted in indexes; a test pins its checksum).
//! It is mirror-closed: pair `128 + i` is pair `i` reflected across the keypoint's orientation axis. Mirroring a
//! photo therefore permutes its descriptors exactly, swapping the two halves (see [`mirrored`]), which is how
//! mirrored listings are matched without extracting features twice.

use image::GrayImage;

/// A 256-bit binary descriptor.
pub type Descriptor = [u64; 4];

/// Pattern coordinates stay within this radius, so a steered pattern needs no bounds checks inside the
/// [`EDGE`](super::keypoints::EDGE) margin.
const PATTERN_RADIUS: i64 = 13;

/// The test pairs `[x1, y1, x2, y2]`, relative to the keypoint before steering.
pub(crate) const PATTERN: [[i8; 4]; 256] = make_pattern();

const fn make_pattern() -> [[i8; 4]; 256] {
    let mut out = [[0i8; 4]; 256];
    // SplitMix64 with a fixed seed.
    let mut state: u64 = 0x6b6e_6f63_6b6f_6666; // "knockoff"
    let mut i = 0;
    while i < 128 {
        let mut pair = [0i8; 4];
        let mut k = 0;
        while k < 2 {
            // A point from an isotropic, roughly Gaussian distribution (the sum of four uniforms, sigma about
            // 6.2 pixels, as BRIEF's best pattern, G II, uses for a 31-pixel patch), kept inside the radius.
            loop {
                let mut coords = [0i64; 2];
                let mut c = 0;
                while c < 2 {
                    let mut sum: i64 = 0;
                    let mut u = 0;
                    while u < 4 {
                        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                        let mut z = state;
                        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                        z ^= z >> 31;
                        sum += (z >> 40) as i64;
                        u += 1;
                    }
                    // sum is in [0, 2^26); centre it and scale (sigma of the sum is 2^24 / sqrt(3)).
                    let centred = sum - (1 << 25);
                    let scaled = centred * 107 / (10 << 24);
                    coords[c] = scaled;
                    c += 1;
                }
                if coords[0] * coords[0] + coords[1] * coords[1] <= PATTERN_RADIUS * PATTERN_RADIUS {
                    pair[2 * k] = coords[0] as i8;
                    pair[2 * k + 1] = coords[1] as i8;
                    break;
                }
            }
            k += 1;
        }
        // A pair whose mirror is itself (both points on the axis) or whose points coincide tells nothing new.
        let on_axis = pair[1] == 0 && pair[3] == 0;
        let same = pair[0] == pair[2] && pair[1] == pair[3];
        if !on_axis && !same {
            out[i] = pair;
            out[128 + i] = [pair[0], -pair[1], pair[2], -pair[3]];
            i += 1;
        }
    }
    out
}

/// The descriptor the same keypoint would have in the mirrored photo.
pub fn mirrored(d: &Descriptor) -> Descriptor {
    [d[2], d[3], d[0], d[1]]
}

/// The 5x5 box-smoothed level that descriptors sample (BRIEF's tests on raw pixels are too noise-sensitive):
/// separable running sums, edges clamped.
pub(crate) fn smooth(level: &GrayImage) -> GrayImage {
    let (w, h) = (level.width() as usize, level.height() as usize);
    if w == 0 || h == 0 {
        return level.clone();
    }
    let px = level.as_raw();
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    // Horizontal sums of 5 (at most 1275, fits u16).
    let mut rows = vec![0u16; w * h];
    for y in 0..h {
        let line = &px[y * w..(y + 1) * w];
        let out = &mut rows[y * w..(y + 1) * w];
        let at = |x: isize| (-2..=2).map(|d| u16::from(line[clamp(x + d, w)])).sum::<u16>();
        // Edges with clamping; inside, five plain additions a pixel, which the compiler vectorises (a running sum
        // cannot be: each step waits for the last).
        for x in (0..w.min(2)).chain(w.saturating_sub(2).max(2)..w) {
            out[x] = at(x as isize);
        }
        if w > 4 {
            for (x, o) in out[2..w - 2].iter_mut().enumerate() {
                *o = line[x..x + 5].iter().map(|&v| u16::from(v)).sum();
            }
        }
    }
    // Vertical sums of 5 of those (at most 6375, fits u16), divided by 25 with rounding; row by row, so that the
    // inner loops run over contiguous memory.
    let mut out = vec![0u8; w * h];
    let row = |y: isize| &rows[clamp(y, h) * w..clamp(y, h) * w + w];
    let mut sum = vec![0u16; w];
    for d in -2..=2 {
        for (s, v) in sum.iter_mut().zip(row(d)) {
            *s += v;
        }
    }
    for y in 0..h {
        for (o, s) in out[y * w..(y + 1) * w].iter_mut().zip(&sum) {
            *o = ((s + 12) / 25) as u8;
        }
        let (add, sub) = (row(y as isize + 3), row(y as isize - 2));
        for ((s, a), b) in sum.iter_mut().zip(add).zip(sub) {
            *s = *s + a - b;
        }
    }
    GrayImage::from_raw(w as u32, h as u32, out).unwrap_or_else(|| level.clone())
}

/// Orientations are quantised to this many steps (11.25°), as ORB does, so that the steered patterns are computed
/// once. The steps are symmetric about the vertical axis (step `k` mirrors to step `16 - k`), which keeps the
/// mirror property exact.
const ANGLE_STEPS: usize = 32;

/// The pattern steered to each orientation step.
fn steered() -> &'static [[[i8; 4]; 256]; ANGLE_STEPS] {
    static STEERED: std::sync::OnceLock<[[[i8; 4]; 256]; ANGLE_STEPS]> = std::sync::OnceLock::new();
    STEERED.get_or_init(|| {
        std::array::from_fn(|step| {
            let (sin, cos) = (step as f64 * std::f64::consts::TAU / ANGLE_STEPS as f64).sin_cos();
            let turn = |dx: i8, dy: i8| {
                let (dx, dy) = (f64::from(dx), f64::from(dy));
                [(dx * cos - dy * sin).round() as i8, (dx * sin + dy * cos).round() as i8]
            };
            PATTERN.map(|p| {
                let ([x1, y1], [x2, y2]) = (turn(p[0], p[1]), turn(p[2], p[3]));
                [x1, y1, x2, y2]
            })
        })
    })
}

/// The descriptor of the keypoint at `(x, y)` with orientation `angle` in `smoothed`. The keypoint must be at
/// least [`EDGE`](super::keypoints::EDGE) pixels from every side.
#[cfg(test)]
pub(crate) fn describe(smoothed: &GrayImage, x: u32, y: u32, angle: f32) -> Descriptor {
    Describer::new(smoothed).describe(x, y, angle)
}

/// Describes the keypoints of one smoothed level. Each orientation step's 256 tests are turned into offsets into the
/// level's pixels the first time a keypoint needs them, so that a test is two loads and a comparison (the offsets
/// from the pattern took two multiplications per test: a listing's 1,250 descriptors spent 12% of its fingerprint
/// in them).
pub(crate) struct Describer<'a> {
    smoothed: &'a GrayImage,
    offsets: Vec<Option<Box<[[isize; 2]; 256]>>>,
}

impl<'a> Describer<'a> {
    pub(crate) fn new(smoothed: &'a GrayImage) -> Describer<'a> {
        Describer { smoothed, offsets: vec![None; ANGLE_STEPS] }
    }

    /// The descriptor of the keypoint at `(x, y)` with orientation `angle`. The keypoint must be at least
    /// [`EDGE`](super::keypoints::EDGE) pixels from every side.
    pub(crate) fn describe(&mut self, x: u32, y: u32, angle: f32) -> Descriptor {
        let w = self.smoothed.width() as isize;
        let px = self.smoothed.as_raw();
        let centre = y as isize * w + x as isize;
        let step = (f64::from(angle) / std::f64::consts::TAU * ANGLE_STEPS as f64).round();
        let step = if step.is_finite() { (step as i64).rem_euclid(ANGLE_STEPS as i64) as usize } else { 0 };
        let offsets = self.offsets[step].get_or_insert_with(|| {
            let pattern = &steered()[step];
            let at = |dx: i8, dy: i8| isize::from(dy) * w + isize::from(dx);
            Box::new(std::array::from_fn(|bit| {
                let p = pattern[bit];
                [at(p[0], p[1]), at(p[2], p[3])]
            }))
        });
        let at = |offset: isize| px[(centre + offset) as usize];
        let mut d = [0u64; 4];
        for (word, tests) in d.iter_mut().zip(offsets.chunks_exact(64)) {
            for (bit, &[a, b]) in tests.iter().enumerate() {
                *word |= u64::from(at(a) < at(b)) << bit;
            }
        }
        d
    }
}

/// Hamming distance between two descriptors.
#[inline]
pub fn distance(a: &Descriptor, b: &Descriptor) -> u32 {
    (a[0] ^ b[0]).count_ones() + (a[1] ^ b[1]).count_ones() + (a[2] ^ b[2]).count_ones() + (a[3] ^ b[3]).count_ones()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_never_changes() {
        // Descriptors are persisted: a different pattern would make every stored index silently useless.
        let checksum = PATTERN
            .iter()
            .flatten()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, &v| (h ^ u64::from(v as u8)).wrapping_mul(0x100_0000_01b3));
        assert_eq!(checksum, PATTERN_CHECKSUM, "pattern changed: {checksum:#x}");
        for p in PATTERN {
            for (x, y) in [(p[0], p[1]), (p[2], p[3])] {
                assert!(i64::from(x).pow(2) + i64::from(y).pow(2) <= PATTERN_RADIUS.pow(2));
            }
        }
        // Spread like a 31-pixel BRIEF pattern, not clumped at the centre.
        let sd = (PATTERN.iter().flatten().map(|&v| f64::from(v).powi(2)).sum::<f64>() / 1024.0).sqrt();
        assert!((4.5..7.5).contains(&sd), "{sd}");
    }

    const PATTERN_CHECKSUM: u64 = 0x4aad_e0dd_cdea_fe23;

    #[test]
    fn smoothing_is_a_five_by_five_box() {
        let img = GrayImage::from_fn(20, 10, |x, y| image::Luma([((x * 13 + y * 7) % 256) as u8]));
        let s = smooth(&img);
        let expected = |x: i32, y: i32| {
            let mut sum = 0u32;
            for dy in -2..=2 {
                for dx in -2..=2 {
                    let (sx, sy) = ((x + dx).clamp(0, 19) as u32, (y + dy).clamp(0, 9) as u32);
                    sum += u32::from(img.get_pixel(sx, sy).0[0]);
                }
            }
            ((sum + 12) / 25) as u8
        };
        for (x, y) in [(0, 0), (5, 5), (19, 9), (10, 2)] {
            assert_eq!(s.get_pixel(x as u32, y as u32).0[0], expected(x, y), "({x}, {y})");
        }
    }

    #[test]
    fn mirroring_a_patch_swaps_the_descriptor_halves() {
        let img = GrayImage::from_fn(64, 64, |x, y| image::Luma([((x * 37 + y * 11 + x * y) % 251) as u8]));
        let flipped = image::imageops::flip_horizontal(&img);
        let (s, sf) = (smooth(&img), smooth(&flipped));
        for angle in [0.3f32, 1.2, -2.0] {
            let d = describe(&s, 30, 32, angle);
            let df = describe(&sf, 63 - 30, 32, std::f32::consts::PI - angle);
            assert!(distance(&mirrored(&d), &df) <= 8, "{}", distance(&mirrored(&d), &df));
        }
    }
}
