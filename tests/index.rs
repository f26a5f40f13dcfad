//! The reference index: search methods agree, persistence round-trips, damaged files are typed errors.

mod common;
#[path = "common/synthetic.rs"]
mod synthetic;

use common::testdata;
use knockoff::{
    ErrorKind, Fingerprint, FingerprintConfig, Fingerprinter, ReferenceIndex, SearchMethod, SearchOptions, Verdict,
};
use synthetic::{Rng, fingerprint};

/// Flips `n` distinct random bits.
fn flip(mut words: [u64; 4], n: u32, rng: &mut Rng) -> [u64; 4] {
    let mut chosen = [false; 256];
    let mut left = n;
    while left > 0 {
        let bit = (rng.next() % 256) as usize;
        if !chosen[bit] {
            chosen[bit] = true;
            words[bit / 64] ^= 1 << (bit % 64);
            left -= 1;
        }
    }
    words
}

/// 20,000 random hashes with planted near-duplicates of the queries at distances 0-60 (some planted as a
/// query's mirror variant): brute force and multi-index hashing return identical results for every radius and k.
#[test]
fn brute_force_and_multi_index_agree_on_random_data() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut index = ReferenceIndex::new(FingerprintConfig::hashes_only());
    for i in 0..20_000 {
        let words = rng.words();
        index.add(format!("r{i}"), fingerprint(words, &mut rng), knockoff::NO_METADATA).unwrap();
    }
    let queries: Vec<Fingerprint> = (0..25).map(|_| fingerprint(rng.words(), &mut rng)).collect();
    for (i, q) in queries.iter().enumerate() {
        for distance in [0, 3, 9, 15, 16, 17, 25, 31, 32, 40, 47, 60] {
            // Plant near the plain hash for even queries, near the mirror variant for odd ones.
            let variant = if i % 2 == 0 { 0 } else { 5 };
            let words: [u64; 4] = q.pdq.dihedral[variant].words().try_into().unwrap();
            index
                .add(
                    format!("planted-{i}-{distance}"),
                    fingerprint(flip(words, distance, &mut rng), &mut rng),
                    knockoff::NO_METADATA,
                )
                .unwrap();
        }
    }
    let mut total = 0;
    for q in &queries {
        for radius in [0, 8, 15, 16, 31, 32, 47, 63] {
            let brute = index.within(&q.pdq, radius, SearchMethod::BruteForce);
            let multi = index.within(&q.pdq, radius, SearchMethod::MultiIndex);
            assert_eq!(brute, multi, "radius {radius}");
            assert!(brute.iter().all(|c| c.distance <= radius));
            total += brute.len();
        }
        for k in [1, 5, 10, 50] {
            let brute = index.nearest(&q.pdq, k, SearchMethod::BruteForce);
            let auto = index.nearest(&q.pdq, k, SearchMethod::Auto);
            assert_eq!(brute.len(), k);
            assert_eq!(brute, auto, "k {k}");
        }
    }
    assert!(total > 1000, "the planted duplicates must be found: {total}");
}

fn refs_index() -> ReferenceIndex {
    refs_index_with(FingerprintConfig::default())
}

/// The index of testdata/refs with `config` (an older file's, to check its migration).
fn refs_index_with(config: FingerprintConfig) -> ReferenceIndex {
    let (index, report) = ReferenceIndex::build(testdata("refs"), &Fingerprinter::for_references(config), |_| {});
    assert!(report.failures.is_empty());
    assert_eq!(index.len(), 6);
    index
}

/// A path of the test's own under the temp folder, removed (file or folder) when the test is done with it.
struct TempPath(std::path::PathBuf);

