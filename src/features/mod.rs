//! Local features: oriented FAST keypoints and steered BRIEF descriptors, matched and verified geometrically, for
//! the copies whole-image hashes cannot see: heavy crops, collages, photos pasted onto other backgrounds,
//! arbitrary rotations, perspective.
//!
//! - [`keypoints`](self): an image pyramid, FAST-9 corners ranked by Harris response and spread over a grid,
//!   oriented by intensity centroid;
//! - [`descriptor`]: 256-bit steered BRIEF with a fixed, mirror-closed test pattern;
//! - [`matcher`]: Hamming matching with ratio test and cross-check;
//! - [`verify`]: RANSAC (in [`crate::geometry`]) on the matches, plain and mirrored, and the evidence a report needs.

pub mod descriptor;
mod fast;
pub(crate) mod keypoints;
pub mod matcher;
mod verify;

use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

pub use descriptor::Descriptor;
pub use matcher::{Match, MatchConfig};
pub use verify::{LocalEvidence, Rect, VerifyConfig, verify};

/// How local features are extracted. Part of a persisted index's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LocalConfig {
    /// Longer side of the image keypoints are found on. Default 640.
    pub working_size: u32,
    /// Most keypoints kept per reference photo. Default 500 (16 KB of descriptors).
    pub budget: usize,
    /// Most keypoints kept per listing photo (see [`FingerprintConfig::for_listings`]). Default 1250: a listing
    /// may show the copy small, in a collage or pasted onto another photo, and the region it covers must still
    /// get enough keypoints (a 2x2 collage gave 6 inliers with 500, 37 with 1000). On the catalog benchmark at
    /// 5,099 references, 1250 rather than 1000 matched 87.3% of the copies to their reference instead of 86.3%
    /// (copies pasted at 30% with JPEG 30, pairwise: 59% to 69%) and lost 1.4% to retrieval instead of 1.8%, for a
    /// scan 0.90x as fast; 1500 matched 88.6% at 0.81x. Tried again once extraction got 1.8x faster (2026-11-30,
    /// 5,099 references): 1500 found 84.9% of the copies at zero false positives instead of 83.6% (pasted at 30%:
    /// 65% instead of 59%), but only because the highest negative, content shared with a reference, held the bar
    /// at 0.642; with the bar at the next negative, 1250 found as many (1,578 of 1,800 against 1,575), two more
    /// hard negatives (tiles of repeating textures) were called `match`, and the scan ran 0.91x as fast.
    ///
    /// [`FingerprintConfig::for_listings`]: crate::FingerprintConfig::for_listings
    pub listing_budget: usize,
    /// Longer side of the image a listing's keypoints are found on (at most the listing's own size; see
    /// [`FingerprintConfig::for_listings`]). Default 800: finer than the references' 640, so that a copy shown at a
    /// third of its size keeps keypoints at the scales the reference pyramid covers. On the catalog benchmark at
    /// 1,000 references, copies pasted at 30% were found 27% of the time instead of 17% (with JPEG 30, 17% instead
    /// of 9%); a 1600x1200 JPEG listing's fingerprint takes 1.22x as long (800 is half its size, so the JPEG is still
    /// decoded at half scale; 1,024 found 28% and took 2.3x).
    ///
    /// [`FingerprintConfig::for_listings`]: crate::FingerprintConfig::for_listings
    #[serde(default = "default_listing_working_size")]
    pub listing_working_size: u32,
    /// How far above its own size a photo smaller than the working size is looked at: the pyramid gets levels
    /// enlarged by the scale factor, as many as fit within this factor and the working size, above the photo's own
    /// (which keep their keypoints), each with at most as many keypoints as the finest own level holds. Default 1
    /// (none): a reference is described at its own size.
    #[serde(default = "default_upscale")]
    pub upscale: f32,
    /// [`LocalConfig::upscale`] for listings (see [`FingerprintConfig::for_listings`]). Default 2: a copy pasted
    /// into a small listing at a third of its size is only a few descriptor patches (31 pixels) across, and the
    /// reference has few keypoints at that scale; enlarged, the copy meets the reference's finer, richer levels.
    /// On the catalog benchmark at 5,099 references (listings of 256 to 1,024 pixels), copies matched to their
    /// reference went from 1,594 to 1,617 of 1,800 (pasted at 30%, pairwise: 76% to 85%; at 40% with JPEG 30: 88%
    /// to 91%), copies found at one false positive from 1,578 to 1,607, retrieval loss 0.61% to 0.72%; 1.5
    /// found 1,614. A listing of 667 pixels or more (the listing working size over the scale factor) is unchanged;
    /// a smaller one costs more: the benchmark's 512-px listings have about 1,690 keypoints instead of 1,220, a
    /// 512-px listing's fingerprint takes 1.57x as long and its verification 1.38x (about half what a 1600x1200
    /// listing costs), and the benchmark's scan ran 0.76x as fast.
    ///
    /// [`FingerprintConfig::for_listings`]: crate::FingerprintConfig::for_listings
    #[serde(default = "default_listing_upscale")]
    pub listing_upscale: f32,
    /// Pyramid levels. Default 12 (scale range 7.4x): the coarse levels are what a copy shown at a third of its
    /// size matches. On the catalog benchmark, 12 levels rather than 8 matched copies pasted at 30% pairwise 72% of
    /// the time instead of 41% (with JPEG 30, 59% instead of 25%) and 3x3 collages 93% instead of 81%, for 4 points
    /// fewer crops at 55%; extraction took no longer (the extra levels are small, and the budget is spread thinner
    /// over the large ones).
    pub levels: usize,
    /// Scale between pyramid levels. Default 1.2.
    pub scale_factor: f32,
    /// FAST threshold (grey levels). Default 20.
    pub fast_threshold: u8,
    /// FAST threshold used in the grid cells where the default finds no corner (a low-contrast product shot, or
    /// a pale product beside a busy one). Default 7.
    pub min_fast_threshold: u8,
    /// Side of the grid cells (level pixels) that share the budget out over the image. Default 32.
    pub grid_cell: u32,
}

