//! The evidence is true: a takedown request quotes it. Alterations and orientation are reported only where the
//! evidence supports them (the verified geometry, or a PDQ distance that is itself evidence), colour changes are
//! measured on the copied part, and numbers carry no noise (`-0.0`, sub-degree rotations).

mod common;

use common::{photos, testdata};
use knockoff::{
    Alteration, Dihedral, ErrorKind, FingerprintConfig, Fingerprinter, NO_METADATA, ReferenceIndex, Similarity, compare,
};

fn pair(reference: &str, listing: &str) -> Similarity {
    let config = FingerprintConfig::default();
    let r = Fingerprinter::for_references(config).fingerprint_path(testdata(&format!("refs/{reference}"))).unwrap();
    let l = Fingerprinter::for_listings(config).fingerprint_path(testdata(&format!("listings/{listing}"))).unwrap();
    compare(&r, &l)
}

fn has(s: &Similarity, wanted: impl Fn(&Alteration) -> bool) -> bool {
    s.evidence.alterations.iter().any(wanted)
}

/// `coffee` against `unrelated-retina` listed "mirrored, rotated 90°, recoloured, cropped, resized": PDQ's nearest
/// variant at 112-118 bits is chance, not evidence.
#[test]
fn unrelated_photos_get_no_alterations_and_no_orientation() {
    for reference in ["coffee.jpg", "chelsea.jpg", "rocket.jpg", "astronaut.jpg", "coins.jpg"] {
        for listing in ["unrelated-retina.jpg", "unrelated-camera.jpg", "unrelated-hubble.jpg", "unrelated-ihc.jpg"] {
            let s = pair(reference, listing);
            assert!(s.evidence.alterations.is_empty(), "{reference} vs {listing}: {:?}", s.evidence.alterations);
            assert_eq!(s.evidence.transform, None, "{reference} vs {listing}");
        }
    }
}

/// One source of truth for orientation: the verified geometry, not PDQ's nearest variant at noise distance.
#[test]
fn orientation_comes_from_the_verified_geometry() {
    let cases = [
        ("coffee.jpg", "coffee-crop25.jpg", Some(Dihedral::Original)),
        ("chelsea.jpg", "chelsea-pasted.jpg", Some(Dihedral::Original)),
        ("rocket.jpg", "rocket-collage.jpg", Some(Dihedral::Original)),
        ("coffee.jpg", "coffee-mirrored.jpg", Some(Dihedral::MirrorHorizontal)),
        ("coins.jpg", "coins-rotated90.jpg", Some(Dihedral::Rotate90)),
        // Rotated 10°: no right-angle transform describes it; the alterations say how.
        ("astronaut.jpg", "astronaut-rotated10.jpg", None),
    ];
    for (reference, listing, expected) in cases {
        assert_eq!(pair(reference, listing).evidence.transform, expected, "{listing}");
    }
    let rotated = pair("astronaut.jpg", "astronaut-rotated10.jpg");
    assert!(has(&rotated, |a| matches!(a, Alteration::Rotated { degrees } if (degrees.abs() - 10.0).abs() < 1.5)));
    assert!(!has(&rotated, |a| *a == Alteration::Mirrored));
}

/// A pasted or collaged copy keeps its colours: the new background changed the listing's, not the copy's.
#[test]
fn colour_changes_are_measured_on_the_copied_part() {
    for (reference, listing) in [("chelsea.jpg", "chelsea-pasted.jpg"), ("rocket.jpg", "rocket-collage.jpg")] {
        let s = pair(reference, listing);
        assert!(
            !has(&s, |a| matches!(a, Alteration::Recoloured | Alteration::Greyscale)),
            "{listing}: {:?}",
            s.evidence.alterations
        );
    }
    let grey = pair("chelsea.jpg", "chelsea-grey.png");
    assert!(has(&grey, |a| *a == Alteration::Greyscale), "{:?}", grey.evidence.alterations);
    assert!(!has(&grey, |a| *a == Alteration::Recoloured));
    let brighter = pair("rocket.jpg", "rocket-brighter.jpg");
    assert!(
        has(&brighter, |a| matches!(a, Alteration::Brightness { shift } if *shift > 0.0)),
        "{:?}",
        brighter.evidence.alterations
    );
    let hue = pair("coffee.jpg", "coffee-hue.jpg");
    assert!(has(&hue, |a| *a == Alteration::Recoloured), "{:?}", hue.evidence.alterations);
    let marked = pair("astronaut.jpg", "astronaut-watermark.jpg");
    let overlay = marked.evidence.alterations.iter().find_map(|a| match a {
        Alteration::Overlay { region } => Some(*region),
        _ => None,
    });
    // The watermark is drawn across the bottom of the photo (y 440-480 of 512).
    assert!(overlay.is_some_and(|r| r.y >= 300.0 && r.y + r.height >= 470.0), "{:?}", marked.evidence.alterations);
    // Nothing was drawn on these: a re-encoded, a cropped and a rotated copy (whose corners are filled with white).
    for (reference, listing) in [
        ("coffee.jpg", "coffee.webp"),
        ("coffee.jpg", "coffee-crop25.jpg"),
        ("astronaut.jpg", "astronaut-rotated10.jpg"),
    ] {
        let s = pair(reference, listing);
        assert!(!has(&s, |a| matches!(a, Alteration::Overlay { .. })), "{listing}: {:?}", s.evidence.alterations);
    }
    // Recompression changes no colour.
    let recompressed = pair("rocket.jpg", "rocket-recompressed.jpg");
    assert!(
        !has(&recompressed, |a| matches!(
            a,
            Alteration::Recoloured
                | Alteration::Greyscale
                | Alteration::Brightness { .. }
                | Alteration::Contrast { .. }
        )),
        "{:?}",
        recompressed.evidence.alterations
    );
}

