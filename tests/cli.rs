//! The example binaries behave like command-line tools: `--help` on stdout with exit status 0, usage errors that
//! name the argument with exit status 2 and no backtrace, a closed pipe that ends the run quietly, messages that
//! name the path that failed.
//!
//! They run the built examples, which `cargo test` builds (for a targeted run: `cargo build --release --all-features
//! --examples` first).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::testdata;

/// An example with backtraces enabled, so that the tests can check none is shown.
fn example(name: &str) -> Command {
    let mut command = common::example(name);
    command.env("RUST_BACKTRACE", "1");
    command
}

fn run(name: &str, args: &[&str]) -> Output {
    example(name).args(args).output().expect("run example")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("knockoff-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const EXAMPLES: [&str; 4] = ["compare", "hash", "index", "scan"];

#[test]
fn help_goes_to_stdout_with_exit_status_0() {
    for name in EXAMPLES {
        let out = run(name, &["--help"]);
        assert_eq!(out.status.code(), Some(0), "{name} --help: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("Usage:"), "{name} --help printed {:?}", text(&out.stdout));
        assert!(out.stderr.is_empty(), "{name} --help wrote to stderr: {}", text(&out.stderr));
    }
}

#[test]
fn usage_errors_name_the_argument_exit_2_and_never_show_a_backtrace() {
    let cases: [(&str, &[&str], &str); 7] = [
        ("hash", &["--ful", "x"], "--ful"),
        ("index", &["testdata/refs"], "--output"),
        ("compare", &["testdata/refs/coffee.jpg"], "<LISTING>"),
        ("scan", &["--queries", "testdata/listings"], "--refs"),
        ("scan", &["--refs", "testdata/refs"], "--queries"),
        // Any argument but none of the two: not a silent scan of the bundled demo into the named file.
        ("scan", &["-o", "/nonexistent/results.csv"], "--refs"),
        ("scan", &["--top", "3"], "--queries"),
    ];
    for (name, args, named) in cases {
        let out = run(name, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {stderr}");
        assert!(stderr.contains(named), "{name} {args:?} does not name {named}: {stderr}");
        assert!(!stderr.contains("backtrace"), "{name} {args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{name} {args:?}");
    }
}

#[test]
fn outputs_never_overwrite_the_runs_inputs_or_a_folder() {
    let dir = temp_dir("overwrite");
    let index = dir.join("catalog.idx");
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    for name in ["rocket.jpg", "coffee.jpg"] {
        std::fs::copy(testdata(&format!("refs/{name}")), catalog.join(name)).unwrap();
    }
    let path = |p: &PathBuf| p.to_string_lossy().into_owned();
    let (index_text, catalog_text) = (path(&index), path(&catalog));
    assert_eq!(run("index", &[&catalog_text, "-o", &index_text]).status.code(), Some(0));
    let index_bytes = std::fs::read(&index).unwrap();
    let photo = catalog.join("rocket.jpg");
    let photo_bytes = std::fs::read(&photo).unwrap();
    let listings = testdata("listings").to_string_lossy().into_owned();
    let (photo_text, dir_text) = (path(&photo), path(&dir));
    // A hard link is the photo under a name of its own.
    let hard_link = dir.join("linked.jpg");
    std::fs::hard_link(&photo, &hard_link).unwrap();
    let (hard_link_text, other) = (path(&hard_link), path(&testdata("refs/coffee.jpg")));
    let refused: [(&str, Vec<&str>, i32, &str); 7] = [
        ("scan", vec!["--refs", &index_text, "--queries", &listings, "-o", &index_text], 1, "is the input"),
        ("scan", vec!["--refs", &index_text, "--queries", &listings, "-o", "/nonexistent/x.html"], 1, "no such folder"),
        ("scan", vec!["--refs", &index_text, "--queries", &listings, "--format", "html", "-o", &dir_text], 1, "folder"),
        ("scan", vec!["--refs", &index_text, "--queries", &listings, "-o", &photo_text], 1, "is a photo"),
        ("index", vec![&catalog_text, "-o", &photo_text], 1, "is a photo"),
        ("compare", vec![&photo_text, &listings, "--evidence", &photo_text], 1, "is the input"),
        ("compare", vec![&other, &photo_text, "--evidence", &hard_link_text], 1, "is the input"),
    ];
    for (name, args, code, says) in refused {
        let out = run(name, &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name} {args:?}: {stderr}");
        assert!(stderr.contains(says), "{name} {args:?}: {stderr}");
    }
    assert_eq!(std::fs::read(&index).unwrap(), index_bytes);
    assert_eq!(std::fs::read(&photo).unwrap(), photo_bytes);
    // Nothing half-written beside the folder either.
    assert!(!PathBuf::from(format!("{}.csv", dir.display())).exists());
    // Without --format, the output's extension picks it.
    let html = dir.join("out.html");
    let out = run("scan", &["--refs", &index_text, "--queries", &listings, "-o", &path(&html)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(&html).unwrap().starts_with("<!DOCTYPE html>"));
    assert!(dir.join("out.html.csv").exists());
    // Every report written to a file is named on stderr, whatever its format.
    let csv = dir.join("out.csv");
    let out = run("scan", &["--refs", &index_text, "--queries", &listings, "-o", &path(&csv)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("wrote {}", csv.display())), "{stderr}");
    assert!(std::fs::read_to_string(&csv).unwrap().starts_with("query,reference,score,verdict"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn metadata_values_may_be_quoted_as_csv_quotes_them() {
    let dir = temp_dir("metadata");
    let (csv, index) = (dir.join("meta.csv"), dir.join("m.idx"));
    std::fs::write(&csv, "path,key,value\nrocket.jpg,brand,\"Acme, Inc\"\nrocket.jpg,note,\"say \"\"hi\"\"\"\n")
        .unwrap();
    let (csv, index) = (csv.to_string_lossy().into_owned(), index.to_string_lossy().into_owned());
    let out = run("index", &["testdata/refs", "-o", &index, "--metadata", &csv]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run("scan", &["--refs", &index, "--queries", "testdata/listings", "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(r#""metadata":{"brand":"Acme, Inc","note":"say \"hi\""}"#),
        "{}",
        text(&out.stdout)
    );
    std::fs::write(dir.join("meta.csv"), "rocket.jpg,brand,\"Acme\n").unwrap();
    let out = run("index", &["testdata/refs", "-o", &index, "--metadata", &csv]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("meta.csv:1: a quoted field"), "{}", text(&out.stderr));

    // As a spreadsheet saves it: a byte-order mark and a blank line before the header.
    std::fs::write(dir.join("meta.csv"), "\u{feff}\npath,key,value\r\nrocket.jpg,sku,R-1\r\n").unwrap();
    let out = run("index", &["testdata/refs", "-o", &index, "--metadata", &csv]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("metadata attached to 1 reference") && !stderr.contains("no such reference"), "{stderr}");

    // The metadata file named as the output is an input: refused, and left as it was.
    let before = std::fs::read(&csv).unwrap();
    let out = run("index", &["testdata/refs", "-o", &csv, "--metadata", &csv]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("writing it would destroy it"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&csv).unwrap(), before);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `index --update`: a catalog that grows keeps its references' ids in the scan's `reference_id` column, where
/// a rebuild numbers photos anew in path order.
#[test]
fn index_update_keeps_ids_where_a_rebuild_renumbers() {
    let dir = temp_dir("update");
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    for (name, to) in [("rocket.jpg", "rocket.jpg"), ("coffee.jpg", "coffee.jpg"), ("chelsea.jpg", "z-old.jpg")] {
        std::fs::copy(Path::new("testdata/refs").join(name), catalog.join(to)).unwrap();
    }
    let (catalog_arg, index) = (catalog.to_string_lossy().into_owned(), dir.join("c.idx"));
    let index_arg = index.to_string_lossy().into_owned();
    // Without an index at -o, --update builds one.
    let out = run("index", &[&catalog_arg, "-o", &index_arg, "--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rocket_id = |index: &str| {
        let out = run("scan", &["--refs", index, "--queries", "testdata/listings"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let csv = text(&out.stdout);
        let row = csv.lines().find(|l| l.starts_with("rocket-collage.jpg,rocket.jpg,")).map(str::to_owned);
        row.and_then(|r| r.split(',').nth(5).map(str::to_owned)).unwrap_or_else(|| panic!("{csv}"))
    };
    let before = rocket_id(&index_arg);
    // A photo that sorts first joins the catalog, another leaves it, a third is replaced under its name.
    std::fs::copy("testdata/refs/astronaut.jpg", catalog.join("a-new.jpg")).unwrap();
    std::fs::remove_file(catalog.join("z-old.jpg")).unwrap();
    std::fs::copy("testdata/refs/coins.jpg", catalog.join("coffee.jpg")).unwrap();
    let out = run("index", &[&catalog_arg, "-o", &index_arg, "--update"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("removed z-old.jpg") && stderr.contains("replaced coffee.jpg"), "{stderr}");
    assert!(stderr.contains("added a-new.jpg\n"), "{stderr}");
    assert!(stderr.contains("1 added, 1 replaced, 0 moved, 1 removed, 1 unchanged"), "{stderr}");
    assert_eq!(rocket_id(&index_arg), before, "the update kept rocket.jpg's id");
    // A rename keeps the id; a name with a line break in it is shown escaped, on one line.
    std::fs::rename(catalog.join("rocket.jpg"), catalog.join("rocket\nupdated.jpg")).unwrap();
    let out = run("index", &[&catalog_arg, "-o", &index_arg, "--update"]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("moved rocket.jpg -> rocket\\nupdated.jpg\n"), "{stderr}");
    assert!(stderr.contains("0 added, 0 replaced, 1 moved, 0 removed, 2 unchanged"), "{stderr}");
    std::fs::rename(catalog.join("rocket\nupdated.jpg"), catalog.join("rocket.jpg")).unwrap();
    let out = run("index", &[&catalog_arg, "-o", &index_arg, "--update"]);
    assert!(text(&out.stderr).contains("1 moved"), "{}", text(&out.stderr));
    assert_eq!(rocket_id(&index_arg), before, "moved twice, still rocket.jpg's id");
    // Nothing changed: the index is not written again.
    let written = std::fs::metadata(&index).unwrap().modified().unwrap();
    let out = run("index", &[&catalog_arg, "-o", &index_arg, "--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is up to date: 0 added"), "{}", text(&out.stderr));
    assert_eq!(std::fs::metadata(&index).unwrap().modified().unwrap(), written);
    // The folder above the catalog would make every reference look moved: refused, written only with --force; and
    // a single photo is not a catalog to update from.
    let parent = dir.to_string_lossy().into_owned();
    let out = run("index", &[&parent, "-o", &index_arg, "--update"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is a folder above the catalog folder the index records"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::metadata(&index).unwrap().modified().unwrap(), written);
    let photo = catalog.join("rocket.jpg").to_string_lossy().into_owned();
    let out = run("index", &[&photo, "-o", &index_arg, "--update"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is not a folder"), "{}", text(&out.stderr));
    // The same mistake after the catalog folder itself moved: every photo would move under the folder's old name.
    let new = dir.join("new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::rename(&catalog, new.join("catalog")).unwrap();
    let out = run("index", &[&new.to_string_lossy(), "-o", &index_arg, "--update"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("the name of the catalog folder the index records"), "{}", text(&out.stderr));
    std::fs::rename(new.join("catalog"), &catalog).unwrap();
    let rebuilt = dir.join("rebuilt.idx").to_string_lossy().into_owned();
    let out = run("index", &[&catalog_arg, "-o", &rebuilt]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_ne!(rocket_id(&rebuilt), before, "a rebuild numbers in path order");
    // Not with --shards: a usage error.
    assert_eq!(run("index", &[&catalog_arg, "-o", &index_arg, "--update", "--shards", "2"]).status.code(), Some(2));
    // The wrong folder (most references not under it): nothing written without --force.
    let saved = std::fs::read(&index).unwrap();
    let out = run("index", &["testdata/listings", "-o", &index_arg, "--update"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("add --force to remove them"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&index).unwrap(), saved, "left as it was");
    let out = run("index", &["testdata/listings", "-o", &index_arg, "--update", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("3 removed"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn runtime_errors_name_the_path_without_a_backtrace() {
    let out = run("index", &["/nonexistent/catalog", "-o", "/nonexistent/x.idx"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/catalog") && !stderr.contains("backtrace"), "{stderr}");
    assert!(stderr.contains("no such folder"), "{stderr}");
    // A photo `compare` cannot read is a failure of the run, as in the other examples, not a usage error.
    let out = run("compare", &["testdata/refs/coffee.jpg", "testdata/bad/empty.jpg"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("testdata/bad/empty.jpg") && stderr.contains("empty"), "{stderr}");

    // The path once, and what `--refs` takes when it is given a photo.
    let out = run("index", &["testdata/refs", "-o", "/nonexistent/x.idx"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("/nonexistent/x.idx").count(), 1, "{stderr}");
    let out = run("scan", &["--refs", "testdata/refs/rocket.jpg", "--queries", "testdata/listings"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("rocket.jpg").count(), 1, "{stderr}");
    assert!(stderr.contains("folder of reference photos") && stderr.contains("`index`"), "{stderr}");
    // A listings folder that is not there is said so, not called "not a folder".
    let out = run("scan", &["--refs", "testdata/refs", "--queries", "/nonexistent/listings"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/listings: no such folder"), "{stderr}");

    let out = run(
        "compare",
        &["--evidence", "/nonexistent/x.png", "testdata/refs/coffee.jpg", "testdata/listings/coffee.webp"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/x.png"), "{stderr}");

    // A picture name the image library cannot write is refused before any work, in words.
    let out =
        run("compare", &["--evidence", "/tmp/x.txt", "testdata/refs/coffee.jpg", "testdata/listings/coffee.webp"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/tmp/x.txt") && stderr.contains(".png") && !stderr.contains("not recognized"), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

/// `compare ... | head -1` panicked with exit status 101; `hash` and `scan` printed "Error: Broken pipe".
#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let cases: [(&str, &[&str]); 4] = [
        ("compare", &["testdata/refs/coffee.jpg", "testdata/listings/coffee-mirrored.jpg"]),
        ("compare", &["--json", "testdata/refs/coffee.jpg", "testdata/listings/coffee-mirrored.jpg"]),
        ("hash", &["testdata/refs", "testdata/listings"]),
        ("scan", &["--refs", "testdata/refs", "--queries", "testdata/listings", "--format", "csv"]),
    ];
    for (name, args) in cases {
        let mut child = example(name).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        // The reader goes away before the first line, as `| head -0` would.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{name} {args:?}: {stderr}");
        assert!(matches!(out.status.code(), Some(0) | None), "{name} {args:?}: {:?} {stderr}", out.status);
    }
}

#[test]
fn an_empty_queries_folder_warns_and_grammar_holds_for_one() {
    let dir = temp_dir("one");
    let index = dir.join("one.idx");
    let out = run("index", &["testdata/refs/rocket.jpg", "-o", index.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("indexed 1 reference ") && !stderr.contains("1 references"), "{stderr}");

    // Files that fail are told from files that are not photos, line by line and in the count.
    let mixed = dir.join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::copy(testdata("refs/rocket.jpg"), mixed.join("rocket.jpg")).unwrap();
    std::fs::write(mixed.join("note.jpg"), b"not a photo").unwrap();
    std::fs::write(mixed.join("readme.txt"), b"text").unwrap();
    let out = run("index", &[mixed.to_str().unwrap(), "-o", dir.join("mixed.idx").to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("failed ") && stderr.contains("note.jpg"), "{stderr}");
    assert!(stderr.contains("skipped ") && stderr.contains("readme.txt"), "{stderr}");
    assert!(stderr.contains("(1 failed, 1 skipped)"), "{stderr}");

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run("hash", &[empty.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("warning") && stderr.contains("nothing was hashed"), "{stderr}");
    let out = run("scan", &["--refs", index.to_str().unwrap(), "--queries", empty.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("warning") && stderr.contains("empty"), "{stderr}");

    // A single-photo index names its reference in reports.
    let listings = dir.join("listings");
    std::fs::create_dir_all(&listings).unwrap();
    std::fs::copy(testdata("listings/rocket-collage.jpg"), listings.join("rocket-collage.jpg")).unwrap();
    let out = run("scan", &["--refs", index.to_str().unwrap(), "--queries", listings.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.lines().nth(1).is_some_and(|row| row.starts_with("rocket-collage.jpg,rocket.jpg,")), "{stdout}");
    assert!(stderr.contains("scanned 1 file against 1 reference:"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `compare` printed "rotated -0.0° counter-clockwise" and PDQ's nearest variant at noise distance.
#[test]
fn compare_prints_no_noise() {
    let out = run("compare", &["testdata/refs/coffee.jpg", "testdata/listings/unrelated-retina.jpg"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("NO MATCH") && stdout.contains("none detected"), "{stdout}");
    assert!(!stdout.contains("mirrored"), "{stdout}");
    let out = run("compare", &["testdata/refs/coffee.jpg", "testdata/listings/coffee.webp"]);
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("-0.0") && stdout.contains("not rotated"), "{stdout}");
}
