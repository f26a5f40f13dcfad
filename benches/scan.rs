//! Scan throughput: 1600x1200 JPEG listings against 10,000 references, on 1 and on 2 threads, in the same run.
//! See benches/README.md.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, ScanOptions, Scanner};

const LISTINGS: usize = 32;
const REFERENCES: usize = 10_000;

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
    // The references: the real reference photos, repeated with perturbed hashes to reach 10,000.
    let (seed, _) =
        ReferenceIndex::build(format!("{testdata}/refs"), &Fingerprinter::new(FingerprintConfig::default()), |_| {});
    let mut index = ReferenceIndex::new(FingerprintConfig::default());
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..REFERENCES {
        let mut fp = seed.references()[i % seed.len()].fingerprint.clone();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let w = fp.pdq.dihedral[0].words().to_vec();
        fp.pdq.dihedral[0] = knockoff::Hash::from_words(
            knockoff::HashKind::Pdq,
            [w[0] ^ state, w[1], w[2] ^ state.rotate_left(17), w[3]],
        );
        index.add(format!("{i}.jpg"), fp, Vec::new());
    }
    let scanner = Scanner::new(&index, ScanOptions::default());

    let mut group = c.benchmark_group("scan_1600x1200_vs_10k_refs");
    group.throughput(Throughput::Elements(LISTINGS as u64)).sample_size(10).measurement_time(Duration::from_secs(15));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        group.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.iter(|| {
                pool.install(|| scanner.scan(&folder, &AtomicBool::new(false), |_| {}, |_| Ok(())).expect("scan"))
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&folder);
}

criterion_group!(scan, benches);
criterion_main!(scan);
