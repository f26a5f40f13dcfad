//! Hostile input, second round (issue 13): each test replays one attack and failed before its fix.
//!
//! Peak memory is measured in a child process: this test binary run again on `child_process_entry` alone, which
//! does one thing to one file and prints its own high-water mark (`VmHWM` in `/proc/self/status`). A bound is
//! then `max_alloc` plus the file plus a small constant for the test harness and the fingerprint's own buffers.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::Duration;

use knockoff::walk::{SkipReason, WalkOptions};
use knockoff::{
    DecodeOptions, ErrorKind, FingerprintConfig, Fingerprinter, LocalConfig, ReferenceIndex, ScanOptions, Scanner,
    SearchOptions,
};

const CHILD_ENV: &str = "KNOCKOFF_HOSTILE_CHILD";
/// What a child process may use beyond the decode itself: the test harness, the fingerprint's working images and
/// local features, allocator slack.
const OVERHEAD: u64 = 64 << 20;

/// A fresh folder under the system temp folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("knockoff-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

/// Runs `f` on another thread and fails the test if it takes longer than `seconds` (a hang, not a slow run: the
/// work is milliseconds).
fn within<T: Send + 'static>(seconds: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(seconds)).expect("hung: no result within the timeout")
}

fn index_of_refs() -> std::sync::Arc<ReferenceIndex> {
    let fingerprinter = Fingerprinter::for_references(FingerprintConfig::default());
    let (index, _) = ReferenceIndex::build(common::testdata("refs"), &fingerprinter, |_| {});
    std::sync::Arc::new(index)
}

// ---------------------------------------------------------------------------------------------------------------
// The child process and its measurement.

/// Peak resident memory of this process, from the kernel.
fn vm_hwm_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Does `what` to `path` in a fresh process; returns its peak resident memory and what came of it.
fn in_child(what: &str, path: &Path) -> (u64, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["child_process_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{what}:{}", path.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The harness may print its "test ... " prefix on the same line as the child's first output.
    let field = |name: &str| stdout.lines().find_map(|l| l.split_once(name)).map(|(_, v)| v.trim().to_string());
    let peak = field("PEAK ")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("child gave no peak: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    (peak, field("OUTCOME ").unwrap_or_default())
}

/// Not a test of its own: the entry point of [`in_child`] (does nothing unless the environment asks).
#[test]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let (what, path) = spec.split_once(':').unwrap();
    let outcome = match what {
        "fingerprint" => Fingerprinter::for_listings(FingerprintConfig::default())
            .fingerprint_path(path)
            .map(|f| format!("ok {}x{}", f.width, f.height)),
        "fingerprint_full" => Fingerprinter::for_references(FingerprintConfig::default().with_full_size(true))
            .fingerprint_path(path)
            .map(|f| format!("ok {}x{}", f.width, f.height)),
        "open_index" => ReferenceIndex::open(path).map(|i| format!("ok {}", i.len())),
        // Full size, through `image` for every format (JPEG through zune-jpeg rather than the DCT-scaled path).
        "decode_full" => {
            knockoff::decode_path(path, &DecodeOptions::default()).map(|p| format!("ok {}x{}", p.width, p.height))
        }
        // A scan of the folder on four threads, whatever the machine has.
        "scan4" => {
            let scanner = Scanner::new(index_of_refs(), ScanOptions::default());
            let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
            pool.install(|| scanner.scan(path, &AtomicBool::new(false), |_| {}, |_| Ok(())))
                .map(|s| format!("ok {} scanned, {} failed", s.scanned, s.failures))
        }
        other => panic!("unknown child task {other}"),
    };
    let outcome = outcome.unwrap_or_else(|e| format!("{} {e}", e.code()));
    println!("OUTCOME {outcome}");
    println!("PEAK {}", vm_hwm_bytes());
}

/// Fingerprints `path` in a child and checks its peak against the default allocation limit.
fn assert_bounded(path: &Path) -> String {
    assert_bounded_by("fingerprint", path)
}

/// Does `what` to `path` in a child and checks its peak against the default allocation limit.
fn assert_bounded_by(what: &str, path: &Path) -> String {
    let limit = knockoff::Limits::default().max_alloc;
    let file = std::fs::metadata(path).unwrap().len();
    let (peak, outcome) = in_child(what, path);
    eprintln!("{what} {}: peak {} MB, {outcome}", path.display(), peak >> 20);
    assert!(peak > 0, "no VmHWM");
    assert!(
        peak <= limit + file + OVERHEAD,
        "{}: peak {peak} bytes over {limit} + {file} + {OVERHEAD}",
        path.display()
    );
    outcome
}

// ---------------------------------------------------------------------------------------------------------------
// Crafted files (generated: the bombs are megabytes).

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// zlib of `len` zero bytes, streamed (never the whole input in memory).
fn zlib_zeros(len: usize, row: Option<usize>) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let block = vec![0u8; 1 << 20];
    match row {
        // Image data: each row a filter byte (0) and the row's bytes, all zero.
        Some(row) => {
            let rows = vec![0u8; row + 1];
            for _ in 0..len / row {
                encoder.write_all(&rows).unwrap();
            }
        }
        None => {
            let mut left = len;
            while left > 0 {
                let n = left.min(block.len());
                encoder.write_all(&block[..n]).unwrap();
                left -= n;
            }
        }
    }
    encoder.finish().unwrap()
}

