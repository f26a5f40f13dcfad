//! Turning photo files into pixels, safely.
//!
//! - The format is sniffed from the bytes, never the file name (listing crawlers save everything as `.jpg`).
//! - Limits are checked from the header before any pixel is allocated, so a decompression bomb costs
//!   milliseconds, not gigabytes.
//! - A decoder panic is caught and returned as [`ErrorKind::DecoderPanic`]: nothing here panics on input
//!   ([`crate::quiet_contained_panics`] keeps such panics off stderr).
//! - EXIF orientation is applied and transparency is flattened onto white, so a cut-out on a transparent
//!   background looks like the same cut-out on a white catalog background.
//! - With [`DecodeOptions::reduce_to`], JPEGs are decoded at 1/2, 1/4 or 1/8 scale in the DCT domain: the
//!   fingerprint needs only a small working image, and skipping most of the inverse DCT halves decode time.

use std::fs::File;
use std::io::{BufRead, Cursor, Read, Seek};
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

mod animation;
mod budget;
mod png_chunks;

pub use budget::{DEFAULT_CONCURRENT_DECODE_BYTES, set_concurrent_decode_bytes};

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
    /// Checks that the limits protect something and let something through: sides of 16 to 2^20 pixels, 256 to
    /// 2^34 pixels, an allocation limit of 1 MiB to 16 GiB, a file limit of 64 KiB to 16 GiB. Limits read from an
    /// index file are checked with this (see [`FingerprintConfig::validate`](crate::FingerprintConfig::validate)):
    /// zero would make every photo fail, `u64::MAX` would switch bomb protection off.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`] naming the first value out of range.
    pub fn validate(&self) -> Result<()> {
        use crate::fingerprint::check_range;
        check_range("limits.max_width", self.max_width, 16, 1 << 20)?;
        check_range("limits.max_height", self.max_height, 16, 1 << 20)?;
        check_range("limits.max_pixels", self.max_pixels, 256, 1 << 34)?;
        check_range("limits.max_alloc", self.max_alloc, 1 << 20, 1 << 34)?;
        check_range("limits.max_file_bytes", self.max_file_bytes, 64 << 10, 1 << 34)?;
        Ok(())
    }

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
    /// The share of the concurrent decode budget a large decode holds while its pixels live (see
    /// [`set_concurrent_decode_bytes`]).
    _reservation: Option<std::sync::Arc<budget::Reservation>>,
}

/// Pixels already in memory (an edited or generated image) as a photo shown at their size, format `"raw"`: what
/// [`Fingerprinter::fingerprint_photo`](crate::Fingerprinter::fingerprint_photo) and a closer look
/// ([`crate::zoom`]) take.
///
/// ```
/// use knockoff::Photo;
///
/// let photo = Photo::from(image::RgbImage::new(64, 48));
/// assert_eq!((photo.width, photo.height, photo.format), (64, 48, "raw"));
/// ```
impl From<RgbImage> for Photo {
    fn from(image: RgbImage) -> Photo {
        Photo { width: image.width(), height: image.height(), image, format: "raw", _reservation: None }
    }
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
/// [`ErrorKind::Io`] if the file cannot be read, [`ErrorKind::NotRegularFile`] for pipes, sockets, devices and
/// folders (never opened for reading), [`ErrorKind::FileTooLarge`] if it exceeds [`Limits::max_file_bytes`] (from
/// its metadata, before reading), and every error of [`decode_bytes`]; the error carries the path.
pub fn decode_path(path: impl AsRef<Path>, options: &DecodeOptions) -> Result<Photo> {
    let path = path.as_ref();
    read_regular(path, options.limits.max_file_bytes)
        .and_then(|(bytes, _)| decode_bytes(&bytes, options))
        .map_err(|e| e.with_path(path))
}

/// The bytes of the regular file at `path` (see [`open_regular`]), at most `limit` of them, and the open file's
/// metadata (its modification time is the one of the bytes read).
///
/// # Errors
/// As [`open_regular`], and [`ErrorKind::FileTooLarge`] past `limit` (from the metadata, before reading); without
/// the path.
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<(Vec<u8>, std::fs::Metadata)> {
    let (file, len) = open_regular(path)?;
    // Refuse an oversized file from its metadata, without reading it.
    if len > limit {
        return Err(Error::new(ErrorKind::FileTooLarge { bytes: len, limit }));
    }
    let metadata = file.metadata().map_err(|e| Error::new(ErrorKind::Io(e)))?;
    // Sized from the metadata (no doubling reallocations); a file that grows meanwhile still stops at the limit.
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::new(ErrorKind::Io(e)))?;
    if bytes.len() as u64 > limit {
        return Err(Error::new(ErrorKind::FileTooLarge { bytes: bytes.len() as u64, limit }));
    }
    Ok((bytes, metadata))
}

