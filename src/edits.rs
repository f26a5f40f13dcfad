//! The edits counterfeit sellers make to authentic photos, for benchmarks and tests: crops, rescaling,
//! recompression, rotations, mirrors, perspective, colour changes, blur, noise, watermarks, logos, borders,
//! pasting onto another background, collages, and combinations. Deterministic: the same photo, edit and kit give
//! the same pixels on every machine.

use ab_glyph::{FontArc, PxScale};
use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage, imageops};
use imageproc::geometric_transformations::{Border, Interpolation, Projection, rotate_about_center, warp};
use serde::{Deserialize, Serialize};

/// One edit. See [`Edit::catalogue`] for the standard set the accuracy benchmark uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum Edit {
    /// Keep the central `1 - fraction` of each side.
    CropCentre {
        /// Share of each side removed, e.g. 0.25.
        fraction: f32,
    },
    /// Keep `1 - fraction` of each side, anchored near a corner.
    CropOffCentre {
        /// Share of each side removed.
        fraction: f32,
    },
    /// Downscale so the longer side is this many pixels.
    Downscale {
        /// Target longer side.
        long_side: u32,
    },
    /// Re-encode as JPEG at this quality.
    Jpeg {
        /// 1-100.
        quality: u8,
    },
    /// Re-encode losslessly as PNG (or WebP when `webp`): exercises decoding, keeps pixels.
    Reencode {
        /// WebP instead of PNG.
        webp: bool,
    },
    /// Rotate counter-clockwise by this many degrees about the centre; 90, 180 and 270 turn the whole photo,
    /// other angles keep the frame and fill the corners with white.
    Rotate {
        /// Degrees.
        degrees: f32,
    },
    /// Mirror left to right.
    Mirror,
    /// Perspective skew: the top edge narrowed by this share of the width.
    Perspective {
        /// E.g. 0.12.
        amount: f32,
    },
    /// Add to every channel.
    Brightness {
        /// -255 to 255.
        delta: i32,
    },
    /// Scale contrast about mid-grey.
    Contrast {
        /// E.g. 1.4.
        factor: f32,
    },
    /// Scale saturation.
    Saturation {
        /// 0 is grey, 1 unchanged.
        factor: f32,
    },
    /// Rotate hue.
    Hue {
        /// Degrees.
        degrees: f32,
    },
    /// Greyscale.
    Greyscale,
    /// Gaussian blur.
    Blur {
        /// Sigma in pixels.
        sigma: f32,
    },
    /// Seeded Gaussian-like noise.
    Noise {
        /// Standard deviation in levels.
        sigma: f32,
        /// Seed.
        seed: u64,
    },
    /// A text watermark across the lower part of the photo.
    TextWatermark,
    /// A semi-transparent logo stamped in a corner.
    LogoStamp,
    /// A border on every side, as a share of the longer side.
    Border {
        /// Share, e.g. 0.15.
        fraction: f32,
        /// RGB colour.
        colour: [u8; 3],
    },
    /// The photo at half size pasted onto another photo (the kit's background `index`).
    PasteOnBackground {
        /// Which background.
        index: usize,
    },
    /// A 2x2 collage: the photo in one quadrant (`slot` 0-3), other photos of the kit in the others.
    Collage {
        /// Quadrant of the photo.
        slot: usize,
    },
    /// The photo scaled to `scale` of its size and pasted onto another photo of the kit (a busy scene, resized to
    /// the photo's size), at a position picked by `seed` that keeps the copy whole. Harder than
    /// [`Edit::PasteOnBackground`] below half size: the copy's keypoints are a small share of the listing's.
    PasteScaled {
        /// Which background.
        index: usize,
        /// Share of each side kept, e.g. 0.3.
        scale: f32,
        /// Picks the position.
        seed: u64,
    },
    /// A `side` x `side` collage: the photo in cell `slot` (row by row), other photos of the kit in the other
    /// cells (cycled if there are fewer).
    Grid {
        /// Cells per side, e.g. 3.
        side: u32,
        /// Cell of the photo.
        slot: usize,
    },
    /// Several edits in order.
    Chain(Vec<Edit>),
}