/// A PNG of `width` x `height` zero pixels of `colour_type` (2 RGB, 6 RGBA) at 8 bits, with `extra` chunks
/// before the image data.
fn png(width: u32, height: u32, colour_type: u8, extra: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, colour_type, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    for (kind, data) in extra {
        png_chunk(&mut out, kind, data);
    }
    let channels = if colour_type == 6 { 4 } else { 3 };
    let row = width as usize * channels;
    png_chunk(&mut out, b"IDAT", &zlib_zeros(row * height as usize, Some(row)));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// An `iCCP` chunk whose profile inflates to `len` bytes.
fn iccp_bomb(len: usize) -> Vec<u8> {
    let mut data = b"bomb\0\0".to_vec();
    data.extend(zlib_zeros(len, None));
    data
}

/// A 1x1 GIF whose logical screen is `width` x `height`.
fn gif_with_screen(width: u16, height: u16) -> Vec<u8> {
    gif_with_frame((width, height), (1, 1), 0)
}

/// A GIF whose logical screen is `screen` and whose first frame, `left` pixels from the screen's left edge (after a
/// comment extension), declares the size `frame` (its pixel data is one pixel's).
fn gif_with_frame(screen: (u16, u16), frame: (u16, u16), left: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    for side in [screen.0, screen.1] {
        out.extend_from_slice(&side.to_le_bytes());
    }
    out.extend_from_slice(&[0x80, 0, 0, 0xFF, 0xFF, 0xFF, 0, 0, 0]);
    out.extend_from_slice(&[0x21, 0xFE, 3, b'h', b'i', b'!', 0]);
    out.push(0x2C);
    for value in [left, 0, frame.0, frame.1] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&[0, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B]);
    out
}

/// An animated WebP whose canvas is `width` x `height`, with one 1x1 lossless frame.
fn webp_with_canvas(width: u32, height: u32) -> Vec<u8> {
    let mut frame = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut frame)
        .encode(&[200, 10, 10, 255], 1, 1, image::ExtendedColorType::Rgba8)
        .unwrap();
    // The encoder writes RIFF, size, WEBP, then the VP8L chunk: keep the chunk.
    let vp8l = &frame[12..];
    let u24 = |v: u32| v.to_le_bytes()[..3].to_vec();
    let chunk = |kind: &[u8; 4], data: &[u8]| {
        let mut c = kind.to_vec();
        c.extend_from_slice(&(data.len() as u32).to_le_bytes());
        c.extend_from_slice(data);
        if data.len() % 2 == 1 {
            c.push(0);
        }
        c
    };
    let mut vp8x = vec![0x02 | 0x10, 0, 0, 0];
    vp8x.extend(u24(width - 1));
    vp8x.extend(u24(height - 1));
    let mut anmf = [u24(0), u24(0), u24(0), u24(0), u24(100)].concat();
    anmf.push(0);
    anmf.extend_from_slice(vp8l);
    let body = [chunk(b"VP8X", &vp8x), chunk(b"ANIM", &[0, 0, 0, 0, 0, 0]), chunk(b"ANMF", &anmf)].concat();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend(body);
    out
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Named pipes and links to devices in a listing folder.

