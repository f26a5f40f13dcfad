//! Oriented FAST keypoints over an image pyramid: FAST-9 corners, ranked by Harris response, spread over the image
//! by a grid, oriented by intensity centroid.

use image::GrayImage;

use super::LocalConfig;

/// Pixels kept clear at every edge of a level: the orientation disk (radius 15) and the steered descriptor
/// pattern (radius 13 plus the 2-pixel smoothing) must stay inside the image.
pub(crate) const EDGE: u32 = 16;
/// Radius of the disk the orientation is measured over.
const ORIENTATION_RADIUS: i32 = 15;
/// Harris detector constant.
const HARRIS_K: f32 = 0.04;

/// A corner found on one pyramid level, in that level's pixels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Corner {
    pub x: u32,
    pub y: u32,
    pub angle: f32,
}

/// The pyramid: level `i` is the base image scaled by `1 / scale_factor^i`.
pub(crate) fn pyramid(base: &GrayImage, config: &LocalConfig) -> Vec<(GrayImage, f32)> {
    let mut levels = vec![(base.clone(), 1.0f32)];
    for i in 1..config.levels.max(1) {
        let scale = config.scale_factor.max(1.01).powi(i as i32);
        let w = (base.width() as f32 / scale).round() as u32;
        let h = (base.height() as f32 / scale).round() as u32;
        if w < 2 * EDGE + 8 || h < 2 * EDGE + 8 {
            break;
        }
        levels.push((resize_grey(base, w, h), scale));
    }
    levels
}

fn resize_grey(image: &GrayImage, w: u32, h: u32) -> GrayImage {
    use fast_image_resize::images::{Image, ImageRef};
    use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
    let resized = ImageRef::new(image.width(), image.height(), image.as_raw(), PixelType::U8).ok().and_then(|src| {
        let mut dst = Image::new(w, h, PixelType::U8);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        Resizer::new().resize(&src, &mut dst, &options).ok()?;
        GrayImage::from_raw(w, h, dst.into_vec())
    });
    resized.unwrap_or_else(|| image::imageops::resize(image, w, h, image::imageops::FilterType::Triangle))
}

