//! Scanning: a folder mixing good listings and hostile files finishes, reports every file, finds the copies;
//! reports have the promised columns; cancellation stops early and keeps what was done.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::testdata;
use knockoff::report::{CSV_COLUMNS, CsvReport, HtmlSources, JsonlReport, write_html};
use knockoff::{
    FingerprintConfig, Fingerprinter, ListingReport, Outcome, ReferenceIndex, ScanOptions, Scanner, Verdict,
};

fn refs_index() -> Arc<ReferenceIndex> {
    Arc::new(
        ReferenceIndex::build(testdata("refs"), &Fingerprinter::for_references(FingerprintConfig::default()), |_| {}).0,
    )
}

/// A temporary folder with every listing and every bad file, the bad ones in a subfolder.
fn mixed_folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("knockoff-scan-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bad")).unwrap();
    for (from, to) in [("listings", dir.clone()), ("bad", dir.join("bad"))] {
        for entry in std::fs::read_dir(testdata(from)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    dir
}

fn scan_all(index: &Arc<ReferenceIndex>, folder: &Path) -> (Vec<ListingReport>, knockoff::ScanSummary) {
    scan_with(index, folder, ScanOptions::default())
}

/// Scans `folder` under `options`, keeping every report (and checking progress came once per file).
fn scan_with(
    index: &Arc<ReferenceIndex>,
    folder: &Path,
    options: ScanOptions,
) -> (Vec<ListingReport>, knockoff::ScanSummary) {
    let mut reports = Vec::new();
    let calls = AtomicUsize::new(0);
    let summary = Scanner::new(index.clone(), options)
        .scan(
            folder,
            &AtomicBool::new(false),
            |_| {
                calls.fetch_add(1, Ordering::Relaxed);
            },
            |r| {
                reports.push(r.clone());
                Ok(())
            },
        )
        .unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), reports.len(), "progress once per file");
    (reports, summary)
}

#[test]
fn scan_of_good_and_bad_files_reports_every_file_and_finds_the_copies() {
    let index = refs_index();
    let folder = mixed_folder("mixed");
    let (reports, summary) = scan_all(&index, &folder);
    let files = knockoff::walk::files([&folder]).0.len();
    assert_eq!(reports.len(), files, "every file ends in the report");
    assert_eq!(summary.scanned, files);
    assert!(!summary.cancelled);

    let by_name = |name: &str| reports.iter().find(|r| r.query == name).unwrap_or_else(|| panic!("{name} missing"));
    for bad in [
        "bad/empty.jpg",
        "bad/truncated.jpg",
        "bad/not-an-image.jpg",
        "bad/corrupt-chunk.png",
        "bad/huge-dimensions.png",
        "bad/no-frames.gif",
    ] {
        assert!(matches!(&by_name(bad).outcome, Outcome::Failed { error, .. } if !error.is_empty()), "{bad}");
    }
    assert_eq!(summary.failures, 6);
    for (listing, reference) in [
        ("coffee-mirrored.jpg", "coffee.jpg"),
        ("rocket-recompressed.jpg", "rocket.jpg"),
        ("coins-rotated90.jpg", "coins.jpg"),
        ("horse-on-white.jpg", "horse.png"),
        // What only local features find.
        ("coffee-crop25.jpg", "coffee.jpg"),
        ("rocket-collage.jpg", "rocket.jpg"),
        ("chelsea-pasted.jpg", "chelsea.jpg"),
        ("astronaut-rotated10.jpg", "astronaut.jpg"),
        ("coins-crop40-mirrored.jpg", "coins.jpg"),
    ] {
        let Outcome::Searched { hits } = &by_name(listing).outcome else { panic!("{listing} failed") };
        assert_eq!(hits[0].reference, reference);
        assert_eq!(hits[0].verdict, Verdict::Match, "{listing}");
    }
    for unrelated in reports.iter().filter(|r| r.query.starts_with("unrelated-")) {
        assert_eq!(unrelated.verdict(), Verdict::NoMatch, "{}", unrelated.query);
    }
    // Every copy: the ten whole-image hashes find, and the crops, collage, pasted copy and free rotation that
    // local features find; the 56° hue rotation too (its matched patches shift hue by less than a colour variant's).
    assert_eq!(summary.matches, 17);
    // Reports arrive in file order.
    let order: Vec<&str> = reports.iter().map(|r| r.query.as_str()).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    std::fs::remove_dir_all(folder).unwrap();
}