#[test]
fn a_named_pipe_or_device_link_in_the_folder_is_skipped_not_opened() {
    let dir = TempDir::new("fifo");
    std::fs::copy(common::testdata("refs/coffee.jpg"), dir.join("coffee.jpg")).unwrap();
    mkfifo(&dir.join("pipe.jpg"));
    std::os::unix::fs::symlink("/dev/stdin", dir.join("stdin.jpg")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.jpg")).unwrap();
    let folder = dir.0.clone();
    let index = index_of_refs();
    let (summary, queries) = within(120, move || {
        let scanner = Scanner::new(index.clone(), ScanOptions::default());
        let mut queries = Vec::new();
        let summary = scanner
            .scan(
                &folder,
                &AtomicBool::new(false),
                |_| {},
                |r| {
                    queries.push(r.query.clone());
                    Ok(())
                },
            )
            .unwrap();
        (summary, queries)
    });
    assert_eq!(queries, ["coffee.jpg"]);
    let skipped: Vec<(String, SkipReason)> = summary
        .skipped
        .iter()
        .map(|s| (s.path.file_name().unwrap().to_string_lossy().into_owned(), s.reason))
        .collect();
    assert!(skipped.contains(&("pipe.jpg".into(), SkipReason::NotRegularFile)), "{skipped:?}");
    assert!(skipped.contains(&("zero.jpg".into(), SkipReason::NotRegularFile)), "{skipped:?}");
    // A named pipe given directly is refused without being opened for reading.
    let pipe = dir.join("pipe.jpg");
    let err = within(20, move || knockoff::decode_path(&pipe, &DecodeOptions::default()).unwrap_err());
    assert!(matches!(err.kind(), ErrorKind::NotRegularFile(_)), "{err}");
}

#[test]
fn a_link_to_dev_is_walked_without_opening_anything() {
    let dir = TempDir::new("devlink");
    std::os::unix::fs::symlink("/dev", dir.join("dev")).unwrap();
    let root = dir.0.clone();
    let walk = within(60, move || knockoff::walk::walk([&root], &WalkOptions::all_files()));
    assert!(walk.files.iter().all(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file())), "{:?}", walk.files);
    assert!(walk.skipped.iter().any(|s| s.reason == SkipReason::NotRegularFile));
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Colour-profile bombs.

#[test]
fn a_colour_profile_bomb_costs_nothing() {
    let dir = TempDir::new("iccp");
    let path = dir.join("bomb.png");
    // 512 MiB of profile in ~0.5 MB: before, it was inflated in full (up to the whole allocation limit).
    std::fs::write(&path, png(64, 64, 2, &[(b"iCCP", iccp_bomb(512 << 20))])).unwrap();
    let (peak, outcome) = in_child("fingerprint", &path);
    eprintln!("iCCP bomb: peak {} MB, {outcome}", peak >> 20);
    assert!(peak < 96 << 20, "peak {peak} bytes");
    // The pixels are a plain 64x64 image: it is fingerprinted, not refused.
    assert!(outcome.starts_with("ok 64x64"), "{outcome}");
}

// ---------------------------------------------------------------------------------------------------------------
// 3 and 4. Crafted index files.

fn saved(index: &ReferenceIndex, dir: &TempDir, name: &str) -> PathBuf {
    let path = dir.join(name);
    index.save(&path).unwrap();
    path
}

/// A saved index file without local features (`index`) with its header stating `config` instead, its length and
/// checksum made to agree: what a writer other than `ReferenceIndex::save` could produce.
fn with_header_config(index: &[u8], config: &FingerprintConfig) -> Vec<u8> {
    // Magic (8 bytes), version (4), header length (4), the JSON header; the footer: main part's length and the
    // features' (8 bytes each), the main part's CRC (4), the end magic (4).
    let header_len = u32::from_le_bytes(index[12..16].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&index[16..16 + header_len]).unwrap();
    header["fingerprint_config"] = serde_json::to_value(config).unwrap();
    let header = serde_json::to_vec(&header).unwrap();
    let main_len = u64::from_le_bytes(index[index.len() - 24..index.len() - 16].try_into().unwrap()) as usize;
    let mut out = index[..12].to_vec();
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&index[16 + header_len..main_len]);
    let crc = crc32fast::hash(&out);
    let features = &index[main_len..index.len() - 24];
    let footer = index[index.len() - 4..].to_vec();
    let new_main_len = out.len() as u64;
    out.extend_from_slice(features);
    out.extend_from_slice(&new_main_len.to_le_bytes());
    out.extend_from_slice(&(features.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&footer);
    out
}

/// Features stay in the file until a search reads them; a keypoint out of range is refused then, a typed error
/// rather than a hang.
#[test]
fn a_huge_keypoint_angle_is_refused_when_read() {
    let dir = TempDir::new("angle");
    let fingerprinter = Fingerprinter::for_references(FingerprintConfig::default());
    let mut fingerprint = fingerprinter.fingerprint_path(common::testdata("refs/coffee.jpg")).unwrap();
    fingerprint.local.as_mut().unwrap().keypoints[0].angle = -4.1e19;
    let mut index = ReferenceIndex::new(FingerprintConfig::default());
    index.add("coffee.jpg", fingerprint, knockoff::NO_METADATA).unwrap();
    let path = saved(&index, &dir, "angle.idx");
    let listing = Fingerprinter::for_listings(FingerprintConfig::default());
    let listing = listing.fingerprint_path(common::testdata("listings/coffee-crop25.jpg")).unwrap();
    let (read, searched) = within(20, move || {
        let index = ReferenceIndex::open(&path).unwrap();
        (index.fingerprint(0).unwrap_err(), index.search(&listing, &SearchOptions::default()).unwrap_err())
    });
    for err in [read, searched] {
        assert!(matches!(err.kind(), ErrorKind::IndexCorrupt(_)), "{err}");
    }
}

#[test]
fn header_configurations_out_of_range_are_refused() {
    let dir = TempDir::new("header");
    fn local(c: &mut FingerprintConfig) -> &mut LocalConfig {
        c.local.as_mut().unwrap()
    }
    let mut cases: Vec<(&str, FingerprintConfig)> = Vec::new();
    let mut add = |name, change: &dyn Fn(&mut FingerprintConfig)| {
        let mut config = FingerprintConfig::default();
        change(&mut config);
        cases.push((name, config));
    };
    add("listing_budget 2^63", &|c| local(c).listing_budget = 1 << 63);
    add("budget 0", &|c| local(c).budget = 0);
    add("grid_cell 0", &|c| local(c).grid_cell = 0);
    add("levels 0", &|c| local(c).levels = 0);
    add("scale_factor 0", &|c| local(c).scale_factor = 0.0);
    add("scale_factor -1", &|c| local(c).scale_factor = -1.0);
    add("max_alloc 0", &|c| c.limits.max_alloc = 0);
    add("max_file_bytes 0", &|c| c.limits.max_file_bytes = 0);
    add("max_alloc u64::MAX", &|c| c.limits.max_alloc = u64::MAX);
    add("max_file_bytes u64::MAX", &|c| c.limits.max_file_bytes = u64::MAX);
    add("max_pixels u64::MAX", &|c| c.limits.max_pixels = u64::MAX);
    add("working_size 0", &|c| c.working_size = 0);
    add("listing_upscale 0.5", &|c| local(c).listing_upscale = 0.5);
    add("upscale 1000", &|c| local(c).upscale = 1000.0);
    let good = saved(&ReferenceIndex::new(FingerprintConfig::default()), &dir, "good.idx");
    for (name, config) in cases {
        // `save` refuses what `open` would, and leaves the file it would have replaced as it was.
        let err = ReferenceIndex::new(config).save(&good).expect_err(name);
        assert!(matches!(err.kind(), ErrorKind::InvalidConfig(_)), "{name}: {err}");
        ReferenceIndex::open(&good).unwrap();
        // Written by someone else, a file stating it is refused on opening.
        let path = dir.join("config.idx");
        std::fs::write(&path, with_header_config(&std::fs::read(&good).unwrap(), &config)).unwrap();
        let err = ReferenceIndex::open(&path).expect_err(name);
        assert!(matches!(err.kind(), ErrorKind::InvalidConfig(_)), "{name}: {err}");
        assert!(config.validate().is_err(), "{name}");
    }
    // NaN cannot even be written (JSON has no NaN: the header is then corrupt), but `validate` refuses it too.
    let mut nan = FingerprintConfig::default();
    local(&mut nan).scale_factor = f32::NAN;
    assert!(nan.validate().is_err());
    let mut nan = FingerprintConfig::default();
    local(&mut nan).listing_upscale = f32::NAN;
    assert!(nan.validate().is_err());
    FingerprintConfig::default().validate().unwrap();
    FingerprintConfig::hashes_only().validate().unwrap();
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Saving through symlinks, onto devices, and after a killed save.

#[test]
fn saving_writes_through_a_symlink_and_refuses_what_is_not_a_file() {
    let dir = TempDir::new("save");
    let index = index_of_refs();
    std::fs::write(dir.join("real.idx"), b"stale").unwrap();
    std::os::unix::fs::symlink(dir.join("real.idx"), dir.join("link.idx")).unwrap();
    index.save(dir.join("link.idx")).unwrap();
    assert!(std::fs::symlink_metadata(dir.join("link.idx")).unwrap().file_type().is_symlink());
    assert_eq!(ReferenceIndex::open(dir.join("real.idx")).unwrap().len(), index.len());

    // A named pipe stands in for a device node: it stays what it is.
    mkfifo(&dir.join("pipe.idx"));
    let err = index.save(dir.join("pipe.idx")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotRegularFile(_)), "{err}");
    assert!(!std::fs::symlink_metadata(dir.join("pipe.idx")).unwrap().is_file());
    let err = index.save("/dev/null").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotRegularFile(_)), "{err}");
    std::os::unix::fs::symlink(dir.join("missing"), dir.join("dangling.idx")).unwrap();
    assert!(index.save(dir.join("dangling.idx")).is_err());

    // A failed write says so (it used to say "cannot read").
    let err = index.save(dir.join("no-such-folder/x.idx")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Write(_)), "{err}");
    assert!(err.to_string().contains("cannot write"), "{err}");
}

