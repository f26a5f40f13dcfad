//! The evidence picture: a reference and a listing side by side, the verified matches joined by lines, and the
//! reference's outline drawn where it sits in the listing. What an analyst attaches to a takedown request.

mod font;

use image::{Rgb, RgbImage, imageops};

use crate::features::LocalEvidence;
use crate::geometry::Point;
use crate::similarity::{Similarity, Verdict};

/// Height both photos are drawn at.
const HEIGHT: u32 = 420;
const GAP: u32 = 12;
/// Bright lines on a black halo: visible on dark, light and busy photos alike.
const MATCH: Rgb<u8> = Rgb([0, 255, 90]);
const OUTLINE: Rgb<u8> = Rgb([255, 40, 40]);
const HALO: Rgb<u8> = Rgb([0, 0, 0]);
const INK: Rgb<u8> = Rgb([20, 20, 20]);
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

/// Draws `reference` and `listing` side by side with the inlier matches and the projected outline of `evidence`
/// (just the photos when there is none). The images may be any size (a reduced decode is fine): positions are
/// scaled from the photo sizes the evidence records.
///
/// ```
/// use knockoff::{compare, decode_path, DecodeOptions, Fingerprinter, FingerprintConfig};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
/// let f = Fingerprinter::for_references(FingerprintConfig::default());
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
        let (nw, nh) = panel_size(img.dimensions());
        imageops::resize(img, nw, nh, imageops::FilterType::Triangle)
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
        thick_line(&mut canvas, a, b, 1.0, HALO);
        for p in [a, b] {
            draw_filled_circle_mut(&mut canvas, (p.0 as i32, p.1 as i32), 4, HALO);
        }
    }
    for &(r, l) in &evidence.inlier_pairs {
        let (a, b) = (on_left(r), on_right(l));
        draw_line_segment_mut(&mut canvas, a, b, MATCH);
        for p in [a, b] {
            draw_filled_circle_mut(&mut canvas, (p.0 as i32, p.1 as i32), 2, MATCH);
        }
    }
    let corners = evidence.outline;
    let panel = (offset as f32, (offset + f64::from(right.width())) as f32 - 1.0, right.height() as f32 - 1.0);
    if corners.iter().all(|p| p.0.is_finite() && p.1.is_finite()) {
        for i in 0..4 {
            // Only the part inside the listing's panel: the outline of a crop's reference reaches beyond it.
            let Some((a, b)) = clip(on_right(corners[i]), on_right(corners[(i + 1) % 4]), panel) else { continue };
            outlined(&mut canvas, a, b);
        }
    }
    // The part of the reference the listing shows.
    let r = &evidence.reference_region;
    let (x0, y0) = on_left((f64::from(r.x), f64::from(r.y)));
    let (x1, y1) = on_left((f64::from(r.x + r.width), f64::from(r.y + r.height)));
    for (a, b) in [((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))] {
        outlined(&mut canvas, a, b);
    }
    canvas
}

/// A segment `2 * half + 1` pixels wide.
fn thick_line(canvas: &mut RgbImage, a: (f32, f32), b: (f32, f32), half: f32, colour: Rgb<u8>) {
    let steps = (2.0 * half) as i32;
    for i in 0..=steps {
        let d = i as f32 - half;
        draw_line_segment_mut(canvas, (a.0 + d, a.1), (b.0 + d, b.1), colour);
        draw_line_segment_mut(canvas, (a.0, a.1 + d), (b.0, b.1 + d), colour);
    }
}

/// An outline segment: 3 bright pixels on a 7-pixel black halo, so it shows on any photo.
fn outlined(canvas: &mut RgbImage, a: (f32, f32), b: (f32, f32)) {
    thick_line(canvas, a, b, 3.0, HALO);
    thick_line(canvas, a, b, 1.0, OUTLINE);
}

/// Height of a label band.
const BAND: u32 = font::HEIGHT + 10;