#[test]
fn csv_and_jsonl_reports_have_the_promised_shape() {
    let index = refs_index();
    let folder = mixed_folder("csv");
    let mut csv = Vec::new();
    let mut jsonl = Vec::new();
    {
        let mut csv_report = CsvReport::new(&mut csv).unwrap();
        let mut jsonl_report = JsonlReport::new(&mut jsonl);
        let mut options = ScanOptions::default();
        options.search.top_k = 1;
        Scanner::new(index, options)
            .scan(
                &folder,
                &AtomicBool::new(false),
                |_| {},
                |r| {
                    csv_report.write(r)?;
                    jsonl_report.write(r)
                },
            )
            .unwrap();
    }
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..4], &["query", "reference", "score", "verdict"]);
    assert_eq!(header, CSV_COLUMNS);
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 21 + 6, "one row per listing with --top 1");
    let empty_row = format!("bad/empty.jpg,,0,no_match{}empty: empty file", ",".repeat(CSV_COLUMNS.len() - 4));
    assert!(rows.contains(&empty_row.as_str()), "{csv}");
    let collage = rows.iter().find(|r| r.starts_with("rocket-collage.jpg,")).unwrap();
    let inliers: usize = collage.split(',').nth(14).unwrap().parse().unwrap();
    assert!(collage.contains(",match,") && inliers >= 12, "{collage}");
    let mirrored = rows.iter().find(|r| r.starts_with("coffee-mirrored.jpg,")).unwrap();
    assert!(mirrored.starts_with("coffee-mirrored.jpg,coffee.jpg,"), "{mirrored}");
    assert!(mirrored.split(',').nth(2).unwrap().parse::<f32>().unwrap() >= 0.99, "{mirrored}");
    assert!(mirrored.contains(",match,1,") && mirrored.contains("mirror_horizontal"), "{mirrored}");
    for row in &rows {
        let score: f32 = row.split(',').nth(2).unwrap().parse().unwrap();
        assert!((0.0..=1.0).contains(&score));
    }

    let jsonl = String::from_utf8(jsonl).unwrap();
    assert_eq!(jsonl.lines().count(), rows.len());
    for line in jsonl.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["query"].is_string() && v["score"].is_number() && v["verdict"].is_string());
        // A hit names the authentic photo's file as indexed, by the digest `sha256sum` prints for it.
        if let Some(reference) = v["reference"].as_str() {
            let sha256 = v["reference_sha256"].as_str().unwrap_or_else(|| panic!("{line}"));
            assert_eq!(sha256.len(), 64, "{line}");
            let same = std::process::Command::new("sha256sum").arg(testdata("refs").join(reference)).output();
            if let Some(out) = same.ok().filter(|o| o.status.success()) {
                assert!(String::from_utf8_lossy(&out.stdout).starts_with(sha256), "{line}");
            }
        }
    }
    std::fs::remove_dir_all(folder).unwrap();
}