#[test]
fn temporary_files_of_killed_saves_are_removed_at_the_next_save() {
    let dir = TempDir::new("stale");
    // No process has this id (Linux ids stop at 2^22).
    let stale = dir.join(".cat.idx.tmp-4294967");
    std::fs::write(&stale, b"half an index").unwrap();
    let other = dir.join(".other.idx.tmp-4294967");
    std::fs::write(&other, b"another index's").unwrap();
    index_of_refs().save(dir.join("cat.idx")).unwrap();
    assert!(!stale.exists());
    assert!(other.exists(), "only this index's leftovers go");
}

// ---------------------------------------------------------------------------------------------------------------
// 6. Devices and large files are refused from their metadata.

#[test]
fn devices_and_large_non_index_files_are_refused_without_reading() {
    let err = within(20, || knockoff::decode_path("/dev/zero", &DecodeOptions::default()).unwrap_err());
    assert!(matches!(err.kind(), ErrorKind::NotRegularFile(_)), "{err}");
    let err = within(20, || ReferenceIndex::open("/dev/zero").unwrap_err());
    assert!(matches!(err.kind(), ErrorKind::NotRegularFile(_)), "{err}");

    // A 3 GB file that is not an index: sparse, so it costs no disk; before, `open` read all of it.
    let dir = TempDir::new("big");
    let path = dir.join("big.bin");
    std::fs::File::create(&path).unwrap().set_len(3 << 30).unwrap();
    let (peak, outcome) = in_child("open_index", &path);
    eprintln!("3 GB non-index: peak {} MB, {outcome}", peak >> 20);
    assert!(outcome.starts_with("not_an_index"), "{outcome}");
    assert!(peak < 64 << 20, "peak {peak} bytes");
}

