//! The descriptor-vote shortlist: which references share enough local descriptors with a listing to be worth
//! verifying, in catalogs too large to verify every reference.
//!
//! Every reference descriptor is filed under eight 20-bit pieces of itself (bits 0-159, in 20-bit chunks). A listing
//! descriptor (and its mirror image) looks up its own pieces; a reference collects one vote per listing
//! descriptor that shares any piece with one of its descriptors. Two descriptors of the same point differ in ~10-20%
//! of their bits, so one of their eight pieces is often identical; unrelated descriptors share a given piece once in
//! a million. Pieces shared by very many descriptors (flat patches, a catalog-wide watermark) carry no information
//! and are skipped.

use crate::features::descriptor::{Descriptor, mirrored};

const CHUNKS: usize = 8;
const CHUNK_BITS: usize = 20;
/// Buckets holding more descriptors than this are skipped at query time.
const MAX_BUCKET: usize = 256;

/// Sorted `(piece, reference position)` entries, one list per chunk.
#[derive(Debug, Default)]
pub(crate) struct VoteTable {
    chunks: Vec<Vec<(u32, u32)>>,
    references: usize,
}

fn piece(d: &Descriptor, chunk: usize) -> u32 {
    let start = chunk * CHUNK_BITS;
    let (word, bit) = (start / 64, start % 64);
    let low = d[word] >> bit;
    let value = if bit + CHUNK_BITS > 64 { low | (d[word + 1] << (64 - bit)) } else { low };
    (value & ((1 << CHUNK_BITS) - 1)) as u32
}

impl VoteTable {
    /// Files the descriptors of every reference (`None` for references without local features).
    pub(crate) fn build<'a>(references: impl Iterator<Item = Option<&'a [Descriptor]>>) -> VoteTable {
        let mut chunks: Vec<Vec<(u32, u32)>> = vec![Vec::new(); CHUNKS];
        let mut count = 0;
        for (position, descriptors) in references.enumerate() {
            count += 1;
            for d in descriptors.unwrap_or_default() {
                for (c, list) in chunks.iter_mut().enumerate() {
                    list.push((piece(d, c), position as u32));
                }
            }
        }
        for list in &mut chunks {
            list.sort_unstable();
            list.dedup();
        }
        VoteTable { chunks, references: count }
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.capacity() * 8).sum()
    }

    /// Up to `k` reference positions with the most votes from `listing` (at least `min_votes`), most first.
    pub(crate) fn shortlist(&self, listing: &[Descriptor], k: usize, min_votes: u32) -> Vec<usize> {
        let mut votes = vec![0u32; self.references];
        // The last listing descriptor that voted for each reference: one vote per descriptor and reference.
        let mut voted_by = vec![u32::MAX; self.references];
        let plain = listing.iter().copied();
        let mirror = listing.iter().map(mirrored);
        for (q, d) in plain.chain(mirror).enumerate() {
            for (c, list) in self.chunks.iter().enumerate() {
                let key = piece(&d, c);
                let start = list.partition_point(|e| e.0 < key);
                let end = start + list[start..].partition_point(|e| e.0 == key);
                if end - start > MAX_BUCKET {
                    continue;
                }
                for &(_, r) in &list[start..end] {
                    if voted_by[r as usize] != q as u32 {
                        voted_by[r as usize] = q as u32;
                        votes[r as usize] += 1;
                    }
                }
            }
        }
        let mut ranked: Vec<(u32, usize)> =
            votes.iter().enumerate().filter(|(_, v)| **v >= min_votes).map(|(i, &v)| (v, i)).collect();
        ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.into_iter().take(k).map(|(_, i)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_word_boundaries() {
        let d = [u64::MAX << 60, 0b1111, 0, 0];
        // Chunk 3 spans bits 60-79: four ones from word 0, four from word 1.
        assert_eq!(piece(&d, 3), 0xff);
        assert_eq!(piece(&d, 0), 0);
    }

    #[test]
    fn the_reference_sharing_descriptors_wins() {
        let mut s = 99u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let refs: Vec<Vec<Descriptor>> =
            (0..50).map(|_| (0..200).map(|_| [next(), next(), next(), next()]).collect()).collect();
        let table = VoteTable::build(refs.iter().map(|r| Some(r.as_slice())));
        // A listing with 40 of reference 17's descriptors, 25 random bits flipped in each (a typical true match).
        let listing: Vec<Descriptor> = refs[17][..40]
            .iter()
            .map(|d| {
                let mut d = *d;
                for _ in 0..25 {
                    let bit = (next() % 256) as usize;
                    d[bit / 64] ^= 1 << (bit % 64);
                }
                d
            })
            .collect();
        assert_eq!(table.shortlist(&listing, 3, 2).first(), Some(&17));
        let mirrored_listing: Vec<Descriptor> = listing.iter().map(mirrored).collect();
        assert_eq!(table.shortlist(&mirrored_listing, 3, 2).first(), Some(&17));
    }
}