fn default_working_size() -> u32 {
    640
}

fn default_listing_working_size() -> u32 {
    800
}

fn default_upscale() -> f32 {
    1.0
}

fn default_listing_upscale() -> f32 {
    2.0
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            working_size: default_working_size(),
            budget: 500,
            listing_budget: 1250,
            listing_working_size: default_listing_working_size(),
            upscale: default_upscale(),
            listing_upscale: default_listing_upscale(),
            levels: 12,
            scale_factor: 1.2,
            fast_threshold: 20,
            min_fast_threshold: 7,
            grid_cell: 32,
        }
    }
}

/// One keypoint, in the photo's own pixels (as displayed, full size).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keypoint {
    /// Column.
    pub x: f32,
    /// Row.
    pub y: f32,
    /// Diameter of the patch the descriptor describes, in photo pixels.
    pub size: f32,
    /// Orientation in radians, in pixel axes (x right, y down).
    pub angle: f32,
    /// Pyramid level it was found on: 0 is the finest, the photo's own size, or the most enlarged level when the
    /// photo has enlarged levels above its own ([`LocalConfig::upscale`]).
    pub level: u8,
    /// Mean colour around it (RGB): lets verification tell a copy from the same template in another colour.
    pub colour: [u8; 3],
}

/// A photo's keypoints and their descriptors (`descriptors[i]` describes `keypoints[i]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalFeatures {
    /// The keypoints.
    pub keypoints: Vec<Keypoint>,
    /// Their descriptors.
    pub descriptors: Vec<Descriptor>,
}

impl LocalFeatures {
    /// Number of keypoints.
    pub fn len(&self) -> usize {
        self.keypoints.len()
    }

    /// Whether there are none (a flat photo).
    pub fn is_empty(&self) -> bool {
        self.keypoints.is_empty()
    }

    /// Heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.keypoints.len() * std::mem::size_of::<Keypoint>()
            + self.descriptors.len() * std::mem::size_of::<Descriptor>()
    }
}