/// What some edits need besides the photo: a font, other photos to use as backgrounds and collage fillers.
pub struct EditKit {
    /// Font for text watermarks and logos.
    pub font: FontArc,
    /// Other photos, for pasting onto and for collages (at least 3).
    pub others: Vec<RgbImage>,
}

impl Edit {
    /// The standard set of edits, with their names: the 30 issue #4 lists, and three harder ones.
    pub fn catalogue() -> Vec<(&'static str, Edit)> {
        use Edit::*;
        vec![
            ("crop 10%", CropCentre { fraction: 0.10 }),
            ("crop 25%", CropCentre { fraction: 0.25 }),
            ("crop 40%", CropCentre { fraction: 0.40 }),
            ("crop 25% off-centre", CropOffCentre { fraction: 0.25 }),
            ("downscale to 300 px", Downscale { long_side: 300 }),
            ("JPEG quality 20", Jpeg { quality: 20 }),
            ("JPEG quality 40", Jpeg { quality: 40 }),
            ("re-encode WebP", Reencode { webp: true }),
            ("re-encode PNG", Reencode { webp: false }),
            ("rotate 3°", Rotate { degrees: 3.0 }),
            ("rotate 10°", Rotate { degrees: 10.0 }),
            ("rotate 90°", Rotate { degrees: 90.0 }),
            ("mirror", Mirror),
            ("perspective skew", Perspective { amount: 0.12 }),
            ("brighter", Brightness { delta: 40 }),
            ("more contrast", Contrast { factor: 1.4 }),
            ("saturated", Saturation { factor: 1.6 }),
            ("hue shift 30°", Hue { degrees: 30.0 }),
            ("greyscale", Greyscale),
            ("blur", Blur { sigma: 2.0 }),
            ("noise", Noise { sigma: 12.0, seed: 7 }),
            ("text watermark", TextWatermark),
            ("logo stamp", LogoStamp),
            ("white border", Border { fraction: 0.15, colour: [255, 255, 255] }),
            ("coloured border", Border { fraction: 0.10, colour: [200, 30, 40] }),
            ("pasted on background", PasteOnBackground { index: 0 }),
            ("2x2 collage", Collage { slot: 1 }),
            (
                "crop + JPEG + watermark",
                Chain(vec![CropCentre { fraction: 0.15 }, TextWatermark, Jpeg { quality: 40 }]),
            ),
            (
                "mirror + crop + colour",
                Chain(vec![Mirror, CropOffCentre { fraction: 0.15 }, Saturation { factor: 1.4 }]),
            ),
            (
                "resize + border + logo",
                Chain(vec![Downscale { long_side: 400 }, Border { fraction: 0.1, colour: [255, 255, 255] }, LogoStamp]),
            ),
            // Harder than issue #4 asked, so that the benchmark keeps finding limits once local features pass
            // the rest.
            ("rotate 45°", Rotate { degrees: 45.0 }),
            ("crop 55%", CropCentre { fraction: 0.55 }),
            (
                "rotate 15° + crop 30% + JPEG 30",
                Chain(vec![Rotate { degrees: 15.0 }, CropOffCentre { fraction: 0.30 }, Jpeg { quality: 30 }]),
            ),
        ]
    }

