//! Everything we keep about one photo, computed once per photo.

use std::borrow::Cow;
use std::path::Path;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, RgbImage};
use serde::{Deserialize, Serialize};

use crate::colour::ColourSignature;
use crate::decode::{self, DecodeOptions, Limits, Photo};
use crate::error::{Error, ErrorKind, Result};
use crate::features::{self, LocalConfig, LocalFeatures};
use crate::hash::pdq::{self, PdqHashes};
use crate::hash::{ClassicHashers, Hash, HashKind};

/// Version of the fingerprint algorithms (decoding, resizing, every hash, colour, local features). Bump it whenever a change makes
/// fingerprints differ (the golden test `tests/golden.rs` catches such changes): indexes record it, and opening one
/// made with another version is an error rather than a silent mismatch.
pub const FINGERPRINT_VERSION: u32 = 4;

/// How photos are fingerprinted. A persisted index records this, since fingerprints made with other settings are
/// not comparable bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FingerprintConfig {
    /// Decoding limits.
    pub limits: Limits,
    /// Apply EXIF orientation. Default true.
    pub apply_orientation: bool,
    /// Hash PDQ on the full-size decoded pixels, as Meta's reference does (bit-exact with it), instead of on the
    /// working image. Several times slower on large JPEGs, and the fast path already agrees with the reference to
    /// a few bits (see the README). Default false.
    pub full_size: bool,
    /// Longer side of the working image that hashes and colour are computed from. JPEGs are decoded in the DCT
    /// domain at the smallest scale that still reaches it, larger images are downscaled to it, smaller ones are
    /// used as they are. Larger is slower and closer to full-size PDQ. Default 256.
    pub working_size: u32,
    /// Local features (keypoints and descriptors) and how to extract them; `None` for hashes and colour only.
    /// They find what hashes cannot (heavy crops, collages, pasted copies, any rotation) at the cost of ~26 KB per
    /// photo and a larger decode (see [`LocalConfig::working_size`]). Default on.
    pub local: Option<LocalConfig>,
}

impl Default for FingerprintConfig {
    fn default() -> Self {
        FingerprintConfig {
            limits: Limits::default(),
            apply_orientation: true,
            full_size: false,
            working_size: 256,
            local: Some(LocalConfig::default()),
        }
    }
}

impl FingerprintConfig {
    /// Hashes and colour only, no local features: ~500 bytes a photo and the fastest decode, for catalogs of
    /// millions where only near-duplicates matter.
    pub fn hashes_only() -> Self {
        FingerprintConfig { local: None, ..FingerprintConfig::default() }
    }

    /// Checks every value against the range the code supports: [`Limits::validate`], working sizes of 16 to
    /// 8192 pixels, keypoint budgets of 1 to 65,536, 1 to 16 pyramid levels, a scale factor from 1.05 to 4,
    /// enlargements of 1 to 4, grid cells of 4 to 1024 pixels, FAST thresholds of 1 to 255 (the fallback at most
    /// the main one).
    /// [`ReferenceIndex::open`](crate::ReferenceIndex::open) applies it to the configuration an index file states,
    /// which may have been written by anyone.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] naming the first value out of range.
    pub fn validate(&self) -> Result<()> {
        self.limits.validate()?;
        check_range("working_size", self.working_size, 16, 8192)?;
        if let Some(local) = &self.local {
            check_range("local.working_size", local.working_size, 16, 8192)?;
            check_range("local.budget", local.budget, 1, MAX_KEYPOINTS)?;
            check_range("local.listing_budget", local.listing_budget, 1, MAX_KEYPOINTS)?;
            check_range("local.listing_working_size", local.listing_working_size, 16, 8192)?;
            // NaN is in no range, so it is refused too.
            for (name, value) in [("local.upscale", local.upscale), ("local.listing_upscale", local.listing_upscale)] {
                if !(1.0..=4.0).contains(&value) {
                    return Err(invalid(format!("{name} {value} is outside [1, 4]")));
                }
            }
            check_range("local.levels", local.levels, 1, 16)?;
            check_range("local.grid_cell", local.grid_cell, 4, 1024)?;
            check_range("local.fast_threshold", local.fast_threshold, 1, 255)?;
            check_range("local.min_fast_threshold", local.min_fast_threshold, 1, local.fast_threshold)?;
            // NaN fails both comparisons, so it is refused too.
            if !(local.scale_factor >= 1.05 && local.scale_factor <= 4.0) {
                return Err(invalid(format!("local.scale_factor {} is outside [1.05, 4]", local.scale_factor)));
            }
        }
        Ok(())
    }

