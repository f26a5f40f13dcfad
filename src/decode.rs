//! Turning photo files into pixels, safely.
//!
//! - The format is sniffed from the bytes, never the file name (listing crawlers save everything as `.jpg`).
//! - Limits are checked from the header before any pixel is allocated, so a decompression bomb costs
//!   milliseconds, not gigabytes.
//! - A decoder panic is caught and returned as [`ErrorKind::DecoderPanic`]: nothing here panics on input.
//! - EXIF orientation is applied and transparency is flattened onto white, so a cut-out on a transparent
//!   background looks like the same cut-out on a white catalog background.
//! - With [`DecodeOptions::reduce_to`], JPEGs are decoded at 1/2, 1/4 or 1/8 scale in the DCT domain: the
//!   fingerprint needs only a small working image, and skipping most of the inverse DCT halves decode time.

use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// Resource limits for decoding. The defaults suit product photos: generous for any real camera or catalog image,
/// far below what a hostile file could make us allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted width in pixels. Default 30,000.
    pub max_width: u32,
    /// Largest accepted height in pixels. Default 30,000.
    pub max_height: u32,
    /// Largest accepted width x height. Default 100 megapixels.
    pub max_pixels: u64,
    /// Most memory a decoder may allocate, in bytes. Default 512 MiB.
    pub max_alloc: u64,
    /// Largest accepted file, in bytes. Default 256 MiB.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_width: 30_000,
            max_height: 30_000,
            max_pixels: 100_000_000,
            max_alloc: 512 << 20,
            max_file_bytes: 256 << 20,
        }
    }
}

impl Limits {
    /// Checks header dimensions against the limits.
    fn check(&self, width: u32, height: u32) -> Result<()> {
        let too_large = |limit: String| Err(Error::new(ErrorKind::TooLarge { width, height, limit }));
        if width > self.max_width {
            return too_large(format!("maximum width {}", self.max_width));
        }
        if height > self.max_height {
            return too_large(format!("maximum height {}", self.max_height));
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return too_large(format!("maximum {} pixels", self.max_pixels));
        }
        // The RGB output alone needs 3 bytes a pixel; the decoders enforce the exact figure for their own pixel
        // layout (up to 8 bytes for 16-bit RGBA) through `image`'s allocation limit.
        if u64::from(width) * u64::from(height) * 3 > self.max_alloc {
            return too_large(format!("maximum allocation {} bytes", self.max_alloc));
        }
        Ok(())
    }
}

/// How to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Resource limits.
    pub limits: Limits,
    /// Apply the EXIF orientation (phone photos are stored sideways). Default true.
    pub apply_orientation: bool,
    /// If set, the decoder may return a smaller image whose longer side is still at least this many pixels
    /// (JPEG only, by DCT scaling; other formats decode at full size). `None` (the default) decodes at full size.
    pub reduce_to: Option<u32>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { limits: Limits::default(), apply_orientation: true, reduce_to: None }
    }
}

/// A decoded photo: RGB pixels, oriented, transparency flattened onto white.
#[derive(Clone, Debug)]
pub struct Photo {
    /// The pixels. Smaller than `width` x `height` when decoded at reduced scale.
    pub image: RgbImage,
    /// Width of the photo as displayed (after orientation), at full size.
    pub width: u32,
    /// Height of the photo as displayed (after orientation), at full size.
    pub height: u32,
    /// The sniffed format, e.g. `"jpeg"`.
    pub format: &'static str,
}

/// Decodes the file at `path`.
///
/// ```
/// use knockoff::{DecodeOptions, decode_path};
///
/// let photo = decode_path(
///     concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs/coffee.jpg"),
///     &DecodeOptions::default(),
/// )?;
/// assert_eq!((photo.width, photo.height), (600, 400));
/// # Ok::<(), knockoff::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::Io`] if the file cannot be read, [`ErrorKind::FileTooLarge`] if it exceeds
/// [`Limits::max_file_bytes`] (checked before reading), and every error of [`decode_bytes`]; the error carries the
/// path.
pub fn decode_path(path: impl AsRef<Path>, options: &DecodeOptions) -> Result<Photo> {
    let path = path.as_ref();
    let read = || -> Result<Vec<u8>> {
        let file = std::fs::File::open(path).map_err(|e| Error::new(ErrorKind::Io(e)))?;
        // Refuse an oversized file from its metadata, without reading it.
        let limit = options.limits.max_file_bytes;
        if let Some(bytes) = file.metadata().ok().map(|m| m.len()).filter(|&len| len > limit) {
            return Err(Error::new(ErrorKind::FileTooLarge { bytes, limit }));
        }
        read_limited(file, limit)
    };
    read().and_then(|bytes| decode_bytes(&bytes, options)).map_err(|e| e.with_path(path))
}

