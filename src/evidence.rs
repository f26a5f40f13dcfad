//! The evidence picture: a reference and a listing side by side, the verified matches joined by lines, and the
//! reference's outline drawn where it sits in the listing. What an analyst attaches to a takedown request.

use image::{Rgb, RgbImage, imageops};
use imageproc::drawing::{draw_hollow_circle_mut, draw_line_segment_mut};

use crate::features::LocalEvidence;
use crate::geometry::Point;

/// Height both photos are drawn at.
const HEIGHT: u32 = 420;
const GAP: u32 = 12;
const MATCH: Rgb<u8> = Rgb([0, 200, 70]);
const OUTLINE: Rgb<u8> = Rgb([230, 30, 40]);

/// Draws `reference` and `listing` side by side with the inlier matches and the projected outline of `evidence`
/// (just the photos when there is none). The images may be any size (a reduced decode is fine): positions are
/// scaled from the photo sizes the evidence records.
///
/// ```
/// use knockoff::{compare, decode_path, DecodeOptions, Fingerprinter, FingerprintConfig};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
/// let f = Fingerprinter::new(FingerprintConfig::default());
/// let (r, l) = (format!("{dir}/refs/coffee.jpg"), format!("{dir}/listings/coffee-crop25.jpg"));
/// let (reference, listing) = (f.fingerprint_path(&r)?, f.fingerprint_path(&l)?);
/// let local = compare(&reference, &listing).evidence.local;
/// assert!(local.as_ref().is_some_and(|l| l.inliers > 20));
/// let options = DecodeOptions::default();
/// let picture = knockoff::evidence::draw(
///     &decode_path(&r, &options)?.image,
///     &decode_path(&l, &options)?.image,
///     local.as_ref(),
/// );
/// assert!(picture.width() > picture.height());
/// # Ok::<(), knockoff::Error>(())
/// ```
pub fn draw(reference: &RgbImage, listing: &RgbImage, evidence: Option<&LocalEvidence>) -> RgbImage {
    let fit = |img: &RgbImage| {
        let (w, h) = img.dimensions();
        let scale = f64::from(HEIGHT) / f64::from(h.max(1));
        let nw = ((f64::from(w) * scale).round() as u32).clamp(1, 3 * HEIGHT);
        imageops::resize(img, nw, HEIGHT, imageops::FilterType::Triangle)
    };
    let (left, right) = (fit(reference), fit(listing));
    let mut canvas = RgbImage::from_pixel(left.width() + GAP + right.width(), HEIGHT, Rgb([255, 255, 255]));
    imageops::replace(&mut canvas, &left, 0, 0);
    let offset = f64::from(left.width() + GAP);
    imageops::replace(&mut canvas, &right, offset as i64, 0);
    let Some(evidence) = evidence else { return canvas };
    // Photo pixels to canvas pixels, for each side.
    let scale = |(w, h): (u32, u32), img: &RgbImage| {
        (f64::from(img.width()) / f64::from(w.max(1)), f64::from(img.height()) / f64::from(h.max(1)))
    };
    let (rs, ls) = (scale(evidence.reference_size, &left), scale(evidence.listing_size, &right));
    let on_left = |(x, y): Point| ((x * rs.0) as f32, (y * rs.1) as f32);
    let on_right = |(x, y): Point| ((offset + x * ls.0) as f32, (y * ls.1) as f32);

    for &(r, l) in &evidence.inlier_pairs {
        let (a, b) = (on_left(r), on_right(l));
        draw_line_segment_mut(&mut canvas, a, b, MATCH);
        for p in [a, b] {
            draw_hollow_circle_mut(&mut canvas, (p.0 as i32, p.1 as i32), 3, MATCH);
        }
    }
    let corners = evidence.outline;
    let panel = (offset as f32, (offset + f64::from(right.width())) as f32 - 1.0, HEIGHT as f32 - 1.0);
    if corners.iter().all(|p| p.0.is_finite() && p.1.is_finite()) {
        for i in 0..4 {
            // Only the part inside the listing's panel: the outline of a crop's reference reaches beyond it.
            let Some((a, b)) = clip(on_right(corners[i]), on_right(corners[(i + 1) % 4]), panel) else { continue };
            // Three pixels wide, so the outline shows on any photo.
            for d in [-1.0f32, 0.0, 1.0] {
                draw_line_segment_mut(&mut canvas, (a.0 + d, a.1), (b.0 + d, b.1), OUTLINE);
                draw_line_segment_mut(&mut canvas, (a.0, a.1 + d), (b.0, b.1 + d), OUTLINE);
            }
        }
    }
    // The part of the reference the listing shows.
    let r = &evidence.reference_region;
    let (x0, y0) = on_left((f64::from(r.x), f64::from(r.y)));
    let (x1, y1) = on_left((f64::from(r.x + r.width), f64::from(r.y + r.height)));
    for (a, b) in [((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))] {
        draw_line_segment_mut(&mut canvas, a, b, OUTLINE);
    }
    canvas
}

/// The part of the segment `a`-`b` inside `x0 <= x <= x1`, `0 <= y <= y1` (Liang-Barsky), if any.
fn clip(a: (f32, f32), b: (f32, f32), (x0, x1, y1): (f32, f32, f32)) -> Option<((f32, f32), (f32, f32))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f32, 1.0f32);
    for (p, q) in [(-dx, a.0 - x0), (dx, x1 - a.0), (-dy, a.1), (dy, y1 - a.1)] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
            continue;
        }
        let t = q / p;
        if p < 0.0 {
            t0 = t0.max(t);
        } else {
            t1 = t1.min(t);
        }
        if t0 > t1 {
            return None;
        }
    }
    Some(((a.0 + t0 * dx, a.1 + t0 * dy), (a.0 + t1 * dx, a.1 + t1 * dy)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_clipped_to_the_panel() {
        let panel = (100.0, 200.0, 50.0);
        let (a, b) = clip((0.0, 10.0), (300.0, 10.0), panel).unwrap();
        assert_eq!((a, b), ((100.0, 10.0), (200.0, 10.0)));
        assert!(clip((0.0, 10.0), (50.0, 10.0), panel).is_none());
        assert!(clip((150.0, -10.0), (150.0, -1.0), panel).is_none());
    }
}
