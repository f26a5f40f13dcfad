//! The visual-word shortlist for local features at catalog scale: time per listing to shortlist candidates from
//! 10,000, 100,000 and 1,000,000 references, and memory per reference. See benches/README.md.
//!
//! Synthetic references are drawn from real descriptors (those of every photo in `testdata/`): each one mixes
//! two real descriptors (a quarter of the bits from the second) and flips a few bits, with a real keypoint's
//! orientation and level, so that the words' posting lists are as uneven as a real catalog's. The real testdata
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

fn synthetic_reference(pool: &[(Descriptor, Keypoint)], rng: &mut Rng) -> LocalFeatures {
    let mut f = LocalFeatures::default();
    for _ in 0..PER_REFERENCE {
        let (a, kp) = pool[(rng.next() % pool.len() as u64) as usize];
        let (b, _) = pool[(rng.next() % pool.len() as u64) as usize];
        let mut d = a;
        for w in 0..4 {
            let mask = rng.next() & rng.next();
            d[w] = (a[w] & !mask) | (b[w] & mask);
        }
        for _ in 0..8 {
            let bit = (rng.next() % 256) as usize;
            d[bit / 64] ^= 1 << (bit % 64);
        }
        f.descriptors.push(d);
        f.keypoints.push(kp);
    }
    f
}

fn benches(c: &mut Criterion) {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let references = Fingerprinter::new(FingerprintConfig::default());
    let listings = Fingerprinter::new(FingerprintConfig::default().for_listings());
    let mut pool: Vec<(Descriptor, Keypoint)> = Vec::new();
    for dir in ["refs", "distractors", "large"] {
        for (_, f) in features_of(&testdata.join(dir), &references) {
            pool.extend(f.descriptors.iter().copied().zip(f.keypoints.iter().copied()));
        }
    }
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
        // Train on an even sample of the catalog (the index trains on at most ~4M descriptors anyway).
        let sample_refs = size.min(8_000);
        let mut sample: Vec<Descriptor> = Vec::with_capacity(sample_refs * PER_REFERENCE);
        for _ in 0..sample_refs {
            sample.extend(synthetic_reference(&pool, &mut rng).descriptors);
        }
        let mut words = WordIndex::train(&sample);
        drop(sample);
        let trained = start.elapsed();
        // The real references sit at evenly spread positions; everything else is synthetic.
        let stride = size / real.len();
        let mut planted = Vec::new();
        let mut position = 0;
        while position < size {
            let chunk: Vec<Option<LocalFeatures>> = (position..(position + 10_000).min(size))
                .map(|p| match (p % stride == 0).then(|| real.get(p / stride)).flatten() {
                    Some((name, f)) => {
                        planted.push((name.clone(), p));
                        Some(f.clone())
                    }
                    None => Some(synthetic_reference(&pool, &mut rng)),
                })
                .collect();
            words.extend(chunk.iter().map(|f| f.as_ref()));
            position += chunk.len();
        }
        eprintln!(
            "{size} references: vocabulary of {} words trained in {:.1} s, filed in {:.1} s; {} bytes per reference",
            words.words(),
            trained.as_secs_f64(),
            (start.elapsed() - trained).as_secs_f64(),
            words.memory_bytes() / size
        );
        // How often the listing's own reference tops the shortlist (a copy's name starts with its reference's).
        let found = queries
            .iter()
            .filter(|(name, q)| {
                let top = words.shortlist(q, 10);
                planted.iter().any(|(r, p)| {
                    name.starts_with(r.trim_end_matches(".jpg").trim_end_matches(".png"))
                        && top.iter().any(|t| t.0 == *p)
                })
            })
            .count();
        eprintln!("{size} references: {found} of {} testdata copies shortlisted in the top 10", queries.len());
        let mut q = 0;
        group.bench_function(BenchmarkId::new("per_listing", size), |b| {
            b.iter(|| {
                q = (q + 1) % queries.len();
                words.shortlist(black_box(&queries[q].1), 10)
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