impl std::ops::Deref for TempPath {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempPath {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh catalog folder `name` holding copies of these photos of testdata/refs.
fn catalog_of(name: &str, photos: &[&str]) -> TempPath {
    let catalog = temp_path(name);
    let _ = std::fs::remove_dir_all(&*catalog);
    std::fs::create_dir_all(&*catalog).unwrap();
    for photo in photos {
        std::fs::copy(testdata("refs").join(photo), catalog.join(photo)).unwrap();
    }
    catalog
}

fn temp_path(name: &str) -> TempPath {
    let name = name.replace('/', "-");
    TempPath(std::env::temp_dir().join(format!("knockoff-index-test-{}-{name}", std::process::id())))
}

/// Build and update reports serialise like every result: each failure as its code, its file and its message.
#[test]
fn build_and_update_reports_serialise_with_their_failures() {
    let catalog = catalog_of("report-json", &["rocket.jpg"]);
    std::fs::write(catalog.join("bad.jpg"), b"not a photo at all").unwrap();
    let f = Fingerprinter::for_references(FingerprintConfig::hashes_only());
    let (mut index, report) = ReferenceIndex::build(&*catalog, &f, |_| {});
    assert_eq!(index.len(), 1);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["failures"][0]["code"], "unknown_format", "{json}");
    assert!(json["failures"][0]["path"].as_str().is_some_and(|p| p.ends_with("/bad.jpg")), "{json}");
    assert_eq!(json["failures"][0]["message"], report.failures[0].kind().to_string());
    std::fs::copy(testdata("refs/coffee.jpg"), catalog.join("coffee.jpg")).unwrap();
    let update = index.update(&*catalog, |_| {}).unwrap();
    let json = serde_json::to_value(&update).unwrap();
    assert_eq!(json["added"][0][1], "coffee.jpg", "{json}");
    assert_eq!(json["failures"][0]["code"], "unknown_format", "{json}");
}

/// A report names a reference by its path alone, so an index holds one reference per path, and only paths inside
/// the catalog folder (a report resolves them there): a second `add` of a path is refused until the first is
/// removed, and so are empty, absolute and `..` paths, each with a typed error that names the path.
#[test]
fn add_refuses_a_path_it_holds_and_paths_outside_the_catalog() {
    let mut index = refs_index();
    let rocket = index.by_path("rocket.jpg").expect("built from testdata/refs").clone();
    let refused = |result: knockoff::Result<u64>, path: &str| {
        let err = result.expect_err(path);
        assert!(matches!(err.kind(), ErrorKind::ReferencePath(_)), "{path}: {err}");
        assert!(err.to_string().contains(&format!("{path:?}")), "{err}");
    };
    refused(index.add("rocket.jpg", rocket.fingerprint.clone(), knockoff::NO_METADATA), "rocket.jpg");
    for path in ["", "/etc/rocket.jpg", "../rocket.jpg", "shop/../../rocket.jpg", "."] {
        refused(index.add(path, rocket.fingerprint.clone(), knockoff::NO_METADATA), path);
    }
    // Other texts for a path it holds: one text per file, as a build writes it.
    for path in ["./rocket.jpg", "shop//rocket.jpg", "rocket.jpg/", "shop/./rocket.jpg", "\\x72ocket.jpg"] {
        refused(index.add(path, rocket.fingerprint.clone(), knockoff::NO_METADATA), path);
    }
    assert_eq!(index.len(), 6, "nothing refused was added");
    // Added once under a new name, then refused under it; replaced by removing it first.
    let id = index.add("shop/rocket 2.jpg", rocket.fingerprint.clone(), knockoff::NO_METADATA).unwrap();
    refused(index.add("shop/rocket 2.jpg", rocket.fingerprint.clone(), knockoff::NO_METADATA), "shop/rocket 2.jpg");
    index.remove(rocket.id).unwrap();
    let again = index.add("rocket.jpg", rocket.fingerprint.clone(), knockoff::NO_METADATA).unwrap();
    assert!(again > id);
    assert_eq!(index.by_path("rocket.jpg").map(|r| r.id), Some(again));
    assert_eq!(index.len(), 7);
}

/// A catalog that grows: `update` adds the new photos with new ids, removes the references whose files are gone,
/// keeps every other id, and then searches as an index built afresh from the same folder does; an index opened
/// from its file (features left in the file) updates and saves over that file the same way.
#[test]
fn update_adds_new_photos_removes_gone_ones_and_keeps_the_other_ids() {
    let catalog = temp_path("update-catalog");
    let _ = std::fs::remove_dir_all(&*catalog);
    std::fs::create_dir_all(catalog.join("shop")).unwrap();
    let copy = |name: &str, to: &str| std::fs::copy(testdata("refs").join(name), catalog.join(to)).unwrap();
    copy("coffee.jpg", "coffee.jpg");
    copy("chelsea.jpg", "shop/chelsea.jpg");
    copy("coins.jpg", "coins.jpg");
    let references = Fingerprinter::for_references(FingerprintConfig::default());
    let (mut index, _) = ReferenceIndex::build(&*catalog, &references, |_| {});
    let id_of = |index: &ReferenceIndex, path: &str| index.by_path(path).map(|r| r.id);
    let (coffee, chelsea) = (id_of(&index, "coffee.jpg"), id_of(&index, "shop/chelsea.jpg"));
    assert!(coffee.is_some() && chelsea.is_some());

    copy("rocket.jpg", "shop/rocket.jpg");
    copy("astronaut.jpg", "astronaut.jpg");
    std::fs::remove_file(catalog.join("coins.jpg")).unwrap();
    std::fs::write(catalog.join("damaged.jpg"), b"\xff\xd8\xff\xe0 not a photo").unwrap();
    let report = index.update(&*catalog, |_| {}).unwrap();
    let added: Vec<&str> = report.added.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(added, ["astronaut.jpg", "shop/rocket.jpg"]);
    assert!(report.added.iter().all(|&(id, _)| id >= 3), "new ids continue after the old ones");
    assert_eq!((report.removed.as_slice(), report.unchanged), (&["coins.jpg".to_string()][..], 2));
    assert_eq!(report.failures.len(), 1, "the damaged file is listed, not fatal");
    assert_eq!((id_of(&index, "coffee.jpg"), id_of(&index, "shop/chelsea.jpg")), (coffee, chelsea));
    assert!(id_of(&index, "coins.jpg").is_none());

    // Searches as a fresh build of the same folder does.
    let (fresh, _) = ReferenceIndex::build(&*catalog, &references, |_| {});
    let listings = Fingerprinter::for_listings(FingerprintConfig::default());
    for name in ["rocket-collage.jpg", "astronaut-watermark.jpg", "chelsea-pasted.jpg", "unrelated-camera.jpg"] {
        let listing = listings.fingerprint_path(testdata("listings").join(name)).unwrap();
        let best = |index: &ReferenceIndex| {
            let hits = index.search(&listing, &SearchOptions::default()).unwrap();
            hits.first().map(|h| (index.references()[h.index].path.clone(), h.similarity.score, h.similarity.verdict))
        };
        assert_eq!(best(&index), best(&fresh), "{name}");
    }

    // Opened from its file, updated again (nothing to do, then one photo more) and saved over that file.
    let file = temp_path("update.idx");
    index.save(&*file).unwrap();
    let mut opened = ReferenceIndex::open(&*file).unwrap();
    let again = opened.update(&*catalog, |_| {}).unwrap();
    assert_eq!((again.added.len(), again.removed.len(), again.unchanged), (0, 0, 4));
    copy("horse.png", "horse.png");
    let more = opened.update(&*catalog, |_| {}).unwrap();
    assert_eq!(more.added.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(), ["horse.png"]);
    opened.save(&*file).unwrap();
    let reopened = ReferenceIndex::open(&*file).unwrap();
    assert_eq!(reopened.len(), 5);
    assert_eq!(id_of(&reopened, "coffee.jpg"), coffee);

    // A folder the walk cannot read (here a link to one that is gone) keeps the references under it, and a single
    // photo is not a catalog to update against (every other reference would look gone): refused, nothing changed.
    let shop = catalog.join("shop");
    std::fs::rename(&shop, catalog.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(catalog.join("gone"), &shop).unwrap();
    let unreadable = opened.update(&*catalog, |_| {}).unwrap();
    assert!(unreadable.removed.is_empty() && !unreadable.failures.is_empty(), "{unreadable:?}");
    assert!(id_of(&opened, "shop/rocket.jpg").is_some() && id_of(&opened, "shop/chelsea.jpg").is_some());
    let before = opened.len();
    let err = opened.update(catalog.join("coffee.jpg"), |_| {}).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotAFolder), "{err}");
    assert_eq!(opened.len(), before);

    // A shard is one part of a catalog: it cannot take the whole folder's new photos.
    let mut shard = reopened.split(2).unwrap().remove(0);
    assert!(matches!(shard.update(&*catalog, |_| {}).unwrap_err().kind(), ErrorKind::InvalidConfig(_)));
    assert!(matches!(index.update(catalog.join("missing"), |_| {}).unwrap_err().kind(), ErrorKind::NotAFolder));
    let _ = std::fs::remove_dir_all(&*catalog);
}

