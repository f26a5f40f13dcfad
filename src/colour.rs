//! A compact global colour signature.
//!
//! Structure-only hashes work on luma, so they cannot tell a catalog template from the same template in another
//! colour, a common hard negative; nor can they say that a listing was recoloured. The signature is a soft
//! histogram of 16 bins: 12 hues for chromatic pixels, 4 greys (black to white) for achromatic ones. A pixel's
//! weight is split between the hue and grey parts by its chroma, and between neighbouring bins linearly, so small
//! shifts in hue or brightness move the histogram smoothly instead of jumping bins.

use image::RgbImage;
use serde::{Deserialize, Serialize};

const HUE_BINS: usize = 12;
const GREY_BINS: usize = 4;
/// Number of bins.
pub const BINS: usize = HUE_BINS + GREY_BINS;
/// Bins sum to about this (each is rounded), so the signature fits in bytes.
const SCALE: f32 = 255.0;
/// At most this many pixels are sampled; a regular grid of them represents a photo's colours well enough.
const MAX_SAMPLES: u32 = 16_384;

/// The colour signature of a photo: a 16-bin soft hue/grey histogram, normalised to sum to about 255.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColourSignature {
    /// Bins 0..12: hues from red (0°) in 30° steps; bins 12..16: greys from black to white.
    pub bins: [u8; BINS],
}

impl ColourSignature {
    /// Computes the signature of `image`.
    pub fn of(image: &RgbImage) -> Self {
        let (w, h) = image.dimensions();
        let step = ((u64::from(w) * u64::from(h)) as f64 / f64::from(MAX_SAMPLES)).sqrt().max(1.0);
        let mut hist = [0f32; BINS];
        let mut y = 0.0f64;
        while (y as u32) < h {
            let mut x = 0.0f64;
            while (x as u32) < w {
                add_pixel(&mut hist, image.get_pixel(x as u32, y as u32).0);
                x += step;
            }
            y += step;
        }
        let total: f32 = hist.iter().sum();
        let mut bins = [0u8; BINS];
        if total > 0.0 {
            for (b, v) in bins.iter_mut().zip(hist) {
                *b = (v / total * SCALE).round() as u8;
            }
        }
        ColourSignature { bins }
    }

    /// Distance between two signatures: 1 minus the histogram intersection, from 0 (same colours) to 1 (no colour
    /// in common).
    pub fn distance(&self, other: &ColourSignature) -> f32 {
        let common: u32 = self.bins.iter().zip(&other.bins).map(|(a, b)| u32::from(*a.min(b))).sum();
        let norm = self.total().max(other.total()).max(1);
        1.0 - (common as f32 / norm as f32).min(1.0)
    }

    /// Distance between the hues of the two photos' chromatic parts, 0 (same hues) to 1 (no hue in common), or
    /// `None` when either photo is mostly grey, white or black (under 10% chromatic), where hue says nothing.
    ///
    /// This is what tells a catalog template from the same template in another colour, while a greyscale or
    /// lightly hue-shifted copy (a counterfeiter's edits) is not held against the match.
    pub fn hue_distance(&self, other: &ColourSignature) -> Option<f32> {
        let (a, b) = (&self.bins[..HUE_BINS], &other.bins[..HUE_BINS]);
        let (sa, sb) = (a.iter().map(|&x| u32::from(x)).sum::<u32>(), b.iter().map(|&x| u32::from(x)).sum::<u32>());
        if self.chromatic_share() < 0.1 || other.chromatic_share() < 0.1 || sa == 0 || sb == 0 {
            return None;
        }
        let common: f32 =
            a.iter().zip(b).map(|(&x, &y)| (f32::from(x) / sa as f32).min(f32::from(y) / sb as f32)).sum();
        Some((1.0 - common).clamp(0.0, 1.0))
    }