    /// The configuration for listing photos matched against references made with `self`: the same, with the
    /// larger keypoint budget of [`LocalConfig::listing_budget`] (the copy may fill only part of a listing).
    /// Scans use it; hashes are unaffected.
    pub fn for_listings(&self) -> Self {
        let local = self.local.map(|l| LocalConfig {
            budget: l.listing_budget,
            working_size: l.listing_working_size,
            upscale: l.listing_upscale,
            ..l
        });
        FingerprintConfig { local, ..*self }
    }
}

/// The most keypoints a configuration may ask for per photo (a larger budget is a damaged or hostile index).
pub(crate) const MAX_KEYPOINTS: usize = 1 << 16;

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidConfig(message))
}

/// `Ok` if `min <= value <= max`, else an [`ErrorKind::InvalidConfig`] naming `name`.
pub(crate) fn check_range<T: PartialOrd + std::fmt::Display>(name: &str, value: T, min: T, max: T) -> Result<()> {
    if value < min || value > max {
        return Err(invalid(format!("{name} {value} is outside [{min}, {max}]")));
    }
    Ok(())
}

crate::setters!(FingerprintConfig {
    /// Sets [`FingerprintConfig::limits`].
    limits: Limits => with_limits,
    /// Sets [`FingerprintConfig::apply_orientation`].
    apply_orientation: bool => with_apply_orientation,
    /// Sets [`FingerprintConfig::full_size`].
    full_size: bool => with_full_size,
    /// Sets [`FingerprintConfig::working_size`].
    working_size: u32 => with_working_size,
    /// Sets [`FingerprintConfig::local`].
    local: Option<LocalConfig> => with_local,
});

// Here rather than beside `Limits`, with the other option setters of a fingerprint's configuration.
crate::setters!(Limits {
    /// Sets [`Limits::max_width`].
    max_width: u32 => with_max_width,
    /// Sets [`Limits::max_height`].
    max_height: u32 => with_max_height,
    /// Sets [`Limits::max_pixels`].
    max_pixels: u64 => with_max_pixels,
    /// Sets [`Limits::max_alloc`].
    max_alloc: u64 => with_max_alloc,
    /// Sets [`Limits::max_file_bytes`].
    max_file_bytes: u64 => with_max_file_bytes,
});

crate::setters!(LocalConfig {
    /// Sets [`LocalConfig::working_size`].
    working_size: u32 => with_working_size,
    /// Sets [`LocalConfig::budget`].
    budget: usize => with_budget,
    /// Sets [`LocalConfig::listing_budget`].
    listing_budget: usize => with_listing_budget,
    /// Sets [`LocalConfig::listing_working_size`].
    listing_working_size: u32 => with_listing_working_size,
    /// Sets [`LocalConfig::upscale`].
    upscale: f32 => with_upscale,
    /// Sets [`LocalConfig::listing_upscale`].
    listing_upscale: f32 => with_listing_upscale,
    /// Sets [`LocalConfig::levels`].
    levels: usize => with_levels,
    /// Sets [`LocalConfig::scale_factor`].
    scale_factor: f32 => with_scale_factor,
    /// Sets [`LocalConfig::fast_threshold`].
    fast_threshold: u8 => with_fast_threshold,
    /// Sets [`LocalConfig::min_fast_threshold`].
    min_fast_threshold: u8 => with_min_fast_threshold,
    /// Sets [`LocalConfig::grid_cell`].
    grid_cell: u32 => with_grid_cell,
});

