//! Local features: extraction on a 640 px photo, against imageproc's oriented FAST + BRIEF (the usual Rust
//! baseline) in the same run; verification of one pair (a copy and an unrelated photo). See benches/README.md.

use criterion::{Criterion, criterion_group, criterion_main};
use image::imageops;
use knockoff::features::{LocalConfig, VerifyConfig, extract, verify};
use knockoff::{DecodeOptions, decode_path};

fn benches(c: &mut Criterion) {
    let testdata = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    let load = |rel: &str| decode_path(format!("{testdata}/{rel}"), &DecodeOptions::default()).expect("decode").image;
    // A 640x480 photo: the 1600x1200 collage of the reference photos, downscaled.
    let photo = imageops::resize(&load("large/collage-1600x1200.jpg"), 640, 480, imageops::FilterType::Triangle);
    let config = LocalConfig::default();

    let mut group = c.benchmark_group("extract_640x480");
    group.bench_function("knockoff", |b| b.iter(|| extract(&photo, (640, 480), &config)));
    // The pyramid before small copies asked for 12 levels.
    let eight_levels = config.with_levels(8);
    group.bench_function("knockoff_8_levels", |b| b.iter(|| extract(&photo, (640, 480), &eight_levels)));
    let grey = imageops::grayscale(&photo);
    group.bench_function("imageproc_oriented_fast_brief", |b| {
        b.iter(|| {
            let corners = imageproc::corners::oriented_fast(&grey, None, 500, 16, Some(7));
            let points: Vec<_> = corners.iter().map(|c| c.corner.into()).collect();
            imageproc::binary_descriptors::brief::brief(&grey, &points, 256, None).map(|d| d.0.len())
        })
    });
    group.finish();

    // One pair: a reference and a 25% crop of it (verified), and the reference and an unrelated photo.
    let reference = load("refs/coffee.jpg");
    let listing = load("listings/coffee-crop25.jpg");
    let unrelated = load("listings/unrelated-camera.jpg");
    let features = |img: &image::RgbImage| extract(img, img.dimensions(), &config);
    let (r, l, u) = (features(&reference), features(&listing), features(&unrelated));
    let verify_config = VerifyConfig::default();
    let mut group = c.benchmark_group("verify_pair");
    group.bench_function("copy", |b| {
        b.iter(|| verify(&r, reference.dimensions(), &l, listing.dimensions(), &verify_config).map(|e| e.inliers))
    });
    group.bench_function("unrelated", |b| {
        b.iter(|| verify(&r, reference.dimensions(), &u, unrelated.dimensions(), &verify_config).map(|e| e.inliers))
    });
    group.finish();
}

criterion_group!(features, benches);
criterion_main!(features);