    /// Applies the edit.
    pub fn apply(&self, photo: &RgbImage, kit: &EditKit) -> RgbImage {
        let (w, h) = photo.dimensions();
        match self {
            Edit::CropCentre { fraction } => {
                let (cw, ch) = keep(w, h, *fraction);
                imageops::crop_imm(photo, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image()
            }
            Edit::CropOffCentre { fraction } => {
                let (cw, ch) = keep(w, h, *fraction);
                imageops::crop_imm(photo, (w - cw) * 9 / 10, (h - ch) / 10, cw, ch).to_image()
            }
            Edit::Downscale { long_side } => {
                let scale = *long_side as f32 / w.max(h) as f32;
                if scale >= 1.0 {
                    return photo.clone();
                }
                let (nw, nh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
                imageops::resize(photo, nw, nh, imageops::FilterType::Lanczos3)
            }
            Edit::Jpeg { quality } => reencode(photo, image::ImageFormat::Jpeg, Some(*quality)),
            Edit::Reencode { webp } => {
                let format = if *webp { image::ImageFormat::WebP } else { image::ImageFormat::Png };
                reencode(photo, format, None)
            }
            Edit::Rotate { degrees } => match *degrees as i32 {
                90 if degrees.fract() == 0.0 => imageops::rotate270(photo),
                180 if degrees.fract() == 0.0 => imageops::rotate180(photo),
                270 if degrees.fract() == 0.0 => imageops::rotate90(photo),
                _ => rotate_about_center(
                    photo,
                    -degrees.to_radians(),
                    Interpolation::Bilinear,
                    Border::Constant(Rgb([255, 255, 255])),
                ),
            },
            Edit::Mirror => imageops::flip_horizontal(photo),
            Edit::Perspective { amount } => {
                let (wf, hf) = (w as f32, h as f32);
                let inset = wf * amount / 2.0;
                let from = [(0.0, 0.0), (wf, 0.0), (wf, hf), (0.0, hf)];
                let to = [(inset, 0.0), (wf - inset, 0.0), (wf, hf), (0.0, hf)];
                match Projection::from_control_points(from, to) {
                    Some(p) => warp(photo, p, Interpolation::Bilinear, Border::Constant(Rgb([255, 255, 255]))),
                    None => photo.clone(),
                }
            }
            Edit::Brightness { delta } => map_pixels(photo, |c| f32::from(c) + *delta as f32),
            Edit::Contrast { factor } => map_pixels(photo, |c| (f32::from(c) - 128.0) * factor + 128.0),
            Edit::Saturation { factor } => map_rgb(photo, |[r, g, b]| {
                let l = 0.299 * r + 0.587 * g + 0.114 * b;
                [l + (r - l) * factor, l + (g - l) * factor, l + (b - l) * factor]
            }),
            Edit::Hue { degrees } => map_rgb(photo, |rgb| rotate_hue(rgb, *degrees)),
            Edit::Greyscale => DynamicImage::ImageLuma8(imageops::grayscale(photo)).to_rgb8(),
            Edit::Blur { sigma } => imageproc::filter::gaussian_blur_f32(photo, *sigma),
            Edit::Noise { sigma, seed } => {
                let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let mut uniform = move || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 11) as f32 / (1u64 << 53) as f32
                };
                // Sum of four uniforms: close enough to Gaussian, cheap and deterministic.
                map_pixels(photo, |c| {
                    let n = (uniform() + uniform() + uniform() + uniform() - 2.0) * sigma * 1.732;
                    f32::from(c) + n
                })
            }
            Edit::TextWatermark => {
                let mut out = photo.clone();
                let size = (w.max(h) as f32 / 14.0).max(10.0);
                let text = "BEST PRICE  deals.example";
                let (x, y) = ((w / 20) as i32, (h as f32 * 0.78) as i32);
                imageproc::drawing::draw_text_mut(
                    &mut out,
                    Rgb([20, 20, 20]),
                    x + 2,
                    y + 2,
                    PxScale::from(size),
                    &kit.font,
                    text,
                );
                imageproc::drawing::draw_text_mut(
                    &mut out,
                    Rgb([255, 255, 255]),
                    x,
                    y,
                    PxScale::from(size),
                    &kit.font,
                    text,
                );
                out
            }
            Edit::LogoStamp => {
                let side = (w.min(h) as f32 * 0.3) as u32;
                let logo = logo(side.max(8), &kit.font);
                let mut out = DynamicImage::ImageRgb8(photo.clone()).to_rgba8();
                let margin = i64::from(w.min(h) / 20);
                imageops::overlay(&mut out, &logo, i64::from(w) - i64::from(side) - margin, margin);
                DynamicImage::ImageRgba8(out).to_rgb8()
            }
            Edit::Border { fraction, colour } => {
                let pad = (w.max(h) as f32 * fraction) as u32;
                let mut out = RgbImage::from_pixel(w + 2 * pad, h + 2 * pad, Rgb(*colour));
                imageops::replace(&mut out, photo, i64::from(pad), i64::from(pad));
                out
            }
            Edit::PasteOnBackground { index } => {
                let background = &kit.others[*index % kit.others.len().max(1)];
                let mut out = imageops::resize(background, w, h, imageops::FilterType::Triangle);
                let small = imageops::resize(photo, w / 2, h / 2, imageops::FilterType::Lanczos3);
                imageops::replace(&mut out, &small, i64::from(w / 5), i64::from(h / 4));
                out
            }
            Edit::Collage { slot } => {
                let (hw, hh) = (w / 2, h / 2);
                let mut out = RgbImage::from_pixel(hw * 2, hh * 2, Rgb([255, 255, 255]));
                let mut fillers = kit.others.iter();
                for quadrant in 0..4 {
                    let tile = if quadrant == *slot % 4 {
                        imageops::resize(photo, hw, hh, imageops::FilterType::Lanczos3)
                    } else {
                        match fillers.next() {
                            Some(other) => imageops::resize(other, hw, hh, imageops::FilterType::Triangle),
                            None => continue,
                        }
                    };
                    let (x, y) = ((quadrant % 2) as u32 * hw, (quadrant / 2) as u32 * hh);
                    imageops::replace(&mut out, &tile, i64::from(x), i64::from(y));
                }
                out
            }
            Edit::PasteScaled { index, scale, seed } => {
                let background = &kit.others[*index % kit.others.len().max(1)];
                let mut out = imageops::resize(background, w, h, imageops::FilterType::Triangle);
                let (sw, sh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
                let small = imageops::resize(photo, sw.min(w), sh.min(h), imageops::FilterType::Lanczos3);
                // Two fractions from the seed, so copies of one edit do not all sit at the same spot.
                let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let (fx, fy) = (
                    (mixed >> 40) as f32 / (1u64 << 24) as f32,
                    ((mixed >> 16) & 0xFF_FFFF) as f32 / (1u64 << 24) as f32,
                );
                let (x, y) = (((w - small.width()) as f32 * fx) as i64, ((h - small.height()) as f32 * fy) as i64);
                imageops::replace(&mut out, &small, x, y);
                out
            }
            Edit::Grid { side, slot } => {
                let n = (*side).max(1);
                let (cw, ch) = ((w / n).max(1), (h / n).max(1));
                let mut out = RgbImage::from_pixel(cw * n, ch * n, Rgb([255, 255, 255]));
                let mut fillers = kit.others.iter().cycle();
                for cell in 0..(n * n) as usize {
                    let tile = if cell == *slot % (n * n) as usize {
                        imageops::resize(photo, cw, ch, imageops::FilterType::Lanczos3)
                    } else {
                        match fillers.next() {
                            Some(other) => imageops::resize(other, cw, ch, imageops::FilterType::Triangle),
                            None => continue,
                        }
                    };
                    let (x, y) = ((cell as u32 % n) * cw, (cell as u32 / n) * ch);
                    imageops::replace(&mut out, &tile, i64::from(x), i64::from(y));
                }
                out
            }
            Edit::Chain(edits) => edits.iter().fold(photo.clone(), |img, e| e.apply(&img, kit)),
        }
    }
}

fn keep(w: u32, h: u32, fraction: f32) -> (u32, u32) {
    let f = (1.0 - fraction).clamp(0.05, 1.0);
    (((w as f32 * f).round() as u32).max(1), ((h as f32 * f).round() as u32).max(1))
}

fn reencode(photo: &RgbImage, format: image::ImageFormat, quality: Option<u8>) -> RgbImage {
    let mut bytes = std::io::Cursor::new(Vec::new());
    let written = match quality {
        Some(q) => image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, q).encode_image(photo),
        None => photo.write_to(&mut bytes, format),
    };
    written
        .ok()
        .and_then(|_| image::load_from_memory(bytes.get_ref()).ok())
        .map(|img| img.to_rgb8())
        .unwrap_or_else(|| photo.clone())
}