/// A photo's fingerprint: its size, every hash, its colour signature and (if configured) its local features.
/// About 500 bytes without local features, ~26 KB with; serde-serialisable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Width of the photo as displayed (after EXIF orientation).
    pub width: u32,
    /// Height of the photo as displayed.
    pub height: u32,
    /// Average hash, 64 bits.
    pub ahash: Hash,
    /// Difference hash, 64 bits.
    pub dhash: Hash,
    /// DCT hash, 64 bits.
    pub phash: Hash,
    /// PDQ of the photo's content (a uniform border trimmed, see [`Fingerprint::photo_pdq`]), 256 bits, with its
    /// quality and the dihedral variants. What matching uses.
    pub pdq: PdqHashes,
    /// PDQ of the whole photo, kept only when a uniform border was trimmed (otherwise it equals `pdq`): the hash
    /// Meta's reference gives for the photo, to exchange with other PDQ users.
    /// Boxed: most photos have no border, and an inline copy would cost every fingerprint ~260 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_pdq: Option<Box<PdqHashes>>,
    /// Global colour signature.
    pub colour: ColourSignature,
    /// Keypoints and descriptors, in the photo's pixels; `None` when the configuration leaves them out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<Box<LocalFeatures>>,
    /// The keypoint budget of the fingerprinter that made it ([`LocalConfig::budget`]): the reference budget
    /// for an authentic photo's, the listing budget for a listing's. It lets an index refuse a listing
    /// fingerprinted as a reference (which finds fewer copies) and a reference fingerprinted as a listing. `None`
    /// for a hashes-only fingerprinter, or when not recorded (a fingerprint serialised before it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keypoint_budget: Option<u32>,
}

impl Fingerprint {
    /// Meta's PDQ of the whole photo (with its quality and variants), as the reference implementation computes it.
    pub fn photo_pdq(&self) -> &PdqHashes {
        self.photo_pdq.as_deref().unwrap_or(&self.pdq)
    }

    /// The hash of `kind` (for PDQ, of the content as it is).
    pub fn hash(&self, kind: HashKind) -> &Hash {
        match kind {
            HashKind::AHash => &self.ahash,
            HashKind::DHash => &self.dhash,
            HashKind::PHash => &self.phash,
            HashKind::Pdq => self.pdq.hash(),
        }
    }
}

/// Turns photos into [`Fingerprint`]s. Build once, share across threads (it is `Send + Sync`).
///
/// A fingerprinter has a role: references (the authentic catalog) and listings (what is checked against it) are
/// fingerprinted alike except that a listing gets a larger keypoint budget, because a copy may fill only a corner
/// of it (a collage, a pasted copy): a listing fingerprinted as a reference loses matches. So the constructors
/// name the role (the neutral `new` is deprecated), and each fingerprint records the budget it was made with
/// ([`Fingerprint::keypoint_budget`]), which an index checks.
///
/// ```
/// use knockoff::{compare, Fingerprinter, FingerprintConfig, Verdict};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
/// let config = FingerprintConfig::default();
/// let reference = Fingerprinter::for_references(config).fingerprint_path(format!("{dir}/refs/rocket.jpg"))?;
/// let listing = Fingerprinter::for_listings(config).fingerprint_path(format!("{dir}/listings/rocket-collage.jpg"))?;
/// assert_eq!(reference.pdq.hash().to_hex().len(), 64);
/// assert_eq!(compare(&reference, &listing).verdict, Verdict::Match);
/// # Ok::<(), knockoff::Error>(())
/// ```
pub struct Fingerprinter {
    config: FingerprintConfig,
    classic: ClassicHashers,
}