/// A photo replaced under its name: `update` fingerprints it again (its SHA-256 differs from the one indexed) and
/// it keeps its id and metadata; the index then finds copies of the new photo under that id and no longer the old
/// one, files the same words as a fresh build, and a file rewritten with the same bytes is not fingerprinted again.
/// Once every file's size and time are recorded, an update reads no file at all.
#[test]
fn update_fingerprints_a_photo_replaced_under_its_name_again_and_keeps_its_id() {
    let catalog = catalog_of("replace-catalog", &["chelsea.jpg", "coffee.jpg", "coins.jpg", "rocket.jpg"]);
    let references = Fingerprinter::for_references(FingerprintConfig::default());
    let (mut index, _) = ReferenceIndex::build(&*catalog, &references, |_| {});
    let coffee = index.by_path("coffee.jpg").map(|r| r.id).unwrap();
    index.set_metadata(coffee, [("sku", "C-1")]);
    // Opened from its file: the features of the references kept stay there.
    let file = temp_path("replace.idx");
    index.save(&*file).unwrap();
    let mut index = ReferenceIndex::open(&*file).unwrap();
    let read = std::sync::atomic::AtomicUsize::new(0);
    let counting = |_| {
        read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };

    // The brand puts another photo under the name coffee.jpg; chelsea.jpg is written again, byte for byte, later.
    std::fs::copy(testdata("refs/astronaut.jpg"), catalog.join("coffee.jpg")).unwrap();
    let chelsea = std::fs::File::options().write(true).open(catalog.join("chelsea.jpg")).unwrap();
    chelsea.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60)).unwrap();
    drop(chelsea);
    let report = index.update(&*catalog, counting).unwrap();
    assert_eq!(report.replaced, [(coffee, "coffee.jpg".to_string())]);
    assert_eq!((report.added.len(), report.removed.len(), report.unchanged), (0, 0, 3));
    assert_eq!(read.swap(0, std::sync::atomic::Ordering::Relaxed), 2, "only the two files whose time changed are read");
    let reference = index.by_path("coffee.jpg").unwrap();
    assert_eq!((reference.id, reference.metadata.get("sku").map(String::as_str)), (coffee, Some("C-1")));

    // What a fresh build of the folder holds: the same fingerprints and files, the same words under the vocabulary
    // in hand.
    let (fresh, _) = ReferenceIndex::build(&*catalog, &references, |_| {});
    for (position, (now, built)) in index.references().iter().zip(fresh.references()).enumerate() {
        assert_eq!(now.path, built.path);
        assert_eq!(*index.fingerprint(position).unwrap(), built.fingerprint, "{}", now.path);
        assert_eq!(now.source, built.source, "{}", now.path);
    }
    let mut refiled = index.word_index().emptied();
    refiled.extend(fresh.references().iter().map(|r| r.fingerprint.local.as_deref()));
    assert_eq!(index.word_index(), &refiled);

    // Copies of the new photo are found under the old id; a copy of the old one is no longer a match.
    let listings = Fingerprinter::for_listings(FingerprintConfig::default());
    let best = |index: &ReferenceIndex, name: &str| {
        let listing = listings.fingerprint_path(testdata("listings").join(name)).unwrap();
        let hits = index.search(&listing, &SearchOptions::default()).unwrap();
        hits.first().map(|h| (index.references()[h.index].id, h.similarity.verdict))
    };
    assert_eq!(best(&index, "astronaut-watermark.jpg"), Some((coffee, Verdict::Match)));
    assert!(best(&index, "coffee-crop25.jpg").is_none_or(|(_, verdict)| verdict == Verdict::NoMatch));

    // Saved and opened again: the records stay, and an update with nothing changed reads no file.
    index.save(&*file).unwrap();
    let mut reopened = ReferenceIndex::open(&*file).unwrap();
    assert_eq!(
        reopened.references(),
        index
            .references()
            .iter()
            .cloned()
            .map(|mut r| {
                r.fingerprint.local = None;
                r
            })
            .collect::<Vec<_>>()
    );
    let again = reopened.update(&*catalog, counting).unwrap();
    assert_eq!((again.added.len(), again.replaced.len(), again.removed.len(), again.unchanged), (0, 0, 0, 4));
    assert_eq!(read.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert!(again.changed_nothing());

    // A photo moved into a folder under another name keeps its reference (read, not fingerprinted again: its SHA-256
    // is the one recorded); a copy of it at a second place is a new reference.
    std::fs::create_dir_all(catalog.join("shop")).unwrap();
    std::fs::rename(catalog.join("coffee.jpg"), catalog.join("shop/astronaut.jpg")).unwrap();
    std::fs::copy(catalog.join("shop/astronaut.jpg"), catalog.join("shop/astronaut-copy.jpg")).unwrap();
    let moved = reopened.update(&*catalog, counting).unwrap();
    assert_eq!(moved.moved, [(coffee, "coffee.jpg".to_string(), "shop/astronaut-copy.jpg".to_string())]);
    assert_eq!(moved.added.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(), ["shop/astronaut.jpg"]);
    assert_eq!((moved.removed.len(), moved.replaced.len(), moved.unchanged), (0, 0, 3));
    let reference = reopened.by_path("shop/astronaut-copy.jpg").unwrap();
    assert_eq!((reference.id, reference.metadata.get("sku").map(String::as_str)), (coffee, Some("C-1")));
    assert_eq!(reopened.by_path("coffee.jpg"), None);
    // The moved reference's old path is free again for `add`.
    assert!(
        reopened.add("coffee.jpg", refs_index().references()[2].fingerprint.clone(), knockoff::NO_METADATA).is_ok()
    );

    // A photo's file that becomes a named pipe, or no longer looks like a photo by name and first bytes, is left out
    // by the walk: its reference is kept, unchecked, not removed.
    #[cfg(unix)]
    {
        std::fs::remove_file(catalog.join("rocket.jpg")).unwrap();
        let made = std::process::Command::new("mkfifo").arg(catalog.join("rocket.jpg")).status();
        if made.is_ok_and(|s| s.success()) {
            let report = reopened.update(&*catalog, |_| {}).unwrap();
            // (The reference added by hand above has no file: removed.)
            assert_eq!((report.removed.as_slice(), report.unchecked), (&["coffee.jpg".to_string()][..], 1));
            assert!(reopened.by_path("rocket.jpg").is_some());
        }
    }
    let _ = std::fs::remove_dir_all(&*catalog);
}

