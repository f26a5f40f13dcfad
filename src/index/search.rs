//! Candidate search over the references' 256-bit PDQ hashes.
//!
//! Only each reference's plain hash is indexed (32 bytes); a query probes with all eight of its dihedral variants,
//! which finds mirrored and rotated copies as well as indexing the references' variants would, at an eighth of
//! the memory. The distance of a reference is the smallest over the query's variants.
//!
//! Two methods, which return identical results:
//! - [`SearchMethod::BruteForce`]: popcount over every hash, in parallel. Memory speed; exact for any radius.
//! - [`SearchMethod::MultiIndex`]: multi-index hashing (Norouzi et al.; as Meta's PDQ matcher does). The 256 bits
//!   are 16 segments of 16 bits, each with a table from segment value to references. A hash within distance `r`
//!   of the query has, by pigeonhole, some segment within `r / 16` of the query's, so probing every value within
//!   that of each query segment finds all of them; candidates are then checked in full. Sub-linear for the small
//!   radii that matter (31 is Meta's match distance); top-k grows the radius and falls back to brute force when
//!   the radius gets large.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::hash::{Dihedral, Hash, PdqHashes};

/// How to search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    /// Pick per query: multi-index hashing for radii up to 47, brute force beyond.
    #[default]
    Auto,
    /// Compare with every hash.
    BruteForce,
    /// Multi-index hashing.
    MultiIndex,
}

/// A reference found near a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Position of the reference in the index.
    pub position: usize,
    /// Smallest PDQ distance between the reference and any dihedral variant of the query.
    pub distance: u32,
    /// The listing looks like the reference with this transform applied.
    pub transform: Dihedral,
}

/// The largest radius for which multi-index probing beats a brute-force pass (137 probes a segment at 47; 697 at
/// 63, more than half the cost of scanning a million hashes).
const MULTI_INDEX_MAX_RADIUS: u32 = 47;
const SEGMENTS: usize = 16;

/// The 8 query variants, as plain words.
pub(crate) fn query_words(query: &PdqHashes) -> [[u64; 4]; 8] {
    query.dihedral.map(|h| words_of(&h))
}

pub(crate) fn words_of(hash: &Hash) -> [u64; 4] {
    let mut w = [0u64; 4];
    w.copy_from_slice(hash.words());
    w
}

/// For each hash, the smallest distance to any query variant and that variant's index in [`Dihedral::ALL`].
///
/// This is the hot loop of every search. The default x86-64 target has no `popcnt` instruction, and `count_ones`
/// without it is a dozen instructions, so on x86-64 the same code is also compiled with `popcnt` enabled and picked
/// at run time when the processor has it: 4.8x faster than the plain loop on one core (18.9 vs 90.6 ms per million
/// hashes, all 8 variants). LLVM's AVX2 auto-vectorisation of the same loop measured slower (40.9 ms), so there is
/// no AVX2 variant. The plain version stays for other processors and is what the tests compare it with.
fn best_of_each(queries: &[[u64; 4]; 8], hashes: &[[u64; 4]], out: &mut Vec<(u32, u8)>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the processor supports popcnt, checked just above.
        unsafe { best_of_each_popcnt(queries, hashes, out) };
        return;
    }
    best_of_each_plain(queries, hashes, out);
}

/// The kernel's one body, inlined into each variant so that each is compiled with its own instruction set. Plain
/// loops (no closures): a closure is a function of its own and would not inherit the target features.
#[inline(always)]
fn best_of_each_body(queries: &[[u64; 4]; 8], hashes: &[[u64; 4]], out: &mut Vec<(u32, u8)>) {
    out.clear();
    out.reserve(hashes.len());
    for h in hashes {
        let mut best = (u32::MAX, 0u8);
        for (i, q) in queries.iter().enumerate() {
            let d = (q[0] ^ h[0]).count_ones()
                + (q[1] ^ h[1]).count_ones()
                + (q[2] ^ h[2]).count_ones()
                + (q[3] ^ h[3]).count_ones();
            if d < best.0 {
                best = (d, i as u8);
            }
        }
        out.push(best);
    }
}