fn map_pixels(photo: &RgbImage, mut f: impl FnMut(u8) -> f32) -> RgbImage {
    let mut out = photo.clone();
    for p in out.pixels_mut() {
        for c in &mut p.0 {
            *c = f(*c).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn map_rgb(photo: &RgbImage, f: impl Fn([f32; 3]) -> [f32; 3]) -> RgbImage {
    let mut out = photo.clone();
    for p in out.pixels_mut() {
        let rgb = f(p.0.map(f32::from));
        p.0 = rgb.map(|c| c.round().clamp(0.0, 255.0) as u8);
    }
    out
}

/// Rotates hue by `degrees` in the YIQ plane (keeps luma roughly, like a photo editor's hue slider).
fn rotate_hue([r, g, b]: [f32; 3], degrees: f32) -> [f32; 3] {
    let (s, c) = degrees.to_radians().sin_cos();
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let i = 0.596 * r - 0.274 * g - 0.322 * b;
    let q = 0.211 * r - 0.523 * g + 0.312 * b;
    let (i, q) = (i * c - q * s, i * s + q * c);
    [y + 0.956 * i + 0.621 * q, y - 0.272 * i - 0.647 * q, y - 1.106 * i + 1.703 * q]
}

/// A simple brand-like logo: a filled disc with two letters, 60% opaque.
fn logo(side: u32, font: &FontArc) -> RgbaImage {
    let mut logo = RgbaImage::new(side, side);
    let centre = (side as i32 / 2, side as i32 / 2);
    imageproc::drawing::draw_filled_circle_mut(&mut logo, centre, side as i32 / 2 - 1, Rgba([30, 60, 160, 150]));
    let scale = PxScale::from(side as f32 * 0.5);
    imageproc::drawing::draw_text_mut(
        &mut logo,
        Rgba([255, 255, 255, 200]),
        (side / 6) as i32,
        (side / 5) as i32,
        scale,
        font,
        "KO",
    );
    logo
}

/// A product-style shot: the central part of `photo` inside an ellipse, on a white square canvas of `side`
/// pixels, like a catalog cut-out on white.
pub fn product_on_white(photo: &RgbImage, side: u32) -> RgbImage {
    let inner = side * 7 / 10;
    let (w, h) = photo.dimensions();
    let crop = w.min(h);
    let square = imageops::crop_imm(photo, (w - crop) / 2, (h - crop) / 2, crop, crop).to_image();
    let object = imageops::resize(&square, inner, inner, imageops::FilterType::Lanczos3);
    let mut out = RgbImage::from_pixel(side, side, Rgb([255, 255, 255]));
    let offset = (side - inner) / 2;
    let r = inner as f32 / 2.0;
    for (x, y, p) in object.enumerate_pixels() {
        let (dx, dy) = (x as f32 + 0.5 - r, (y as f32 + 0.5 - r) / 0.8);
        if dx * dx + dy * dy <= r * r {
            out.put_pixel(x + offset, y + offset, *p);
        }
    }
    out
}

/// The same catalog template in another colour: the non-white pixels of a product shot hue-rotated by
/// `degrees`, the white background untouched. A hard negative: same shape, another product.
pub fn recoloured_template(shot: &RgbImage, degrees: f32) -> RgbImage {
    map_rgb(shot, |rgb| if rgb.iter().all(|&c| c >= 250.0) { rgb } else { rotate_hue(rgb, degrees) })
}