/// Decodes everything `reader` yields (up to [`Limits::max_file_bytes`]).
///
/// # Errors
/// [`ErrorKind::Io`] if reading fails, [`ErrorKind::FileTooLarge`] past the byte limit, and every error of
/// [`decode_bytes`].
pub fn decode_reader(reader: impl Read, options: &DecodeOptions) -> Result<Photo> {
    let bytes = read_limited(reader, options.limits.max_file_bytes)?;
    decode_bytes(&bytes, options)
}

fn read_limited(reader: impl Read, max_bytes: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::new(ErrorKind::Io(e)))?;
    if bytes.len() as u64 > max_bytes {
        return Err(Error::new(ErrorKind::FileTooLarge { bytes: bytes.len() as u64, limit: max_bytes }));
    }
    Ok(bytes)
}

/// Decodes an in-memory file: JPEG (baseline, progressive, grey, CMYK), PNG (8/16-bit, palette, alpha), WebP,
/// GIF (first frame), BMP or TIFF, sniffed from the bytes.
///
/// # Errors
/// [`ErrorKind::Empty`], [`ErrorKind::UnknownFormat`], [`ErrorKind::TooLarge`] (from the header, before
/// decoding), [`ErrorKind::Decode`] (truncated or corrupt), [`ErrorKind::DecoderPanic`].
pub fn decode_bytes(bytes: &[u8], options: &DecodeOptions) -> Result<Photo> {
    if bytes.is_empty() {
        return Err(Error::new(ErrorKind::Empty));
    }
    let format = sniff(bytes)?;
    match catch_unwind(AssertUnwindSafe(|| decode_sniffed(bytes, format, options))) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(Error::new(ErrorKind::DecoderPanic(message)))
        }
    }
}

/// The formats we accept, by their magic bytes.
fn sniff(bytes: &[u8]) -> Result<ImageFormat> {
    match image::guess_format(bytes) {
        Ok(
            format @ (ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::Gif
            | ImageFormat::Bmp
            | ImageFormat::Tiff
            | ImageFormat::WebP),
        ) => Ok(format),
        _ => Err(Error::new(ErrorKind::UnknownFormat)),
    }
}

fn format_name(format: ImageFormat) -> &'static str {
    format.extensions_str().first().copied().unwrap_or("image")
}

fn decode_sniffed(bytes: &[u8], format: ImageFormat, options: &DecodeOptions) -> Result<Photo> {
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        // zune-jpeg (behind `image`) fills a truncated scan with grey and succeeds; a fingerprint of that would
        // describe a photo nobody listed. A truncated download is reported, so it can be fetched again.
        return Err(Error::new(ErrorKind::Decode {
            format: "jpg",
            message: "truncated: no end-of-image marker after the last scan".into(),
        }));
    }
    if let (ImageFormat::Jpeg, Some(long_side)) = (format, options.reduce_to) {
        return decode_jpeg_reduced(bytes, long_side, options);
    }
    let name = format_name(format);
    // Header first, without limits, so that an oversized image is reported with the size it claims.
    let mut header = ImageReader::with_format(Cursor::new(bytes), format);
    header.no_limits();
    let (width, height) = header.into_dimensions().map_err(|e| image_error(name, e))?;
    options.limits.check(width, height)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(image_limits(&options.limits));
    let mut decoder = reader.into_decoder().map_err(|e| image_error(name, e))?;
    let orientation = if options.apply_orientation {
        decoder.orientation().unwrap_or(Orientation::NoTransforms)
    } else {
        Orientation::NoTransforms
    };
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(name, e))?;
    image.apply_orientation(orientation);
    Ok(Photo { width: image.width(), height: image.height(), image: flatten_on_white(image), format: name })
}

fn image_limits(limits: &Limits) -> image::Limits {
    let mut out = image::Limits::default();
    out.max_image_width = Some(limits.max_width);
    out.max_image_height = Some(limits.max_height);
    out.max_alloc = Some(limits.max_alloc);
    out
}

fn image_error(format: &'static str, error: image::ImageError) -> Error {
    match error {
        image::ImageError::Limits(e) => Error::new(ErrorKind::TooLarge { width: 0, height: 0, limit: e.to_string() }),
        other => Error::new(ErrorKind::Decode { format, message: other.to_string() }),
    }
}