#[test]
fn html_report_is_self_contained_with_cards_and_failures() {
    let index = refs_index();
    let folder = mixed_folder("html");
    let (reports, summary) = scan_all(&index, &folder);
    let mut html = Vec::new();
    write_html(
        &mut html,
        &reports,
        &summary,
        HtmlSources { queries: &folder, catalog: index.catalog_root(), limits: index.config().limits },
    )
    .unwrap();
    let html = String::from_utf8(html).unwrap();
    assert_eq!(html.matches("<section class=\"card match\"").count(), 17);
    // Both photos of each card inlined, and an evidence picture for each (all are verified by local features).
    assert_eq!(html.matches("<figure class=evidence>").count(), 17);
    assert_eq!(html.matches("data:image/jpeg;base64,").count(), 3 * 17);
    assert!(!html.contains("src=\"http") && !html.contains("src=\"/"), "no external resources");
    assert!(html.contains("mirrored") && html.contains("rotated 90° counter-clockwise"));
    assert!(html.contains("bad/truncated.jpg") && html.contains("Files that could not be read (6)"));
    // Sorted by score: the first card is the best.
    let first = html.find("class=\"card").unwrap();
    assert!(html[first..].find("score 1.000").is_some());
    // A summary of verdicts and the thresholds at the top; the no-match listings listed too, collapsed; captions
    // that break only where they must.
    assert!(html.contains("17 match</span>") && html.contains("4 no match</span>") && html.contains("6 failed</span>"));
    assert!(
        html.contains("verified matches scoring 0.50 or more")
            && html.contains("(verified matches scoring 0.42 or more, hash likeness alone 0.42 or more;")
    );
    // The expected false-match rate for this catalog, and what it means for this scan.
    assert!(html.contains("listings is expected to get a false <b>match</b> (0.00 expected among the 21 listings here that could be read and searched)"));
    assert!(summary.false_match_rate > 0.0 && summary.false_match_rate < 0.001, "{}", summary.false_match_rate);
    assert!(html.contains("<details><summary><h2>No match (4)</h2>") && html.contains("unrelated-retina.jpg"));
    assert!(!html.contains("break-all"));
    assert_eq!(html.matches("<b>Authentic photo's SHA-256</b> <code>").count(), 17);
    // One order everywhere: the authentic photo first, as in the evidence picture.
    let card = &html[first..];
    assert!(card.find("<b>authentic</b>").unwrap() < card.find("<b>listing</b>").unwrap());
    std::fs::remove_dir_all(folder).unwrap();
}

/// Without a known catalog folder, cards say why the authentic photo is missing instead of a bare placeholder.
#[test]
fn html_report_says_why_a_photo_is_missing() {
    let index = refs_index();
    let (reports, summary) = scan_all(&index, &testdata("listings"));
    let mut html = Vec::new();
    let sources = HtmlSources { queries: &testdata("listings"), catalog: None, limits: knockoff::Limits::default() };
    write_html(&mut html, &reports, &summary, sources).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("photo not available: the index does not record where the catalog is"), "no reason given");
    let moved = std::path::Path::new("/nonexistent/catalog");
    let mut html = Vec::new();
    let sources =
        HtmlSources { queries: &testdata("listings"), catalog: Some(moved), limits: knockoff::Limits::default() };
    write_html(&mut html, &reports, &summary, sources).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("/nonexistent/catalog/coffee.jpg not found"), "no reason given");
    // Names come from the index file, which may come from elsewhere: one that leaves the catalog folder is not
    // followed, even where it names a photo that exists.
    let mut outside = reports.clone();
    let mut renamed = 0;
    for report in &mut outside {
        if let Outcome::Searched { hits } = &mut report.outcome {
            for hit in hits.iter_mut() {
                hit.reference = if renamed % 2 == 0 {
                    format!("../refs/{}", hit.reference)
                } else {
                    testdata("refs").join(&hit.reference).to_string_lossy().into_owned()
                };
                renamed += 1;
            }
        }
    }
    assert!(renamed >= 2);
    let mut html = Vec::new();
    let catalog = testdata("refs");
    let sources =
        HtmlSources { queries: &testdata("listings"), catalog: Some(&catalog), limits: knockoff::Limits::default() };
    write_html(&mut html, &outside, &summary, sources).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert_eq!(html.matches("its path in the index leaves the catalog folder").count(), 17);
    assert!(!html.contains("<figure class=evidence>"), "no evidence drawn on a photo from outside the catalog");

    // A catalog photo replaced under its name since it was indexed: no evidence drawn on the wrong photo, nor the
    // wrong photo shown as the authentic one. Known by the SHA-256 the index records, so also for a replacement of
    // the same size (a re-encoded rocket) and for cards matched by hashes alone.
    let rocket_cards = reports
        .iter()
        .filter(|r| r.hits().first().is_some_and(|h| h.reference == "rocket.jpg" && h.verdict != Verdict::NoMatch))
        .count();
    assert!(rocket_cards >= 3);
    let replaced = std::env::temp_dir().join(format!("knockoff-scan-replaced-{}", std::process::id()));
    for replacement in ["refs/coffee.jpg", "listings/rocket-recompressed.jpg"] {
        std::fs::create_dir_all(&replaced).unwrap();
        for entry in std::fs::read_dir(testdata("refs")).unwrap() {
            let name = entry.unwrap().file_name();
            let from = if name == "rocket.jpg" { testdata(replacement) } else { testdata("refs").join(&name) };
            std::fs::copy(from, replaced.join(&name)).unwrap();
        }
        let mut html = Vec::new();
        let sources = HtmlSources {
            queries: &testdata("listings"),
            catalog: Some(&replaced),
            limits: knockoff::Limits::default(),
        };
        write_html(&mut html, &reports, &summary, sources).unwrap();
        let html = String::from_utf8(html).unwrap();
        assert_eq!(html.matches("replaced since it was indexed? not shown").count(), rocket_cards, "{replacement}");
        assert!(html.matches("<figure class=evidence>").count() <= 17 - rocket_cards);
        let _ = std::fs::remove_dir_all(&replaced);
    }
}