/// Extracts local features from `image`, a copy of a photo whose displayed size is `photo_size` (the keypoints
/// are reported in the photo's pixels). The image is first reduced to the configured working size; one smaller
/// than that gets enlarged levels above its own (see [`LocalConfig::upscale`]).
pub fn extract(image: &RgbImage, photo_size: (u32, u32), config: &LocalConfig) -> LocalFeatures {
    let working = crate::fingerprint::shrink_to(image, config.working_size);
    let (ww, wh) = working.dimensions();
    if ww == 0 || wh == 0 {
        return LocalFeatures::default();
    }
    // Over the raw pixels rather than pixel by pixel through `from_fn` (7% of extraction), same values.
    let luma: Vec<u8> = working
        .as_raw()
        .chunks_exact(3)
        .map(|p| ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]) + 128) >> 8) as u8)
        .collect();
    let Some(grey) = GrayImage::from_raw(ww, wh, luma) else {
        return LocalFeatures::default();
    };
    let own = keypoints::pyramid(&grey, config);
    let budgets = keypoints::level_budgets(config.budget, own.len(), config.scale_factor);
    let own_corners: Vec<_> =
        own.iter().zip(budgets).map(|((img, _), budget)| keypoints::detect(img, budget, config)).collect();
    // Enlarged levels go above the photo's own, which keep their keypoints, each with as many as the finest own
    // level holds: enlarging adds no structure, so a flat photo stays flat (a disc on white gains no keypoints
    // along its blurred rim), and a small copy inside a detailed photo gets keypoints at the sizes where the
    // reference has more of them.
    let enlarged = keypoints::enlarged_levels(&grey, config);
    let finest = own_corners.first().map_or(0, Vec::len);
    let enlarged_corners: Vec<_> = enlarged.iter().map(|(img, _)| keypoints::detect(img, finest, config)).collect();
    let levels = enlarged.iter().zip(enlarged_corners).chain(own.iter().zip(own_corners));
    let (fx, fy) = (photo_size.0 as f32 / ww as f32, photo_size.1 as f32 / wh as f32);
    let mut out = LocalFeatures::default();
    for (level, ((img, scale), corners)) in levels.enumerate() {
        if corners.is_empty() {
            continue;
        }
        let smoothed = descriptor::smooth(img);
        let mut describer = descriptor::Describer::new(&smoothed);
        for c in corners {
            // The level pixel's centre, in working pixels.
            let (wx, wy) = ((c.x as f32 + 0.5) * scale - 0.5, (c.y as f32 + 0.5) * scale - 0.5);
            out.keypoints.push(Keypoint {
                x: (wx + 0.5) * fx - 0.5,
                y: (wy + 0.5) * fy - 0.5,
                size: 31.0 * scale * fx.max(fy),
                angle: c.angle,
                level: level as u8,
                colour: mean_colour(&working, wx, wy, 8.0 * scale),
            });
            out.descriptors.push(describer.describe(c.x, c.y, c.angle));
        }
    }
    out
}

/// Mean colour of a 5x5 grid of samples spanning `radius` around `(x, y)`.
fn mean_colour(image: &RgbImage, x: f32, y: f32, radius: f32) -> [u8; 3] {
    let (w, h) = image.dimensions();
    let mut sum = [0u32; 3];
    for j in -2i32..=2 {
        for i in -2i32..=2 {
            // Adding 0.5 and truncating rounds (the values are clamped to be non-negative first).
            let sx = ((x + i as f32 * radius / 2.0).max(0.0) + 0.5).min((w - 1) as f32) as u32;
            let sy = ((y + j as f32 * radius / 2.0).max(0.0) + 0.5).min((h - 1) as f32) as u32;
            let p = image.get_pixel(sx, sy).0;
            for c in 0..3 {
                sum[c] += u32::from(p[c]);
            }
        }
    }
    sum.map(|s| ((s + 12) / 25) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enlarged_levels_add_keypoints_and_the_photos_own_keep_theirs() {
        let photo = crate::decode::decode_path(
            concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs/coffee.jpg"),
            &crate::decode::DecodeOptions::default(),
        )
        .expect("decodes")
        .image;
        let small = crate::fingerprint::shrink_to(&photo, 400);
        let size = small.dimensions();
        let own = LocalConfig { working_size: 800, budget: 1250, ..LocalConfig::default() };
        let plain = extract(&small, size, &own);
        let enlarged = extract(&small, size, &LocalConfig { upscale: 2.0, ..own });
        // 800 / 400 leaves room for 1.2^3: three levels above the photo's own, numbered first.
        let above = enlarged.keypoints.iter().filter(|k| k.level < 3).count();
        assert!(above > 100, "{above} keypoints on the enlarged levels");
        let shifted: Vec<Keypoint> =
            enlarged.keypoints[above..].iter().map(|k| Keypoint { level: k.level - 3, ..*k }).collect();
        assert_eq!(shifted, plain.keypoints);
        assert_eq!(enlarged.descriptors[above..], plain.descriptors[..]);
        // Finer than the photo's own pixels, in the photo's coordinates.
        assert!(enlarged.keypoints[..above].iter().all(|k| k.size < 31.0 && k.x >= 0.0 && k.x < size.0 as f32));
    }
}