/// A clone has the same configuration (the hashers are built anew: they hold no state).
impl Clone for Fingerprinter {
    fn clone(&self) -> Self {
        Fingerprinter::for_references(self.config)
    }
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hashers are stateless workers built from the configuration; the configuration says it all.
        f.debug_struct("Fingerprinter").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Fingerprinter {
    /// A fingerprinter for authentic photos (an index's references), with `config` as it is.
    pub fn for_references(config: FingerprintConfig) -> Self {
        Fingerprinter { config, classic: ClassicHashers::new() }
    }

    /// A fingerprinter for listing photos to compare with references made with `config`: the same settings with
    /// the listing keypoint budget ([`FingerprintConfig::for_listings`]). Scans use it on their own.
    pub fn for_listings(config: FingerprintConfig) -> Self {
        Self::for_references(config.for_listings())
    }

    /// A fingerprinter with `config` as it is: the same as [`Fingerprinter::for_references`].
    #[deprecated(
        since = "0.1.0",
        note = "say the role: `for_references` for the catalog, `for_listings` for listings (a listing fingerprinted \
                with the reference budget loses matches)"
    )]
    pub fn new(config: FingerprintConfig) -> Self {
        Self::for_references(config)
    }

    /// The configuration.
    pub fn config(&self) -> &FingerprintConfig {
        &self.config
    }

    /// How this fingerprinter decodes: at full size, or reduced to the working size.
    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            limits: self.config.limits,
            apply_orientation: self.config.apply_orientation,
            reduce_to: (!self.config.full_size).then_some(self.decode_size()),
        }
    }

    /// The longer side a reduced decode must reach: the hashes' working size, or the local features' if larger.
    fn decode_size(&self) -> u32 {
        self.config.local.map_or(self.config.working_size, |l| l.working_size.max(self.config.working_size))
    }

    /// Fingerprints the file at `path`.
    ///
    /// # Errors
    /// Every error of [`decode_path`](crate::decode_path), and [`ErrorKind::TooSmall`] for images under 5 pixels
    /// on a side; the error carries the path.
    pub fn fingerprint_path(&self, path: impl AsRef<Path>) -> Result<Fingerprint> {
        self.fingerprint_path_with_photo(path).map(|(fingerprint, _)| fingerprint)
    }

    /// [`Fingerprinter::fingerprint_path`], handing back the decoded pixels too: what a search needs to take a
    /// closer look at a copy shown small in a listing ([`ReferenceIndex::search_photo`], [`crate::zoom`]).
    ///
    /// ```
    /// use knockoff::{FingerprintConfig, Fingerprinter};
    ///
    /// let listings = Fingerprinter::for_listings(FingerprintConfig::default());
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/listings/rocket-collage.jpg");
    /// let (fingerprint, photo) = listings.fingerprint_path_with_photo(path)?;
    /// assert_eq!((fingerprint.width, fingerprint.height), (photo.width, photo.height));
    /// # Ok::<(), knockoff::Error>(())
    /// ```
    ///
    /// [`ReferenceIndex::search_photo`]: crate::ReferenceIndex::search_photo
    ///
    /// # Errors
    /// As [`Fingerprinter::fingerprint_path`].
    pub fn fingerprint_path_with_photo(&self, path: impl AsRef<Path>) -> Result<(Fingerprint, Photo)> {
        let path = path.as_ref();
        decode::decode_path(path, &self.decode_options())
            .and_then(|photo| Ok((self.fingerprint_photo(&photo)?, photo)))
            .map_err(|e| e.with_path(path))
    }

    /// Fingerprints an in-memory file.
    ///
    /// # Errors
    /// As [`Fingerprinter::fingerprint_path`], without a path.
    pub fn fingerprint_bytes(&self, bytes: &[u8]) -> Result<Fingerprint> {
        self.fingerprint_bytes_with_photo(bytes).map(|(fingerprint, _)| fingerprint)
    }

    /// [`Fingerprinter::fingerprint_bytes`], handing back the decoded pixels too (see
    /// [`Fingerprinter::fingerprint_path_with_photo`]).
    ///
    /// # Errors
    /// As [`Fingerprinter::fingerprint_bytes`].
    pub fn fingerprint_bytes_with_photo(&self, bytes: &[u8]) -> Result<(Fingerprint, Photo)> {
        let photo = decode::decode_bytes(bytes, &self.decode_options())?;
        Ok((self.fingerprint_photo(&photo)?, photo))
    }

    /// Fingerprints an already decoded image (transparency is flattened onto white).
    ///
    /// # Errors
    /// [`ErrorKind::TooSmall`] for images under 5 pixels on a side.
    pub fn fingerprint_image(&self, image: &DynamicImage) -> Result<Fingerprint> {
        self.fingerprint_photo(&Photo::from(decode::flatten_on_white(image.clone())))
    }

    /// Fingerprints a decoded [`Photo`].
    ///
    /// # Errors
    /// [`ErrorKind::TooSmall`] for images under 5 pixels on a side.
    pub fn fingerprint_photo(&self, photo: &Photo) -> Result<Fingerprint> {
        let (w, h) = photo.image.dimensions();
        if (w.min(h) as usize) < pdq::MIN_DIMENSION {
            return Err(Error::new(ErrorKind::TooSmall { width: photo.width, height: photo.height }));
        }
        let whole = shrink_to(&photo.image, self.config.working_size);
        // Hash the content, not the canvas: a uniform border (white catalog margin, padding or a coloured frame a
        // seller added) is trimmed, so a padded copy hashes like its reference and two different products on the
        // same white canvas are compared by the products.
        let trim = trim_uniform_border(&whole);
        if self.config.full_size {
            // The exact PDQ's float image comes on top of the pixels, and so does a copy of the content when a
            // border is trimmed: together they stay within the allocation limit, as the decode alone does (a
            // 100-megapixel photo took 1.1 GB at full size).
            let pixels = 3 * u64::from(w) * u64::from(h);
            let need = pixels + pdq::exact_pdq_bytes(w, h) + if trim.is_some() { pixels } else { 0 };
            if need > self.config.limits.max_alloc {
                return Err(Error::new(ErrorKind::TooLarge {
                    width: photo.width,
                    height: photo.height,
                    limit: format!(
                        "the exact PDQ needs {need} bytes with the pixels, maximum allocation {} bytes",
                        self.config.limits.max_alloc
                    ),
                }));
            }
        }
        let (ww, wh) = whole.dimensions();
        // A rectangle of the working image, in the pixels of an image of size `to`.
        let map = |(x, y, tw, th): (u32, u32, u32, u32), (to_w, to_h): (u32, u32)| {
            let sx = |v: u32| (u64::from(v) * u64::from(to_w) / u64::from(ww)) as u32;
            let sy = |v: u32| (u64::from(v) * u64::from(to_h) / u64::from(wh)) as u32;
            let (mx, my) = (sx(x).min(to_w - 1), sy(y).min(to_h - 1));
            (mx, my, sx(tw).clamp(1, to_w - mx), sy(th).clamp(1, to_h - my))
        };
        let crop = |img: &RgbImage, (x, y, cw, ch): (u32, u32, u32, u32)| {
            Cow::Owned(image::imageops::crop_imm(img, x, y, cw, ch).to_image())
        };
        let (working, decoded, full) = match trim {
            Some(rect) => {
                let (_, _, fw, fh) = map(rect, (photo.width, photo.height));
                (crop(&whole, rect), crop(&photo.image, map(rect, (w, h))), (fw, fh))
            }
            None => (Cow::Borrowed(&whole), Cow::Borrowed(&photo.image), (photo.width, photo.height)),
        };
        let too_small = || Error::new(ErrorKind::TooSmall { width: photo.width, height: photo.height });
        let pdq = self.pdq_of(&decoded, &working, full).ok_or_else(too_small)?;
        // The trimmed content's copy is not needed for the whole photo's PDQ.
        drop(decoded);
        // The whole photo's PDQ too, when it differs, for exchange with other PDQ users.
        let photo_pdq = trim.and_then(|_| self.pdq_of(&photo.image, &whole, (photo.width, photo.height))).map(Box::new);
        let [ahash, dhash, phash] = self.classic.hash(&working);
        // Keypoints come from the whole photo: a uniform border has none, and their positions stay the photo's.
        let local = self
            .config
            .local
            .map(|config| Box::new(features::extract(&photo.image, (photo.width, photo.height), &config)));
        Ok(Fingerprint {
            width: photo.width,
            height: photo.height,
            ahash,
            dhash,
            phash,
            pdq,
            photo_pdq,
            colour: ColourSignature::of(&working),
            local,
            keypoint_budget: self.config.local.map(|l| l.budget as u32),
        })
    }

    /// PDQ of `image` (decoded pixels) whose working copy is `working` and whose full size is `full`: exactly as the
    /// reference when the full-size pixels are at hand (asked for, or no larger than the working image), resampled
    /// from the decoded pixels otherwise.
    fn pdq_of(&self, image: &RgbImage, working: &RgbImage, full: (u32, u32)) -> Option<PdqHashes> {
        let (ww, wh) = working.dimensions();
        let (iw, ih) = image.dimensions();
        if self.config.full_size || (ww, wh) == full {
            pdq::pdq_from_rgb(image.as_raw(), iw as usize, ih as usize)
        } else {
            // From the decoded pixels, not the working copy: resampling to the working size first put small photos
            // (300-720 px, where the decode is barely reduced) up to 20 bits from the reference; the decoded pixels
            // keep every photo within 8 (`tests/pdq_conformance.rs`), at the cost of a tent pass over more pixels.
            pdq::pdq_from_reduced_rgb(image.as_raw(), iw as usize, ih as usize, full.0 as usize, full.1 as usize)
        }
    }
}