    /// Share of the photo (0 to 1) that is chromatic rather than grey, white or black.
    pub fn chromatic_share(&self) -> f32 {
        let chroma: u32 = self.bins[..HUE_BINS].iter().map(|&b| u32::from(b)).sum();
        chroma as f32 / self.total().max(1) as f32
    }

    fn total(&self) -> u32 {
        self.bins.iter().map(|&b| u32::from(b)).sum()
    }
}

/// Hue in sextants, [0, 6) (times 60 for degrees), and chroma (0-255) of an RGB colour; the hue means nothing
/// when the chroma is near 0.
pub(crate) fn hue_and_chroma([r, g, b]: [u8; 3]) -> (f32, f32) {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let chroma = max - min;
    if chroma == 0.0 {
        return (0.0, 0.0);
    }
    let hue = if max == r {
        ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        (b - r) / chroma + 2.0
    } else {
        (r - g) / chroma + 4.0
    };
    (hue, chroma)
}

fn add_pixel(hist: &mut [f32; BINS], [r, g, b]: [u8; 3]) {
    let (hue, chroma) = hue_and_chroma([r, g, b]);
    // Chroma below ~20/255 is grey (JPEG noise, white backgrounds); above ~50/255 fully coloured.
    let colour_weight = ((chroma - 20.0) / 30.0).clamp(0.0, 1.0);
    if colour_weight > 0.0 {
        let pos = hue * (HUE_BINS as f32 / 6.0);
        let lower = pos.floor();
        let frac = pos - lower;
        let lower = lower as usize % HUE_BINS;
        hist[lower] += colour_weight * (1.0 - frac);
        hist[(lower + 1) % HUE_BINS] += colour_weight * frac;
    }
    let grey_weight = 1.0 - colour_weight;
    if grey_weight > 0.0 {
        let pos = (f32::from(r) + f32::from(g) + f32::from(b)) / (3.0 * 255.0) * (GREY_BINS - 1) as f32;
        let lower = (pos.floor() as usize).min(GREY_BINS - 2);
        let frac = pos - lower as f32;
        hist[HUE_BINS + lower] += grey_weight * (1.0 - frac);
        hist[HUE_BINS + lower + 1] += grey_weight * frac;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(rgb: [u8; 3]) -> RgbImage {
        RgbImage::from_pixel(40, 30, image::Rgb(rgb))
    }

    #[test]
    fn identical_colours_have_distance_zero_and_disjoint_ones_one() {
        let red = ColourSignature::of(&solid([220, 20, 20]));
        let blue = ColourSignature::of(&solid([20, 20, 220]));
        assert_eq!(red.distance(&red), 0.0);
        assert!(red.distance(&blue) > 0.99);
        assert!(red.chromatic_share() > 0.99);
    }

    #[test]
    fn hue_distance_ignores_grey_and_separates_hues() {
        let red = ColourSignature::of(&solid([220, 20, 20]));
        let orange = ColourSignature::of(&solid([220, 110, 20]));
        let blue = ColourSignature::of(&solid([20, 20, 220]));
        let grey = ColourSignature::of(&solid([120, 120, 120]));
        assert_eq!(red.hue_distance(&grey), None);
        assert!(red.hue_distance(&blue).unwrap() > 0.99);
        assert!(red.hue_distance(&orange).unwrap() < red.hue_distance(&blue).unwrap());
        assert_eq!(red.hue_distance(&red), Some(0.0));
    }

    #[test]
    fn white_is_grey_and_far_from_colour() {
        let white = ColourSignature::of(&solid([255, 255, 255]));
        assert_eq!(white.chromatic_share(), 0.0);
        assert_eq!(white.bins[BINS - 1], 255);
    }

    #[test]
    fn small_hue_shift_is_a_small_distance() {
        let a = ColourSignature::of(&solid([200, 60, 40]));
        let b = ColourSignature::of(&solid([200, 75, 40]));
        assert!(a.distance(&b) < 0.3, "{}", a.distance(&b));
    }
}