/// A scan delivers reports as each chunk finishes, cancelling from the sink stops it at once, and what was
/// delivered is a prefix of the files in order.
#[test]
fn streaming_is_per_chunk_and_cancelling_from_the_sink_leaves_a_prefix() {
    let index = refs_index();
    let folder = testdata("listings");
    let all: Vec<String> = scan_all(&index, &folder).0.into_iter().map(|r| r.query).collect();
    let cancel = AtomicBool::new(false);
    let mut seen = Vec::new();
    let options = ScanOptions::default().with_chunk_size(2);
    let summary = Scanner::new(index.clone(), options)
        .scan(
            &folder,
            &cancel,
            |_| {},
            |r| {
                seen.push(r.query.clone());
                if seen.len() == 3 {
                    cancel.store(true, Ordering::Relaxed);
                }
                Ok(())
            },
        )
        .unwrap();
    assert!(summary.cancelled);
    assert_eq!(seen.len(), 3, "the sink's cancel takes effect before the next report");
    assert_eq!(seen[..], all[..3], "a prefix in file order");
}

/// Photos that are not in a folder (uploads, downloads) are scanned from paths or bytes.
#[test]
fn scan_files_takes_paths_and_bytes() {
    let index = refs_index();
    let bytes = std::fs::read(testdata("listings/rocket-collage.jpg")).unwrap();
    let inputs = vec![
        knockoff::ScanInput::from(("upload", bytes)),
        knockoff::ScanInput::from(testdata("listings/coffee-mirrored.jpg")),
        knockoff::ScanInput::from(("garbage", b"not a photo".to_vec())),
    ];
    let (reports, summary) = common::scan_files(&Scanner::new(index, ScanOptions::default()), inputs);
    assert_eq!(summary.scanned, 3);
    assert_eq!(reports[0].query, "upload");
    assert_eq!(reports[0].verdict(), Verdict::Match);
    // The hits without matching on the outcome, best first; a failure has none.
    assert_eq!(reports[0].hits().first().map(|h| h.reference.as_str()), Some("rocket.jpg"));
    assert!(reports[0].hits().windows(2).all(|w| w[0].score >= w[1].score));
    assert!(reports[2].hits().is_empty());
    assert_eq!(format!("{} / {}", reports[0].verdict(), reports[2].verdict()), "match / no_match");
    assert_eq!(reports[1].verdict(), Verdict::Match);
    assert!(
        matches!(&reports[2].outcome, Outcome::Failed { error_kind, .. } if *error_kind == knockoff::ErrorCode::UnknownFormat)
    );
    // The failure without matching on the outcome; a searched listing has none.
    assert_eq!(reports[2].failure().map(|(code, _)| code), Some(knockoff::ErrorCode::UnknownFormat));
    assert!(reports[2].failure().is_some_and(|(_, error)| error.contains("format")), "{:?}", reports[2].failure());
    assert_eq!(reports[0].failure(), None);
}