/// [`draw`] with labels in the picture itself, so that it stands alone when attached to a takedown request: above
/// each photo, which one it is (`AUTHENTIC` on the left, `LISTING` on the right, the order every knockoff report
/// uses) and its file name; below, the score, the verdict, the orientation and the alterations.
///
/// ```
/// use knockoff::{compare, decode_path, DecodeOptions, Fingerprinter, FingerprintConfig};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
/// let config = FingerprintConfig::default();
/// let (r, l) = (format!("{dir}/refs/coffee.jpg"), format!("{dir}/listings/coffee-crop25.jpg"));
/// let reference = Fingerprinter::for_references(config).fingerprint_path(&r)?;
/// let listing = Fingerprinter::for_listings(config).fingerprint_path(&l)?;
/// let similarity = compare(&reference, &listing);
/// let options = DecodeOptions::default();
/// let picture = knockoff::evidence::draw_labelled(
///     &decode_path(&r, &options)?.image,
///     &decode_path(&l, &options)?.image,
///     &similarity,
///     ("coffee.jpg", "coffee-crop25.jpg"),
/// );
/// assert!(picture.height() > 420);
/// # Ok::<(), knockoff::Error>(())
/// ```
pub fn draw_labelled(
    reference: &RgbImage,
    listing: &RgbImage,
    similarity: &Similarity,
    (reference_name, listing_name): (&str, &str),
) -> RgbImage {
    let pictured = draw(reference, listing, similarity.evidence.local.as_ref());
    // Where the right panel starts: after the reference's.
    let left_width = panel_size(reference.dimensions()).0;
    let e = &similarity.evidence;
    let verdict = match similarity.verdict {
        Verdict::Match => "MATCH",
        Verdict::Review => "REVIEW",
        Verdict::NoMatch => "NO MATCH",
    };
    let orientation = e.transform.map_or("orientation not established", |t| t.describe());
    let alterations = if e.alterations.is_empty() {
        "alterations: none detected".to_string()
    } else {
        format!("alterations: {}", e.alterations.iter().map(|a| a.describe()).collect::<Vec<_>>().join("; "))
    };
    // Verified on a closer look: say so, or the picture's few matches on a small copy would look like the whole case.
    let closer =
        e.local.as_ref().and_then(|l| Some((l.inliers, l.zoom?))).map_or(String::new(), |(inliers, z)| {
            format!("  ·  {inliers} matches on the copy's part enlarged x{z:.1}")
        });
    let summary = format!("score {:.3}  {verdict}  ·  orientation: {orientation}{closer}", similarity.score);
    let (width, body) = (pictured.width(), pictured.height());
    let mut canvas = RgbImage::from_pixel(width, body + 3 * BAND, WHITE);
    imageops::replace(&mut canvas, &pictured, 0, i64::from(BAND));
    let right = left_width + GAP;
    write_text(&mut canvas, (4, 5), left_width.saturating_sub(8), &format!("AUTHENTIC: {reference_name}"));
    write_text(&mut canvas, (right + 4, 5), width.saturating_sub(right + 8), &format!("LISTING: {listing_name}"));
    write_text(&mut canvas, (4, body + BAND + 5), width.saturating_sub(8), &summary);
    write_text(&mut canvas, (4, body + 2 * BAND + 5), width.saturating_sub(8), &alterations);
    // A rule between the photos and the verdict, so the bands read as captions.
    for y in body + BAND..body + BAND + 2 {
        for x in 0..width {
            canvas.put_pixel(x, y, INK);
        }
    }
    canvas
}

/// The size a photo of `(width, height)` is drawn at: `HEIGHT` pixels high, or less for a photo more than three
/// times as wide as high, which is drawn `3 * HEIGHT` wide at its own proportions (a banner squeezed to 3:1 would
/// distort the copy in it, in a picture meant for a takedown request).
fn panel_size((w, h): (u32, u32)) -> (u32, u32) {
    let scale = (f64::from(HEIGHT) / f64::from(h.max(1))).min(f64::from(3 * HEIGHT) / f64::from(w.max(1)));
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
    (side(w), side(h))
}

/// Writes `text` at `(x, y)` in the bitmap font, cut with "..." to `max_width` pixels. Characters outside
/// printable ASCII are drawn as `?`, except the few reports use, spelled out.
fn write_text(canvas: &mut RgbImage, (x, y): (u32, u32), max_width: u32, text: &str) {
    let ascii: String = text
        .chars()
        .flat_map(|c| match c {
            '°' => vec![' ', 'd', 'e', 'g'],
            '×' => vec!['x'],
            '·' => vec!['|'],
            '→' => vec!['-', '>'],
            c if (' '..='~').contains(&c) => vec![c],
            _ => vec!['?'],
        })
        .collect();
    let fits = (max_width / font::WIDTH) as usize;
    let shown: String = if ascii.chars().count() > fits {
        ascii.chars().take(fits.saturating_sub(3)).chain("...".chars()).collect()
    } else {
        ascii
    };
    for (i, c) in shown.bytes().enumerate() {
        let glyph = &font::GLYPHS[usize::from(c - b' ')];
        for (dy, row) in glyph.iter().enumerate() {
            for dx in 0..font::WIDTH {
                let (px, py) = (x + i as u32 * font::WIDTH + dx, y + dy as u32);
                if row >> dx & 1 == 1 && px < canvas.width() && py < canvas.height() {
                    canvas.put_pixel(px, py, INK);
                }
            }
        }
    }
}

/// A one-pixel segment from `a` to `b` (parts outside the canvas are left out). Drawing is done here rather than
/// with a drawing crate: lines and dots are all the picture needs, and a library user's build stays lean.
fn draw_line_segment_mut(canvas: &mut RgbImage, a: (f32, f32), b: (f32, f32), colour: Rgb<u8>) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let steps = dx.abs().max(dy.abs()).ceil().clamp(1.0, 100_000.0) as u32;
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        put(canvas, (a.0 + t * dx).round(), (a.1 + t * dy).round(), colour);
    }
}

/// A filled disc of `radius` pixels around `centre`.
fn draw_filled_circle_mut(canvas: &mut RgbImage, (cx, cy): (i32, i32), radius: i32, colour: Rgb<u8>) {
    for y in -radius..=radius {
        for x in -radius..=radius {
            if x * x + y * y <= radius * radius + radius {
                put(canvas, (cx + x) as f32, (cy + y) as f32, colour);
            }
        }
    }
}

fn put(canvas: &mut RgbImage, x: f32, y: f32, colour: Rgb<u8>) {
    if x >= 0.0 && y >= 0.0 && x < canvas.width() as f32 && y < canvas.height() as f32 {
        canvas.put_pixel(x as u32, y as u32, colour);
    }
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
