//! Candidate search over 1,000,000 references (brute force vs multi-index hashing, same run), memory per
//! reference, and the time to open a saved index of that size. See benches/README.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use knockoff::{FingerprintConfig, PdqHashes, ReferenceIndex, SearchMethod};

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
}

criterion_group! {
    name = index;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(index);
