//! Everything we keep about one photo, computed once per photo.

use std::path::Path;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, RgbImage};
use serde::{Deserialize, Serialize};

use crate::colour::ColourSignature;
use crate::decode::{self, DecodeOptions, Limits, Photo};
use crate::error::{Error, ErrorKind, Result};
use crate::hash::pdq::{self, PdqHashes};
use crate::hash::{ClassicHashers, Hash, HashKind};

/// Version of the fingerprint algorithms (decoding, resizing, every hash, colour). Bump it whenever a change makes
/// fingerprints differ (the golden test `tests/golden.rs` catches such changes): indexes record it, and opening one
/// made with another version is an error rather than a silent mismatch.
pub const FINGERPRINT_VERSION: u32 = 1;

/// How photos are fingerprinted. A persisted index records this, since fingerprints made with other settings are
/// not comparable bit for bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Default for FingerprintConfig {
    fn default() -> Self {
        FingerprintConfig { limits: Limits::default(), apply_orientation: true, full_size: false, working_size: 256 }
    }
}

/// A photo's fingerprint: its size, every hash, and its colour signature. About 500 bytes; serde-serialisable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// PDQ, 256 bits, with its quality and the dihedral variants.
    pub pdq: PdqHashes,
    /// Global colour signature.
    pub colour: ColourSignature,
}

impl Fingerprint {
    /// The hash of `kind` (for PDQ, of the photo as it is).
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
/// ```
/// use knockoff::{Fingerprinter, FingerprintConfig};
///
/// let fingerprinter = Fingerprinter::new(FingerprintConfig::default());
/// let fp = fingerprinter.fingerprint_path(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs/coffee.jpg"))?;
/// assert_eq!(fp.pdq.hash().to_hex().len(), 64);
/// # Ok::<(), knockoff::Error>(())
/// ```
pub struct Fingerprinter {
    config: FingerprintConfig,
    classic: ClassicHashers,
}

impl Fingerprinter {
    /// A fingerprinter with `config`.
    pub fn new(config: FingerprintConfig) -> Self {
        Fingerprinter { config, classic: ClassicHashers::new() }
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
            reduce_to: (!self.config.full_size).then_some(self.config.working_size),
        }
    }

    /// Fingerprints the file at `path`.
    ///
    /// # Errors
    /// Every error of [`decode_path`](crate::decode_path), and [`ErrorKind::TooSmall`] for images under 5 pixels
    /// on a side; the error carries the path.
    pub fn fingerprint_path(&self, path: impl AsRef<Path>) -> Result<Fingerprint> {
        let path = path.as_ref();
        decode::decode_path(path, &self.decode_options())
            .and_then(|photo| self.fingerprint_photo(&photo))
            .map_err(|e| e.with_path(path))
    }

    /// Fingerprints an in-memory file.
    ///
    /// # Errors
    /// As [`Fingerprinter::fingerprint_path`], without a path.
    pub fn fingerprint_bytes(&self, bytes: &[u8]) -> Result<Fingerprint> {
        let photo = decode::decode_bytes(bytes, &self.decode_options())?;
        self.fingerprint_photo(&photo)
    }

    /// Fingerprints an already decoded image (transparency is flattened onto white).
    ///
    /// # Errors
    /// [`ErrorKind::TooSmall`] for images under 5 pixels on a side.
    pub fn fingerprint_image(&self, image: &DynamicImage) -> Result<Fingerprint> {
        let rgb = decode::flatten_on_white(image.clone());
        let photo = Photo { width: rgb.width(), height: rgb.height(), image: rgb, format: "raw" };
        self.fingerprint_photo(&photo)
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
        let working = shrink_to(&photo.image, self.config.working_size);
        let (ww, wh) = working.dimensions();
        let pdq = if self.config.full_size || (ww, wh) == (photo.width, photo.height) {
            // Full-size pixels at hand (asked for, or the photo is no larger than the working image): hash them
            // exactly as the reference does.
            pdq::pdq_from_rgb(photo.image.as_raw(), w as usize, h as usize)
        } else {
            let (fw, fh) = (photo.width as usize, photo.height as usize);
            pdq::pdq_from_reduced_rgb(working.as_raw(), ww as usize, wh as usize, fw, fh)
        };
        let pdq = pdq.ok_or(Error::new(ErrorKind::TooSmall { width: photo.width, height: photo.height }))?;
        let [ahash, dhash, phash] = self.classic.hash(&working);
        Ok(Fingerprint {
            width: photo.width,
            height: photo.height,
            ahash,
            dhash,
            phash,
            pdq,
            colour: ColourSignature::of(&working),
        })
    }
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
    let nw = ((f64::from(w) * scale).round() as u32).max(1);
    let nh = ((f64::from(h) * scale).round() as u32).max(1);
    let resized = ImageRef::new(w, h, image.as_raw(), PixelType::U8x3).ok().and_then(|src| {
        let mut dst = Image::new(nw, nh, PixelType::U8x3);
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        Resizer::new().resize(&src, &mut dst, &options).ok()?;
        RgbImage::from_raw(nw, nh, dst.into_vec())
    });
    // The resizer only fails on buffer/size mismatches that an RgbImage cannot have; fall back to `image`'s own.
    resized.unwrap_or_else(|| image::imageops::resize(image, nw, nh, image::imageops::FilterType::Triangle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprinter_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Fingerprinter>();
        send_sync::<Fingerprint>();
    }

    #[test]
    fn shrink_keeps_aspect_and_never_upscales() {
        let img = RgbImage::new(1000, 500);
        assert_eq!(shrink_to(&img, 256).dimensions(), (256, 128));
        assert_eq!(shrink_to(&img, 2000).dimensions(), (1000, 500));
    }

    #[test]
    fn too_small_images_are_a_typed_error() {
        let f = Fingerprinter::new(FingerprintConfig::default());
        let err = f.fingerprint_image(&DynamicImage::new_rgb8(4, 100)).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::TooSmall { .. }));
    }
}
