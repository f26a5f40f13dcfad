//! Descriptor matching: brute-force Hamming distance with popcount, Lowe's ratio test and a cross-check.

use serde::{Deserialize, Serialize};

use super::descriptor::{Descriptor, mirrored};

/// How descriptors are matched.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MatchConfig {
    /// Largest Hamming distance (of 256) a match may have. Default 64.
    pub max_distance: u32,
    /// Lowe's ratio: the best distance must be under this share of the second best. Default 0.85.
    pub ratio: f32,
    /// Keep a match only if each descriptor is the other's nearest. Default true.
    pub cross_check: bool,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig { max_distance: 64, ratio: 0.85, cross_check: true }
    }
}

/// A tentative correspondence between a reference keypoint and a listing keypoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// Index of the reference keypoint.
    pub reference: u32,
    /// Index of the listing keypoint.
    pub listing: u32,
    /// Hamming distance of their descriptors.
    pub distance: u32,
}

/// Matches every listing descriptor to its nearest reference descriptor, keeping those that pass the ratio test
/// in both directions (and the cross-check if asked), so that the matches do not depend on which photo is the
/// reference. With `mirror`, the listing's descriptors are first turned into those of the
/// mirrored listing, which finds mirrored copies (the keypoint positions stay the listing's own).
///
/// Results are sorted by distance, best first.
pub fn match_descriptors(
    reference: &[Descriptor],
    listing: &[Descriptor],
    mirror: bool,
    config: &MatchConfig,
) -> Vec<Match> {
    if reference.is_empty() || listing.is_empty() {
        return Vec::new();
    }
    let queries: Vec<Descriptor> = if mirror { listing.iter().map(mirrored).collect() } else { listing.to_vec() };
    let mut best_for_listing = vec![(u32::MAX, u32::MAX, 0u32); queries.len()];
    let mut best_for_reference = vec![(u32::MAX, u32::MAX, 0u32); reference.len()];
    nearest(reference, &queries, &mut best_for_listing, &mut best_for_reference);
    let mut out: Vec<Match> = best_for_listing
        .iter()
        .enumerate()
        .filter_map(|(j, &(d1, d2, r))| {
            let distinct = |best: u32, second: u32| second == u32::MAX || (best as f32) < config.ratio * second as f32;
            let (rd1, rd2, rj) = best_for_reference[r as usize];
            let passes_ratio = distinct(d1, d2) && (rj != j as u32 || distinct(rd1, rd2));
            let mutual = !config.cross_check || rj == j as u32;
            (d1 <= config.max_distance && passes_ratio && mutual).then_some(Match {
                reference: r,
                listing: j as u32,
                distance: d1,
            })
        })
        .collect();
    out.sort_by_key(|m| (m.distance, m.listing));
    out
}

/// Fills, for each query, its best and second-best distances and its best reference; for each reference, its
/// best and second-best distances and best query. The hot loop of verification: compiled with `popcnt` where the processor has it
/// (the default x86-64 target does not assume it), plain otherwise.
fn nearest(
    reference: &[Descriptor],
    queries: &[Descriptor],
    best_for_query: &mut [(u32, u32, u32)],
    best_for_reference: &mut [(u32, u32, u32)],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the processor supports popcnt, checked just above.
        unsafe { nearest_popcnt(reference, queries, best_for_query, best_for_reference) };
        return;
    }
    nearest_plain(reference, queries, best_for_query, best_for_reference);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn nearest_popcnt(
    reference: &[Descriptor],
    queries: &[Descriptor],
    best_for_query: &mut [(u32, u32, u32)],
    best_for_reference: &mut [(u32, u32, u32)],
) {
    nearest_plain(reference, queries, best_for_query, best_for_reference);
}

#[inline(always)]
fn nearest_plain(
    reference: &[Descriptor],
    queries: &[Descriptor],
    best_for_query: &mut [(u32, u32, u32)],
    best_for_reference: &mut [(u32, u32, u32)],
) {
    for (j, q) in queries.iter().enumerate() {
        let (mut d1, mut d2, mut arg) = (u32::MAX, u32::MAX, 0u32);
        for (i, r) in reference.iter().enumerate() {
            let d = (q[0] ^ r[0]).count_ones()
                + (q[1] ^ r[1]).count_ones()
                + (q[2] ^ r[2]).count_ones()
                + (q[3] ^ r[3]).count_ones();
            if d < d1 {
                d2 = d1;
                d1 = d;
                arg = i as u32;
            } else if d < d2 {
                d2 = d;
            }
            let br = &mut best_for_reference[i];
            if d < br.0 {
                *br = (d, br.0, j as u32);
            } else if d < br.1 {
                br.1 = d;
            }
        }
        best_for_query[j] = (d1, d2, arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_descriptors(n: usize, seed: u64) -> Vec<Descriptor> {
        let mut s = seed;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        (0..n).map(|_| [next(), next(), next(), next()]).collect()
    }

    #[test]
    fn finds_planted_matches_and_rejects_random_ones() {
        let reference = random_descriptors(300, 1);
        let mut listing = random_descriptors(200, 2);
        // Plant 50 copies with 10 flipped bits.
        for k in 0..50 {
            let mut d = reference[k * 3];
            for bit in 0..10 {
                d[bit % 4] ^= 1 << ((k + bit * 7) % 64);
            }
            listing[k] = d;
        }
        let matches = match_descriptors(&reference, &listing, false, &MatchConfig::default());
        assert_eq!(matches.len(), 50, "{matches:?}");
        assert!(matches.iter().all(|m| m.reference == m.listing * 3));
        // The same listing mirrored matches through the swapped halves.
        let mirrored_listing: Vec<Descriptor> = listing.iter().map(mirrored).collect();
        assert_eq!(match_descriptors(&reference, &mirrored_listing, true, &MatchConfig::default()).len(), 50);
        assert!(match_descriptors(&reference, &[], false, &MatchConfig::default()).is_empty());
    }
}
