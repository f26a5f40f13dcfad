//! Decoding, each hash, and fingerprints end to end, on the 1600x1200 JPEG in `testdata/large/`, with the usual
//! Rust baseline in the same run: `image` full decode + `image_hasher`'s DCT hash; a small listing's fingerprint and
//! verification with and without its enlarged levels; a copy pasted at a quarter of its size compared with and
//! without a closer look. See benches/README.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use image::imageops;
use image_hasher::HasherConfig;
use knockoff::hash::{ClassicHashers, pdq};
use knockoff::{
    ColourSignature, DecodeOptions, FingerprintConfig, Fingerprinter, Photo, Thresholds, compare_with, decode_bytes,
    decode_path, zoom,
};

const PHOTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/large/collage-1600x1200.jpg");
const SMALL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/small/coffee-512.jpg");
const SMALL_REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs/coffee.jpg");
const ROCKET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs/rocket.jpg");
const GRASS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/distractors/grass.jpg");

fn benches(c: &mut Criterion) {
    let bytes = std::fs::read(PHOTO).expect("testdata/large/collage-1600x1200.jpg");
    // Hashes and colour only (what issue #2's targets are about); local features are measured separately below.
    let fast = Fingerprinter::for_references(FingerprintConfig::hashes_only());
    let with_local = Fingerprinter::for_references(FingerprintConfig::default());
    let mut full_config = FingerprintConfig::hashes_only();
    full_config.full_size = true;
    let full = Fingerprinter::for_references(full_config);

    let mut group = c.benchmark_group("decode_1600x1200_jpeg");
    group.bench_function("full", |b| b.iter(|| decode_bytes(black_box(&bytes), &DecodeOptions::default())));
    group.bench_function("reduced_to_256", |b| b.iter(|| decode_bytes(black_box(&bytes), &fast.decode_options())));
    group.finish();

    let full_photo = decode_bytes(&bytes, &DecodeOptions::default()).expect("decode");
    let reduced = decode_bytes(&bytes, &fast.decode_options()).expect("decode");
    let working = image::imageops::thumbnail(&reduced.image, 256, 192);
    let (w, h) = (full_photo.image.width() as usize, full_photo.image.height() as usize);
    let mut group = c.benchmark_group("hash");
    group.bench_function("pdq_exact_1600x1200", |b| {
        b.iter(|| pdq::pdq_from_rgb(black_box(full_photo.image.as_raw()), w, h))
    });
    group.bench_function("pdq_resampled_256x192", |b| {
        b.iter(|| pdq::pdq_from_reduced_rgb(black_box(working.as_raw()), 256, 192, w, h))
    });
    let classic = ClassicHashers::new();
    group.bench_function("ahash_dhash_phash_256x192", |b| b.iter(|| classic.hash(black_box(&working))));
    group.bench_function("colour_256x192", |b| b.iter(|| ColourSignature::of(black_box(&working))));
    group.finish();

    let baseline = HasherConfig::new().preproc_dct().to_hasher();
    let mut group = c.benchmark_group("fingerprint_1600x1200_jpeg");
    group.bench_function("baseline_image_decode_plus_image_hasher_dct", |b| {
        b.iter(|| {
            let img = image::load_from_memory(black_box(&bytes)).expect("decode");
            baseline.hash_image(&img)
        })
    });
    group.bench_function("knockoff_fast", |b| b.iter(|| fast.fingerprint_bytes(black_box(&bytes))));
    group.bench_function("knockoff_full_size", |b| b.iter(|| full.fingerprint_bytes(black_box(&bytes))));
    group
        .bench_function("knockoff_with_local_features", |b| b.iter(|| with_local.fingerprint_bytes(black_box(&bytes))));
    group.finish();

    // A listing's fingerprint: local features on an 800-px image (the default, for small copies) against 640 px
    // (the references' size, the default before).
    let listing = Fingerprinter::for_listings(FingerprintConfig::default());
    let mut at_640 = FingerprintConfig::default();
    at_640.local = at_640.local.map(|l| l.with_listing_working_size(640));
    let listing_640 = Fingerprinter::for_listings(at_640);
    let mut group = c.benchmark_group("listing_1600x1200_jpeg");
    group.bench_function("local_features_at_800", |b| b.iter(|| listing.fingerprint_bytes(black_box(&bytes))));
    group.bench_function("local_features_at_640", |b| b.iter(|| listing_640.fingerprint_bytes(black_box(&bytes))));
    group.finish();

    // A small listing (512 px): with the enlarged levels above its own (the default, for small pasted copies)
    // against its own levels only; and what verifying it against its reference costs either way.
    let small = std::fs::read(SMALL).expect("testdata/small/coffee-512.jpg");
    let mut own_only = FingerprintConfig::default();
    own_only.local = own_only.local.map(|l| l.with_listing_upscale(1.0));
    let listing_own = Fingerprinter::for_listings(own_only);
    let reference = with_local.fingerprint_path(SMALL_REFERENCE).expect("testdata/refs/coffee.jpg");
    let (enlarged, own) = (
        listing.fingerprint_bytes(&small).expect("fingerprint"),
        listing_own.fingerprint_bytes(&small).expect("fingerprint"),
    );
    let mut group = c.benchmark_group("listing_512px_jpeg");
    group.bench_function("enlarged_levels", |b| b.iter(|| listing.fingerprint_bytes(black_box(&small))));
    group.bench_function("own_levels_only", |b| b.iter(|| listing_own.fingerprint_bytes(black_box(&small))));
    group.bench_function("verify_enlarged_levels", |b| b.iter(|| knockoff::compare(&reference, black_box(&enlarged))));
    group.bench_function("verify_own_levels_only", |b| b.iter(|| knockoff::compare(&reference, black_box(&own))));
    group.finish();

    // A copy pasted at a quarter of its size onto grass (the rocket, as in tests/zoom.rs): the comparison on
    // fingerprints alone, and with the closer look at the listing's pixels that finds it (`knockoff::zoom`).
    let rocket = decode_path(ROCKET, &DecodeOptions::default()).expect("testdata/refs/rocket.jpg").image;
    let (w, h) = rocket.dimensions();
    let grass = decode_path(GRASS, &DecodeOptions::default()).expect("testdata/distractors/grass.jpg").image;
    let mut pasted = imageops::resize(&grass, w, h, imageops::FilterType::Triangle);
    let small_copy = imageops::resize(&rocket, w / 4, h / 4, imageops::FilterType::Lanczos3);
    imageops::replace(&mut pasted, &small_copy, i64::from(w / 2), i64::from(h / 3));
    let pixels = Photo::from(pasted);
    let listing_fp = listing.fingerprint_photo(&pixels).expect("fingerprint");
    let rocket_fp = with_local.fingerprint_path(ROCKET).expect("testdata/refs/rocket.jpg");
    let thresholds = Thresholds::default();
    let mut group = c.benchmark_group("paste_quarter");
    group.bench_function("compare", |b| b.iter(|| compare_with(&rocket_fp, black_box(&listing_fp), &thresholds)));
    group.bench_function("compare_with_closer_look", |b| {
        b.iter(|| zoom::compare_photo(&rocket_fp, black_box(&listing_fp), &pixels, &listing, &thresholds))
    });
    group.finish();
}

criterion_group! {
    name = fingerprint;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(fingerprint);
