//! A closer look at copies shown small (`knockoff::zoom`): a copy pasted at a quarter of its size is matched where
//! the listing's own keypoints leave it unsure, with its geometry in the listing's pixels; photos pasted small that
//! are not the reference stay unmatched; a scan takes the closer look.

mod common;

use std::sync::atomic::AtomicBool;

use common::testdata;
use image::RgbImage;
use knockoff::edits::{Edit, EditKit};
use knockoff::{
    DecodeOptions, Fingerprint, FingerprintConfig, Fingerprinter, Outcome, Photo, ReferenceIndex, ScanOptions, Scanner,
    SearchOptions, Similarity, Thresholds, Verdict, compare_with, decode_path, zoom,
};

const REFS: [&str; 6] = ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "coins.jpg", "horse.png", "rocket.jpg"];

fn load(rel: &str) -> RgbImage {
    decode_path(testdata(rel), &DecodeOptions::default()).expect("decode").image
}

/// Two busy photos to paste onto (brick, grass), and the font the kit needs.
fn kit() -> EditKit {
    let bytes = std::fs::read(testdata("fonts/DejaVuSansMono-Bold.ttf")).expect("font");
    let font = ab_glyph::FontArc::try_from_vec(bytes).expect("font parses");
    EditKit { font, others: vec![load("distractors/brick.jpg"), load("distractors/grass.jpg")] }
}

fn reference(name: &str) -> Fingerprint {
    Fingerprinter::for_references(FingerprintConfig::default())
        .fingerprint_path(testdata(&format!("refs/{name}")))
        .expect("reference")
}

/// `reference` against `pixels` as a listing: plainly, and with a closer look.
fn both(reference: &Fingerprint, pixels: &Photo) -> (Similarity, Similarity) {
    let listings = Fingerprinter::for_listings(FingerprintConfig::default());
    let listing = listings.fingerprint_photo(pixels).expect("listing");
    let thresholds = Thresholds::default();
    (
        compare_with(reference, &listing, &thresholds),
        zoom::compare_photo(reference, &listing, pixels, &listings, &thresholds),
    )
}

#[test]
fn a_copy_pasted_at_a_quarter_is_matched_once_looked_at_closely() {
    let rocket = load("refs/rocket.jpg");
    let reference = reference("rocket.jpg");
    // Onto grass at two places: the listing's own keypoints give `review` and `no_match`.
    for seed in [0, 1] {
        let pixels = Photo::from(Edit::PasteScaled { index: 1, scale: 0.25, seed }.apply(&rocket, &kit()));
        let (plain, closer) = both(&reference, &pixels);
        assert_ne!(plain.verdict, Verdict::Match, "seed {seed}: {plain:?}");
        assert_eq!(closer.verdict, Verdict::Match, "seed {seed}: {closer:?}");
        let e = closer.evidence.local.as_ref().expect("local evidence");
        assert!(e.zoom.is_some_and(|z| z > 2.0), "seed {seed}: zoom {:?}", e.zoom);
        // The geometry is the listing's: a quarter of the reference's size (the listing has the reference's),
        // in a region a quarter of the listing's side, holding every inlier.
        assert!((e.decomposition.scale - 0.25).abs() < 0.03, "seed {seed}: scale {}", e.decomposition.scale);
        assert_eq!(e.listing_size, (pixels.width, pixels.height));
        let r = e.listing_region;
        assert!((r.width / pixels.width as f32 - 0.25).abs() < 0.04, "seed {seed}: region {r:?}");
        for &(_, (x, y)) in &e.inlier_pairs {
            let (x, y) = (x as f32, y as f32);
            assert!(x >= r.x - 2.0 && x <= r.x + r.width + 2.0 && y >= r.y - 2.0 && y <= r.y + r.height + 2.0);
        }
        assert!(closer.score > plain.score);
    }
}

#[test]
fn photos_pasted_small_match_no_other_reference() {
    let kit = kit();
    let references: Vec<Fingerprint> = REFS.iter().map(|name| reference(name)).collect();
    for (i, other) in REFS.iter().enumerate() {
        let other_photo = load(&format!("refs/{other}"));
        for scale in [0.25, 0.4] {
            for index in [0, 1] {
                let pixels = Photo::from(Edit::PasteScaled { index, scale, seed: 0 }.apply(&other_photo, &kit));
                for (reference, name) in references.iter().zip(REFS).filter(|(_, name)| *name != REFS[i]) {
                    let (_, closer) = both(reference, &pixels);
                    assert_eq!(closer.verdict, Verdict::NoMatch, "{other} at {scale} against {name}: {closer:?}");
                }
            }
        }
    }
}

#[test]
fn a_scan_matches_a_small_pasted_copy_that_its_fingerprint_alone_leaves_unsure() {
    let config = FingerprintConfig::default();
    let (index, _) = ReferenceIndex::build(testdata("refs"), &Fingerprinter::for_references(config), |_| {});
    let pasted = Edit::PasteScaled { index: 1, scale: 0.25, seed: 1 }.apply(&load("refs/rocket.jpg"), &kit());
    let mut png = Vec::new();
    pasted.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("encode");

    let listing = Fingerprinter::for_listings(config).fingerprint_bytes(&png).expect("listing");
    let alone = index.search(&listing, &SearchOptions::default()).expect("search");
    assert!(alone.first().is_none_or(|hit| hit.similarity.verdict != Verdict::Match), "{alone:?}");

    let scanner = Scanner::new(index, ScanOptions::default());
    let mut reports = Vec::new();
    scanner
        .scan_files(
            [("pasted.png", png)],
            &AtomicBool::new(false),
            |_| {},
            |r| {
                reports.push(r.clone());
                Ok(())
            },
        )
        .expect("scan");
    let Outcome::Searched { hits } = &reports[0].outcome else { panic!("{:?}", reports[0]) };
    assert_eq!(hits[0].reference, "rocket.jpg");
    assert_eq!(hits[0].verdict, Verdict::Match);
    assert!(hits[0].evidence.local.as_ref().is_some_and(|l| l.zoom.is_some()));
}