/// Photos that change places keep their references, wherever their bytes go: moved onto the path of a photo
/// that left, two names swapped, copies of one photo moved apart (each keeps the reference of its file name), and a
/// new photo put where a moved one was is a new reference. The metadata follows the photo, never the path.
#[test]
fn update_follows_photos_that_change_places() {
    let photos = ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "coins.jpg", "rocket.jpg"];
    let catalog = catalog_of("places-catalog", &photos);
    std::fs::copy(testdata("refs/coins.jpg"), catalog.join("coins-b.jpg")).unwrap();
    let references = Fingerprinter::for_references(FingerprintConfig::default());
    let (mut index, _) = ReferenceIndex::build(&*catalog, &references, |_| {});
    for r in index.references().to_vec() {
        index.set_metadata(r.id, [("sku", r.path.as_str())]);
    }
    let sku_at = |index: &ReferenceIndex, path: &str| index.by_path(path).and_then(|r| r.metadata.get("sku").cloned());
    let id_of = |index: &ReferenceIndex, path: &str| index.by_path(path).map(|r| r.id);
    let ids: Vec<Option<u64>> =
        ["rocket.jpg", "coins.jpg", "astronaut.jpg", "chelsea.jpg"].iter().map(|p| id_of(&index, p)).collect();
    let mv = |from: &str, to: &str| {
        if let Some(parent) = catalog.join(to).parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::rename(catalog.join(from), catalog.join(to)).unwrap();
    };
    // rocket.jpg moves aside and coins.jpg takes its name (a third copy of the coins appears); astronaut.jpg and
    // chelsea.jpg swap names (through a third); the second copy of the coins moves into a folder under its own
    // name; a new photo comes where coffee.jpg was, which moves into a folder.
    mv("rocket.jpg", "rocket-v2.jpg");
    mv("coins.jpg", "rocket.jpg");
    mv("astronaut.jpg", "swap.tmp");
    mv("chelsea.jpg", "astronaut.jpg");
    mv("swap.tmp", "chelsea.jpg");
    std::fs::create_dir_all(catalog.join("y")).unwrap();
    std::fs::copy(catalog.join("rocket.jpg"), catalog.join("y/extra.jpg")).unwrap();
    mv("coins-b.jpg", "z/coins-b.jpg");
    mv("coffee.jpg", "shop/coffee.jpg");
    std::fs::copy(testdata("refs/horse.png"), catalog.join("coffee.jpg")).unwrap();
    let report = index.update(&*catalog, |_| {}).unwrap();
    let moved: Vec<(&str, &str)> = report.moved.iter().map(|(_, a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        moved,
        [
            ("chelsea.jpg", "astronaut.jpg"),
            ("astronaut.jpg", "chelsea.jpg"),
            ("rocket.jpg", "rocket-v2.jpg"),
            ("coins.jpg", "rocket.jpg"),
            ("coffee.jpg", "shop/coffee.jpg"),
            ("coins-b.jpg", "z/coins-b.jpg"),
        ],
        "{report:?}"
    );
    assert_eq!(report.added.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(), ["coffee.jpg", "y/extra.jpg"]);
    assert_eq!((report.replaced.len(), report.removed.len(), report.unchanged), (0, 0, 0), "{report:?}");
    for path in ["rocket-v2.jpg", "rocket.jpg", "astronaut.jpg", "chelsea.jpg", "shop/coffee.jpg", "z/coins-b.jpg"] {
        let before = report.moved.iter().find(|(_, _, to)| to == path).map(|(_, from, _)| from.clone());
        assert_eq!(sku_at(&index, path), before, "{path}: the metadata follows the photo");
    }
    assert_eq!(id_of(&index, "rocket-v2.jpg"), ids[0]);
    assert_eq!(id_of(&index, "rocket.jpg"), ids[1]);
    assert_eq!((id_of(&index, "chelsea.jpg"), id_of(&index, "astronaut.jpg")), (ids[2], ids[3]));
    // Searches find each photo under the reference that moved with it.
    let listings = Fingerprinter::for_listings(FingerprintConfig::default());
    for (listing, path) in [("chelsea-resized.jpg", "astronaut.jpg"), ("rocket-brighter.jpg", "rocket-v2.jpg")] {
        let listing = listings.fingerprint_path(testdata("listings").join(listing)).unwrap();
        let hits = index.search(&listing, &SearchOptions::default()).unwrap();
        assert_eq!(index.references()[hits[0].index].path, path);
    }
    let _ = std::fs::remove_dir_all(&*catalog);
}