/// Opens `path` for reading if it is a regular file (symlinks followed), and returns it with its length.
///
/// The type is checked from the path's metadata before opening (opening a named pipe blocks until a writer comes,
/// forever in a scan) and again on the open file, in case the path was swapped in between; the open itself is
/// non-blocking for the same reason.
///
/// # Errors
/// [`ErrorKind::Io`] if it cannot be opened, [`ErrorKind::NotRegularFile`] for folders, pipes, sockets and devices.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64)> {
    let io = |e: std::io::Error| Error::new(ErrorKind::Io(e));
    regular_len(&std::fs::metadata(path).map_err(io)?)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    let len = regular_len(&file.metadata().map_err(io)?)?;
    Ok((file, len))
}

fn regular_len(meta: &std::fs::Metadata) -> Result<u64> {
    if meta.is_file() {
        Ok(meta.len())
    } else {
        Err(Error::new(ErrorKind::NotRegularFile(file_type_name(&meta.file_type()))))
    }
}

/// What a file that is not a regular file is, in words.
pub(crate) fn file_type_name(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Whether `bytes` (the start of a file, 16 bytes are enough) look like a photo by their magic bytes: a format
/// [`decode_bytes`] reads, or one it recognises without decoding (AVIF, HEIF, JPEG XL), so that such a listing
/// saved without an extension fails with a row that names its format, as it does with one.
pub(crate) fn is_photo_magic(bytes: &[u8]) -> bool {
    sniff(bytes).is_ok() || undecoded_photo_format(bytes).is_some()
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
/// GIF, BMP or TIFF, sniffed from the bytes. An animated GIF, WebP or PNG gives the frame shown longest (of the first
/// 64; the first of those shown as long): a copy cannot hide behind a blank first frame.
///
/// # Errors
/// [`ErrorKind::Empty`], [`ErrorKind::FileTooLarge`] (more bytes than [`Limits::max_file_bytes`]: the same
/// photo as a file would be refused), [`ErrorKind::UnknownFormat`], [`ErrorKind::TooLarge`] (from the header,
/// before decoding), [`ErrorKind::Decode`] (truncated or corrupt), [`ErrorKind::DecoderPanic`].
pub fn decode_bytes(bytes: &[u8], options: &DecodeOptions) -> Result<Photo> {
    if bytes.is_empty() {
        return Err(Error::new(ErrorKind::Empty));
    }
    let limit = options.limits.max_file_bytes;
    if bytes.len() as u64 > limit {
        return Err(Error::new(ErrorKind::FileTooLarge { bytes: bytes.len() as u64, limit }));
    }
    let format = sniff(bytes)?;
    crate::error::contain(|| decode_sniffed(bytes, format, options))
        .unwrap_or_else(|message| Err(Error::new(ErrorKind::DecoderPanic(message))))
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
        _ => Err(match undecoded_photo_format(bytes) {
            Some(format) => Error::new(ErrorKind::Decode {
                format,
                message: "a photo format this build does not decode; convert it to JPEG, PNG or WebP".into(),
            }),
            None => Error::new(ErrorKind::UnknownFormat),
        }),
    }
}

/// The photo formats recognised by their first bytes but not decoded: AVIF and HEIF (an ISO media file whose
/// `ftyp` box names an image brand) and JPEG XL (its bare codestream or its container).
fn undecoded_photo_format(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n") {
        return Some("jxl");
    }
    if bytes.get(4..8) != Some(b"ftyp") {
        return None;
    }
    match bytes.get(8..12)? {
        b"avif" | b"avis" => Some("avif"),
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => Some("heif"),
        _ => None,
    }
}