// ---------------------------------------------------------------------------------------------------------------
// 7. Peak memory per file within the allocation limit.

#[test]
fn a_gif_with_a_huge_screen_stays_within_the_limit() {
    let dir = TempDir::new("gif");
    for (name, side) in [("screen-10000.gif", 10_000u16), ("screen-8000.gif", 8_000)] {
        let path = dir.join(name);
        std::fs::write(&path, gif_with_screen(side, side)).unwrap();
        assert_bounded(&path);
    }
}

#[test]
fn a_gif_whose_first_frame_outgrows_its_screen_is_refused_from_its_header() {
    // The frame is decoded into its own RGBA buffer before it is placed on the screen: 537 MB for the first, on top
    // of its screen's 256 MB (the decoder checks each against the limit apart), 576 MB for a 5x5 photo.
    let dir = TempDir::new("gif-frame");
    for (name, screen, frame) in [("frame-on-8000.gif", (8_000, 8_000), 11_585), ("frame-on-5.gif", (5, 5), 12_000)] {
        let path = dir.join(name);
        std::fs::write(&path, gif_with_frame(screen, (frame, frame), 1)).unwrap();
        let err = knockoff::decode_path(&path, &DecodeOptions::default()).expect_err("over the limit");
        assert!(matches!(err.kind(), ErrorKind::TooLarge { .. }), "{name}: {err}");
        assert_bounded(&path);
    }
}

#[test]
fn a_bmp_declaring_huge_sides_is_too_large_like_any_other_format() {
    // 54 bytes: file header, BITMAPINFOHEADER of 100,000 x 100,000 (top-down) at 24 bits, no pixels.
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&100_000i32.to_le_bytes());
    bmp.extend_from_slice(&(-100_000i32).to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 24]);
    let err = knockoff::decode_bytes(&bmp, &DecodeOptions::default()).expect_err("over the limit");
    assert!(matches!(err.kind(), ErrorKind::TooLarge { width: 100_000, height: 100_000, .. }), "{err}");
}

#[test]
fn avif_heif_and_jpeg_xl_listings_fail_with_a_row_that_names_their_format() {
    // Their first bytes: an ISO media `ftyp` box with an image brand, and a JPEG XL codestream.
    let ftyp = |brand: &[u8; 4]| [&[0, 0, 0, 0x1c][..], b"ftyp", brand, &[0; 4], b"mif1miaf", &[0; 4]].concat();
    let dir = TempDir::new("undecoded");
    let files: [(&str, Vec<u8>, &str); 4] = [
        ("a.avif", ftyp(b"avif"), "avif"),
        ("b.HEIC", ftyp(b"heic"), "heif"),
        ("c.jxl", vec![0xFF, 0x0A, 0, 0], "jxl"),
        // Crawlers save photos under hash names: told by its first bytes.
        ("d41d8cd98f00b204", ftyp(b"avif"), "avif"),
    ];
    for (name, bytes, _) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let walk = knockoff::walk::walk([&dir.0], &WalkOptions::default());
    assert_eq!((walk.files.len(), walk.skipped.len()), (4, 0), "{:?}", walk.skipped);
    for (name, bytes, format) in &files {
        let err = knockoff::decode_bytes(bytes, &DecodeOptions::default()).expect_err(name);
        assert!(matches!(err.kind(), ErrorKind::Decode { format: f, .. } if f == format), "{name}: {err}");
        assert!(err.to_string().contains("does not decode"), "{name}: {err}");
    }
}