/// Whatever happens to the files, a reference's metadata stays with its photo's bytes: a swap where one side cannot
/// be read (here a file over the size limit stands for an unreadable one), copies of one photo where one is edited
/// and the other renamed, and a photo gone while another file cannot be read (it may be there: kept) or beside a
/// dangling link (which can hold no photo: removed).
#[test]
fn update_never_gives_a_photo_another_photos_metadata() {
    let catalog = catalog_of("bytes-catalog", &["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "coins.jpg"]);
    std::fs::copy(testdata("refs/coins.jpg"), catalog.join("coins2.jpg")).unwrap();
    let mut sha_of: std::collections::HashMap<String, [u8; 32]> = std::fs::read_dir(&*catalog)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), sha256_of(&p)))
        .collect();
    let limit = 1 << 20;
    let config = FingerprintConfig::default().with_limits(knockoff::Limits::default().with_max_file_bytes(limit));
    let (mut index, _) = ReferenceIndex::build(&*catalog, &Fingerprinter::for_references(config), |_| {});
    for r in index.references().to_vec() {
        index.set_metadata(r.id, [("sku", r.path.as_str())]);
    }
    let check = |index: &ReferenceIndex, sha_of: &std::collections::HashMap<String, [u8; 32]>| {
        for r in index.references() {
            let sku = &r.metadata["sku"];
            assert_eq!(r.source.unwrap().sha256, sha_of[sku], "{} holds another photo than {sku}", r.path);
        }
    };
    let write = |name: &str, bytes: &[u8]| std::fs::write(catalog.join(name), bytes).unwrap();
    let (astronaut, chelsea) =
        (std::fs::read(catalog.join("astronaut.jpg")).unwrap(), std::fs::read(catalog.join("chelsea.jpg")).unwrap());
    // Swapped, the astronaut's file unreadable for now: chelsea's reference follows its bytes; the astronaut's,
    // its path taken, cannot be kept there.
    write("astronaut.jpg", &chelsea);
    let mut padded = astronaut.clone();
    padded.resize(limit as usize + 1, 0);
    write("chelsea.jpg", &padded);
    let report = index.update(&*catalog, |_| {}).unwrap();
    assert_eq!(
        report.moved.iter().map(|(_, a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>(),
        [("chelsea.jpg", "astronaut.jpg")]
    );
    check(&index, &sha_of);
    // Readable again: a new photo at a path no reference holds.
    write("chelsea.jpg", &astronaut);
    let report = index.update(&*catalog, |_| {}).unwrap();
    assert_eq!(report.added.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(), ["chelsea.jpg"]);
    index.set_metadata(report.added[0].0, [("sku", "astronaut.jpg")]);
    check(&index, &sha_of);

    // Two copies: one edited in place (a replacement), the other renamed (a move), whatever their order.
    let mut edited = std::fs::read(catalog.join("coins.jpg")).unwrap();
    edited.extend_from_slice(b"edit");
    write("coins.jpg", &edited);
    std::fs::rename(catalog.join("coins2.jpg"), catalog.join("coins3.jpg")).unwrap();
    let report = index.update(&*catalog, |_| {}).unwrap();
    assert_eq!(
        report.moved.iter().map(|(_, a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>(),
        [("coins2.jpg", "coins3.jpg")]
    );
    assert_eq!(report.replaced.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(), ["coins.jpg"]);
    index.set_metadata(report.replaced[0].0, [("sku", "coins-edited")]);
    sha_of.insert("coins-edited".into(), sha256_of(&catalog.join("coins.jpg")));
    check(&index, &sha_of);

    // A photo gone while another file cannot be read: it may be that file, so it is kept, unchecked; beside a
    // dangling link only, it is removed.
    std::fs::remove_file(catalog.join("coffee.jpg")).unwrap();
    write("unread.jpg", &padded);
    let report = index.update(&*catalog, |_| {}).unwrap();
    assert_eq!((report.removed.len(), report.unchecked), (0, 1), "{report:?}");
    std::fs::remove_file(catalog.join("unread.jpg")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(catalog.join("nowhere.jpg"), catalog.join("dangling.jpg")).unwrap();
    let report = index.update(&*catalog, |_| {}).unwrap();
    assert_eq!(report.removed, ["coffee.jpg"], "{report:?}");
    let _ = std::fs::remove_dir_all(&*catalog);
}

/// The SHA-256 `sha256sum` prints for the file at `path`, as bytes.
fn sha256_of(path: &std::path::Path) -> [u8; 32] {
    let hex = std::process::Command::new("sha256sum").arg(path).output().unwrap().stdout;
    let hex = String::from_utf8(hex).unwrap();
    let mut digest = [0u8; 32];
    for (k, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).unwrap();
    }
    digest
}

/// An index from before format version 6 records no file per reference: its first update reads every photo, finds
/// each the same (the same fingerprint), replaces none, and records them, so that the next update reads none.
#[test]
fn a_version_5_index_records_its_files_on_its_first_update() {
    let photos = ["astronaut.jpg", "chelsea.jpg", "coffee.jpg", "coins.jpg", "horse.png", "rocket.jpg"];
    let catalog = catalog_of("v5-catalog", &photos);
    let mut index = ReferenceIndex::open(testdata("index/refs-v5.idx")).unwrap();
    let ids: Vec<u64> = index.references().iter().map(|r| r.id).collect();
    let read = std::sync::atomic::AtomicUsize::new(0);
    let counting = |_| {
        read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let report = index.update(&*catalog, counting).unwrap();
    assert_eq!((report.added.len(), report.replaced.len(), report.removed.len(), report.unchanged), (0, 0, 0, 6));
    assert_eq!(read.swap(0, std::sync::atomic::Ordering::Relaxed), 6);
    assert!(index.references().iter().all(|r| r.source.is_some()));
    assert_eq!(index.references().iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    index.update(&*catalog, counting).unwrap();
    assert_eq!(read.load(std::sync::atomic::Ordering::Relaxed), 0);
    let _ = std::fs::remove_dir_all(&*catalog);
}

#[test]
fn save_and_open_round_trip() {
    let mut index = refs_index();
    let sku = [("sku", "A-1, \"quoted\""), ("brand", "Ünïcode")];
    let id = index.add("extra/with spaces.jpg", index.references()[0].fingerprint.clone(), sku).unwrap();
    index.remove(2).unwrap();
    let path = temp_path("round-trip.idx");
    index.save(&path).unwrap();
    let opened = ReferenceIndex::open(&path).unwrap();
    // Opening leaves the local features in the file, and reads each as it was saved.
    assert!(opened.references().iter().all(|r| r.fingerprint.local.is_none()));
    for (position, reference) in index.references().iter().enumerate() {
        assert_eq!(*opened.fingerprint(position).unwrap(), reference.fingerprint, "{}", reference.path);
    }
    let mut loaded = ReferenceIndex::open(&path).unwrap();
    loaded.load_features().unwrap();
    assert_eq!(loaded.references(), index.references());
    // What stays in the file is what an opened index does not hold.
    let features: usize =
        index.references().iter().filter_map(|r| r.fingerprint.local.as_ref()).map(|l| l.memory_bytes()).sum();
    assert!(
        loaded.memory_bytes() >= opened.memory_bytes() + features,
        "{} vs {} + {features}",
        loaded.memory_bytes(),
        opened.memory_bytes()
    );
    assert_eq!(opened.config(), index.config());
    assert_eq!(opened.catalog_root(), index.catalog_root());
    assert_eq!(opened.position(id), Some(5));
    assert_eq!(opened.references()[5].metadata["sku"], "A-1, \"quoted\"");
    assert_eq!(opened.by_path("extra/with spaces.jpg").map(|r| r.id), Some(id));
    assert!(opened.position(2).is_none(), "removed reference stays removed");
    // New ids continue after the highest ever given, even after a round trip.
    let mut opened = opened;
    assert_eq!(
        opened.add("new.jpg", index.references()[0].fingerprint.clone(), knockoff::NO_METADATA).unwrap(),
        id + 1
    );
    // Saving over the file it was opened from replaces it (its features copied from the old file, which the
    // index reads until it is dropped) and leaves no temporary file behind.
    opened.save(&path).unwrap();
    let reopened = ReferenceIndex::open(&path).unwrap();
    assert_eq!(reopened.len(), 7);
    for position in 0..7 {
        assert_eq!(reopened.fingerprint(position).unwrap(), opened.fingerprint(position).unwrap());
    }
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    // A failed save (no such folder) is a write error and touches nothing.
    let err = index.save(temp_path("missing-dir/x.idx").join("deeper.idx")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Write(_)));
}

#[test]
fn references_described_with_enlarged_levels_round_trip() {
    // References smaller than the working size described with levels above their own (`LocalConfig::upscale`):
    // their keypoints sit on more levels than the pyramid has, and the file's checks must know it.
    let config = FingerprintConfig::default();
    let config = config.with_local(config.local.map(|l| l.with_upscale(2.0)));
    let index = refs_index_with(config);
    let levels = config.local.map_or(0, |l| l.levels);
    let deepest = index.references().iter().filter_map(|r| r.fingerprint.local.as_ref()).flat_map(|l| &l.keypoints);
    assert!(deepest.map(|k| usize::from(k.level)).max() >= Some(levels), "some keypoints on the extra levels");
    let path = temp_path("enlarged.idx");
    index.save(&path).unwrap();
    let opened = ReferenceIndex::open(&path).unwrap();
    for (position, reference) in index.references().iter().enumerate() {
        assert_eq!(*opened.fingerprint(position).unwrap(), reference.fingerprint, "{}", reference.path);
    }
}

/// Rewrites the footer's checksum (of the part before the features) so that a deliberately damaged body reaches
/// the parser.
fn with_fixed_crc(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len();
    let main = u64::from_le_bytes(bytes[n - 24..n - 16].try_into().unwrap()) as usize;
    let crc = crc32fast::hash(&bytes[..main.min(n - 24)]);
    bytes[n - 8..n - 4].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// Where the feature section of a saved file starts.
fn features_start(bytes: &[u8]) -> usize {
    let n = bytes.len();
    u64::from_le_bytes(bytes[n - 24..n - 16].try_into().unwrap()) as usize
}

#[test]
fn damaged_files_give_typed_errors() {
    let index = refs_index();
    let path = temp_path("damaged.idx");
    index.save(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let open = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        ReferenceIndex::open(&path)
    };
    let kind = |bytes: &[u8]| open(bytes).map(|_| ()).unwrap_err().kind().to_string();

    assert!(matches!(open(b"").unwrap_err().kind(), ErrorKind::NotAnIndex));
    let jpeg = std::fs::read(testdata("refs/coffee.jpg")).unwrap();
    assert!(matches!(open(&jpeg).unwrap_err().kind(), ErrorKind::NotAnIndex));

    let mut other_version = good.clone();
    other_version[8..12].copy_from_slice(&99u32.to_le_bytes());
    let err = open(&other_version).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::IndexVersion { found: 99, supported: knockoff::index::FORMAT_VERSION }));

    for cut in [12, 100, good.len() / 2, good.len() - 1] {
        let err = open(&good[..cut]).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::IndexTruncated(_)), "cut at {cut}: {err}");
        assert_eq!(err.path(), Some(&*path));
    }

    let mut flipped = good.clone();
    flipped[features_start(&good) / 2] ^= 0x10;
    assert!(matches!(open(&flipped).unwrap_err().kind(), ErrorKind::IndexCorrupt(_)), "{}", kind(&flipped));

    // A file whose footer is whole (its end marker there) but disagrees with the file is corrupt, not truncated: a
    // length in the footer damaged (the features' length, a high byte flipped), the version turned into an older
    // one (read whole, with that version's footer).
    let footer = good.len() - 24;
    let mut lengths = good.clone();
    lengths[footer + 14] ^= 0x55;
    let mut older = good.clone();
    older[8..12].copy_from_slice(&4u32.to_le_bytes());
    for (what, bytes) in [("footer length", &lengths), ("version", &older)] {
        let err = open(bytes).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::IndexCorrupt(_)), "{what}: {err}");
    }

    // Damaged features are found when they are read: the search that needs them fails with a typed error that
    // names the file, and the rest of the index works.
    let listing =
        Fingerprinter::for_listings(*index.config()).fingerprint_path(testdata("listings/rocket-collage.jpg"));
    let listing = listing.unwrap();
    let rocket = index.references().iter().position(|r| r.path == "rocket.jpg").unwrap();
    let block = |p: usize| index.references()[p].fingerprint.local.as_ref().map_or(0, |l| l.len() * 52 + 8);
    let block_start = features_start(&good) + (0..rocket).map(block).sum::<usize>();
    let block_end = block_start + block(rocket);
    // A keypoint, a descriptor, the descriptors' checksum.
    for at in [block_start + 5, block_end - 100, block_end - 2] {
        let mut damaged = good.clone();
        damaged[at] ^= 0x01;
        let opened = open(&damaged).unwrap();
        let err = opened.search(&listing, &SearchOptions::default()).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::IndexCorrupt(_)), "{err}");
        assert_eq!(err.path(), Some(&*path));
        assert!(opened.fingerprint(rocket).is_err());
        assert!(opened.fingerprint(rocket - 1).is_ok(), "the other references' features still read");
    }
    // A file cut short after it was opened: the reads past its end are a typed error too.
    let opened = open(&good).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(features_start(&good) as u64 + 10).unwrap();
    let err = opened.search(&listing, &SearchOptions::default()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::IndexTruncated(_)), "{err}");

    // Another fingerprint algorithm version in the header.
    let key = b"\"fingerprint_version\":";
    let at = good.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    assert_ne!(good[at], b'7', "test needs another version than 7");
    let mut other_algorithm = good.clone();
    other_algorithm[at] = b'7';
    assert!(matches!(open(&with_fixed_crc(other_algorithm)).unwrap_err().kind(), ErrorKind::ConfigMismatch(_)));

    // Another configuration than the caller expects.
    std::fs::write(&path, &good).unwrap();
    let mut config = FingerprintConfig::default();
    config.working_size = 512;
    let err = ReferenceIndex::open_expecting(&path, &config).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ConfigMismatch(_)));
    assert!(ReferenceIndex::open_expecting(&path, &FingerprintConfig::default()).is_ok());
}

