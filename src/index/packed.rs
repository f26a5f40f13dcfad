//! Posting lists packed for searching: one byte array for all words, each posting in 7 bytes rather than the 8 it
//! takes while references are filed, with each word's start and document frequency side by side in a head.
//!
//! A packed posting stores the gap to the previous posting's reference (15 bits) instead of the reference (23):
//! a word's postings are in reference order, and words hold about 60 postings at 100,000 references and 110 at a
//! million (the vocabulary grows with the catalog), so gaps average ~1,600 and ~9,000 references. A gap of 32,767 or
//! more takes one more 7-byte slot that names the reference outright: about 3% more slots at a million references.
//! That takes the postings from 4,000 to ~3,600 bytes per reference (500 descriptors), which is what brings the
//! word index under issue 9's 4 KB per reference at a million references.
//!
//! A search reads a word at two random places (its head, then its postings) rather than the four of a vector per
//! word (frequency, vector header, postings, and the next cache line of postings that a vector's own allocation
//! starts mid-way into), and the 24-byte vector per word is gone. The slot layout, little-endian in 56 bits: gap
//! (bits 0-14), then the posting's bits past its reference (keypoint number, signature, orientation and level; see
//! [`Posting::rest`]), so decoding is a load, two shifts and an add.

use super::inverted::Posting;
use super::prefetch;

/// Bytes per packed slot.
const SLOT: usize = 7;
/// The gap value that marks a slot naming its reference outright (bits 15-37) rather than a posting.
const JUMP: u64 = (1 << 15) - 1;
/// A reference position's bits.
const REFERENCE_MASK: u64 = (1 << 23) - 1;
/// The bytes of a list the search fetches ahead (16 cache lines: about 146 postings; lists average about 64).
const PREFETCH_BYTES: usize = 1024;

/// All words' posting lists, packed (see the module documentation).
#[derive(Clone, Debug)]
pub(crate) struct PackedLists {
    /// `heads[w]..heads[w + 1]` are word `w`'s slots; one more head than there are words.
    heads: Vec<Head>,
    /// The slots, then one padding byte, so that every slot can be read as 8 bytes.
    bytes: Vec<u8>,
    /// The words' document frequencies summed, and the number of words that hold a reference.
    frequencies: (u64, u64),
}

/// A packed word's first slot (40 bits) and number of distinct references holding it (24 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head(u64);

impl Head {
    fn new(start: usize, document_frequency: u32) -> Head {
        Head(start as u64 | u64::from(document_frequency) << 40)
    }

    fn start(self) -> usize {
        (self.0 & ((1 << 40) - 1)) as usize
    }

    fn document_frequency(self) -> u32 {
        (self.0 >> 40) as u32
    }
}

impl PackedLists {
    /// Number of words.
    pub(crate) fn words(&self) -> usize {
        self.heads.len() - 1
    }

    /// Word `w`'s postings, in reference order, and the number of distinct references among them.
    #[inline(always)]
    pub(crate) fn list(&self, w: usize) -> (List<'_>, u32) {
        let (head, next) = (self.heads[w], self.heads[w + 1]);
        let list = List { bytes: &self.bytes[head.start() * SLOT..next.start() * SLOT + 1], reference: 0 };
        (list, head.document_frequency())
    }

    /// Word `w`'s postings, decoded (to store them, compare them, or file more references).
    pub(crate) fn decoded(&self, w: usize) -> Vec<Posting> {
        self.list(w).0.map(|(reference, rest)| Posting::from_parts(reference, rest)).collect()
    }

    /// Starts fetching word `w`'s head into the cache.
    #[inline(always)]
    pub(crate) fn prefetch_head(&self, w: u32) {
        prefetch::one(self.heads.get(w as usize));
    }

    /// Starts fetching word `w`'s postings into the cache (the first 1 KB); its head should be there already.
    #[inline(always)]
    pub(crate) fn prefetch_list(&self, w: u32) {
        let (Some(head), Some(next)) = (self.heads.get(w as usize), self.heads.get(w as usize + 1)) else { return };
        let start = head.start() * SLOT;
        let end = (next.start() * SLOT).min(start + PREFETCH_BYTES);
        if let Some(bytes) = self.bytes.get(start..end) {
            prefetch::all(bytes);
        }
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.heads.capacity() * 8 + self.bytes.capacity()
    }

    /// The words' document frequencies summed, and the number of words that hold a reference (counted while
    /// packing).
    pub(crate) fn frequencies(&self) -> (u64, u64) {
        self.frequencies
    }
}

/// A word's packed postings, decoded one by one: each posting's reference and the rest of its bits (see
/// [`Posting::rest`]), which the search reads only for the few postings whose signature is near.
pub(crate) struct List<'a> {
    /// The word's slots and one byte more (the next word's first, or the padding).
    bytes: &'a [u8],
    /// The reference of the posting before.
    reference: u64,
}

impl Iterator for List<'_> {
    type Item = (u32, u64);

    #[inline(always)]
    fn next(&mut self) -> Option<(u32, u64)> {
        loop {
            let slot = self.bytes.first_chunk::<8>()?;
            // The eighth byte is the next slot's.
            let slot = u64::from_le_bytes(*slot) << 8 >> 8;
            self.bytes = &self.bytes[SLOT..];
            let gap = slot & JUMP;
            if gap == JUMP {
                self.reference = (slot >> 15) & REFERENCE_MASK;
                continue;
            }
            self.reference += gap;
            return Some((self.reference as u32, slot >> 15));
        }
    }
}

