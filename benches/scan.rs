//! Scan throughput, all in the same run:
//! - 1600x1200 JPEG listings against 10,000 references (hashes only), on 1 and on 2 threads;
//! - the same listings against 1,000 references, hashes only and with local verification.
//!
//! See benches/README.md.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, ScanOptions, Scanner};

const LISTINGS: usize = 32;

/// Catalog of `n` references: the real reference photos, then copies of them made unrelated (hashes and
/// descriptors scrambled with a seeded generator), so that only the real ones match.
fn catalog(testdata: &str, config: FingerprintConfig, n: usize) -> ReferenceIndex {
    let (seed, _) = ReferenceIndex::build(format!("{testdata}/refs"), &Fingerprinter::for_references(config), |_| {});
    let mut index = ReferenceIndex::new(config);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..n {
        let mut fp = seed.references()[i % seed.len()].fingerprint.clone();
        if i >= seed.len() {
            let w = fp.pdq.dihedral[0].words().to_vec();
            let (a, b) = (next(), next());
            fp.pdq.dihedral[0] = knockoff::Hash::from_words(knockoff::HashKind::Pdq, [w[0] ^ a, w[1], w[2] ^ b, w[3]]);
            if let Some(local) = fp.local.as_mut() {
                for d in &mut local.descriptors {
                    *d = [next(), next(), next(), next()];
                }
            }
        }
        index.add(format!("{i}.jpg"), fp, knockoff::NO_METADATA).unwrap();
    }
    index.prepare();
    index
}

fn benches(c: &mut Criterion) {
    let testdata = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    // The listings: copies of the two 1600x1200 JPEGs.
    let folder = std::env::temp_dir().join(format!("knockoff-bench-scan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("temp folder");
    for i in 0..LISTINGS {
        let name = if i % 2 == 0 { "collage-1600x1200.jpg" } else { "collage-1600x1200-progressive.jpg" };
        std::fs::copy(format!("{testdata}/large/{name}"), folder.join(format!("{i:03}.jpg"))).expect("copy");
    }
    let scan = |scanner: &Scanner| scanner.scan(&folder, &AtomicBool::new(false), |_| {}, |_| Ok(())).expect("scan");

    let hashes = catalog(testdata, FingerprintConfig::hashes_only(), 10_000);
    let scanner = Scanner::new(hashes, ScanOptions::default());
    let mut group = c.benchmark_group("scan_1600x1200_vs_10k_refs");
    group.throughput(Throughput::Elements(LISTINGS as u64)).sample_size(10).measurement_time(Duration::from_secs(15));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        group.bench_function(BenchmarkId::new("threads", threads), |b| b.iter(|| pool.install(|| scan(&scanner))));
    }
    group.finish();
    drop(scanner);

    let mut group = c.benchmark_group("scan_1600x1200_vs_1k_refs");
    group.throughput(Throughput::Elements(LISTINGS as u64)).sample_size(10).measurement_time(Duration::from_secs(20));
    for (name, config) in [("hashes_only", FingerprintConfig::hashes_only()), ("local", FingerprintConfig::default())] {
        let index = catalog(testdata, config, 1_000);
        let scanner = Scanner::new(index, ScanOptions::default());
        group.bench_function(name, |b| b.iter(|| scan(&scanner)));
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&folder);
}

criterion_group!(scan, benches);
criterion_main!(scan);