/// Every single-byte corruption of the body that the checksum would catch is fed to the parser with a fixed
/// checksum: it must return an index or a typed error, never panic or allocate wildly.
#[test]
fn parser_survives_every_structural_corruption() {
    // Few keypoints, so that every byte of the local-features section is damaged too without a 160 KB file.
    let mut config = FingerprintConfig::default();
    if let Some(local) = config.local.as_mut() {
        local.budget = 12;
    }
    let (mut index, _) = ReferenceIndex::build(testdata("refs"), &Fingerprinter::for_references(config), |_| {});
    assert!(index.references().iter().all(|r| r.fingerprint.local.as_ref().is_some_and(|l| !l.is_empty())));
    // A trained word index is stored: its section is damaged too.
    index.retrain_vocabulary().unwrap();
    let bytes = index_bytes(&index);
    let (mut errors, mut late) = (0, 0);
    // Every byte but the footer's CRC and end magic: the features are checked when read, the rest at opening.
    for at in 12..bytes.len() - 8 {
        for value in [0x00, 0xFF, bytes[at] ^ 0x01] {
            let mut damaged = bytes.clone();
            damaged[at] = value;
            let path = temp_path("fuzz.idx");
            std::fs::write(&path, with_fixed_crc(damaged)).unwrap();
            match ReferenceIndex::open(&path) {
                Err(_) => errors += 1,
                Ok(mut opened) => late += usize::from(opened.load_features().is_err()),
            }
        }
    }
    assert!(errors > 100, "{errors}");
    // Each feature byte damaged is found on reading (0x00 or 0xFF may leave a byte as it was).
    let feature_bytes = bytes.len() - 24 - features_start(&bytes);
    assert!(late >= feature_bytes, "{late} of {feature_bytes}");
}

fn index_bytes(index: &ReferenceIndex) -> Vec<u8> {
    let path = temp_path("bytes.idx");
    index.save(&path).unwrap();
    std::fs::read(&path).unwrap()
}