fn best_of_each_plain(queries: &[[u64; 4]; 8], hashes: &[[u64; 4]], out: &mut Vec<(u32, u8)>) {
    best_of_each_body(queries, hashes, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn best_of_each_popcnt(queries: &[[u64; 4]; 8], hashes: &[[u64; 4]], out: &mut Vec<(u32, u8)>) {
    best_of_each_body(queries, hashes, out);
}

/// A candidate from the best distance and variant index of the hash at `position`: if variant `t` of the listing
/// matches the reference, the listing is the reference with `t` undone.
fn candidate(position: usize, (distance, variant): (u32, u8)) -> Candidate {
    Candidate { position, distance, transform: Dihedral::ALL[variant as usize].inverse() }
}

fn order(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    a.distance.cmp(&b.distance).then(a.position.cmp(&b.position))
}

/// Hashes scanned per parallel task: big enough to amortise scheduling, small enough to stay in cache.
const CHUNK: usize = 8192;

/// Every hash within `radius` of a query variant, by brute force, sorted by distance then position.
pub(crate) fn brute_within(hashes: &[[u64; 4]], queries: &[[u64; 4]; 8], radius: u32) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = hashes
        .par_chunks(CHUNK)
        .enumerate()
        .map_init(Vec::new, |best, (chunk, hs)| {
            best_of_each(queries, hs, best);
            best.iter()
                .enumerate()
                .filter(|(_, b)| b.0 <= radius)
                .map(|(i, b)| candidate(chunk * CHUNK + i, *b))
                .collect::<Vec<_>>()
        })
        .flatten()
        .collect();
    out.sort_unstable_by(order);
    out
}

/// The `k` nearest hashes by brute force, sorted by distance then position.
pub(crate) fn brute_nearest(hashes: &[[u64; 4]], queries: &[[u64; 4]; 8], k: usize) -> Vec<Candidate> {
    if k == 0 {
        return Vec::new();
    }
    let keep = |mut v: Vec<Candidate>| {
        if v.len() > k {
            v.select_nth_unstable_by(k - 1, order);
            v.truncate(k);
        }
        v
    };
    let mut out = hashes
        .par_chunks(CHUNK)
        .enumerate()
        .map_init(Vec::new, |best, (chunk, hs)| {
            best_of_each(queries, hs, best);
            // Only hashes at or under the chunk's k-th smallest distance can be among its k nearest.
            let mut distances: Vec<u32> = best.iter().map(|b| b.0).collect();
            let cut = if distances.len() > k { *distances.select_nth_unstable(k - 1).1 } else { u32::MAX };
            let near = best
                .iter()
                .enumerate()
                .filter(|(_, b)| b.0 <= cut)
                .map(|(i, b)| candidate(chunk * CHUNK + i, *b))
                .collect();
            keep(near)
        })
        .reduce(Vec::new, |mut a, b| {
            a.extend(b);
            keep(a)
        });
    out.sort_unstable_by(order);
    out
}

/// Multi-index hashing tables: for each 16-bit segment, the positions of the hashes with each segment value, in
/// compressed-row form (an offsets array of 65,537 entries and the positions, 4 bytes each).
#[derive(Debug)]
pub(crate) struct MultiIndex {
    offsets: Vec<Vec<u32>>,
    positions: Vec<Vec<u32>>,
}

fn segment(words: &[u64; 4], s: usize) -> u16 {
    (words[s / 4] >> (16 * (s % 4))) as u16
}

impl MultiIndex {
    pub(crate) fn build(hashes: &[[u64; 4]]) -> Self {
        let (offsets, positions) = (0..SEGMENTS)
            .into_par_iter()
            .map(|s| {
                let mut counts = vec![0u32; 65_537];
                for h in hashes {
                    counts[segment(h, s) as usize + 1] += 1;
                }
                for i in 1..counts.len() {
                    counts[i] += counts[i - 1];
                }
                let mut next = counts.clone();
                let mut positions = vec![0u32; hashes.len()];
                for (p, h) in hashes.iter().enumerate() {
                    let slot = &mut next[segment(h, s) as usize];
                    positions[*slot as usize] = p as u32;
                    *slot += 1;
                }
                (counts, positions)
            })
            .unzip();
        MultiIndex { offsets, positions }
    }

    /// Bytes of memory the tables take.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.offsets.iter().chain(&self.positions).map(|v| v.len() * 4).sum()
    }

    /// Every hash within `radius` of a query variant, sorted by distance then position.
    pub(crate) fn within(&self, hashes: &[[u64; 4]], queries: &[[u64; 4]; 8], radius: u32) -> Vec<Candidate> {
        let sub_radius = radius / SEGMENTS as u32;
        let mut found: Vec<u32> = Vec::new();
        let mut probes = Vec::new();
        for q in queries {
            for s in 0..SEGMENTS {
                probes.clear();
                values_within(segment(q, s), sub_radius, &mut probes);
                let (offsets, positions) = (&self.offsets[s], &self.positions[s]);
                for &v in &probes {
                    let range = offsets[v as usize] as usize..offsets[v as usize + 1] as usize;
                    found.extend_from_slice(&positions[range]);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        let gathered: Vec<[u64; 4]> = found.iter().map(|&p| hashes[p as usize]).collect();
        let mut best = Vec::new();
        best_of_each(queries, &gathered, &mut best);
        let mut out: Vec<Candidate> =
            found.iter().zip(best).filter(|(_, b)| b.0 <= radius).map(|(&p, b)| candidate(p as usize, b)).collect();
        out.sort_unstable_by(order);
        out
    }
}

/// Every 16-bit value within Hamming distance `radius` of `value` (all of them from 16 up).
fn values_within(value: u16, radius: u32, out: &mut Vec<u16>) {
    fn flip(value: u16, from_bit: u32, left: u32, out: &mut Vec<u16>) {
        out.push(value);
        if left == 0 {
            return;
        }
        for bit in from_bit..16 {
            flip(value ^ (1 << bit), bit + 1, left - 1, out);
        }
    }
    flip(value, 0, radius.min(16), out);
}

pub(crate) fn use_multi_index(method: SearchMethod, radius: u32) -> bool {
    match method {
        SearchMethod::Auto => radius <= MULTI_INDEX_MAX_RADIUS,
        SearchMethod::BruteForce => false,
        SearchMethod::MultiIndex => true,
    }
}

/// The radii top-k search tries with multi-index hashing before falling back to brute force.
pub(crate) const GROWING_RADII: [u32; 3] = [15, 31, 47];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popcnt_kernel_equals_the_plain_one() {
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let queries: [[u64; 4]; 8] = std::array::from_fn(|_| [next(), next(), next(), next()]);
        let hashes: Vec<[u64; 4]> = (0..5000).map(|_| [next(), next(), next(), next()]).collect();
        let (mut plain, mut dispatched) = (Vec::new(), Vec::new());
        best_of_each_plain(&queries, &hashes, &mut plain);
        best_of_each(&queries, &hashes, &mut dispatched);
        assert_eq!(plain, dispatched);
    }

    #[test]
    fn values_within_counts_binomials() {
        let mut out = Vec::new();
        values_within(0xBEEF, 0, &mut out);
        assert_eq!(out, vec![0xBEEF]);
        out.clear();
        values_within(0xBEEF, 1, &mut out);
        assert_eq!(out.len(), 17);
        out.clear();
        values_within(0xBEEF, 2, &mut out);
        assert_eq!(out.len(), 1 + 16 + 120);
        out.sort_unstable();
        out.dedup();
        assert_eq!(out.len(), 137);
        assert!(out.iter().all(|v| (v ^ 0xBEEF).count_ones() <= 2));
    }
}