/// Scanning a folder that does not exist is an error, not one report with an empty query.
#[test]
fn scanning_a_missing_folder_is_an_error() {
    let err = Scanner::new(refs_index(), ScanOptions::default())
        .scan("/nonexistent/listings", &AtomicBool::new(false), |_| {}, |_| Ok(()))
        .unwrap_err();
    assert!(matches!(err.kind(), knockoff::ErrorKind::NotAFolder));
    assert_eq!(err.path(), Some(Path::new("/nonexistent/listings")));
}

#[test]
fn cancelling_stops_the_scan_and_keeps_what_was_done() {
    let index = refs_index();
    let folder = mixed_folder("cancel");
    let cancel = AtomicBool::new(false);
    let mut seen = Vec::new();
    // Cancel from the progress callback once three files are done, as a UI's stop button would.
    let summary = Scanner::new(index, ScanOptions::default())
        .scan(
            &folder,
            &cancel,
            |p| {
                if p.done >= 9 {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            |r| {
                seen.push(r.clone());
                Ok(())
            },
        )
        .unwrap();
    assert!(summary.cancelled);
    assert_eq!(summary.scanned, seen.len());
    // Files finished before the cancel are kept, as far as they form a prefix of the files in order (the workers
    // finish out of order; a gap would make a resumed scan skip files).
    assert!(summary.scanned >= 1, "files finished before the cancel are kept: {}", summary.scanned);
    assert!(summary.scanned < summary.files, "{} of {}", summary.scanned, summary.files);
    let (all, _) = scan_all(&refs_index(), &folder);
    let (all, seen): (Vec<&str>, Vec<&str>) =
        (all.iter().map(|r| r.query.as_str()).collect(), seen.iter().map(|r| r.query.as_str()).collect());
    assert_eq!(seen[..], all[..seen.len()], "a prefix in file order");
    std::fs::remove_dir_all(folder).unwrap();
}

#[test]
fn a_sink_error_stops_the_scan_with_that_error() {
    let index = refs_index();
    let result = Scanner::new(index, ScanOptions::default()).scan(
        testdata("listings"),
        &AtomicBool::new(false),
        |_| {},
        |_| Err(std::io::Error::other("disk full")),
    );
    // A failed write, and said so: "cannot read" sent a user with a full disk looking at the listings.
    let err = result.unwrap_err();
    assert!(matches!(err.kind(), knockoff::ErrorKind::Write(_)), "{err:?}");
    assert_eq!(err.to_string(), "cannot write: disk full");
}

/// A scan through an index file whose feature block is damaged after it was opened: the listings whose search
/// reads that block are failure rows naming the damage, the others are searched as before, and the scan finishes.
#[test]
fn a_damaged_feature_block_fails_the_listings_that_read_it_and_the_scan_goes_on() {
    let built = refs_index();
    let dir = std::env::temp_dir().join(format!("knockoff-scan-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("refs.idx");
    built.save(&path).unwrap();
    let index = Arc::new(ReferenceIndex::open(&path).unwrap());
    // The last byte before the footer: the descriptors' checksum of the last reference, rocket.jpg.
    assert_eq!(index.references().last().map(|r| r.path.as_str()), Some("rocket.jpg"));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 25;
    bytes[at] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    // Opening cannot see it (it leaves the features to the searches); `verify` does, and names the reference.
    let err = ReferenceIndex::open(&path).unwrap().verify().unwrap_err();
    assert_eq!(err.code(), knockoff::ErrorCode::IndexCorrupt);
    assert!(err.to_string().contains("\"rocket.jpg\""), "{err}");
    built.verify().unwrap();
    // Verify the best hash candidate and the best of the shortlist only, as in a large catalog, so that a search
    // reads the damaged block only when rocket.jpg is a candidate (six references all get a vote or two from a
    // listing's 1,250 keypoints, so a deeper shortlist would hold every one).
    let mut options = ScanOptions::default();
    options.search = options.search.with_top_k(1).with_verify_top(1).with_verify_all_up_to(0).with_shortlist(1);
    let (reports, summary) = scan_with(&index, &testdata("listings"), options);
    assert_eq!(reports.len(), common::photos("listings").len(), "every listing has its row");
    for r in &reports {
        match &r.outcome {
            Outcome::Failed { error_kind, error } => {
                assert_eq!(*error_kind, knockoff::ErrorCode::IndexCorrupt, "{}: {error}", r.query);
                assert!(error.contains("index file is corrupt") && error.contains("checksum"), "{error}");
                // Which reference, and what to do.
                assert!(error.contains("\"rocket.jpg\"") && error.contains("rebuild the index"), "{error}");
            }
            Outcome::Searched { hits } => assert!(hits.iter().all(|h| h.reference != "rocket.jpg"), "{}", r.query),
        }
        if r.query.starts_with("rocket") {
            assert!(matches!(r.outcome, Outcome::Failed { .. }), "{} needs rocket.jpg's features", r.query);
        }
    }
    // The others get what the intact index gives them.
    let intact = Scanner::new(built, options);
    let mut searched = 0;
    for r in &reports {
        if let Outcome::Searched { hits } = &r.outcome {
            let again = intact.scan_file(&testdata("listings"), &testdata("listings").join(&r.query));
            let Outcome::Searched { hits: expected } = again.outcome else { panic!("{}", r.query) };
            let top = |h: &[knockoff::Hit]| h.first().map(|h| (h.reference.clone(), h.verdict));
            assert_eq!(top(hits), top(&expected), "{}", r.query);
            searched += 1;
        }
    }
    assert!(searched >= 5, "{searched} listings searched");
    assert!(summary.failures >= 3 && summary.failures < reports.len(), "{}", summary.failures);
    // The summary tells the index's failures from the listings' own: the scan is incomplete.
    assert_eq!(summary.index_failures, summary.failures);

    // The example binary writes every row, then says the index is damaged and exits with status 1.
    let out = common::example("scan")
        .args(["--refs", path.to_str().unwrap(), "--queries", testdata("listings").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), reports.len() + 1, "a header and every listing's row");
    assert!(stdout.contains("index_corrupt"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the index is damaged") && stderr.contains("rebuild it"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Listings are decoded under the scanning host's limits, never under the index's: an index file (which anyone may
/// have written) whose limits let everything through does not switch the scan's bomb protection off.
#[test]
fn listings_are_decoded_under_the_scans_limits_not_the_index_files() {
    let mut generous = FingerprintConfig::default();
    generous.limits.max_pixels = 1 << 34;
    generous.limits.max_alloc = 1 << 34;
    let index = Arc::new(ReferenceIndex::build(testdata("refs"), &Fingerprinter::for_references(generous), |_| {}).0);
    let scan = |options: ScanOptions| {
        let listing = vec![knockoff::ScanInput::from(testdata("listings/rocket-collage.jpg"))];
        common::scan_files(&Scanner::new(index.clone(), options), listing).0.remove(0)
    };
    let mut tight = knockoff::Limits::default();
    tight.max_pixels = 100 * 100;
    let refused = scan(ScanOptions::default().with_limits(tight));
    assert!(
        matches!(&refused.outcome, Outcome::Failed { error_kind, .. } if *error_kind == knockoff::ErrorCode::TooLarge),
        "{refused:?}"
    );
    assert_eq!(scan(ScanOptions::default()).verdict(), Verdict::Match);
}