/// The committed fixture of the current format (made from testdata/refs, with its word index, by
/// `KNOCKOFF_BLESS=1 cargo test --release --test index fixture`) opens, and its fingerprints and word index are
/// what this build computes for the same photos: a format, fingerprint or vocabulary change that forgets to bump
/// its version fails here.
#[test]
fn committed_fixture_of_the_current_format_opens() {
    let fixture = testdata("index/refs-v6.idx");
    let mut current = refs_index();
    current.retrain_vocabulary().unwrap();
    if std::env::var_os("KNOCKOFF_BLESS").is_some() {
        let mut index = refs_index();
        index.set_catalog_root(None);
        index.retrain_vocabulary().unwrap();
        std::fs::create_dir_all(fixture.parent().unwrap()).unwrap();
        index.save(&fixture).unwrap();
    }
    let index = ReferenceIndex::open_expecting(&fixture, &FingerprintConfig::default()).unwrap();
    assert_eq!(index.len(), current.len());
    for (position, (stored, now)) in index.references().iter().zip(current.references()).enumerate() {
        assert_eq!(stored.path, now.path);
        assert_eq!(*index.fingerprint(position).unwrap(), now.fingerprint, "{}", stored.path);
        // The files as indexed: the same bytes (a clone's modification times are its own).
        let (stored, now) = (stored.source.unwrap(), now.source.unwrap());
        assert_eq!((stored.len, stored.sha256), (now.len, now.sha256), "{}", now.sha256_hex());
    }
    assert_eq!(index.word_index(), current.word_index());
}

/// Opens an older file and checks it against what this build makes of testdata/refs with the file's own
/// configuration (it may be an older default, e.g. 8 pyramid levels: what an index was built with is what it keeps):
/// the same fingerprints, and the word index of the file's own vocabulary (trained by the build that wrote it, and
/// kept) with the references filed under it as this build files them.
fn assert_migrated(fixture: &str) {
    let index = ReferenceIndex::open(testdata(fixture)).unwrap();
    let current = refs_index_with(*index.config());
    assert_eq!(index.references().len(), current.len());
    for (position, (stored, now)) in index.references().iter().zip(current.references()).enumerate() {
        assert_eq!(*index.fingerprint(position).unwrap(), now.fingerprint, "{}", stored.path);
    }
    let mut refiled = index.word_index().emptied();
    refiled.extend(current.references().iter().map(|r| r.fingerprint.local.as_deref()));
    assert!(refiled.words() > 0);
    assert_eq!(index.word_index(), &refiled);
}

/// A version 2 file (no stored word index) still opens, with the same references, and trains its word index on
/// first use.
#[test]
fn a_version_2_index_is_migrated() {
    assert_migrated("index/refs-v2.idx");
}

/// A version 3 file (postings without their keypoint numbers) still opens, with the same references, and its
/// stored vocabulary files them again: the same word index as this build makes.
#[test]
fn a_version_3_index_is_migrated() {
    assert_migrated("index/refs-v3.idx");
}

/// A version 5 file (no record of each reference's file) still opens in place, with the same references and word
/// index, and no source recorded.
#[test]
fn a_version_5_index_is_migrated() {
    assert_migrated("index/refs-v5.idx");
    let index = ReferenceIndex::open(testdata("index/refs-v5.idx")).unwrap();
    assert!(index.references().iter().all(|r| r.source.is_none() && r.fingerprint.local.is_none()));
}

/// A version 4 file (features in each record, one checksum for the whole file) still opens, read whole into
/// memory, with the same references and word index.
#[test]
fn a_version_4_index_is_migrated() {
    assert_migrated("index/refs-v4.idx");
    // And saving it writes the current format, features left in the file on opening.
    let mut index = ReferenceIndex::open(testdata("index/refs-v4.idx")).unwrap();
    assert!(index.references().iter().all(|r| r.fingerprint.local.is_some()));
    let path = temp_path("migrated-v4.idx");
    index.save(&path).unwrap();
    let mut opened = ReferenceIndex::open(&path).unwrap();
    assert!(opened.references().iter().all(|r| r.fingerprint.local.is_none()));
    opened.load_features().unwrap();
    index.set_catalog_root(opened.catalog_root().map(Into::into));
    assert_eq!(opened.references(), index.references());
}

/// Shards of an opened index read their features from its file (nothing is loaded to split), and a shard saved
/// copies them into its own.
#[test]
fn an_opened_index_splits_and_its_shards_save_their_features() {
    let mut index = refs_index();
    index.retrain_vocabulary().unwrap();
    let path = temp_path("to-split.idx");
    index.save(&path).unwrap();
    let opened = ReferenceIndex::open(&path).unwrap();
    let (from_memory, from_file) = (index.split(2).unwrap(), opened.split(2).unwrap());
    for (k, (a, b)) in from_memory.iter().zip(&from_file).enumerate() {
        assert_eq!(a.word_index(), b.word_index(), "shard {k}");
        let saved = temp_path(&format!("shard-{k}.idx"));
        b.save(&saved).unwrap();
        let reopened = ReferenceIndex::open(&saved).unwrap();
        for position in 0..a.len() {
            assert_eq!(*b.fingerprint(position).unwrap(), a.references()[position].fingerprint);
            assert_eq!(*reopened.fingerprint(position).unwrap(), a.references()[position].fingerprint);
        }
    }
}

/// The word index is stored, not trained again at open: after a removal (which keeps the vocabulary), the
/// opened index has the vocabulary it was saved with, not the one its remaining references would train.
#[test]
fn the_word_index_is_stored_and_opened_as_it_was() {
    let mut index = refs_index();
    index.retrain_vocabulary().unwrap();
    let before = index.word_index().words();
    index.remove(index.references()[0].id).unwrap();
    assert_eq!(index.word_index().words(), before);
    let path = temp_path("words.idx");
    index.save(&path).unwrap();
    let opened = ReferenceIndex::open(&path).unwrap();
    assert_eq!(opened.word_index(), index.word_index());
    let mut retrained = ReferenceIndex::open(&path).unwrap();
    retrained.retrain_vocabulary().unwrap();
    assert_ne!(retrained.word_index(), index.word_index(), "a retrain on 5 references gives another vocabulary");
    // And the shortlist works from the stored one.
    let listing =
        Fingerprinter::for_listings(*index.config()).fingerprint_path(testdata("listings/rocket-collage.jpg")).unwrap();
    let options = SearchOptions::default().with_verify_all_up_to(0).with_verify_top(0).with_top_k(1);
    let hits = opened.search(&listing, &options).unwrap();
    assert_eq!(opened.references()[hits[0].index].path, "rocket.jpg");
}

