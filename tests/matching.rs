//! Listings derived from a reference match it, with the right evidence; unrelated photos do not.
//! On the bundled testdata (see testdata/README.md for how each listing was made).

mod common;

use common::photos;
use knockoff::{Alteration, Dihedral, Fingerprint, FingerprintConfig, Fingerprinter, Verdict, compare, score, top_k};

fn load(sub: &str) -> Vec<(String, Fingerprint)> {
    let f = Fingerprinter::for_references(FingerprintConfig::default());
    photos(sub)
        .iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), f.fingerprint_path(p).unwrap()))
        .collect()
}

fn find<'a>(set: &'a [(String, Fingerprint)], name: &str) -> &'a Fingerprint {
    &set.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} not in testdata")).1
}

/// Listings that copy a reference with edits whole-image hashes are built to survive: each is a `Match` with
/// its own reference ranked first.
#[test]
fn copies_match_their_reference_and_rank_it_first() {
    let refs = load("refs");
    let listings = load("listings");
    let reference_fps: Vec<Fingerprint> = refs.iter().map(|(_, f)| f.clone()).collect();
    let cases = [
        ("coffee.webp", "coffee.jpg"),
        ("coffee-mirrored.jpg", "coffee.jpg"),
        ("rocket-recompressed.jpg", "rocket.jpg"),
        ("rocket-brighter.jpg", "rocket.jpg"),
        ("chelsea-resized.jpg", "chelsea.jpg"),
        ("chelsea-grey.png", "chelsea.jpg"),
        ("coins-rotated90.jpg", "coins.jpg"),
        ("astronaut-watermark.jpg", "astronaut.jpg"),
        ("horse-on-white.jpg", "horse.png"),
        // A white border is trimmed before hashing.
        ("chelsea-border.jpg", "chelsea.jpg"),
    ];
    for (listing, reference) in cases {
        let l = find(&listings, listing);
        let best = &top_k(l, &reference_fps, 1)[0];
        assert_eq!(refs[best.index].0, reference, "{listing}: best reference");
        assert_eq!(best.similarity.verdict, Verdict::Match, "{listing}: {:?}", best.similarity);
    }
}

/// No unrelated photo is a `Match` or even a `Review` against any reference, with a wide margin.
#[test]
fn unrelated_photos_do_not_match() {
    let refs = load("refs");
    let listings = load("listings");
    let mut worst = 0f32;
    for (name, l) in listings.iter().filter(|(n, _)| n.starts_with("unrelated-")) {
        for (rname, r) in &refs {
            let s = compare(r, l);
            assert_eq!(s.verdict, Verdict::NoMatch, "{name} vs {rname}: {s:?}");
            worst = worst.max(s.score);
        }
    }
    assert!(worst < 0.3, "an unrelated pair scored {worst}");
}

/// Different references never match each other either (the catalog itself has no false positives).
#[test]
fn references_do_not_match_each_other() {
    let refs = load("refs");
    for (i, (a, fa)) in refs.iter().enumerate() {
        for (b, fb) in &refs[i + 1..] {
            assert_eq!(compare(fa, fb).verdict, Verdict::NoMatch, "{a} vs {b}");
        }
    }
}

#[test]
fn evidence_says_how_the_listing_was_altered() {
    let refs = load("refs");
    let listings = load("listings");
    let coffee = find(&refs, "coffee.jpg");

    let mirrored = compare(coffee, find(&listings, "coffee-mirrored.jpg"));
    assert_eq!(mirrored.evidence.transform, Some(Dihedral::MirrorHorizontal));
    assert!(mirrored.evidence.alterations.contains(&Alteration::Mirrored));

    // Pillow's rotate(90) turns counter-clockwise.
    let rotated = compare(find(&refs, "coins.jpg"), find(&listings, "coins-rotated90.jpg"));
    assert_eq!(rotated.evidence.transform, Some(Dihedral::Rotate90));
    assert!(rotated.evidence.alterations.contains(&Alteration::Rotated { degrees: 90.0 }));
    assert!(!rotated.evidence.alterations.iter().any(|a| matches!(a, Alteration::AspectChanged { .. })));

    let resized = compare(find(&refs, "chelsea.jpg"), find(&listings, "chelsea-resized.jpg"));
    assert!(
        resized
            .evidence
            .alterations
            .iter()
            .any(|a| matches!(a, Alteration::Resized { scale } if (scale - 0.665).abs() < 0.01)),
        "{:?}",
        resized.evidence.alterations
    );

    let recoloured = compare(coffee, find(&listings, "coffee-hue.jpg"));
    assert!(recoloured.evidence.alterations.contains(&Alteration::Recoloured), "{recoloured:?}");
    let plain = compare(coffee, find(&listings, "coffee.webp"));
    assert!(plain.evidence.alterations.is_empty(), "{:?}", plain.evidence.alterations);
}

/// The parallel top-k returns exactly the first k of a full sequential ranking.
#[test]
fn top_k_equals_a_full_sort() {
    let mut refs: Vec<Fingerprint> = load("refs").into_iter().map(|(_, f)| f).collect();
    refs.extend(load("listings").into_iter().map(|(_, f)| f));
    let query = refs[3].clone();
    let mut expected: Vec<(f32, usize)> = refs.iter().enumerate().map(|(i, r)| (score(r, &query), i)).collect();
    expected.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for k in [0, 1, 5, refs.len(), refs.len() + 3] {
        let got: Vec<usize> = top_k(&query, &refs, k).iter().map(|r| r.index).collect();
        let want: Vec<usize> = expected.iter().take(k).map(|e| e.1).collect();
        assert_eq!(got, want, "k = {k}");
    }
    assert_eq!(top_k(&query, &refs, 1)[0].similarity.score, 1.0);
}
