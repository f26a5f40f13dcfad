//! The visual-word shortlist for local features at catalog scale: time per listing to shortlist candidates from
//! 10,000, 100,000 and 1,000,000 references, and memory per reference. See benches/README.md.
//!
//! Synthetic references are drawn from real descriptors (those of every photo in `testdata/`): a synthetic
//! reference takes 500 real descriptors with their bits shuffled by one of 64 fixed permutations (its "family")
//! and a few bits flipped, with the real keypoints' orientations and levels. That keeps real descriptors' bit
//! statistics and clustering (so words are as unevenly used as in a real catalog) without planting near copies of
//! the listings' own descriptors in thousands of references, which no real catalog has. The real testdata
//! references are planted among them and the real listings are the queries, so the bench also prints how often
//! the true reference tops the shortlist. `KNOCKOFF_BENCH_SIZES=10000,100000` picks the sizes (default all three;
//! the 1M catalog takes about a minute and 5 GB to build).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use knockoff::features::{Descriptor, LocalFeatures};
use knockoff::index::WordIndex;
use knockoff::{FingerprintConfig, Fingerprinter, Keypoint};

#[path = "../tests/common/synthetic.rs"]
#[allow(dead_code)] // the bench uses only the generator
mod synthetic;
use synthetic::Rng;

const PER_REFERENCE: usize = 500;

fn features_of(dir: &Path, fingerprinter: &Fingerprinter) -> Vec<(String, LocalFeatures)> {
    let mut paths: Vec<_> = std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let local = fingerprinter.fingerprint_path(&p).ok()?.local?;
            Some((p.file_name()?.to_string_lossy().into_owned(), *local))
        })
        .collect()
}

/// 64 fixed random permutations of the 256 bit positions.
fn permutations() -> Vec<[u8; 256]> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..64)
        .map(|_| {
            let mut p: [u8; 256] = std::array::from_fn(|i| i as u8);
            for i in (1..256).rev() {
                p.swap(i, (rng.next() % (i as u64 + 1)) as usize);
            }
            p
        })
        .collect()
}

/// 64 keypoint layouts of 500 real keypoints each (positions, sizes, orientations, levels), which synthetic
/// references share: the placement check needs every reference's keypoints at hand, and a million references'
/// own would take 10 GB.
fn layouts(pool: &[(Descriptor, Keypoint)]) -> Vec<Vec<Keypoint>> {
    let mut rng = Rng(0x1a70_0575);
    (0..64).map(|_| (0..PER_REFERENCE).map(|_| pool[(rng.next() % pool.len() as u64) as usize].1).collect()).collect()
}

/// A synthetic reference: 500 real descriptors, shuffled by one permutation and a few bits flipped, on one of
/// the `layouts` (whose number it returns with it).
fn synthetic_reference(
    pool: &[(Descriptor, Keypoint)],
    permutations: &[[u8; 256]],
    layouts: &[Vec<Keypoint>],
    rng: &mut Rng,
) -> (LocalFeatures, u8) {
    let permutation = &permutations[(rng.next() % permutations.len() as u64) as usize];
    let layout = (rng.next() % layouts.len() as u64) as u8;
    let mut f = LocalFeatures::default();
    for kp in layouts[usize::from(layout)].iter().copied() {
        let (a, _) = pool[(rng.next() % pool.len() as u64) as usize];
        let mut d = [0u64; 4];
        for (bit, &to) in permutation.iter().enumerate() {
            let value = (a[bit / 64] >> (bit % 64)) & 1;
            d[usize::from(to / 64)] |= value << (to % 64);
        }
        for _ in 0..8 {
            let bit = (rng.next() % 256) as usize;
            d[bit / 64] ^= 1 << (bit % 64);
        }
        f.descriptors.push(d);
        f.keypoints.push(kp);
    }
    (f, layout)
}

