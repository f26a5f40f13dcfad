//! The fuzz targets' logic (`tests/fuzz_logic`, shared with the cargo-fuzz targets in `fuzz/`) on stable, for CI:
//! every seed from `testdata/`, every regression input kept in `testdata/fuzz/<target>/`, and a few thousand
//! deterministic mutations of the seeds (bit flips, byte overwrites with boundary values, truncation, duplicated and
//! deleted spans). Building cargo-fuzz and its instrumented targets costs more than CI has; the long runs are in
//! the README.

mod common;
mod fuzz_logic;

use std::path::PathBuf;

/// A small deterministic generator (xorshift64*): the same mutations every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `seed`, libFuzzer style.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if data.is_empty() {
            data.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(data.len());
        match rng.below(6) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = [0, 1, 0x7F, 0x80, 0xFF][rng.below(5)],
            2 => {
                // A 32-bit field set to a boundary value (lengths, dimensions, counts).
                let value: u32 = [0, 1, 0x7FFF_FFFF, 0x8000_0000, u32::MAX, 65_535, 65_536][rng.below(7)];
                for (k, b) in value.to_le_bytes().into_iter().enumerate() {
                    if let Some(slot) = data.get_mut(at + k) {
                        *slot = b;
                    }
                }
            }
            3 => data.truncate(at),
            4 => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                let span = data[at..end].to_vec();
                let to = rng.below(data.len());
                data.splice(to..to, span);
            }
            _ => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                data.drain(at..end);
            }
        }
    }
    data
}

/// Seeds: files under `testdata/<dirs>` up to `max_bytes`, and every kept regression input of `target`
/// (`testdata/fuzz/<target>/`).
fn seeds(target: &str, dirs: &[&str], max_bytes: u64) -> Vec<Vec<u8>> {
    let all = knockoff::walk::WalkOptions::all_files();
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let files = knockoff::walk::walk([common::testdata(dir)], &all).files;
        paths.extend(files.into_iter().filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() <= max_bytes)));
    }
    let regressions = common::testdata("fuzz").join(target);
    if regressions.is_dir() {
        paths.extend(knockoff::walk::walk([regressions], &all).files);
    }
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn run(target: fn(&[u8]), seeds: &[Vec<u8>], mutations: usize, seed: u64) {
    assert!(!seeds.is_empty(), "no seeds");
    for s in seeds {
        target(s);
    }
    let mut rng = Rng(seed);
    for _ in 0..mutations {
        let parent = &seeds[rng.below(seeds.len())];
        target(&mutate(parent, &mut rng));
    }
}

#[test]
fn decode_target_survives_seeds_and_mutations() {
    let seeds = seeds("decode", &["formats", "bad", "refs"], 150_000);
    run(fuzz_logic::decode, &seeds, 3000, 0x5EED_0001);
}

#[test]
fn index_target_survives_seeds_and_mutations() {
    let mut seeds = Vec::new();
    for (fixture, footer) in [
        ("index/refs-v2.idx", 16),
        ("index/refs-v3.idx", 16),
        ("index/refs-v4.idx", 16),
        ("index/refs-v5.idx", 8),
        ("index/refs-v6.idx", 8),
    ] {
        let idx = std::fs::read(common::testdata(fixture)).unwrap();
        seeds.push(idx[..idx.len() - footer].to_vec());
    }
    seeds.extend(self::seeds("index", &[], 0));
    run(fuzz_logic::index, &seeds, 3000, 0x5EED_0002);
    fuzz_logic::remove_index_scratch();
}

#[test]
fn scan_target_survives_seeds_and_mutations() {
    let seeds = seeds("scan", &["formats", "bad"], 60_000);
    run(fuzz_logic::scan, &seeds, 500, 0x5EED_0003);
    fuzz_logic::remove_scan_scratch();
}

/// Seeds for the worker target: an Arrow stream of two photos and garbage (mode byte 0), the same as lines (1).
#[cfg(feature = "arrow")]
fn worker_seeds() -> Vec<Vec<u8>> {
    use std::sync::Arc;

    use arrow_array::{BinaryArray, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use base64::Engine;

    let photos: Vec<(String, Vec<u8>)> = ["refs/rocket.jpg", "formats/chelsea-alpha.png", "bad/truncated.jpg"]
        .iter()
        .filter_map(|p| Some((p.to_string(), std::fs::read(common::testdata(p)).ok()?)))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, true),
        Field::new("content", DataType::Binary, true),
    ]));
    let paths = StringArray::from(photos.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>());
    let contents = BinaryArray::from(photos.iter().map(|(_, c)| c.as_slice()).collect::<Vec<_>>());
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(paths), Arc::new(contents)]).unwrap();
    let mut arrow = vec![0u8];
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut arrow, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    let mut lines = vec![1u8];
    for (path, content) in &photos {
        lines.extend_from_slice(path.as_bytes());
        lines.push(b'\t');
        lines.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(content).as_bytes());
        lines.push(b'\n');
    }
    let mut seeds = vec![arrow, lines];
    seeds.extend(self::seeds("worker", &[], 0));
    seeds
}

#[cfg(feature = "arrow")]
#[test]
fn worker_target_survives_seeds_and_mutations() {
    run(fuzz_logic::worker, &worker_seeds(), 6000, 0x5EED_0004);
}
