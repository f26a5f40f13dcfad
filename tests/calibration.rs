//! Verdicts that stay right as the catalog grows (issue 10): thresholds follow the catalog's size, hash likeness
//! that local features contradict is never a `match`, and another shot of a scene is not a copy.

mod common;

use common::testdata;
use image::{DynamicImage, Rgb, RgbImage};
use knockoff::calibration::Calibration;
use knockoff::{
    Alteration, FingerprintConfig, Fingerprinter, ReferenceIndex, ScanOptions, Scanner, SearchOptions, Thresholds,
    Verdict, compare_with,
};

fn fingerprinters() -> (Fingerprinter, Fingerprinter) {
    let config = FingerprintConfig::default();
    (Fingerprinter::for_references(config), Fingerprinter::for_listings(config))
}

fn load(path: &str) -> RgbImage {
    image::open(testdata(path)).unwrap().to_rgb8()
}

/// A dark disc on white: a flat product shot, nothing for local features.
#[cfg(feature = "bench-tools")]
fn disc_on_white(side: u32) -> RgbImage {
    let c = side as f32 / 2.0;
    RgbImage::from_fn(side, side, |x, y| {
        let (dx, dy) = (x as f32 - c, y as f32 - c);
        if (dx * dx + dy * dy).sqrt() < side as f32 * 0.35 { Rgb([20, 20, 24]) } else { Rgb([255, 255, 255]) }
    })
}

#[test]
fn thresholds_follow_the_catalog_size() {
    let small = Thresholds::for_catalog(8);
    let large = Thresholds::for_catalog(1_000_000);
    assert_eq!(small, Thresholds::default(), "a small catalog keeps the pairwise calibration");
    assert!(large.hash_match_score > small.hash_match_score + 0.05, "{large:?}");
    assert!(large.match_score >= small.match_score);
    // The rate they keep is the one asked for, at every size.
    let calibration = Calibration::default();
    for n in [1_000, 5_000, 100_000, 1_000_000] {
        let rate = calibration.false_match_rate(&Thresholds::for_catalog(n), n);
        assert!(rate <= 0.001 * 1.001, "{n} references: {rate}");
    }
    // Thresholds kept fixed while the catalog grows let false matches grow with it.
    let fixed = Thresholds::default();
    assert!(calibration.false_match_rate(&fixed, 1_000_000) > 10.0 * calibration.false_match_rate(&fixed, 1_000));
}

#[test]
fn a_search_judges_by_the_whole_catalog_unless_told_otherwise() {
    let (references, listings) = fingerprinters();
    let (index, _) = ReferenceIndex::build(testdata("refs"), &references, |_| {});
    assert_eq!(index.thresholds(), Thresholds::for_catalog(index.len()));
    // A shard judges as the whole catalog does: its listings meet every shard's references.
    for shard in index.split(3).unwrap() {
        assert_eq!(shard.catalog_len(), index.len());
        assert_eq!(shard.thresholds(), index.thresholds());
    }
    // Thresholds set by the user are used as they are.
    let copy = listings.fingerprint_path(testdata("listings/coffee-mirrored.jpg")).unwrap();
    let strict = SearchOptions::default().with_thresholds(Thresholds::new(1.5, 1.5)); // beyond any score
    assert_eq!(index.search(&copy, &SearchOptions::default()).unwrap()[0].similarity.verdict, Verdict::Match);
    assert_eq!(index.search(&copy, &strict).unwrap()[0].similarity.verdict, Verdict::NoMatch);
    // A scan reports the thresholds it used and the false-match rate they predict for this catalog.
    let scanner = Scanner::new(index, ScanOptions::default());
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let summary = scanner.scan(testdata("listings"), &cancel, |_| {}, |_| Ok(())).unwrap();
    assert_eq!(summary.thresholds, scanner.thresholds());
    assert!(summary.false_match_rate > 0.0 && summary.false_match_rate <= 0.001 * 1.001, "{summary:?}");
}

