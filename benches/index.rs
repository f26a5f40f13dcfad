//! Candidate search over 1,000,000 references (brute force vs multi-index hashing, same run), memory per
//! reference, and the time to open a saved index of that size; then the time to open an index with local
//! features (`KNOCKOFF_BENCH_OPEN_LOCAL` references, default 20,000), whose features stay in the file. See
//! benches/README.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use knockoff::{FingerprintConfig, Fingerprinter, PdqHashes, ReferenceIndex, SearchMethod};

#[path = "../tests/common/synthetic.rs"]
mod synthetic;
use synthetic::{Rng, fingerprint};

const REFERENCES: usize = 1_000_000;
const QUERIES: usize = 64;

fn benches(c: &mut Criterion) {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut index = ReferenceIndex::new(FingerprintConfig::hashes_only());
    let queries: Vec<PdqHashes> = (0..QUERIES).map(|_| fingerprint(rng.words(), &mut rng).pdq).collect();
    for i in 0..REFERENCES {
        // Every 15,625th reference is a near-duplicate (10 bits off) of a query: each query has one true copy.
        let words = if i % (REFERENCES / QUERIES) == 0 {
            let mut w: [u64; 4] = queries[i / (REFERENCES / QUERIES)].hash().words().try_into().unwrap_or([0; 4]);
            for bit in 0..10 {
                w[bit % 4] ^= 1 << (bit * 7);
            }
            w
        } else {
            rng.words()
        };
        index.add(format!("ref/{i}.jpg"), fingerprint(words, &mut rng), knockoff::NO_METADATA).unwrap();
    }
    let build = Instant::now();
    index.prepare();
    eprintln!("multi-index tables for {REFERENCES} references built in {:.2} s", build.elapsed().as_secs_f64());
    eprintln!(
        "memory: {} bytes per reference (fingerprint, path, hash array, multi-index tables)",
        index.memory_bytes() / REFERENCES
    );

    let mut group = c.benchmark_group("search_1m");
    let mut q = 0;
    let mut next_query = || {
        q = (q + 1) % QUERIES;
        &queries[q]
    };
    for (name, method) in [("brute_force", SearchMethod::BruteForce), ("multi_index", SearchMethod::MultiIndex)] {
        group.bench_function(BenchmarkId::new("radius_31", name), |b| {
            b.iter(|| index.within(black_box(next_query()), 31, method))
        });
    }
    for (name, method) in [("brute_force", SearchMethod::BruteForce), ("auto", SearchMethod::Auto)] {
        group.bench_function(BenchmarkId::new("top_10", name), |b| {
            b.iter(|| index.nearest(black_box(next_query()), 10, method))
        });
    }
    group.finish();

    let path = std::env::temp_dir().join(format!("knockoff-bench-{}.idx", std::process::id()));
    index.save(&path).expect("save");
    eprintln!(
        "index file: {} bytes for {REFERENCES} references",
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
    );
    drop(index);
    let mut group = c.benchmark_group("open_1m");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("open", |b| b.iter(|| ReferenceIndex::open(black_box(&path)).expect("open")));
    group.finish();
    let _ = std::fs::remove_file(&path);
    open_with_local_features(c);
}

/// An index with local features: every reference a testdata photo's fingerprint with random PDQ hash and
/// descriptors (its real keypoints, 500 of them), filed under a vocabulary trained on them, saved and opened.
fn open_with_local_features(c: &mut Criterion) {
    let size: usize =
        std::env::var("KNOCKOFF_BENCH_OPEN_LOCAL").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(20_000);
    let config = FingerprintConfig::default();
    let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/refs/coffee.jpg");
    let template = Fingerprinter::for_references(config).fingerprint_path(photo).expect("testdata photo");
    let mut rng = Rng(0x0DDB_1A5E_5BAD_5EED);
    let mut index = ReferenceIndex::new(config);
    for i in 0..size {
        let mut f = fingerprint(rng.words(), &mut rng);
        (f.width, f.height) = (template.width, template.height);
        let mut local = template.local.clone().expect("local features");
        for d in &mut local.descriptors {
            *d = rng.words();
        }
        f.local = Some(local);
        index.add(format!("ref/{i}.jpg"), f, knockoff::NO_METADATA).expect("add");
    }
    let build = Instant::now();
    index.prepare();
    let trained = build.elapsed().as_secs_f64();
    let path = std::env::temp_dir().join(format!("knockoff-bench-local-{}.idx", std::process::id()));
    index.save(&path).expect("save");
    let in_memory = index.memory_bytes() / size;
    drop(index);
    let opened = ReferenceIndex::open(&path).expect("open");
    eprintln!(
        "{size} references with local features: word index built in {trained:.1} s; file {} bytes; {} bytes per \
         reference in memory when built, {} when opened",
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
        in_memory,
        opened.memory_bytes() / size
    );
    drop(opened);
    let mut group = c.benchmark_group("open_local");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function(BenchmarkId::from_parameter(size), |b| {
        b.iter(|| ReferenceIndex::open(black_box(&path)).expect("open"))
    });
    group.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group! {
    name = index;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(index);