/// Rotations in reports are rounded, never `-0.0`, and sub-degree fits of unrotated copies read 0.
#[test]
fn reported_rotations_carry_no_noise() {
    let config = FingerprintConfig::default();
    let references: Vec<_> =
        photos("refs").iter().map(|p| Fingerprinter::for_references(config).fingerprint_path(p).unwrap()).collect();
    let listings = Fingerprinter::for_listings(config);
    for path in photos("listings") {
        let listing = listings.fingerprint_path(&path).unwrap();
        for reference in &references {
            let s = compare(reference, &listing);
            if let Some(local) = &s.evidence.local {
                let r = local.rotation_degrees();
                assert!(r == 0.0 || r.abs() >= 1.0, "{}: {r}", path.display());
                assert!(!(r == 0.0 && r.is_sign_negative()), "{}: -0.0", path.display());
                assert_eq!(r, (r * 10.0).round() / 10.0);
            }
            for a in &s.evidence.alterations {
                assert!(!a.describe().contains("-0."), "{}: {}", path.display(), a.describe());
            }
        }
    }
}

/// `index testdata/refs/rocket.jpg` gave a reference with an empty path, so reports had an empty `reference`.
#[test]
fn a_single_photo_catalog_keeps_its_file_name() {
    let f = Fingerprinter::for_references(FingerprintConfig::default());
    let (index, report) = ReferenceIndex::build(testdata("refs/rocket.jpg"), &f, |_| {});
    assert!(report.failures.is_empty());
    assert_eq!(index.references().len(), 1);
    assert_eq!(index.references()[0].path, "rocket.jpg");
    assert!(index.catalog_root().is_some_and(|root| root.join("rocket.jpg").is_file()));
}

/// `add` takes fingerprints made with the index's configuration only.
#[test]
fn an_index_refuses_fingerprints_of_another_configuration() {
    let config = FingerprintConfig::default();
    let photo = testdata("refs/rocket.jpg");
    let mut index = ReferenceIndex::new(config);
    let hashes_only = Fingerprinter::for_references(FingerprintConfig::hashes_only()).fingerprint_path(&photo).unwrap();
    let err = index.add("rocket.jpg", hashes_only, NO_METADATA).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::FingerprintMismatch(_)), "{err}");
    let listing = Fingerprinter::for_listings(config).fingerprint_path(&photo).unwrap();
    // A listing's fingerprint says so by its keypoint budget, even with fewer keypoints than a reference may have
    // (a plain photo's).
    let mut few = listing.clone();
    if let Some(local) = few.local.as_deref_mut() {
        local.keypoints.truncate(100);
        local.descriptors.truncate(100);
    }
    for listing in [listing, few] {
        assert!(matches!(
            index.add("rocket.jpg", listing, NO_METADATA).unwrap_err().kind(),
            ErrorKind::FingerprintMismatch(_)
        ));
    }
    let reference = Fingerprinter::for_references(config).fingerprint_path(&photo).unwrap();
    let id = index.add("rocket.jpg", reference, vec![("sku", "R-1")]).unwrap();
    assert_eq!(index.by_path("rocket.jpg").map(|r| r.id), Some(id));
    assert_eq!(index.references()[0].metadata.get("sku").map(String::as_str), Some("R-1"));
    assert_eq!(index.len(), 1);
}

/// A banner listing (15 times as wide as high) is drawn at its own proportions in the evidence picture, not
/// squeezed to the widest panel's 3:1, which would distort the copy in it.
#[test]
fn a_banner_listing_is_drawn_at_its_own_proportions() {
    let reference = image::RgbImage::from_pixel(300, 200, image::Rgb([200, 40, 40]));
    let banner = image::RgbImage::from_pixel(3000, 200, image::Rgb([40, 160, 40]));
    let picture = knockoff::evidence::draw(&reference, &banner, None);
    // The banner's panel is the picture's right end: its last column is green as high as the banner is drawn.
    let x = picture.width() - 1;
    let green = (0..picture.height()).filter(|&y| picture.get_pixel(x, y).0 == [40, 160, 40]).count() as f64;
    let panel_width = f64::from(picture.width() - (300 * picture.height() / 200) - 12);
    assert!((panel_width / green - 15.0).abs() < 1.0, "banner drawn {panel_width} x {green}");
}