/// The score is in the verdict's scale whatever the evidence: a user who ranks or cuts by score (a CSV sorted
/// by its score column, a benchmark's threshold sweep) gets the verdicts' order, never a hash-only `review` above
/// a verified `match`.
#[test]
fn the_score_ranks_as_the_verdicts_do_at_every_catalog_size() {
    let (references, listings) = fingerprinters();
    let fingerprints = |fingerprinter: &Fingerprinter, dir: &str| -> Vec<(String, knockoff::Fingerprint)> {
        let mut paths: Vec<_> = std::fs::read_dir(testdata(dir)).unwrap().flatten().map(|e| e.path()).collect();
        paths.sort();
        paths.iter().map(|p| (p.display().to_string(), fingerprinter.fingerprint_path(p).unwrap())).collect()
    };
    let (refs, shots) = (fingerprints(&references, "refs"), fingerprints(&listings, "listings"));
    let mut kinds = std::collections::BTreeSet::new();
    // The catalog's own, and bars set by hand far apart (hashes must say much more, or much less, than geometry).
    let mut all: Vec<(String, Thresholds)> =
        [8, 5_000, 100_000, 1_000_000].map(|n| (format!("{n} references"), Thresholds::for_catalog(n))).into();
    all.push(("lenient".into(), Thresholds::new(0.2, 0.1)));
    let strict_hashes = Thresholds::new(0.3, 0.2).with_hash_match_score(0.9).with_hash_review_score(0.7);
    all.push(("strict hashes".into(), strict_hashes.with_contradicted_review_score(0.25)));
    let strict_geometry = Thresholds::new(0.99, 0.98).with_hash_match_score(0.6).with_hash_review_score(0.05);
    all.push(("strict geometry".into(), strict_geometry.with_contradicted_review_score(0.05)));
    for (n, t) in all {
        for (r, reference) in &refs {
            for (l, listing) in &shots {
                let s = compare_with(reference, listing, &t);
                assert_eq!(s.verdict, t.verdict(s.score), "{n}, {r} / {l}: {} {:?}", s.score, t);
                // What makes the verdict: geometry by its own bars, hashes by theirs; contradicted hashes never
                // make a match.
                let e = &s.evidence;
                let by_geometry = t.verdict(e.local_score);
                let by_hashes = if e.hashes_contradicted {
                    if e.hash_score >= t.contradicted_review_score { Verdict::Review } else { Verdict::NoMatch }
                } else if e.hash_score >= t.hash_match_score {
                    Verdict::Match
                } else if e.hash_score >= t.hash_review_score {
                    Verdict::Review
                } else {
                    Verdict::NoMatch
                };
                let another_shot = e.alterations.iter().any(|a| matches!(a, Alteration::AnotherShot { .. }));
                if !another_shot {
                    assert_eq!(s.verdict, by_geometry.min(by_hashes), "{n}, {r} / {l}: {e:?}");
                }
                kinds.insert((s.verdict, e.hashes_contradicted, another_shot));
            }
        }
    }
    // The pairs cover copies, unrelated photos and hash likeness that local features contradict.
    assert!(kinds.contains(&(Verdict::Match, false, false)), "{kinds:?}");
    assert!(kinds.contains(&(Verdict::NoMatch, true, false)), "{kinds:?}");
}

#[cfg(feature = "bench-tools")]
#[test]
fn hash_likeness_that_local_features_contradict_is_never_a_match() {
    use knockoff::edits::product_on_white;

    // Unrelated products on the same white canvas: a textured one, and a flat dark disc. The hashes see two dark
    // rounds on white; local features find hundreds of keypoints on the one and nothing to match on the other.
    let (references, listings) = fingerprinters();
    let reference = references.fingerprint_image(&DynamicImage::ImageRgb8(disc_on_white(800))).unwrap();
    for photo in ["refs/coffee.jpg", "refs/coins.jpg", "refs/rocket.jpg"] {
        let shot = product_on_white(&load(photo), 800);
        let listing = listings.fingerprint_image(&DynamicImage::ImageRgb8(shot)).unwrap();
        // Under thresholds low enough for the hash likeness alone to be a match, were it not contradicted.
        let lenient = Thresholds::new(0.2, 0.1);
        let s = compare_with(&reference, &listing, &lenient);
        assert!(s.evidence.hashes_contradicted, "{photo}: {:?}", s.evidence);
        assert!(s.evidence.hash_score >= lenient.match_score, "{photo}: the hashes alone look alike: {}", s.score);
        assert_eq!(s.verdict, Verdict::Review, "{photo}: {}", s.score);
        // Ranked with reviews, below any match, though the hashes' raw likeness reaches the match bar.
        assert!(s.score < lenient.match_score && s.score >= lenient.review_score, "{photo}: {}", s.score);
    }
    // A copy of the flat shot itself (nothing for local features on either side) is still a match by its hashes.
    let copy = listings.fingerprint_image(&DynamicImage::ImageRgb8(disc_on_white(640))).unwrap();
    let s = compare_with(&reference, &copy, &Thresholds::for_catalog(5_000));
    assert!(!s.evidence.hashes_contradicted);
    assert_eq!(s.verdict, Verdict::Match, "{}", s.score);
}