fn format_name(format: ImageFormat) -> &'static str {
    format.extensions_str().first().copied().unwrap_or("image")
}

fn decode_sniffed(bytes: &[u8], format: ImageFormat, options: &DecodeOptions) -> Result<Photo> {
    if format == ImageFormat::Jpeg {
        let (scans, complete) = jpeg_scans(bytes);
        if !complete {
            // zune-jpeg (behind `image`) fills a truncated scan with grey and succeeds; a fingerprint of that would
            // describe a photo nobody listed. A truncated download is reported, so it can be fetched again.
            return Err(Error::new(ErrorKind::Decode {
                format: "jpg",
                message: "truncated: no end-of-image marker after the last scan".into(),
            }));
        }
        if scans > MAX_JPEG_SCANS {
            return Err(Error::new(ErrorKind::Decode {
                format: "jpg",
                message: format!("{scans} scans, more than the {MAX_JPEG_SCANS} a photo has"),
            }));
        }
    }
    if let (ImageFormat::Jpeg, Some(long_side)) = (format, options.reduce_to) {
        return decode_jpeg_reduced(bytes, long_side, options);
    }
    if matches!(format, ImageFormat::Gif | ImageFormat::WebP | ImageFormat::Png)
        && let Some(photo) = animation::decode(bytes, format, options)?
    {
        return Ok(photo);
    }
    if format == ImageFormat::Png {
        let view = png_chunks::Spliced::new(bytes, png_chunks::kept_ranges(bytes));
        return decode_with_image(view, format, bytes, options);
    }
    decode_with_image(Cursor::new(bytes), format, bytes, options)
}

/// Decodes through `image`, under the allocation limit from the first byte read: the decoder is built with it
/// (never `no_limits`), the dimensions are checked, and the decode's whole peak (see [`peak_bytes`]) must fit before
/// the pixel buffer is allocated.
fn decode_with_image(
    reader: impl BufRead + Seek,
    format: ImageFormat,
    bytes: &[u8],
    options: &DecodeOptions,
) -> Result<Photo> {
    let name = format_name(format);
    let mut reader = ImageReader::with_format(reader, format);
    // Only the allocation limit here: the dimension limits are ours, checked below so that an oversized image is
    // reported with the size it claims.
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(options.limits.max_alloc);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| {
        // The BMP decoder refuses sides over 65,535 while reading its header: an oversized photo like any other.
        let declared = if format == ImageFormat::Bmp { bmp_dimensions(bytes) } else { None };
        match declared.map(|(width, height)| options.limits.check(width, height)) {
            Some(Err(too_large)) => too_large,
            _ => image_error(name, None, e),
        }
    })?;
    let (width, height) = decoder.dimensions();
    options.limits.check(width, height)?;
    let orientation = if options.apply_orientation {
        decoder.orientation().unwrap_or(Orientation::NoTransforms)
    } else {
        Orientation::NoTransforms
    };
    let layout = Layout {
        format,
        colour: decoder.color_type(),
        native_bytes: decoder.total_bytes(),
        pixels: u64::from(width) * u64::from(height),
        rotated: rotates(orientation),
        animated_webp: format == ImageFormat::WebP && webp_is_animated(bytes),
        gif_frame_pixels: if format == ImageFormat::Gif { gif_frames(bytes, 1).1 } else { 0 },
        progressive_jpeg: format == ImageFormat::Jpeg && jpeg_is_progressive(bytes),
    };
    let needed = peak_bytes(&layout);
    fits("decoding", needed, (width, height), &options.limits)?;
    // Held while the photo lives: the decode's buffers, then its RGB pixels while the fingerprint is taken.
    let reservation = budget::reserve(needed);
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(name, Some((width, height)), e))?;
    // Flatten first (in place for RGBA): rotating the 3-byte RGB costs less than rotating the original.
    let mut rgb = DynamicImage::ImageRgb8(flatten_on_white(image));
    rgb.apply_orientation(orientation);
    let rgb = rgb.into_rgb8();
    Ok(Photo { width: rgb.width(), height: rgb.height(), image: rgb, format: name, _reservation: reservation.held() })
}