#[test]
fn a_large_rgba_png_stays_within_the_limit() {
    let dir = TempDir::new("rgba");
    let path = dir.join("rgba-10000.png");
    std::fs::write(&path, png(10_000, 10_000, 6, &[])).unwrap();
    let outcome = assert_bounded(&path);
    assert!(outcome.starts_with("ok 10000x10000"), "{outcome}");
}

#[test]
fn a_folder_of_large_photos_scanned_on_four_threads_stays_within_the_decode_budget() {
    // Each fits the allocation limit (about 400 MB to decode); four threads at once took four times that.
    let dir = TempDir::new("budget");
    let bomb = png(10_000, 10_000, 6, &[]);
    for k in 0..4 {
        std::fs::write(dir.join(&format!("rgba-{k}.png")), &bomb).unwrap();
    }
    let folder = dir.join("");
    let (peak, outcome) = in_child("scan4", &folder);
    eprintln!("scan of four 10000 x 10000 RGBA PNGs on four threads: peak {} MB, {outcome}", peak >> 20);
    assert_eq!(outcome, "ok 4 scanned, 0 failed");
    let files = 4 * bomb.len() as u64;
    // Measured: 1,548 MB without the budget, 792 MB with it (two decodes at a time).
    let budget: u64 = 1 << 30;
    assert_eq!(knockoff::decode::DEFAULT_CONCURRENT_DECODE_BYTES, budget);
    assert!(peak <= budget + files + 4 * OVERHEAD, "peak {peak} bytes over {budget} + {files} + 4 x {OVERHEAD}");
}

#[test]
fn a_webp_with_a_huge_canvas_stays_within_the_limit() {
    let dir = TempDir::new("webp");
    for (name, side) in [("canvas-10000.webp", 10_000u32), ("canvas-5000.webp", 5_000)] {
        let path = dir.join(name);
        std::fs::write(&path, webp_with_canvas(side, side)).unwrap();
        assert_bounded(&path);
    }
}

#[test]
fn large_jpegs_and_tiffs_stay_within_the_limit_at_full_size() {
    let dir = TempDir::new("full");
    let photo = image::RgbImage::from_fn(6000, 6000, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
    let jpeg = dir.join("large.jpg");
    image::codecs::jpeg::JpegEncoder::new_with_quality(std::fs::File::create(&jpeg).unwrap(), 80)
        .encode_image(&photo)
        .unwrap();
    let tiff = dir.join("large.tiff");
    photo.save(&tiff).unwrap();
    drop(photo);
    for path in [&jpeg, &tiff] {
        assert!(assert_bounded_by("decode_full", path).starts_with("ok 6000x6000"));
        assert!(assert_bounded_by("fingerprint", path).starts_with("ok 6000x6000"));
        // Fingerprinted at full size too: the exact PDQ's float image (4 bytes a pixel) beside the pixels.
        assert!(assert_bounded_by("fingerprint_full", path).starts_with("ok 6000x6000"));
    }
    // 100 megapixels (a 0.3 MB PNG) decode within the limit, but the exact PDQ's float image would take them past
    // it (1.1 GB at full size before): refused, within the limit.
    let png_path = dir.join("huge.png");
    std::fs::write(&png_path, png(10_000, 10_000, 2, &[])).unwrap();
    let outcome = assert_bounded_by("fingerprint_full", &png_path);
    assert!(outcome.starts_with("too_large") && outcome.contains("exact PDQ"), "{outcome}");
}

// ---------------------------------------------------------------------------------------------------------------
// 8. The smaller ones.

#[test]
fn a_tiff_over_the_memory_limit_names_its_size() {
    let img = image::ImageBuffer::<image::Rgba<u16>, Vec<u16>>::from_pixel(600, 600, image::Rgba([9, 9, 9, 65535]));
    let mut tiff = std::io::Cursor::new(Vec::new());
    img.write_to(&mut tiff, image::ImageFormat::Tiff).unwrap();
    let mut options = DecodeOptions::default();
    options.limits.max_alloc = 1 << 20;
    let err = knockoff::decode_bytes(tiff.get_ref(), &options).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TooLarge { width: 600, height: 600, .. }), "{err}");
}