/// A search refuses a listing fingerprinted as a reference (which finds fewer copies: the rocket collage scores
/// 0.42 so) or without local features in an index that has them, rather than answering quietly worse; the same
/// photo fingerprinted as a listing is a `match`. A fingerprint that does not record its budget (serialised before
/// it was) is searched as it is.
#[test]
fn a_search_refuses_a_listing_fingerprinted_for_another_role() {
    let index = refs_index();
    let photo = testdata("listings/rocket-collage.jpg");
    let options = SearchOptions::default();
    let listing = Fingerprinter::for_listings(*index.config()).fingerprint_path(&photo).unwrap();
    assert_eq!(listing.keypoint_budget, index.config().local.map(|l| l.listing_budget as u32));
    let best = &index.search(&listing, &options).unwrap()[0];
    assert_eq!((index.references()[best.index].path.as_str(), best.similarity.verdict), ("rocket.jpg", Verdict::Match));
    for wrong in
        [Fingerprinter::for_references(*index.config()), Fingerprinter::for_listings(FingerprintConfig::hashes_only())]
    {
        let f = wrong.fingerprint_path(&photo).unwrap();
        let err = index.search(&f, &options).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::FingerprintMismatch(_)), "{err}");
        assert!(err.to_string().contains("Fingerprinter::for_listings"), "{err}");
    }
    let mut unrecorded: Fingerprint =
        serde_json::from_str(&serde_json::to_string(&listing).unwrap().replace("\"keypoint_budget\"", "\"unknown\""))
            .unwrap();
    assert_eq!(unrecorded.keypoint_budget, None);
    assert_eq!(index.search(&unrecorded, &options).unwrap()[0].index, best.index);
    unrecorded.keypoint_budget = listing.keypoint_budget;
    assert_eq!(unrecorded, listing, "the budget round-trips through serde");
}

/// Large catalogs search through PDQ candidates; on the testdata that finds the same best references as
/// scoring every reference.
#[test]
fn candidate_search_finds_what_exhaustive_search_finds() {
    let index = refs_index();
    let f = Fingerprinter::for_listings(*index.config());
    let exhaustive = SearchOptions::default();
    let mut candidates = SearchOptions::default();
    candidates.exhaustive_up_to = 0;
    for path in common::photos("listings") {
        let listing = f.fingerprint_path(&path).unwrap();
        let all = index.search(&listing, &exhaustive).unwrap();
        let some = index.search(&listing, &candidates).unwrap();
        if let Some(best) = some.first() {
            assert_eq!(best.index, all[0].index, "{}", path.display());
        }
        if all[0].similarity.verdict != knockoff::Verdict::NoMatch {
            assert!(!some.is_empty(), "{}: a match must be a candidate", path.display());
        }
    }
}

/// An index saved beside its catalog finds the photos after both are moved (a committed fixture, a copied
/// catalog): the catalog folder is recorded relative to the index file too.
#[test]
fn an_index_moved_with_its_catalog_finds_the_photos() {
    let base = temp_path("moving");
    let _ = std::fs::remove_dir_all(&base);
    let (before, after) = (base.join("before"), base.join("after"));
    std::fs::create_dir_all(before.join("catalog")).unwrap();
    std::fs::copy(testdata("refs/rocket.jpg"), before.join("catalog/rocket.jpg")).unwrap();
    let f = Fingerprinter::for_references(FingerprintConfig::hashes_only());
    let (index, _) = ReferenceIndex::build(before.join("catalog"), &f, |_| {});
    index.save(before.join("catalog.idx")).unwrap();
    std::fs::rename(&before, &after).unwrap();
    let opened = ReferenceIndex::open(after.join("catalog.idx")).unwrap();
    let root = opened.catalog_root().expect("a catalog root");
    assert!(root.join("rocket.jpg").is_file(), "{}", root.display());
    std::fs::remove_dir_all(base).unwrap();
}

/// The visual-word shortlist alone (every reference verified only for catalogs up to 0, and no hash candidate but
/// the best) finds copies that hashes cannot see, and keeps finding them after references are removed (positions
/// shift; the postings are filed again with the same vocabulary) and added (filed with the existing vocabulary).
#[test]
fn the_word_shortlist_finds_copies_through_removals_and_additions() {
    let mut index = refs_index();
    let options = SearchOptions::default().with_verify_all_up_to(0).with_verify_top(0).with_top_k(1);
    let listings = Fingerprinter::for_listings(*index.config());
    let collage = listings.fingerprint_path(testdata("listings/rocket-collage.jpg")).unwrap();
    let pasted = listings.fingerprint_path(testdata("listings/chelsea-pasted.jpg")).unwrap();
    let best = |index: &ReferenceIndex, listing: &Fingerprint| {
        let hits = index.search(listing, &options).unwrap();
        index.references()[hits[0].index].path.clone()
    };
    assert_eq!(best(&index, &collage), "rocket.jpg");
    assert_eq!(best(&index, &pasted), "chelsea.jpg");
    let words_before = index.word_index().words();

    // Removing the first reference shifts every position after it.
    let first = index.references()[0].clone();
    assert_ne!(first.path, "rocket.jpg");
    index.remove(first.id).unwrap();
    assert_eq!(index.word_index().len(), 5);
    assert_eq!(best(&index, &collage), "rocket.jpg");

    // Removing chelsea and adding it back files it with the existing vocabulary, at the end.
    let chelsea = index.references().iter().find(|r| r.path == "chelsea.jpg").unwrap().clone();
    index.remove(chelsea.id).unwrap();
    assert_ne!(
        index.search(&pasted, &options).unwrap().first().map(|h| index.references()[h.index].path.clone()),
        Some("chelsea.jpg".into())
    );
    index.add("chelsea.jpg", chelsea.fingerprint, knockoff::NO_METADATA).unwrap();
    assert_eq!(index.word_index().words(), words_before, "adding must not retrain");
    assert_eq!(best(&index, &pasted), "chelsea.jpg");
    assert_eq!(best(&index, &collage), "rocket.jpg");

    // Removing several at once leaves what removing them one by one leaves: references, hashes, postings.
    let ids: Vec<u64> = index.references().iter().filter(|r| r.path != "rocket.jpg").map(|r| r.id).collect();
    let gone = [ids[2], ids[0], 9_999, ids[2]];
    let file = temp_path("one-by-one.idx");
    index.save(&*file).unwrap();
    let mut one_by_one = ReferenceIndex::open(&*file).unwrap();
    for id in [ids[0], ids[2]] {
        one_by_one.remove(id).unwrap();
    }
    let removed = index.remove_many(gone);
    assert_eq!(removed.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[0], ids[2]], "in index order");
    assert_eq!(index.len(), 3);
    let paths = |index: &ReferenceIndex| index.references().iter().map(|r| r.path.clone()).collect::<Vec<_>>();
    assert_eq!(paths(&index), paths(&one_by_one));
    assert_eq!(index.word_index(), one_by_one.word_index());
    for listing in [&collage, &pasted] {
        let hits = |index: &ReferenceIndex| {
            let hits = index.search(listing, &options).unwrap();
            hits.iter().map(|h| (index.references()[h.index].id, h.similarity.score)).collect::<Vec<_>>()
        };
        assert_eq!(hits(&index), hits(&one_by_one));
    }
    assert_eq!(best(&index, &collage), "rocket.jpg");
    assert!(index.remove_many([9_999]).is_empty());
}