/// The width and height a BMP file's header declares (the 12-byte OS/2 header or any later Windows one; a
/// negative height is a top-down bitmap).
fn bmp_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    if bytes.get(..2)? != b"BM" {
        return None;
    }
    if u32_at(14)? == 12 {
        return Some((u32::from(u16_at(18)?), u32::from(u16_at(20)?)));
    }
    let (width, height) = (u32_at(18)? as i32, u32_at(22)? as i32);
    Some((width.unsigned_abs(), height.unsigned_abs()))
}

/// Refuses a decode of a `width` x `height` photo (`what`: "decoding" ...) that would hold `needed` bytes at its peak,
/// more than the allocation limit, before anything is allocated.
fn fits(what: &str, needed: u64, (width, height): (u32, u32), limits: &Limits) -> Result<()> {
    if needed <= limits.max_alloc {
        return Ok(());
    }
    Err(Error::new(ErrorKind::TooLarge {
        width,
        height,
        limit: format!("{what} needs {needed} bytes, maximum allocation {} bytes", limits.max_alloc),
    }))
}

/// What a decode through `image` will hold at its peak.
struct Layout {
    format: ImageFormat,
    colour: image::ColorType,
    /// The decoder's own output buffer.
    native_bytes: u64,
    pixels: u64,
    /// Whether the orientation turns the image by 90 degrees (a second buffer: the others flip in place).
    rotated: bool,
    animated_webp: bool,
    /// A GIF's first frame's size (width x height, 0 if it cannot be read): it may be larger than the screen.
    gif_frame_pixels: u64,
    progressive_jpeg: bool,
}

/// Bytes a decode holds at its peak, so the allocation limit covers all of it and not just the output buffer:
/// the output in the decoder's pixel layout; an RGB copy unless the output is 8-bit RGB or RGBA (RGBA is flattened
/// in place); a rotated copy; and each decoder's own working buffers: a GIF's first frame is decoded apart from its
/// logical screen, a TIFF's strips or tiles may be as large as the image, a WebP decodes into a frame buffer (plus
/// a canvas when animated), a progressive JPEG keeps every DCT coefficient (2 bytes a sample, up to 4 components). Measured in `tests/hostile.rs`.
fn peak_bytes(layout: &Layout) -> u64 {
    use image::ColorType;
    let px = u128::from(layout.pixels);
    let convert = match layout.colour {
        ColorType::Rgb8 | ColorType::Rgba8 => 0,
        _ => 3 * px,
    };
    let rotate = if layout.rotated { 3 * px } else { 0 };
    let scratch = match layout.format {
        // A GIF's first frame is decoded apart from its screen, in RGBA, and it may be larger than the screen (a
        // 100 KB file with an 11585x11585 frame on an 8000x8000 screen peaked at 780 MB when only the screen was
        // counted); a TIFF strip or tile buffer can be the whole image (measured: a 6000x6000 uncompressed TIFF
        // peaked at twice its output).
        ImageFormat::Gif => u128::from(layout.native_bytes).max(4 * u128::from(layout.gif_frame_pixels)),
        ImageFormat::Tiff => u128::from(layout.native_bytes),
        ImageFormat::WebP => 4 * px * if layout.animated_webp { 2 } else { 1 },
        // 2 bytes a sample for every component (up to 4, CMYK), all kept until the last scan.
        ImageFormat::Jpeg if layout.progressive_jpeg => 8 * px,
        _ => 0,
    };
    let total = u128::from(layout.native_bytes) + convert + rotate + scratch;
    u64::try_from(total).unwrap_or(u64::MAX)
}

fn rotates(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// Whether a JPEG may be progressive: a progressive start-of-frame marker (`FF C2`, `C6`, `CA`, `CE`) anywhere.
/// Entropy-coded data escapes `FF`, so only a marker or metadata can hold the pair; a false positive only makes the
/// memory estimate safer.
fn jpeg_is_progressive(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w[0] == 0xFF && matches!(w[1], 0xC2 | 0xC6 | 0xCA | 0xCE))
}