/// How many keypoints each level gets out of `budget`: geometrically fewer on smaller levels, as ORB does.
pub(crate) fn level_budgets(budget: usize, levels: usize, scale_factor: f32) -> Vec<usize> {
    let factor = 1.0 / scale_factor.max(1.01);
    let first = budget as f32 * (1.0 - factor) / (1.0 - factor.powi(levels as i32));
    let mut out: Vec<usize> = (0..levels).map(|i| (first * factor.powi(i as i32)).round() as usize).collect();
    let assigned: usize = out.iter().sum();
    if let Some(last) = out.last_mut() {
        *last = (*last + budget).saturating_sub(assigned);
    }
    out
}

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
fn fast9_in(image: &GrayImage, threshold: u8, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> Vec<(u32, u32, u16)> {
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
    let stride = w as isize;
    let px = image.as_raw();
    let offsets: [isize; 16] = CIRCLE.map(|(dx, dy)| dy as isize * stride + dx as isize);
    let mut scores = vec![0u16; sw * (sy1 - sy0) as usize];
    let (ys, ye) = (sy0.max(EDGE), sy1.min(h - EDGE));
    let (xs, xe) = (sx0.max(EDGE), sx1.min(w - EDGE));
    let wu = w as usize;
    let mut candidate = vec![false; (xe.saturating_sub(xs)) as usize];
    for y in ys..ye {
        let row = (y * w) as isize;
        let out_row = (y - sy0) as usize * sw;
        // Quick rejection for the whole row at once (the compiler vectorises it): an arc of 9 of the 16 contains
        // pixel 0 or 8 (above, below), and pixel 4 or 12 (right, left).
        let start = row as usize + xs as usize;
        let len = candidate.len();
        let centre = &px[start..start + len];
        let (up, down) = (&px[start - 3 * wu..start - 3 * wu + len], &px[start + 3 * wu..start + 3 * wu + len]);
        let (right, left) = (&px[start + 3..start + 3 + len], &px[start - 3..start - 3 + len]);
        for (j, flag) in candidate.iter_mut().enumerate() {
            let (hi, lo) = (centre[j].saturating_add(threshold), centre[j].saturating_sub(threshold));
            let bright = (up[j] > hi) as u8 | (down[j] > hi) as u8;
            let bright = bright & ((right[j] > hi) as u8 | (left[j] > hi) as u8);
            let dark = (up[j] < lo) as u8 | (down[j] < lo) as u8;
            let dark = dark & ((right[j] < lo) as u8 | (left[j] < lo) as u8);
            *flag = (bright | dark) != 0;
        }
        for (j, _) in candidate.iter().enumerate().filter(|(_, c)| **c) {
            let x = xs + j as u32;
            let i = row + x as isize;
            // SAFETY: EDGE >= 3 and x, y are at least EDGE from every side, so the 16 ring pixels (at most 3 away
            // on each axis) are inside the w x h buffer. Unchecked because this is the hot loop of extraction.
            let at = |k: usize| unsafe { *px.get_unchecked((i + offsets[k]) as usize) };
            let c = centre[j];
            let (hi, lo) = (c.saturating_add(threshold), c.saturating_sub(threshold));
            let (mut bright, mut dark) = (0u32, 0u32);
            for k in 0..16 {
                let v = at(k);
                bright |= u32::from(v > hi) << k;
                dark |= u32::from(v < lo) << k;
            }
            if has_arc9(bright) || has_arc9(dark) {
                let ring: [i16; 16] = std::array::from_fn(|k| i16::from(at(k)));
                scores[out_row + (x - sx0) as usize] = arc_score(&ring, i16::from(c), i16::from(threshold));
            }
        }
    }
    let mut out = Vec::new();
    for y in y0..y1 {
        for x in x0..x1 {
            let i = (y - sy0) as usize * sw + (x - sx0) as usize;
            let s = scores[i];
            if s == 0 {
                continue;
            }
            let neighbours = [i - sw - 1, i - sw, i - sw + 1, i - 1, i + 1, i + sw - 1, i + sw, i + sw + 1];
            // Ties go to the first in raster order, so a plateau keeps exactly one corner.
            let is_max =
                neighbours.iter().enumerate().all(|(k, &n)| if k < 4 { s > scores[n] } else { s >= scores[n] });
            if is_max {
                out.push((x, y, s));
            }
        }
    }
    out
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

/// Harris corner response at `(x, y)` over a 7x7 window of central differences.
pub(crate) fn harris(image: &GrayImage, x: u32, y: u32) -> f32 {
    let w = image.width() as usize;
    let px = image.as_raw();
    let (mut a, mut b, mut c) = (0f32, 0f32, 0f32);
    for dy in -3i32..=3 {
        let row = (y as i32 + dy) as usize * w;
        for dx in -3i32..=3 {
            let i = row + (x as i32 + dx) as usize;
            let ix = f32::from(px[i + 1]) - f32::from(px[i - 1]);
            let iy = f32::from(px[i + w]) - f32::from(px[i - w]);
            a += ix * ix;
            b += iy * iy;
            c += ix * iy;
        }
    }
    // Normalised so the response does not depend on the window size.
    let n = 49.0 * 255.0 * 255.0;
    let (a, b, c) = (a / n, b / n, c / n);
    a * b - c * c - HARRIS_K * (a + b) * (a + b)
}

/// Orientation of the patch around `(x, y)` by intensity centroid, in radians (image axes: x right, y down).
pub(crate) fn orientation(image: &GrayImage, x: u32, y: u32) -> f32 {
    let w = image.width() as usize;
    let px = image.as_raw();
    let (mut m10, mut m01) = (0i64, 0i64);
    let r2 = ORIENTATION_RADIUS * ORIENTATION_RADIUS;
    for dy in -ORIENTATION_RADIUS..=ORIENTATION_RADIUS {
        let row = (y as i32 + dy) as usize * w;
        for dx in -ORIENTATION_RADIUS..=ORIENTATION_RADIUS {
            if dx * dx + dy * dy > r2 {
                continue;
            }
            let v = i64::from(px[row + (x as i32 + dx) as usize]);
            m10 += i64::from(dx) * v;
            m01 += i64::from(dy) * v;
        }
    }
    (m01 as f32).atan2(m10 as f32)
}

/// Up to `budget` corners of one level, ranked by Harris response and spread over a grid so that one busy region
/// (a textured background, a logo) cannot take them all: every cell first gets its fair share of its own best
/// corners, then the rest of the budget goes to the best remaining corners anywhere. As in ORB-SLAM, a cell where
/// FAST finds nothing at the normal threshold uses the corners found at the low one, so a low-contrast product
/// next to a busy one (a collage, a pasted copy) still gets keypoints.
pub(crate) fn detect(image: &GrayImage, budget: usize, config: &LocalConfig) -> Vec<Corner> {
    if budget == 0 {
        return Vec::new();
    }
    let cell = config.grid_cell.max(8);
    let (cols, rows) = (image.width().div_ceil(cell), image.height().div_ceil(cell));
    let cell_of = |x: u32, y: u32| (y / cell) as usize * cols as usize + (x / cell) as usize;
    let cells = (cols * rows) as usize;
    let mut corners = fast9(image, config.fast_threshold);
    // Cells where the normal threshold finds nothing try the low one (only there: it is slow on textures).
    if config.min_fast_threshold < config.fast_threshold {
        let mut occupied = vec![false; cells];
        for &(x, y, _) in &corners {
            occupied[cell_of(x, y)] = true;
        }
        for c in (0..cells).filter(|&c| !occupied[c]) {
            let (cx, cy) = ((c as u32 % cols) * cell, (c as u32 / cols) * cell);
            corners.extend(fast9_in(image, config.min_fast_threshold, (cx, cy, cx + cell, cy + cell)));
        }
    }
    let mut ranked: Vec<(f32, u32, u32)> = corners
        .into_iter()
        .map(|(x, y, _)| (harris(image, x, y), x, y))
        .filter(|(r, ..)| *r > 0.0 && r.is_finite())
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)).then(a.1.cmp(&b.1)));

    let mut per_cell = vec![0usize; cells];
    for &(_, x, y) in &ranked {
        per_cell[cell_of(x, y)] += 1;
    }
    let occupied = per_cell.iter().filter(|&&n| n > 0).count().max(1);
    let fair = (budget / occupied).max(1);
    per_cell.iter_mut().for_each(|n| *n = 0);
    let mut taken = vec![false; ranked.len()];
    let mut chosen = Vec::with_capacity(budget);
    for (k, &(_, x, y)) in ranked.iter().enumerate() {
        let c = cell_of(x, y);
        if per_cell[c] < fair {
            per_cell[c] += 1;
            taken[k] = true;
            chosen.push(k);
        }
    }
    // More cells than budget: the first pass took one from each, keep the best of those.
    chosen.truncate(budget);
    for (k, _) in taken.iter().enumerate().filter(|(_, t)| !**t) {
        if chosen.len() >= budget {
            break;
        }
        chosen.push(k);
    }
    chosen
        .into_iter()
        .map(|k| {
            let (_, x, y) = ranked[k];
            Corner { x, y, angle: orientation(image, x, y) }
        })
        .collect()
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
    fn budgets_add_up_and_shrink_with_level() {
        let b = level_budgets(500, 8, 1.2);
        assert_eq!(b.iter().sum::<usize>(), 500);
        assert!(b.windows(2).all(|w| w[0] >= w[1]), "{b:?}");
    }

    #[test]
    fn a_bright_square_has_corners_and_a_flat_image_none() {
        let mut img = GrayImage::from_pixel(100, 100, image::Luma([30]));
        for y in 40..60 {
            for x in 40..60 {
                img.put_pixel(x, y, image::Luma([220]));
            }
        }
        let corners = fast9(&img, 20);
        assert!(corners.len() >= 4, "{corners:?}");
        for (x, y, _) in &corners {
            assert!((38..=61).contains(x) && (38..=61).contains(y), "({x}, {y})");
        }
        assert!(fast9(&GrayImage::from_pixel(100, 100, image::Luma([255])), 5).is_empty());
    }

    #[test]
    fn orientation_points_to_the_bright_side() {
        let img = GrayImage::from_fn(64, 64, |x, _| image::Luma([if x > 32 { 200 } else { 10 }]));
        assert!(orientation(&img, 32, 32).abs() < 0.1);
        let img = GrayImage::from_fn(64, 64, |_, y| image::Luma([if y > 32 { 200 } else { 10 }]));
        assert!((orientation(&img, 32, 32) - std::f32::consts::FRAC_PI_2).abs() < 0.1);
    }
}