/// `photo` seen again from a little to the side: every point shifts sideways by an amount that follows a smooth
/// depth map (near the middle, far at the edges), which no single transform explains: parallax. Sampled
/// bilinearly.
fn another_viewpoint(photo: &RgbImage, amount: f32) -> RgbImage {
    let (w, h) = photo.dimensions();
    let at = |x: f32, y: f32, c: usize| -> f32 {
        let (x, y) = (x.clamp(0.0, w as f32 - 1.001), y.clamp(0.0, h as f32 - 1.001));
        let (x0, y0) = (x.floor() as u32, y.floor() as u32);
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = |dx: u32, dy: u32| f32::from(photo.get_pixel(x0 + dx, y0 + dy)[c]);
        (p(0, 0) * (1.0 - fx) + p(1, 0) * fx) * (1.0 - fy) + (p(0, 1) * (1.0 - fx) + p(1, 1) * fx) * fy
    };
    RgbImage::from_fn(w, h, |x, y| {
        let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
        let depth = (std::f32::consts::PI * u).sin() * (std::f32::consts::PI * v).sin();
        let sx = x as f32 + amount * depth;
        Rgb([0, 1, 2].map(|c| at(sx, y as f32, c).round() as u8))
    })
}

#[test]
fn another_shot_of_the_scene_is_review_and_a_copy_stays_a_copy() {
    let (references, listings) = fingerprinters();
    let thresholds = Thresholds::for_catalog(5_000);
    for name in ["coffee", "chelsea", "astronaut"] {
        let photo = load(&format!("refs/{name}.jpg"));
        let reference = references.fingerprint_image(&DynamicImage::ImageRgb8(photo.clone())).unwrap();
        let shot = listings.fingerprint_image(&DynamicImage::ImageRgb8(another_viewpoint(&photo, 24.0))).unwrap();
        let s = compare_with(&reference, &shot, &thresholds);
        assert_eq!(s.verdict, Verdict::Review, "{name}: {} {:?}", s.score, s.evidence.local);
        assert!(
            s.evidence.alterations.iter().any(|a| matches!(a, Alteration::AnotherShot { .. })),
            "{name}: {:?}",
            s.evidence.alterations
        );
        // At the bottom of the review band: below every copy with review-level evidence, since it copies none of
        // the photo.
        assert!(s.score <= thresholds.review_score, "ranked below copies: {}", s.score);
    }
    // Copies under a global transform stay copies: the bundled edited listings.
    for listing in ["coffee-mirrored.jpg", "astronaut-rotated10.jpg", "chelsea-pasted.jpg", "rocket-recompressed.jpg"] {
        let name = listing.split('-').next().unwrap();
        let reference = references.fingerprint_path(testdata(&format!("refs/{name}.jpg"))).unwrap();
        let copy = listings.fingerprint_path(testdata(&format!("listings/{listing}"))).unwrap();
        let s = compare_with(&reference, &copy, &thresholds);
        assert_eq!(s.verdict, Verdict::Match, "{listing}: {}", s.score);
        assert!(!s.evidence.alterations.iter().any(|a| matches!(a, Alteration::AnotherShot { .. })), "{listing}");
    }
}

/// No copy under any of the accuracy benchmark's edits (heavy JPEG, rotations, perspective, crops, collages) is
/// mistaken for another shot of the scene.
#[cfg(feature = "bench-tools")]
#[test]
fn no_edit_makes_a_copy_look_like_another_shot() {
    use knockoff::edits::{Edit, EditKit};

    let (references, listings) = fingerprinters();
    let font =
        ab_glyph::FontArc::try_from_vec(std::fs::read(testdata("fonts/DejaVuSansMono-Bold.ttf")).unwrap()).unwrap();
    let others = ["refs/coins.jpg", "refs/chelsea.jpg", "refs/astronaut.jpg"].map(load).to_vec();
    let kit = EditKit { font, others };
    for name in ["rocket", "coffee"] {
        let photo = load(&format!("refs/{name}.jpg"));
        let reference = references.fingerprint_image(&DynamicImage::ImageRgb8(photo.clone())).unwrap();
        for (edit, op) in Edit::catalogue() {
            let copy = listings.fingerprint_image(&DynamicImage::ImageRgb8(op.apply(&photo, &kit))).unwrap();
            let s = compare_with(&reference, &copy, &Thresholds::default());
            assert!(
                !s.evidence.alterations.iter().any(|a| matches!(a, Alteration::AnotherShot { .. })),
                "{name}, {edit}: {:?}",
                s.evidence.local.as_ref().map(|l| (l.inliers, l.near_misses, l.residual))
            );
        }
    }
}