/// A GIF's frames as its blocks declare them: how many image descriptors come before the file ends or goes wrong
/// (up to `most`), and the largest one's pixels (width x height; 0 without one). Walks the header, the global colour
/// table, the extension blocks and each frame's colour table and data sub-blocks, reading none.
pub(crate) fn gif_frames(bytes: &[u8], most: usize) -> (usize, u64) {
    let u16_at = |at: usize| bytes.get(at..at + 2).map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])));
    let table = |flags: u8| if flags & 0x80 != 0 { 3usize << ((flags & 0x07) + 1) } else { 0 };
    // Data sub-blocks (a length byte each) up to an empty one: where they end, if they do.
    let sub_blocks = |mut at: usize| loop {
        let &length = bytes.get(at)?;
        at += 1 + usize::from(length);
        if length == 0 {
            return Some(at);
        }
    };
    let (mut count, mut largest) = (0, 0);
    // "GIF89a", the logical screen descriptor (7 bytes; a global colour table after it if its flags say so).
    let Some(&flags) = bytes.get(10) else { return (0, 0) };
    let mut at = 13 + table(flags);
    while count < most {
        match bytes.get(at) {
            // An image descriptor (left, top, width, height, flags), its colour table, the LZW code size, its data.
            Some(0x2C) => {
                (count, largest) = (count + 1, largest.max(u16_at(at + 5) * u16_at(at + 7)));
                let Some(&flags) = bytes.get(at + 9) else { break };
                let Some(end) = sub_blocks(at + 10 + table(flags) + 1) else { break };
                at = end;
            }
            // An extension: its label, then data sub-blocks.
            Some(0x21) => {
                let Some(end) = sub_blocks(at + 2) else { break };
                at = end;
            }
            _ => break,
        }
    }
    (count, largest)
}

/// Whether a WebP file declares an animation (VP8X chunk, animation flag).
fn webp_is_animated(bytes: &[u8]) -> bool {
    bytes.get(12..16) == Some(b"VP8X") && bytes.get(20).is_some_and(|flags| flags & 0x02 != 0)
}

fn image_error(format: &'static str, size: Option<(u32, u32)>, error: image::ImageError) -> Error {
    match (error, size) {
        (image::ImageError::Limits(e), Some((width, height))) => {
            Error::new(ErrorKind::TooLarge { width, height, limit: e.to_string() })
        }
        // Before the dimensions are known: the header itself asked for more memory than allowed.
        (image::ImageError::Limits(e), None) => Error::new(ErrorKind::Decode {
            format,
            message: decoder_message(format!("header over the memory limit: {e}")),
        }),
        (other, _) => Error::new(ErrorKind::Decode { format, message: decoder_message(other) }),
    }
}

/// Longest decoder message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// A decoder's own message, cut to [`MAX_MESSAGE_CHARS`]: a 222-byte TIFF declaring 65,535 samples a pixel made
/// one 196,810 characters long (the list of their formats), which every report row then carried.
fn decoder_message(e: impl std::fmt::Display) -> String {
    // Decoders quote what they read: a hostile PNG's chunk type came out as raw bytes ("ChunkType { type: ®dõ }").
    // Anything but printable ASCII is written as an escape, so a message shows what the file held, unmistakably.
    let mut message = String::new();
    for c in e.to_string().chars() {
        if c.is_ascii_graphic() || c == ' ' {
            message.push(c);
        } else {
            message.extend(c.escape_default());
        }
    }
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}... ({} characters in all)", &message[..cut], message.chars().count()),
        None => message,
    }
}

/// Most start-of-scan markers (`FF DA`) a JPEG may hold, an EXIF thumbnail's included. A progressive JPEG has about
/// ten scans; each scan, however small, makes `jpeg-decoder` revisit every block of the image, so a 1.6 MB file of
/// 30,000 repeated scans took a minute to decode. zune-jpeg (the full-size decode) refuses more than 100 itself.
const MAX_JPEG_SCANS: usize = 100;