/// The rectangle `(x, y, width, height)` of `image` inside a uniform border, if it has one worth trimming.
///
/// The border colour is the median of the edge pixels; there is a border when at least 90% of the edge pixels are
/// within 24 levels (every channel) of it. Content is every row and column where more than 1% of the pixels (and
/// at least two) differ from it by more than that, so JPEG noise and thin anti-aliasing do not count. Nothing is
/// trimmed from flat images, when under 3% of the area would go, or when the content would be under 5% of it.
pub(crate) fn trim_uniform_border(image: &RgbImage) -> Option<(u32, u32, u32, u32)> {
    const TOLERANCE: i16 = 24;
    let (w, h) = image.dimensions();
    if w < 16 || h < 16 {
        return None;
    }
    let edge: Vec<[u8; 3]> = (0..w)
        .flat_map(|x| [image.get_pixel(x, 0).0, image.get_pixel(x, h - 1).0])
        .chain((1..h - 1).flat_map(|y| [image.get_pixel(0, y).0, image.get_pixel(w - 1, y).0]))
        .collect();
    let median = |c: usize| {
        let mut v: Vec<u8> = edge.iter().map(|p| p[c]).collect();
        let mid = v.len() / 2;
        *v.select_nth_unstable(mid).1
    };
    let background = [median(0), median(1), median(2)];
    let differs =
        |p: &[u8; 3]| p.iter().zip(&background).any(|(&a, &b)| (i16::from(a) - i16::from(b)).abs() > TOLERANCE);
    if edge.iter().filter(|p| !differs(p)).count() * 10 < edge.len() * 9 {
        return None;
    }
    let mut row_counts = vec![0u32; h as usize];
    let mut col_counts = vec![0u32; w as usize];
    for (x, y, p) in image.enumerate_pixels() {
        if differs(&p.0) {
            row_counts[y as usize] += 1;
            col_counts[x as usize] += 1;
        }
    }
    let span = |counts: &[u32], across: u32| {
        let needed = (across / 100).max(2);
        let first = counts.iter().position(|&c| c >= needed)?;
        let last = counts.iter().rposition(|&c| c >= needed)?;
        Some((first as u32, last as u32 - first as u32 + 1))
    };
    let (y, th) = span(&row_counts, w)?;
    let (x, tw) = span(&col_counts, h)?;
    let (area, kept) = (u64::from(w) * u64::from(h), u64::from(tw) * u64::from(th));
    if kept * 100 >= area * 97 || kept * 100 < area * 5 || tw < 8 || th < 8 {
        return None;
    }
    Some((x, y, tw, th))
}

