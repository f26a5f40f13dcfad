//! The retrieval benchmark's edits (`PasteScaled`, `Grid`): the copy lands where and how large it should, whole,
//! deterministically.

mod common;

use common::testdata;
use image::{Rgb, RgbImage, imageops};
use knockoff::edits::{Edit, EditKit};

fn font() -> ab_glyph::FontArc {
    let bytes = std::fs::read(testdata("fonts/DejaVuSansMono-Bold.ttf")).expect("font");
    ab_glyph::FontArc::try_from_vec(bytes).expect("font parses")
}

fn plain(w: u32, h: u32, colour: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(w, h, Rgb(colour))
}

/// The bounding box of the pixels of `colour` in `img`.
fn bbox(img: &RgbImage, colour: [u8; 3]) -> Option<(u32, u32, u32, u32)> {
    let mut b: Option<(u32, u32, u32, u32)> = None;
    for (x, y, p) in img.enumerate_pixels() {
        if p.0 == colour {
            b = Some(b.map_or((x, y, x, y), |(x0, y0, x1, y1)| (x0.min(x), y0.min(y), x1.max(x), y1.max(y))));
        }
    }
    b
}

#[test]
fn pasted_copy_is_whole_at_its_scale_and_seeded() {
    let kit = EditKit { font: font(), others: vec![plain(50, 50, [0, 0, 255])] };
    let photo = plain(400, 300, [255, 0, 0]);
    for (scale, seed) in [(0.3f32, 1u64), (0.6, 2), (0.45, 99)] {
        let out = Edit::PasteScaled { index: 0, scale, seed }.apply(&photo, &kit);
        assert_eq!(out.dimensions(), (400, 300), "the listing keeps the photo's size");
        let (x0, y0, x1, y1) = bbox(&out, [255, 0, 0]).expect("the copy is there");
        let (w, h) = (x1 - x0 + 1, y1 - y0 + 1);
        assert_eq!((w, h), ((400.0 * scale).round() as u32, (300.0 * scale).round() as u32), "scale {scale}");
        assert_eq!(out, Edit::PasteScaled { index: 0, scale, seed }.apply(&photo, &kit), "deterministic");
    }
    let spot = |seed| bbox(&Edit::PasteScaled { index: 0, scale: 0.3, seed }.apply(&photo, &kit), [255, 0, 0]);
    assert_ne!(spot(1), spot(2), "the seed moves the copy");
}

#[test]
fn grid_puts_the_copy_in_its_cell_among_fillers() {
    let others = vec![plain(30, 30, [0, 255, 0]), plain(30, 30, [0, 0, 255])];
    let kit = EditKit { font: font(), others };
    let photo = plain(300, 300, [255, 0, 0]);
    for (side, slot) in [(2u32, 3usize), (3, 4), (3, 8)] {
        let out = Edit::Grid { side, slot }.apply(&photo, &kit);
        let cell = 300 / side;
        assert_eq!(out.dimensions(), (cell * side, cell * side));
        let (x0, y0, x1, y1) = bbox(&out, [255, 0, 0]).expect("the copy is there");
        let (col, row) = (slot as u32 % side, slot as u32 / side);
        assert_eq!((x0, y0, x1, y1), (col * cell, row * cell, col * cell + cell - 1, row * cell + cell - 1));
        // Every other cell holds a filler (cycled), none is left white.
        assert!(bbox(&out, [255, 255, 255]).is_none(), "{side}x{side}: a cell left empty");
    }
    // The 2x2 grid is the same layout as the older `Collage` edit.
    let photo = imageops::resize(&plain(10, 10, [255, 0, 0]), 200, 100, imageops::FilterType::Nearest);
    let grid = Edit::Grid { side: 2, slot: 1 }.apply(&photo, &kit);
    assert_eq!(bbox(&grid, [255, 0, 0]), Some((100, 0, 199, 49)));
}
