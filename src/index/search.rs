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

fn distance(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    (a[0] ^ b[0]).count_ones() + (a[1] ^ b[1]).count_ones() + (a[2] ^ b[2]).count_ones() + (a[3] ^ b[3]).count_ones()
}

/// Smallest distance of `hash` to any query variant, and the transform: if variant `t` of the listing matches the
/// reference, the listing is the reference with `t` undone.
fn best(queries: &[[u64; 4]; 8], hash: &[u64; 4]) -> (u32, Dihedral) {
    let mut out = (u32::MAX, Dihedral::Original);
    for (q, t) in queries.iter().zip(Dihedral::ALL) {
        let d = distance(q, hash);
        if d < out.0 {
            out = (d, t.inverse());
        }
    }
    out
}

fn order(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    a.distance.cmp(&b.distance).then(a.position.cmp(&b.position))
}

/// Every hash within `radius` of a query variant, by brute force, sorted by distance then position.
pub(crate) fn brute_within(hashes: &[[u64; 4]], queries: &[[u64; 4]; 8], radius: u32) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = hashes
        .par_iter()
        .enumerate()
        .with_min_len(4096)
        .filter_map(|(position, h)| {
            let (distance, transform) = best(queries, h);
            (distance <= radius).then_some(Candidate { position, distance, transform })
        })
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
        .par_chunks(4096)
        .enumerate()
        .map(|(chunk, hs)| {
            let all = hs
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let (distance, transform) = best(queries, h);
                    Candidate { position: chunk * 4096 + i, distance, transform }
                })
                .collect();
            keep(all)
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
        let mut out: Vec<Candidate> = found
            .into_iter()
            .filter_map(|p| {
                let position = p as usize;
                let (distance, transform) = best(queries, &hashes[position]);
                (distance <= radius).then_some(Candidate { position, distance, transform })
            })
            .collect();
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