#[test]
fn narrow_long_jpegs_are_fingerprinted_in_fast_mode() {
    let strip = image::RgbImage::from_fn(8, 30_000, |x, y| image::Rgb([(y % 251) as u8, (x * 30) as u8, 90]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&strip).unwrap();
    let fingerprint = Fingerprinter::for_references(FingerprintConfig::default()).fingerprint_bytes(&jpeg).unwrap();
    assert_eq!((fingerprint.width, fingerprint.height), (8, 30_000));
}

#[test]
fn non_utf8_names_stay_distinct_in_reports_and_name_their_own_file() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("names");
    for name in [&b"a\xff.jpg"[..], b"a\xfe.jpg"] {
        std::fs::copy(common::testdata("refs/coffee.jpg"), dir.0.join(std::ffi::OsStr::from_bytes(name))).unwrap();
    }
    // Named as the first one's report text was before backslashes were escaped too: another photo.
    std::fs::copy(common::testdata("refs/rocket.jpg"), dir.0.join(r"a\xFF.jpg")).unwrap();
    let index = index_of_refs();
    let mut found = Vec::new();
    Scanner::new(index.clone(), ScanOptions::default())
        .scan(
            &dir.0,
            &AtomicBool::new(false),
            |_| {},
            |r| {
                let best = match &r.outcome {
                    knockoff::Outcome::Searched { hits } => hits.first().map(|h| h.reference.clone()),
                    knockoff::Outcome::Failed { .. } => None,
                };
                found.push((r.query.clone(), best));
                Ok(())
            },
        )
        .unwrap();
    found.sort();
    let queries: Vec<&str> = found.iter().map(|(q, _)| q.as_str()).collect();
    assert_eq!(queries, [r"a\\xFF.jpg", r"a\xFE.jpg", r"a\xFF.jpg"]);
    // Each row's text leads back to its own file (what the HTML report shows beside the verdict).
    for (query, best) in &found {
        let best = best.as_deref().unwrap_or_else(|| panic!("{query}: no hit"));
        let photo = std::fs::read(dir.0.join(knockoff::walk::name_path(query))).unwrap();
        assert_eq!(photo, std::fs::read(common::testdata("refs").join(best)).unwrap(), "{query}");
    }
}

#[test]
fn text_files_and_hidden_files_are_skipped_and_counted_apart() {
    let dir = TempDir::new("skips");
    std::fs::copy(common::testdata("refs/coffee.jpg"), dir.join("coffee.jpg")).unwrap();
    std::fs::write(dir.join("README.md"), "# not a photo").unwrap();
    std::fs::write(dir.join("notes.csv"), "a,b").unwrap();
    std::fs::copy(common::testdata("refs/coffee.jpg"), dir.join(".thumb.jpg")).unwrap();
    let index = index_of_refs();
    let summary = Scanner::new(index.clone(), ScanOptions::default())
        .scan(&dir.0, &AtomicBool::new(false), |_| {}, |_| Ok(()))
        .unwrap();
    assert_eq!((summary.scanned, summary.failures, summary.skipped.len()), (1, 0, 3));
    let mut all = ScanOptions::default();
    all.walk = WalkOptions::all_files();
    let summary = Scanner::new(index.clone(), all).scan(&dir.0, &AtomicBool::new(false), |_| {}, |_| Ok(())).unwrap();
    assert_eq!((summary.scanned, summary.failures, summary.skipped.len()), (4, 2, 0));
}

/// An example binary built beside this test (`cargo test` builds the examples), or `None` when only this test
/// target was built.
fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.is_file().then_some(path)
}