fn benches(c: &mut Criterion) {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let references = Fingerprinter::for_references(FingerprintConfig::default());
    let listings = Fingerprinter::for_listings(FingerprintConfig::default());
    // As deep as a search shortlists.
    let depth = knockoff::SearchOptions::default().shortlist;
    let mut pool: Vec<(Descriptor, Keypoint)> = Vec::new();
    for dir in ["refs", "distractors", "large"] {
        for (_, f) in features_of(&testdata.join(dir), &references) {
            pool.extend(f.descriptors.iter().copied().zip(f.keypoints.iter().copied()));
        }
    }
    let permutations = permutations();
    let layouts = layouts(&pool);
    let real = features_of(&testdata.join("refs"), &references);
    let queries: Vec<(String, LocalFeatures)> = features_of(&testdata.join("listings"), &listings)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("unrelated"))
        .collect();
    assert!(!pool.is_empty() && !real.is_empty() && !queries.is_empty(), "testdata photos missing");
    let sizes: Vec<usize> = std::env::var("KNOCKOFF_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);

    let mut group = c.benchmark_group("shortlist");
    for &size in &sizes {
        let mut rng = Rng(0x5eed ^ size as u64);
        let start = Instant::now();
        // Train on a sample of the catalog as large as the index's own (an even sample of its descriptors).
        let sample_refs = (WordIndex::training_size(size * PER_REFERENCE) / PER_REFERENCE).clamp(1, size);
        let mut sample: Vec<Descriptor> = Vec::with_capacity(sample_refs * PER_REFERENCE);
        for _ in 0..sample_refs {
            sample.extend(synthetic_reference(&pool, &permutations, &layouts, &mut rng).0.descriptors);
        }
        let mut words = WordIndex::train_on_sample(&sample, size * PER_REFERENCE);
        drop(sample);
        let trained = start.elapsed();
        // The real references sit at evenly spread positions; everything else is synthetic.
        let stride = size / real.len();
        let mut planted = Vec::new();
        // Each reference's layout; u8::MAX for the planted real ones.
        let mut layout_of: Vec<u8> = Vec::with_capacity(size);
        let mut position = 0;
        while position < size {
            let chunk: Vec<Option<LocalFeatures>> = (position..(position + 10_000).min(size))
                .map(|p| match (p % stride == 0).then(|| real.get(p / stride)).flatten() {
                    Some((name, f)) => {
                        planted.push((name.clone(), p));
                        layout_of.push(u8::MAX);
                        Some(f.clone())
                    }
                    None => {
                        let (f, layout) = synthetic_reference(&pool, &permutations, &layouts, &mut rng);
                        layout_of.push(layout);
                        Some(f)
                    }
                })
                .collect();
            words.extend(chunk.iter().map(|f| f.as_ref()));
            position += chunk.len();
        }
        words.shrink_to_fit();
        eprintln!(
            "{size} references: vocabulary of {} words trained in {:.1} s, filed in {:.1} s; {} bytes per reference",
            words.words(),
            trained.as_secs_f64(),
            (start.elapsed() - trained).as_secs_f64(),
            words.memory_bytes() / size
        );
        let keypoints = |p: usize| match layout_of.get(p).copied()? {
            u8::MAX => planted.iter().position(|(_, at)| *at == p).map(|i| real[i].1.keypoints.as_slice()),
            layout => layouts.get(usize::from(layout)).map(Vec::as_slice),
        };
        // How often the listing's own reference is shortlisted (a copy's name starts with its reference's).
        let found = |placed: bool| {
            queries
                .iter()
                .filter(|(name, q)| {
                    let top =
                        if placed { words.shortlist_placed(q, depth, &keypoints) } else { words.shortlist(q, depth) };
                    planted.iter().any(|(r, p)| {
                        name.starts_with(r.trim_end_matches(".jpg").trim_end_matches(".png"))
                            && top.iter().any(|t| t.0 == *p)
                    })
                })
                .count()
        };
        eprintln!(
            "{size} references: testdata copies shortlisted in the top {depth}: {} of {} by votes, {} with the placement check",
            found(false),
            queries.len(),
            found(true)
        );
        for placed in [false, true] {
            let t = Instant::now();
            for (_, q) in &queries {
                black_box(if placed {
                    words.shortlist_placed(q, depth, &keypoints)
                } else {
                    words.shortlist(q, depth)
                });
            }
            eprintln!(
                "{size} references: {:.2} ms per listing {} (plain loop)",
                t.elapsed().as_secs_f64() * 1e3 / queries.len() as f64,
                if placed { "with the placement check" } else { "by votes" }
            );
        }
        let mut q = 0;
        group.bench_function(BenchmarkId::new("per_listing", size), |b| {
            b.iter(|| {
                q = (q + 1) % queries.len();
                words.shortlist(black_box(&queries[q].1), depth)
            })
        });
        group.bench_function(BenchmarkId::new("per_listing_placed", size), |b| {
            b.iter(|| {
                q = (q + 1) % queries.len();
                words.shortlist_placed(black_box(&queries[q].1), depth, &keypoints)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = retrieval;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(retrieval);
