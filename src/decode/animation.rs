//! Animated GIF, WebP and PNG files: the frame a viewer sees longest stands for the file. Taking the first frame
//! let a listing hide a copy behind a blank frame shown for 20 ms (a browser then shows the copy for as long as
//! the file says; the first frame scored 0.000 against the photo it copies).

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, DynamicImage, Frames, ImageDecoder, ImageFormat};

use super::{DecodeOptions, Photo, budget, fits, flatten_on_white, format_name, gif_frames, image_error, png_chunks};
use crate::error::{Error, ErrorKind, Result};

/// Most frames looked at. Frames past it are not decoded (a 3,000-frame GIF costs what 64 frames do).
const MAX_FRAMES: usize = 64;
/// Most canvas pixels composited over all frames looked at: a large canvas gets fewer frames.
const MAX_COMPOSITED_PIXELS: u64 = 256_000_000;

/// The frame shown longest of an animated GIF, WebP or PNG (the first of those shown as long), or `None` for a still
/// file (which the still decode reads). Under the allocation limit like any decode: the canvas, the frame being
/// composited, the frame kept and the decoder's own buffers (a GIF frame may be larger than its screen) must fit
/// it before any is allocated. A frame that fails after the first ends the animation there (a truncated file keeps
/// the frames it has); a failing first frame is the file's error.
pub(super) fn decode(bytes: &[u8], format: ImageFormat, options: &DecodeOptions) -> Result<Option<Photo>> {
    let name = format_name(format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(options.limits.max_alloc);
    let header = |e| image_error(name, None, e);
    let mut largest_frame = 0;
    let (width, height, frames): (u32, u32, Frames) = match format {
        ImageFormat::Gif => {
            let (count, largest) = gif_frames(bytes, usize::MAX);
            if count < 2 {
                return Ok(None);
            }
            largest_frame = largest;
            limited(GifDecoder::new(Cursor::new(bytes)).map_err(header)?, limits, options, header)?
        }
        ImageFormat::WebP if super::webp_is_animated(bytes) => {
            limited(WebPDecoder::new(Cursor::new(bytes)).map_err(header)?, limits, options, header)?
        }
        ImageFormat::Png if png_chunks::is_animated(bytes) => {
            let view = png_chunks::Spliced::new(bytes, png_chunks::kept_ranges(bytes));
            let decoder = PngDecoder::with_limits(view, limits).map_err(header)?;
            if !decoder.is_apng().map_err(header)? {
                return Ok(None);
            }
            let (width, height) = decoder.dimensions();
            options.limits.check(width, height)?;
            (width, height, decoder.apng().map_err(header)?.into_frames())
        }
        _ => return Ok(None),
    };
    let pixels = u64::from(width) * u64::from(height);
    // RGBA: the decoder's canvas, the frame it composites (and a GIF's frame buffer), the one kept, the RGB copy.
    let needed = u128::from(pixels) * (4 + 4 + 4 + 3) + 4 * u128::from(largest_frame);
    let needed = u64::try_from(needed).unwrap_or(u64::MAX);
    fits("decoding the animation", needed, (width, height), &options.limits)?;
    let reservation = budget::reserve(needed);
    let most = usize::try_from(MAX_COMPOSITED_PIXELS / pixels.max(1)).unwrap_or(usize::MAX).clamp(1, MAX_FRAMES);
    let mut kept: Option<(f64, image::RgbaImage)> = None;
    for frame in frames.take(most) {
        let frame = match (frame, &kept) {
            (Ok(frame), _) => frame,
            (Err(_), Some(_)) => break,
            (Err(e), None) => return Err(image_error(name, Some((width, height)), e)),
        };
        let (numerator, denominator) = frame.delay().numer_denom_ms();
        let shown = f64::from(numerator) / f64::from(denominator.max(1));
        if kept.as_ref().is_none_or(|(longest, _)| shown > *longest) {
            kept = Some((shown, frame.into_buffer()));
        }
    }
    let Some((_, rgba)) = kept else {
        return Err(Error::new(ErrorKind::Decode { format: name, message: "an animation without frames".into() }));
    };
    let image = flatten_on_white(DynamicImage::ImageRgba8(rgba));
    Ok(Some(Photo {
        width: image.width(),
        height: image.height(),
        image,
        format: name,
        _reservation: reservation.held(),
    }))
}

/// An animation decoder's canvas size and frames, its canvas checked against our limits and its allocations held
/// to `limits` (a PNG's decoder is built with them).
fn limited<'a, D: ImageDecoder + AnimationDecoder<'a>>(
    mut decoder: D,
    limits: image::Limits,
    options: &DecodeOptions,
    header: impl Fn(image::ImageError) -> Error,
) -> Result<(u32, u32, Frames<'a>)> {
    let (width, height) = decoder.dimensions();
    options.limits.check(width, height)?;
    decoder.set_limits(limits).map_err(header)?;
    Ok((width, height, decoder.into_frames()))
}