/// The start-of-scan markers (`FF DA`) of a JPEG's image, and whether its end-of-image marker (`FF D9`) comes after
/// them. Walked marker by marker from the start: a segment is skipped by its length (so an EXIF thumbnail, a
/// comment or an ICC profile, whatever bytes they hold, count for nothing), a scan's entropy-coded data up to the
/// next marker (it escapes every `FF` byte but restart markers), and the walk stops at the end-of-image marker:
/// bytes after it are no part of the image (a phone's "motion photo" appends a video there, and decoders ignore
/// them). Running out of bytes before that marker is a truncated file.
fn jpeg_scans(bytes: &[u8]) -> (usize, bool) {
    let mut scans = 0;
    // After the start-of-image marker (`FF D8`, which sniffing found).
    let mut at = 2;
    loop {
        // A marker, after any fill bytes (`FF FF`).
        let Some(rest) = bytes.get(at..) else { return (scans, false) };
        let Some(fill) = rest.iter().position(|&b| b != 0xFF) else { return (scans, false) };
        if fill == 0 {
            // Not at a marker: a corrupt file, left to the decoder to describe, as incomplete.
            return (scans, false);
        }
        let marker = rest[fill];
        at += fill + 1;
        match marker {
            0xD9 => return (scans, scans > 0),
            // Markers without a segment: start of image (a second one, left to the decoder), restarts, TEM.
            0xD8 | 0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }
        let Some(&[high, low]) = bytes.get(at..at + 2) else { return (scans, false) };
        at += usize::from(u16::from_be_bytes([high, low]));
        if marker == 0xDA {
            scans += 1;
            // The entropy-coded data: up to an `FF` that is neither a stuffed byte (`FF 00`) nor a restart marker.
            loop {
                let Some(offset) = bytes.get(at..).and_then(|data| data.iter().position(|&b| b == 0xFF)) else {
                    return (scans, false);
                };
                at += offset;
                match bytes.get(at + 1) {
                    Some(0x00 | 0xD0..=0xD7) => at += 2,
                    Some(_) => break,
                    None => return (scans, false),
                }
            }
        }
    }
}

/// JPEG through `jpeg-decoder`, which can skip most of the inverse DCT to decode at 1/2, 1/4 or 1/8 scale.
fn decode_jpeg_reduced(bytes: &[u8], long_side: u32, options: &DecodeOptions) -> Result<Photo> {
    let decode_error =
        |e: jpeg_decoder::Error| Error::new(ErrorKind::Decode { format: "jpg", message: decoder_message(e) });
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(decode_error)?;
    let info = decoder.info().ok_or_else(|| decode_error(jpeg_decoder::Error::Format("no frame header".into())))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    options.limits.check(width, height)?;
    // A progressive JPEG keeps every DCT coefficient at full size (2 bytes a sample) whatever the output scale;
    // jpeg-decoder's own limit covers only the output.
    let components: u64 = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::L16 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        jpeg_decoder::PixelFormat::CMYK32 => 4,
    };
    let pixels = u64::from(width) * u64::from(height);
    let coefficients =
        if info.coding_process == jpeg_decoder::CodingProcess::DctProgressive { 2 * components * pixels } else { 0 };
    fits("progressive decoding", coefficients, (width, height), &options.limits)?;
    let output_limit = options.limits.max_alloc - coefficients;
    decoder.set_max_decoding_buffer_size(usize::try_from(output_limit).unwrap_or(usize::MAX));
    let orientation = match (options.apply_orientation, decoder.exif_data()) {
        (true, Some(exif)) => Orientation::from_exif_chunk(exif).unwrap_or(Orientation::NoTransforms),
        _ => Orientation::NoTransforms,
    };
    // Request the size that keeps the longer side at `long_side`; the decoder picks the smallest DCT scale that
    // reaches it.
    let longer = width.max(height).max(1);
    let want = |side: u32| (u64::from(side) * u64::from(long_side)).div_ceil(u64::from(longer)).min(65_535) as u16;
    let (mut out_w, mut out_h) = decoder.scale(want(width), want(height)).map_err(decode_error)?;
    // Never below the fingerprint's minimum side on a side that has it: an 8x30000 strip reduced by 8 would be 1
    // pixel wide and refused as too small, though the same pixels as a PNG are fingerprinted. Such strips are
    // small: decode them at full size.
    let floor = |side: u32| side.min(crate::hash::pdq::MIN_DIMENSION as u32);
    if u32::from(out_w) < floor(width) || u32::from(out_h) < floor(height) {
        (out_w, out_h) = decoder.scale(info.width, info.height).map_err(decode_error)?;
    }
    // The coefficients are what a reduced decode can hold in bulk (its output is small).
    let reservation = budget::reserve(coefficients);
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
    drop(reservation);
    Ok(Photo { image: image.into_rgb8(), width, height, format: "jpg", _reservation: None })
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

