//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A path under `testdata/`.
pub fn testdata(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(sub)
}

/// The image files under `testdata/<sub>` (recursively), sorted. Panics if there are none: a test that finds no
/// files must fail, not pass vacuously.
pub fn photos(sub: &str) -> Vec<PathBuf> {
    let (files, failures) = knockoff::walk::files([testdata(sub)]);
    assert!(failures.is_empty(), "{failures:?}");
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| ["jpg", "png", "gif", "bmp", "tiff", "webp"].contains(&e.to_string_lossy().as_ref()))
        })
        .collect();
    assert!(!files.is_empty(), "no photos under testdata/{sub}");
    files
}

/// `path` relative to `testdata/`, with forward slashes.
pub fn relative(path: &Path) -> String {
    path.strip_prefix(testdata("")).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// The photo sets the golden vectors cover.
pub const GOLDEN_SETS: [&str; 5] = ["refs", "listings", "large", "formats", "small"];

/// A built example binary as a command, run from the repository root. Panics if it is not built: `cargo test`
/// builds the examples its features allow (`--all-features` for all of them).
pub fn example(name: &str) -> std::process::Command {
    // Tests run from target/<profile>/deps; the examples are built into target/<profile>/examples.
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>").join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    // `cargo test` builds the examples with the tests; a targeted run (`--test NAME`) does not.
    let release =
        if dir.parent().and_then(|p| p.file_name()).is_some_and(|n| n == "release") { " --release" } else { "" };
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build{release} --all-features --examples` first (a full `cargo test{release} \
         --all-features` builds it)",
        path.display()
    );
    let mut command = std::process::Command::new(path);
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// Every report of a scan of `inputs` with `scanner`, in input order, and the scan's summary.
pub fn scan_files<I: Into<knockoff::ScanInput>>(
    scanner: &knockoff::Scanner,
    inputs: impl IntoIterator<Item = I>,
) -> (Vec<knockoff::ListingReport>, knockoff::ScanSummary) {
    let mut reports = Vec::new();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let summary = scanner
        .scan_files(
            inputs,
            &cancel,
            |_| {},
            |r| {
                reports.push(r.clone());
                Ok(())
            },
        )
        .expect("a scan of files fails only when its sink does");
    (reports, summary)
}