#[test]
fn write_errors_of_the_examples_name_what_was_written() {
    let (Some(scan), Some(hash)) = (example("scan"), example("hash")) else {
        eprintln!("examples not built (run the whole `cargo test`): skipped");
        return;
    };
    // /dev/full takes the open and fails every write with "no space left on device".
    let out = Command::new(scan)
        .arg("--refs")
        .arg(common::testdata("index/refs-v2.idx"))
        .arg("--queries")
        .arg(common::testdata("listings"))
        .args(["-o", "/dev/full"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/dev/full: cannot write"), "{stderr}");
    // Not "cannot read": the report is what failed.
    assert!(!stderr.contains("cannot read"), "{stderr}");
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = Command::new(hash).arg(common::testdata("refs")).stdout(full).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
}

#[test]
fn a_pipe_named_on_the_command_line_fails_the_run_without_being_opened() {
    let (Some(scan), Some(hash)) = (example("scan"), example("hash")) else {
        eprintln!("examples not built (run the whole `cargo test`): skipped");
        return;
    };
    let dir = TempDir::new("named-pipe");
    let fifo = dir.join("listing.jpg");
    mkfifo(&fifo);
    // A pipe inside a folder is skipped; named on its own, the run fails (and never blocks on it).
    let out = within(20, move || Command::new(hash).arg(&fifo).output().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Counted as failed, as the exit status says, with a failure line as any file that cannot be hashed has.
    assert!(stderr.contains("1 failed, 0 skipped") && !stderr.contains("no photo found"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("named pipe") && stdout.contains(r#""error_kind":"not_regular_file""#), "{stdout}");
    let fifo = dir.join("listing.jpg");
    let out = within(20, move || {
        Command::new(scan).arg("--refs").arg(&fifo).arg("--queries").arg(common::testdata("listings")).output()
    })
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not a folder or a regular file"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------------------------
// Files and folders that cost time rather than memory: each must be dealt with in about a second (a hang, not a
// slow run, fails these).

#[test]
fn a_png_of_countless_dropped_chunks_decodes_at_once() {
    // A 64x64 photo whose image data is followed by 400,000 pairs of a private chunk (left out of the decoder's
    // view) and an empty IDAT (kept): each pair starts a new range of the view, and finding the range from the
    // first on every read took minutes (9.6 MB of file).
    let image = png(64, 64, 2, &[]);
    let iend = image.len() - 12;
    let mut crafted = image[..iend].to_vec();
    for _ in 0..400_000 {
        png_chunk(&mut crafted, b"prVt", &[]);
        png_chunk(&mut crafted, b"IDAT", &[]);
    }
    crafted.extend_from_slice(&image[iend..]);
    let photo = within(20, move || knockoff::decode_bytes(&crafted, &DecodeOptions::default()));
    let photo = photo.expect("a valid PNG");
    assert_eq!(photo.image.dimensions(), (64, 64));
}

/// The bytes of the JPEG scan that starts at `at` (its `FF DA` marker), up to the next marker that is not a restart.
fn jpeg_scan(jpeg: &[u8], at: usize) -> &[u8] {
    let header = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    let mut end = at + 2 + header;
    while end + 1 < jpeg.len() && !(jpeg[end] == 0xFF && jpeg[end + 1] != 0 && !(0xD0..=0xD7).contains(&jpeg[end + 1]))
    {
        end += 1;
    }
    &jpeg[at..end]
}

#[test]
fn a_jpeg_of_endless_scans_is_refused_at_once() {
    let jpeg = std::fs::read(common::testdata("large/collage-1600x1200-progressive.jpg")).unwrap();
    // Its shortest scan (a few KB) repeated before the end-of-image marker until the file has 150 scans: each scan
    // makes jpeg-decoder revisit every block of the image, so 30,000 of them took a minute.
    let starts: Vec<usize> = (0..jpeg.len() - 1).filter(|&i| jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA).collect();
    let shortest = starts.iter().map(|&at| jpeg_scan(&jpeg, at)).min_by_key(|s| s.len()).unwrap();
    let mut crafted = jpeg[..jpeg.len() - 2].to_vec();
    for _ in starts.len()..150 {
        crafted.extend_from_slice(shortest);
    }
    crafted.extend_from_slice(&[0xFF, 0xD9]);
    let crafted = std::sync::Arc::new(crafted);
    for full_size in [false, true] {
        let bytes = crafted.clone();
        let config = FingerprintConfig::default().with_full_size(full_size);
        let result = within(20, move || Fingerprinter::for_listings(config).fingerprint_bytes(&bytes).map(|_| ()));
        let err = result.expect_err("150 scans");
        assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err}");
        assert!(err.to_string().contains("150 scans"), "full size {full_size}: {err}");
    }
}

#[test]
fn a_deep_chain_of_folders_is_walked_at_once() {
    let dir = TempDir::new("deep");
    // 1,500 levels (3 KB of path): resolving each folder's whole path to tell whether it was seen took 35 seconds.
    let mut leaf = dir.join("top");
    for _ in 0..1500 {
        leaf.push("d");
    }
    std::fs::create_dir_all(&leaf).unwrap();
    std::fs::copy(common::testdata("refs/coffee.jpg"), leaf.join("coffee.jpg")).unwrap();
    let top = dir.join("top");
    let walk = within(15, move || knockoff::walk::walk([top], &WalkOptions::default()));
    assert_eq!(walk.files, vec![leaf.join("coffee.jpg")]);
    assert!(walk.failures.is_empty(), "{:?}", walk.failures);
}

#[test]
fn a_decoder_message_stays_short() {
    // A 222-byte TIFF declaring 65,535 samples a pixel: the decoder's message listed every sample's format (196,810
    // characters), and every report row carried it.
    let entries: [(u16, u16, u32); 9] = [
        (256, 4, 100),
        (257, 4, 100),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 2),
        (273, 4, 0),
        (277, 3, 65535),
        (278, 4, 100),
        (279, 4, 100),
    ];
    let data_at = 8 + 2 + 12 * entries.len() as u32 + 4;
    let mut tiff = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    tiff.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        let value = if tag == 273 { data_at } else { value };
        tiff.extend(tag.to_le_bytes());
        tiff.extend(kind.to_le_bytes());
        tiff.extend(1u32.to_le_bytes());
        match kind {
            3 => tiff.extend([(value as u16).to_le_bytes(), [0, 0]].concat()),
            _ => tiff.extend(value.to_le_bytes()),
        }
    }
    tiff.extend([0; 4]);
    tiff.extend([0; 100]);
    let err = knockoff::decode_bytes(&tiff, &DecodeOptions::default()).expect_err("65,535 samples a pixel");
    let text = err.to_string();
    assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{text}");
    assert!(text.len() < 500, "{} characters: {}", text.len(), &text[..200]);
}