/// Packs posting lists one word after another, checking each (positions in reference order and in range).
pub(crate) struct Packer {
    heads: Vec<Head>,
    bytes: Vec<u8>,
    references: usize,
    frequencies: (u64, u64),
}

impl Packer {
    /// A packer for lists of references below `references`, with room for about `postings` postings.
    pub(crate) fn new(words: usize, postings: usize, references: usize) -> Packer {
        // Room for jumps too (about 3% more slots at a million references), so that the array is not copied to grow
        // in the usual case.
        let bytes = (postings + postings / 16 + 64) * SLOT + 1;
        Packer {
            heads: Vec::with_capacity(words + 1),
            bytes: Vec::with_capacity(bytes),
            references,
            frequencies: (0, 0),
        }
    }

    /// Packs the next word's postings, which must be in reference order with every position below the packer's
    /// `references`.
    pub(crate) fn push(&mut self, list: impl IntoIterator<Item = Posting>) -> Result<(), String> {
        let w = self.heads.len();
        let start = self.bytes.len() / SLOT;
        let mut df = 0u32;
        let mut last: Option<u32> = None;
        for p in list {
            let r = p.reference();
            if r as usize >= self.references || last.is_some_and(|l| r < l) {
                return Err(format!("word {w}: posting for reference {r} out of order or range"));
            }
            let gap = u64::from(r - last.unwrap_or(0));
            if last != Some(r) {
                df += 1;
            }
            let gap = if gap >= JUMP {
                self.put(JUMP | u64::from(r) << 15);
                0
            } else {
                gap
            };
            self.put(gap | p.rest() << 15);
            last = Some(r);
        }
        self.heads.push(Head::new(start, df));
        self.frequencies.0 += u64::from(df);
        self.frequencies.1 += u64::from(df > 0);
        Ok(())
    }

    fn put(&mut self, slot: u64) {
        if self.bytes.capacity() - self.bytes.len() < SLOT {
            // Grown by a 16th rather than doubled: the array can be gigabytes.
            self.bytes.reserve_exact(self.bytes.capacity() / 16 + 64 * SLOT);
        }
        self.bytes.extend_from_slice(&slot.to_le_bytes()[..SLOT]);
    }

    /// The packed lists.
    pub(crate) fn finish(mut self) -> PackedLists {
        self.heads.push(Head::new(self.bytes.len() / SLOT, 0));
        self.bytes.push(0);
        self.heads.shrink_to_fit();
        self.bytes.shrink_to_fit();
        PackedLists { heads: self.heads, bytes: self.bytes, frequencies: self.frequencies }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_come_back_as_packed_whatever_the_gaps() {
        let references = super::super::inverted::MAX_REFERENCES;
        let lists: Vec<Vec<Posting>> = vec![
            vec![],
            // Gaps from 0 to past the largest a slot holds, and the last position there is.
            [0u32, 0, 1, 32_765, 65_531, 65_532, 98_299, 4_000_000, 4_000_000, references as u32 - 1]
                .iter()
                .enumerate()
                .map(|(i, &r)| Posting::new(r, (i as u32 * 97) % 600, 0xdead_beef ^ i as u32))
                .collect(),
            vec![Posting::new(32_767, 511, u32::MAX), Posting::new(40_000, 0, 0)],
            vec![],
        ];
        let mut packer = Packer::new(lists.len(), 4, references);
        for list in &lists {
            packer.push(list.iter().copied()).expect("lists in order and range");
        }
        let packed = packer.finish();
        assert_eq!(packed.words(), lists.len());
        let mut frequencies = (0, 0);
        for (w, list) in lists.iter().enumerate() {
            assert_eq!(packed.decoded(w).as_slice(), list.as_slice(), "word {w}");
            let mut distinct: Vec<u32> = list.iter().map(|p| p.reference()).collect();
            distinct.dedup();
            assert_eq!(packed.list(w).1, distinct.len() as u32, "word {w}");
            frequencies = (frequencies.0 + distinct.len() as u64, frequencies.1 + u64::from(!distinct.is_empty()));
        }
        assert_eq!(packed.frequencies(), frequencies);
        // Jumps cost a slot each: three in the second list (gaps of 32,767, 3,901,701 and 4,388,606; 32,766 still
        // fits), one in the third (its first posting's gap from 0).
        assert_eq!(packed.bytes.len(), (10 + 3 + 2 + 1) * SLOT + 1);
    }

    #[test]
    fn a_packer_told_too_few_postings_grows_and_loses_none() {
        // 500 postings, every other gap too large for a slot (the last reference near the largest position),
        // packed with room for none.
        let list: Vec<Posting> =
            (0..500u32).map(|i| Posting::new(i / 2 * 33_000 + i % 2, i, i.wrapping_mul(2_654_435_761))).collect();
        let mut packer = Packer::new(1, 0, super::super::inverted::MAX_REFERENCES);
        packer.push(list.iter().copied()).expect("a list in order and range");
        let packed = packer.finish();
        assert_eq!(packed.decoded(0).as_slice(), list.as_slice());
        assert_eq!(packed.bytes.len(), (500 + 249) * SLOT + 1);
    }

    #[test]
    fn lists_out_of_order_or_range_are_refused() {
        let mut packer = Packer::new(1, 2, 100);
        assert!(packer.push([Posting::new(5, 0, 0), Posting::new(4, 0, 0)]).is_err());
        let mut packer = Packer::new(1, 1, 100);
        assert!(packer.push([Posting::new(100, 0, 0)]).is_err());
    }
}
