//! The HTML report as an analyst sees it: rendered by headless Chromium (Debian's `chromium`), with no error and
//! every card laid out. Skipped, with the reason printed, where Chromium is not installed, unless
//! `KNOCKOFF_REQUIRE_CHROMIUM` is set (CI sets it and installs Chromium).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use common::testdata;
use knockoff::report::{HtmlSources, write_html};
use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, ScanOptions, Scanner};

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let out = Command::new("which").arg(name).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
}

#[test]
fn the_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        // CI installs it and says so (`.ci/run`): there a missing browser is a failure, not a silent pass.
        assert!(std::env::var_os("KNOCKOFF_REQUIRE_CHROMIUM").is_none(), "KNOCKOFF_REQUIRE_CHROMIUM set, no Chromium");
        eprintln!("skipped: no Chromium installed (apt-get install chromium)");
        return;
    };
    let f = Fingerprinter::for_references(FingerprintConfig::default());
    let (index, _) = ReferenceIndex::build(testdata("refs"), &f, |_| {});
    let catalog = index.catalog_root().map(PathBuf::from);
    let mut reports = Vec::new();
    let summary = Scanner::new(index, ScanOptions::default())
        .scan(
            testdata("listings"),
            &AtomicBool::new(false),
            |_| {},
            |r| {
                reports.push(r.clone());
                Ok(())
            },
        )
        .unwrap();
    let dir = std::env::temp_dir().join(format!("knockoff-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    let mut out = std::fs::File::create(&html).unwrap();
    let listings = testdata("listings");
    let sources = HtmlSources { queries: &listings, catalog: catalog.as_deref(), limits: knockoff::Limits::default() };
    write_html(&mut out, &reports, &summary, sources).unwrap();
    drop(out);

    let profile = dir.join("profile");
    let screenshot = dir.join("report.png");
    let output = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        .args(["--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1200,4000")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let picture = image::open(&screenshot).expect("a screenshot").to_rgb8();
    assert_eq!(picture.dimensions(), (1200, 4000));
    // The cards are drawn: the page is far from blank, and the first card's red verdict bar is there.
    let coloured = picture.pixels().filter(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 40).count();
    assert!(coloured > 1200 * 4000 / 10, "mostly blank: {coloured} coloured pixels");
    assert!(picture.pixels().any(|p| p.0 == [198, 40, 40]), "no match card border");
    println!("screenshot: {}", screenshot.display());
}