/// Converts to 8-bit RGB, compositing any transparency onto white. 8-bit RGBA is converted in place (the buffer
/// shrinks from 4 to 3 bytes a pixel), so flattening a large photo needs no second buffer.
pub(crate) fn flatten_on_white(image: DynamicImage) -> RgbImage {
    let rgba = match image {
        DynamicImage::ImageRgb8(rgb) => return rgb,
        DynamicImage::ImageRgba8(rgba) => rgba,
        other if !other.color().has_alpha() => return other.into_rgb8(),
        other => other.into_rgba8(),
    };
    let (w, h) = rgba.dimensions();
    let mut buf = rgba.into_raw();
    let pixels = buf.len() / 4;
    // Pixel i is read whole (bytes 4i..4i+4) before its RGB goes to 3i..3i+3, and every earlier pixel wrote below
    // 3i, so nothing is overwritten before it is read.
    for i in 0..pixels {
        let [r, g, b, a] = [buf[4 * i], buf[4 * i + 1], buf[4 * i + 2], buf[4 * i + 3]];
        let a = u32::from(a);
        for (k, c) in [r, g, b].into_iter().enumerate() {
            buf[3 * i + k] = ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    buf.truncate(3 * pixels);
    buf.shrink_to_fit();
    RgbImage::from_raw(w, h, buf).unwrap_or_else(|| RgbImage::new(w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_messages_show_what_is_not_printable_ascii_as_escapes() {
        let message = decoder_message("ChunkType { type: \u{ae}d\u{f5}\u{8f} }\nnext line");
        assert_eq!(message, r"ChunkType { type: \u{ae}d\u{f5}\u{8f} }\nnext line");
        // A PNG whose first chunk type is not ASCII: its error says so in escapes.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
        png.extend_from_slice(&[0xae, b'd', 0xf5, 0x8f]);
        png.extend_from_slice(&[0; 17]);
        let err = decode_bytes(&png, &DecodeOptions::default()).unwrap_err().to_string();
        assert!(err.is_ascii(), "{err}");
    }

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

    fn jpeg(name: &str) -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/listings/").to_owned() + name).expect("testdata")
    }

    #[test]
    fn bytes_after_a_jpegs_end_are_no_part_of_it() {
        // A phone's motion photo appends a video after the end-of-image marker; a comment or EXIF segment may hold
        // any bytes. Neither may count as scans or make the file look truncated.
        let plain = jpeg("rocket-recompressed.jpg");
        let expected = decode_bytes(&plain, &DecodeOptions::default()).expect("decodes").image;
        let mut trailer: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        trailer.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0xFF, 0xD8]);
        let mut comment = vec![0xFF, 0xFE, 0x00, 0xCC];
        comment.extend((0..202).map(|i| if i % 2 == 0 { 0xFF } else { 0xDA }));
        let with_trailer = [plain.clone(), trailer].concat();
        let with_comment = [&plain[..2], &comment, &plain[2..]].concat();
        assert!(jpeg_scans(&plain).1);
        for (what, bytes) in [("trailer", with_trailer), ("comment", with_comment)] {
            assert_eq!(jpeg_scans(&bytes), jpeg_scans(&plain), "{what}");
            for reduce_to in [None, Some(256)] {
                let options = DecodeOptions { reduce_to, ..DecodeOptions::default() };
                let photo = decode_bytes(&bytes, &options).unwrap_or_else(|e| panic!("{what}: {e}"));
                if reduce_to.is_none() {
                    assert_eq!(photo.image, expected, "{what}");
                }
            }
        }
    }

    #[test]
    fn a_jpeg_cut_anywhere_before_its_end_is_truncated() {
        let plain = jpeg("coffee-crop25.jpg");
        let (scans, complete) = jpeg_scans(&plain);
        assert!(complete && scans >= 1);
        for cut in (2..plain.len()).step_by(97).chain([plain.len() - 1]) {
            assert!(!jpeg_scans(&plain[..cut]).1, "cut at {cut} of {}", plain.len());
        }
    }
}