/// Downscales so that the longer side is at most `max_side` (never upscales). Area-weighted (bilinear kernel
/// stretched to the scale factor), which behaves like the box filters PDQ itself uses.
pub(crate) fn shrink_to(image: &RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let longer = w.max(h);
    if longer <= max_side || max_side == 0 {
        return image.clone();
    }
    let scale = f64::from(max_side) / f64::from(longer);
    // Never below the hashes' minimum side on a side that had it: a 5x285 strip stays hashable.
    let floor = |side: u32| side.min(pdq::MIN_DIMENSION as u32).max(1);
    let nw = ((f64::from(w) * scale).round() as u32).max(floor(w));
    let nh = ((f64::from(h) * scale).round() as u32).max(floor(h));
    let resized = resize_pixels(image.as_raw(), (w, h), (nw, nh), PixelType::U8x3, FilterType::Bilinear)
        .and_then(|pixels| RgbImage::from_raw(nw, nh, pixels));
    // The resizer only fails on buffer/size mismatches that an RgbImage cannot have; fall back to `image`'s own.
    resized.unwrap_or_else(|| image::imageops::resize(image, nw, nh, image::imageops::FilterType::Triangle))
}

/// `pixels` (`from` wide and high, laid out as `pixel_type`) resized to `to` by `fast_image_resize`'s convolution
/// with `filter`; `None` when the buffer does not hold `from`'s pixels or a size is zero.
pub(crate) fn resize_pixels(
    pixels: &[u8],
    from: (u32, u32),
    to: (u32, u32),
    pixel_type: PixelType,
    filter: FilterType,
) -> Option<Vec<u8>> {
    let src = ImageRef::new(from.0, from.1, pixels, pixel_type).ok()?;
    let mut dst = Image::new(to.0, to.1, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    Resizer::new().resize(&src, &mut dst, &options).ok()?;
    Some(dst.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprinter_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Fingerprinter>();
        send_sync::<Fingerprint>();
        // Small enough to hold millions in memory: the boxed whole-photo PDQ and local features are 8 bytes each
        // when absent (inline the PDQ would add ~260 to every fingerprint). 488 today, of which 96 are the unused
        // words of the three 64-bit hashes (a `Hash` is one fixed-size type for every kind).
        assert!(std::mem::size_of::<Fingerprint>() < 512, "{}", std::mem::size_of::<Fingerprint>());
    }

    #[test]
    fn uniform_borders_are_trimmed_and_content_is_kept() {
        let mut img = RgbImage::from_pixel(200, 100, image::Rgb([255, 255, 255]));
        for y in 20..70 {
            for x in 50..120 {
                img.put_pixel(x, y, image::Rgb([(x * 3) as u8, (y * 2) as u8, 90]));
            }
        }
        assert_eq!(trim_uniform_border(&img), Some((50, 20, 70, 50)));
        // A photo that fills its frame, and a flat image, are left alone.
        let full = RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 0]));
        assert_eq!(trim_uniform_border(&full), None);
        assert_eq!(trim_uniform_border(&RgbImage::from_pixel(64, 64, image::Rgb([9, 9, 9]))), None);
    }

    #[test]
    fn shrink_keeps_aspect_and_never_upscales() {
        let img = RgbImage::new(1000, 500);
        assert_eq!(shrink_to(&img, 256).dimensions(), (256, 128));
        // Found by the property test: a 5-pixel strip must not shrink under the hashes' minimum.
        assert_eq!(shrink_to(&RgbImage::new(5, 285), 256).dimensions(), (5, 256));
        assert_eq!(shrink_to(&img, 2000).dimensions(), (1000, 500));
    }

    #[test]
    fn too_small_images_are_a_typed_error() {
        let f = Fingerprinter::for_references(FingerprintConfig::default());
        let err = f.fingerprint_image(&DynamicImage::new_rgb8(4, 100)).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::TooSmall { .. }));
    }
}
