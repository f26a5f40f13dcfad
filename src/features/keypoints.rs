//! Oriented FAST keypoints over an image pyramid: FAST-9 corners, ranked by Harris response, spread over the image
//! by a grid, oriented by intensity centroid.

use image::GrayImage;

use super::LocalConfig;
use super::fast::{fast9, fast9_in};

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

/// Most enlarged levels a photo gets, whatever the configuration (by default none for a reference, at most 3 for a
/// listing): a configuration read from an index file cannot ask for dozens of images the size of the working one.
const MAX_ENLARGED: usize = 8;

/// How many levels above the base, each `scale_factor` larger than the one below, an image whose longer side is
/// `longer` gets: as many as fit in [`LocalConfig::upscale`] and the working size, at most [`MAX_ENLARGED`].
pub(crate) fn enlarged_count(longer: u32, config: &LocalConfig) -> usize {
    let room = (config.working_size as f32 / longer.max(1) as f32).min(config.upscale);
    let factor = config.scale_factor.max(1.01);
    if room < factor {
        return 0;
    }
    // A hair of slack so that an exact power of the factor counts.
    ((room.ln() / factor.ln() + 1e-4).floor() as usize).min(MAX_ENLARGED)
}

/// The levels above `base` (finest first), with their scales (below 1: level pixels are smaller than the base's).
pub(crate) fn enlarged_levels(base: &GrayImage, config: &LocalConfig) -> Vec<(GrayImage, f32)> {
    let count = enlarged_count(base.width().max(base.height()), config);
    let factor = config.scale_factor.max(1.01);
    (1..=count)
        .rev()
        .map(|j| {
            let scale = factor.powi(j as i32);
            let w = (base.width() as f32 * scale).round() as u32;
            let h = (base.height() as f32 * scale).round() as u32;
            (resize_grey(base, w, h), 1.0 / scale)
        })
        .collect()
}

fn resize_grey(image: &GrayImage, w: u32, h: u32) -> GrayImage {
    use fast_image_resize::{FilterType, PixelType};
    let resized = crate::fingerprint::resize_pixels(
        image.as_raw(),
        image.dimensions(),
        (w, h),
        PixelType::U8,
        FilterType::Bilinear,
    )
    .and_then(|pixels| GrayImage::from_raw(w, h, pixels));
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

/// Harris corner response at `(x, y)` over a 7x7 window of central differences.
pub(crate) fn harris(image: &GrayImage, x: u32, y: u32) -> f32 {
    let w = image.width() as usize;
    let px = image.as_raw();
    // Summed as integers: each sum is at most 49 x 255^2 < 2^24, so it is exact, as the float sums were.
    let (mut a, mut b, mut c) = (0i32, 0i32, 0i32);
    for dy in -3i32..=3 {
        let row = (y as i32 + dy) as usize * w + x as usize - 3;
        let (left, right) = (&px[row - 1..row + 6], &px[row + 1..row + 8]);
        let (up, down) = (&px[row - w..row - w + 7], &px[row + w..row + w + 7]);
        for k in 0..7 {
            let ix = i32::from(right[k]) - i32::from(left[k]);
            let iy = i32::from(down[k]) - i32::from(up[k]);
            a += ix * ix;
            b += iy * iy;
            c += ix * iy;
        }
    }
    // Normalised so the response does not depend on the window size.
    let n = 49.0 * 255.0 * 255.0;
    let (a, b, c) = (a as f32 / n, b as f32 / n, c as f32 / n);
    a * b - c * c - HARRIS_K * (a + b) * (a + b)
}

/// Half-widths of the orientation disk's rows, from `dy = -ORIENTATION_RADIUS`: row `dy` spans `dx` in `-u..=u`.
fn disk_rows() -> &'static [i32; 2 * ORIENTATION_RADIUS as usize + 1] {
    static ROWS: std::sync::OnceLock<[i32; 2 * ORIENTATION_RADIUS as usize + 1]> = std::sync::OnceLock::new();
    ROWS.get_or_init(|| {
        let r2 = ORIENTATION_RADIUS * ORIENTATION_RADIUS;
        std::array::from_fn(|i| {
            let dy = i as i32 - ORIENTATION_RADIUS;
            (0..=ORIENTATION_RADIUS).rev().find(|dx| dx * dx + dy * dy <= r2).unwrap_or(0)
        })
    })
}

/// Orientation of the patch around `(x, y)` by intensity centroid, in radians (image axes: x right, y down).
pub(crate) fn orientation(image: &GrayImage, x: u32, y: u32) -> f32 {
    let w = image.width() as usize;
    let px = image.as_raw();
    let (mut m10, mut m01) = (0i64, 0i64);
    // Row by row over the disk's spans, without a test per pixel (exact integer sums, as before).
    for (i, &u) in disk_rows().iter().enumerate() {
        let dy = i as i32 - ORIENTATION_RADIUS;
        let from = (y as i32 + dy) as usize * w + x as usize - u as usize;
        let span = &px[from..=from + 2 * u as usize];
        let (mut sum, mut moment) = (0i32, 0i32);
        for (k, &v) in span.iter().enumerate() {
            sum += i32::from(v);
            moment += (k as i32 - u) * i32::from(v);
        }
        m10 += i64::from(moment);
        m01 += i64::from(dy) * i64::from(sum);
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
    fn budgets_add_up_and_shrink_with_level() {
        let b = level_budgets(500, 8, 1.2);
        assert_eq!(b.iter().sum::<usize>(), 500);
        assert!(b.windows(2).all(|w| w[0] >= w[1]), "{b:?}");
    }

    #[test]
    fn small_listings_get_enlarged_levels_within_the_working_size() {
        let listing = LocalConfig { working_size: 800, upscale: 2.0, ..LocalConfig::default() };
        // 2x fits 1.2^3 = 1.73 (256 px), 800 / 512 fits 1.2^2, 800 / 640 fits 1.2, 800 / 700 nothing.
        let counts: Vec<usize> = [256, 400, 512, 640, 700, 800, 4000].map(|side| enlarged_count(side, &listing)).into();
        assert_eq!(counts, [3, 3, 2, 1, 0, 0, 0]);
        assert_eq!(enlarged_count(100, &LocalConfig { upscale: 1.0, ..listing }), 0, "references by default");
        let extreme = LocalConfig { working_size: 8192, upscale: 4.0, scale_factor: 1.05, ..listing };
        assert_eq!(enlarged_count(1, &extreme), MAX_ENLARGED);
        let base = GrayImage::new(100, 50);
        let sizes: Vec<_> = enlarged_levels(&base, &LocalConfig { working_size: 200, ..listing })
            .iter()
            .map(|(img, scale)| (img.dimensions(), (scale * 1000.0).round()))
            .collect();
        assert_eq!(sizes, [((173, 86), 579.0), ((144, 72), 694.0), ((120, 60), 833.0)]);
    }

    #[test]
    fn orientation_points_to_the_bright_side() {
        let img = GrayImage::from_fn(64, 64, |x, _| image::Luma([if x > 32 { 200 } else { 10 }]));
        assert!(orientation(&img, 32, 32).abs() < 0.1);
        let img = GrayImage::from_fn(64, 64, |_, y| image::Luma([if y > 32 { 200 } else { 10 }]));
        assert!((orientation(&img, 32, 32) - std::f32::consts::FRAC_PI_2).abs() < 0.1);
    }
}