/// Whether an end-of-image marker (`FF D9`) follows the last start-of-scan (`FF DA`). Entropy-coded data escapes
/// every `FF` byte, so inside a scan the pair can only be a real marker; an EXIF thumbnail's own markers come
/// before the main image's scans and do not count.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let last_end = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    matches!((last_scan, last_end), (Some(scan), Some(end)) if end > scan)
}

/// JPEG through `jpeg-decoder`, which can skip most of the inverse DCT to decode at 1/2, 1/4 or 1/8 scale.
fn decode_jpeg_reduced(bytes: &[u8], long_side: u32, options: &DecodeOptions) -> Result<Photo> {
    let decode_error = |e: jpeg_decoder::Error| Error::new(ErrorKind::Decode { format: "jpg", message: e.to_string() });
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(decode_error)?;
    let info = decoder.info().ok_or_else(|| decode_error(jpeg_decoder::Error::Format("no frame header".into())))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    options.limits.check(width, height)?;
    decoder.set_max_decoding_buffer_size(usize::try_from(options.limits.max_alloc).unwrap_or(usize::MAX));
    let orientation = match (options.apply_orientation, decoder.exif_data()) {
        (true, Some(exif)) => Orientation::from_exif_chunk(exif).unwrap_or(Orientation::NoTransforms),
        _ => Orientation::NoTransforms,
    };
    // Request the size that keeps the longer side at `long_side`; the decoder picks the smallest DCT scale that
    // reaches it.
    let longer = width.max(height).max(1);
    let want = |side: u32| (u64::from(side) * u64::from(long_side)).div_ceil(u64::from(longer)).min(65_535) as u16;
    let (out_w, out_h) = decoder.scale(want(width), want(height)).map_err(decode_error)?;
    let pixels = decoder.decode().map_err(decode_error)?;
    let format = decoder.info().map(|i| i.pixel_format).unwrap_or(info.pixel_format);
    let (out_w, out_h) = (u32::from(out_w), u32::from(out_h));
    let rgb = jpeg_pixels_to_rgb(&pixels, format, (out_w * out_h) as usize);
    let image = RgbImage::from_raw(out_w, out_h, rgb)
        .ok_or_else(|| decode_error(jpeg_decoder::Error::Format("decoded buffer shorter than the image".into())))?;
    let mut image = DynamicImage::ImageRgb8(image);
    image.apply_orientation(orientation);
    let (width, height) = match orientation {
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH => {
            (height, width)
        }
        _ => (width, height),
    };
    Ok(Photo { image: image.into_rgb8(), width, height, format: "jpg" })
}

fn jpeg_pixels_to_rgb(pixels: &[u8], format: jpeg_decoder::PixelFormat, count: usize) -> Vec<u8> {
    use jpeg_decoder::PixelFormat;
    match format {
        PixelFormat::RGB24 => pixels.to_vec(),
        PixelFormat::L8 => pixels.iter().take(count).flat_map(|&l| [l, l, l]).collect(),
        // 16-bit lossless JPEG, big-endian samples: keep the high byte.
        PixelFormat::L16 => pixels.chunks_exact(2).take(count).flat_map(|s| [s[0], s[0], s[0]]).collect(),
        // jpeg-decoder has already undone Adobe's inversion: these are plain CMYK ink amounts.
        PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .take(count)
            .flat_map(|p| {
                let k = 255 - u32::from(p[3]);
                let ink = |c: u8| ((255 - u32::from(c)) * k / 255) as u8;
                [ink(p[0]), ink(p[1]), ink(p[2])]
            })
            .collect(),
    }
}

/// Converts to 8-bit RGB, compositing any transparency onto white.
pub(crate) fn flatten_on_white(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for p in rgba.pixels() {
        let a = u32::from(p[3]);
        for c in &p.0[..3] {
            out.push(((u32::from(*c) * a + 255 * (255 - a) + 127) / 255) as u8);
        }
    }
    RgbImage::from_raw(w, h, out).unwrap_or_else(|| RgbImage::new(w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening_puts_transparent_pixels_on_white() {
        let mut rgba = image::RgbaImage::new(2, 1);
        rgba.put_pixel(0, 0, image::Rgba([10, 20, 30, 0]));
        rgba.put_pixel(1, 0, image::Rgba([10, 20, 30, 255]));
        let rgb = flatten_on_white(DynamicImage::ImageRgba8(rgba));
        assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(rgb.get_pixel(1, 0).0, [10, 20, 30]);
    }

    #[test]
    fn limits_reject_before_decoding() {
        let limits = Limits::default();
        assert!(limits.check(10_000, 10_000).is_ok());
        assert!(limits.check(100_000, 100_000).is_err());
        assert!(limits.check(30_000, 30_000).is_err());
    }
}
