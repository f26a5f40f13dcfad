//! The inverted file over visual words: which references hold each word, so that a listing finds the references
//! worth verifying by the words it shares with them, in time that grows with the words' posting lists, not with
//! the catalog.
//!
//! Fine words (about four catalog descriptors each) and three checks make it work for copies that fill only part
//! of a listing (a crop, a collage tile, a product pasted onto another photo), where most of the listing's
//! descriptors belong to something else:
//! - **Hamming embedding** (Jégou, Douze and Schmid, 2008): each posting keeps 24 bits of its descriptor (those
//!   on which the word's members differ most), and a listing descriptor votes for it only when those bits nearly
//!   agree (at most 7 of 24 differ).
//! - **Weak geometric consistency** (same paper): each posting keeps its keypoint's orientation step and pyramid
//!   level. A true copy turns and scales all its keypoints alike, so its votes pile up in one bin of orientation
//!   difference and one of level difference, while chance votes from the rest of the listing spread out. A
//!   reference scores the votes in its best bins.
//! - **Where the votes land** (when the caller has the references' keypoints at hand, as
//!   [`ReferenceIndex`](crate::ReferenceIndex) does): each posting also names its keypoint, so the best few
//!   hundred references' votes are correspondences, and a copy's agree on one placement of the reference in the
//!   listing. Texture like the listing's background (stone, grass, brick: the catalog holds plenty) turns and
//!   scales alike too, but its matches scatter. This is what lets the search afford three words per listing
//!   descriptor (multiple assignment through [`Vocabulary::words_of_each`]): a copy shown small or compressed hard
//!   differs in a tenth to a fifth of its bits, and its descriptors land in a neighbouring word about as often as
//!   in their own.
//!
//! Votes are weighted by the word's inverse document frequency (squared, as TF-IDF's dot product does), and a
//! mirrored listing is searched with its descriptors' mirror images (the pattern is mirror-closed), so mirrored
//! copies are found without extracting twice.

use std::borrow::Cow;

use rayon::prelude::*;

use super::packed::{PackedLists, Packer};
use super::vocabulary::{Probe, SIGNATURE_BITS as SIGNATURE_LEN, Vocabulary, WordSearch};
use crate::features::descriptor::{Descriptor, mirrored};
use crate::features::{Keypoint, LocalFeatures};

/// Orientation steps a posting records (11.25° each), as descriptors are steered.
const ANGLE_STEPS: u32 = 32;
/// Pyramid levels a posting can record (0-7); deeper levels are clamped.
const LEVELS: u32 = 8;
/// Pyramid levels a listing's keypoints are told apart by in the turn and scale check (0-15; deeper ones are
/// clamped): more than a posting records, since a small listing's enlarged levels come above its own.
const LISTING_LEVELS: u32 = 16;
/// Bins of level difference, listing minus reference.
const LEVEL_BINS: usize = (LISTING_LEVELS + LEVELS - 1) as usize;
/// Bits of Hamming embedding per posting.
const SIGNATURE_BITS: u32 = SIGNATURE_LEN as u32;

/// One reference descriptor filed under its word, in 64 bits: the reference's position (23 bits) and the keypoint's
/// number in it (9 bits), then 24 signature bits with the keypoint's orientation step (5 bits) and level (3 bits)
/// above them (stored little-endian; packed for searching in 7 bytes, see [`PackedLists`]). The keypoint's number
/// lets the shortlist check where the votes land (see [`spatial_score`]); keypoints past the 511th share number
/// 511, which the check skips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Posting(u64);

/// Most references a [`WordIndex`] files: positions are 23 bits. Larger catalogs are sharded.
pub const MAX_REFERENCES: usize = (1 << 23) - 1;

/// The keypoint number that stands for "511 or later": not used by the spatial check.
const UNNAMED_KEYPOINT: u32 = 511;
/// Bits of a posting's keypoint number, of its orientation step.
const KEYPOINT_BITS: u32 = UNNAMED_KEYPOINT.count_ones();
const ANGLE_BITS: u32 = ANGLE_STEPS.trailing_zeros();

impl Posting {
    pub(crate) fn new(reference: u32, keypoint: u32, packed: u32) -> Posting {
        let low = reference & ((1 << 23) - 1) | keypoint.min(UNNAMED_KEYPOINT) << 23;
        Posting(u64::from(low) | u64::from(packed) << 32)
    }

    pub(crate) fn reference(self) -> u32 {
        (self.0 & ((1 << 23) - 1)) as u32
    }

    /// The same posting for the reference at `position` (below 2^23).
    fn at_position(self, position: u32) -> Posting {
        Posting::new(position, self.keypoint(), self.packed())
    }

    fn keypoint(self) -> u32 {
        Posting::rest_keypoint(self.rest())
    }

    fn packed(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Its 41 bits past the reference: the keypoint's number (bits 0-8), then signature (9-32), orientation step
    /// (33-37) and level (38-40). What [`PackedLists`] keeps beside a gap, and what the search reads.
    pub(crate) fn rest(self) -> u64 {
        self.0 >> 23
    }

    /// The 32 bits [`Posting::new`] takes after the keypoint's number: `signature` (below 2^24), then the orientation
    /// step (below 32) and the level (below 8).
    fn fields(signature: u32, angle: u32, level: u32) -> u32 {
        signature | angle << SIGNATURE_BITS | level << (SIGNATURE_BITS + ANGLE_BITS)
    }

    /// The keypoint's number in a posting's [`Posting::rest`].
    #[inline(always)]
    fn rest_keypoint(rest: u64) -> u32 {
        (rest & u64::from(UNNAMED_KEYPOINT)) as u32
    }

    /// The signature in a posting's [`Posting::rest`].
    #[inline(always)]
    fn rest_signature(rest: u64) -> u32 {
        (rest >> KEYPOINT_BITS) as u32 & ((1 << SIGNATURE_BITS) - 1)
    }

    /// The orientation step in a posting's [`Posting::rest`].
    #[inline(always)]
    fn rest_angle(rest: u64) -> u32 {
        (rest >> (KEYPOINT_BITS + SIGNATURE_BITS)) as u32 % ANGLE_STEPS
    }

    /// The level in a posting's [`Posting::rest`].
    #[inline(always)]
    fn rest_level(rest: u64) -> u32 {
        (rest >> (KEYPOINT_BITS + SIGNATURE_BITS + ANGLE_BITS)) as u32 % LEVELS
    }

    /// The posting for `reference` (below 2^23) with `rest` (41 bits) past it.
    pub(crate) fn from_parts(reference: u32, rest: u64) -> Posting {
        Posting(u64::from(reference & ((1 << 23) - 1)) | rest << 23)
    }

    /// The stored form (any 8 bytes are a valid posting; the reference position is checked against the index).
    pub(crate) fn to_bytes(self) -> [u8; 8] {
        self.0.to_le_bytes()
    }

    pub(crate) fn from_bytes(bytes: [u8; 8]) -> Posting {
        Posting(u64::from_le_bytes(bytes))
    }
}

/// How the shortlist is searched. The values were chosen on the catalog-scale benchmark (5,099 references,
/// 1,800 copies under hard edits; the true reference among the best 10).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct QueryConfig {
    /// Which words are searched for each listing descriptor.
    pub(crate) words: WordSearch,
    /// Largest signature distance (of 24 bits) at which a posting gets a vote. 6 since the signature bits are
    /// those a word's siblings split on: on the catalog benchmark 7 matched the same copies at 5,099 references
    /// (two more at 1,000 of 1,800) with a shortlist 1.2-1.3x slower at 100,000 (more chance votes get through).
    pub(crate) max_signature_distance: u32,
    /// Smallest score (in votes of a typical word) a reference needs to be shortlisted: one vote that agrees with
    /// the others' turn and scale (and placement, when checked). On the catalog benchmark, in these units, the
    /// previous fixed unit had asked 3.9 votes at 100 references, 1.4 at 1,000 and 0.85 at 5,099; one vote at
    /// every size left 3 of 1,800 copies unverified at 100 references instead of 10 (top-1 97.5% from 96.2%), the
    /// same as before at 1,000 and 5,099.
    pub(crate) min_score: f32,
    /// How many of the references with the most votes get the turn and scale check. A small copy's few votes rank
    /// low among the chance votes of references that merely share texture with the listing: on the catalog
    /// benchmark (5,099 references), checking the best 2,000 left 19 of 1,800 copies unverified, the best 4,000 13.
    pub(crate) consistent_candidates: usize,
    /// How many of the best references by turn and scale get the spatial check, when their keypoints are at hand.
    pub(crate) spatial_candidates: usize,
}

impl QueryConfig {
    /// Votes only: the nearest word of each descriptor. Four words found the true reference among the best 10 for
    /// 85% of the copies rather than 83%, at three times the time.
    pub(crate) fn votes() -> QueryConfig {
        QueryConfig {
            words: WordSearch { probes: 1, beam: 1, margin: 8 },
            max_signature_distance: 6,
            min_score: 1.0,
            consistent_candidates: 4000,
            spatial_candidates: 0,
        }
    }

    /// With the spatial check, which sees through the extra words' chance votes: three words per descriptor, and
    /// the best 400 references by turn and scale checked. The true reference among the best 10: 87% with one word
    /// and 200 checked, 89% with two and 200, 90% with two and 400, 91% with four and 1,000 (twice the time).
    /// Searched 20 deep (the search's default since verification got 3x cheaper), two words lost 1.06% of the
    /// copies that verification finds (19 of 1,800), three 0.72% (13), for 7% more scan time.
    ///
    /// The three words come from two branches followed a level, within 4 bits of the nearest word. On the catalog
    /// benchmark (5,099 references, 1,800 copies, and the same copies mirrored) that shortlisted as many copies
    /// among the best 10 as following every branch within 8 bits (up to three): 96.9% either way, and 96.6% of
    /// the mirrored ones against 96.7%; the shortlist took 0.81x the time at 100,000 references
    /// (`benches/README.md`). One branch lost a point (95.8%); searching the mirrored descriptors in one word lost
    /// 2.4 points on the mirrored copies, and one mirror-invariant word for a descriptor and its mirror image
    /// (0.69x the time) 0.7 points and 7 more copies that verification finds.
    pub(crate) fn placed() -> QueryConfig {
        QueryConfig {
            words: WordSearch { probes: 3, beam: 2, margin: 4 },
            spatial_candidates: 400,
            ..QueryConfig::votes()
        }
    }
}

/// Postings per word, with each word's document frequency.
#[derive(Clone, Debug)]
pub(crate) struct InvertedFile {
    lists: Lists,
    /// References filed so far (positions `0..references`).
    references: usize,
    /// The sum of the words' document frequencies, and how many words hold a reference: their ratio is the
    /// document frequency of a typical word, which sets the unit of the shortlist's scores.
    frequencies: (u64, u64),
}

/// The posting lists: growing (a vector per word) while references are filed, packed (see [`PackedLists`]) for
/// searching.
#[derive(Clone, Debug)]
enum Lists {
    Growing { lists: Vec<Vec<Posting>>, document_frequency: Vec<u32> },
    Packed(PackedLists),
}

/// Two files are equal when they hold the same postings for the same references, packed or not.
impl PartialEq for InvertedFile {
    fn eq(&self, other: &Self) -> bool {
        self.references == other.references
            && self.words() == other.words()
            && (0..self.words()).all(|w| self.list(w) == other.list(w))
    }
}

/// A listing descriptor's vote for a reference.
#[derive(Clone, Copy)]
struct Vote {
    reference: u32,
    /// The listing keypoint that voted, and the reference keypoint it met (its number; 511: unnamed).
    listing: u32,
    keypoint: u16,
    /// From the mirrored pass.
    mirror: bool,
    angle_bin: u8,
    level_bin: u8,
    weight: f32,
}

impl InvertedFile {
    /// An empty file for `vocabulary`.
    pub(crate) fn new(vocabulary: &Vocabulary) -> InvertedFile {
        let words = vocabulary.words as usize;
        let lists = Lists::Growing { lists: vec![Vec::new(); words], document_frequency: vec![0; words] };
        InvertedFile { lists, references: 0, frequencies: (0, 0) }
    }

    /// A packed file for `references` references (at most [`MAX_REFERENCES`]).
    pub(crate) fn packed(lists: PackedLists, references: usize) -> Result<InvertedFile, String> {
        if references > MAX_REFERENCES {
            return Err(format!("{references} references"));
        }
        let frequencies = lists.frequencies();
        Ok(InvertedFile { lists: Lists::Packed(lists), references, frequencies })
    }

    /// Number of words.
    fn words(&self) -> usize {
        match &self.lists {
            Lists::Growing { lists, .. } => lists.len(),
            Lists::Packed(packed) => packed.words(),
        }
    }

    /// Word `w`'s postings, in reference order.
    pub(crate) fn list(&self, w: usize) -> Cow<'_, [Posting]> {
        match &self.lists {
            Lists::Growing { lists, .. } => Cow::Borrowed(&lists[w]),
            Lists::Packed(packed) => Cow::Owned(packed.decoded(w)),
        }
    }

    /// Packs the lists for searching (see [`Lists`]).
    fn pack(&mut self) {
        if let Lists::Growing { lists, .. } = &self.lists {
            let mut packer = Packer::new(lists.len(), lists.iter().map(Vec::len).sum(), self.references);
            for list in lists {
                // Filed in order and range: the check cannot fail.
                let packed = packer.push(list.iter().copied());
                debug_assert!(packed.is_ok(), "{packed:?}");
            }
            self.lists = Lists::Packed(packer.finish());
        }
    }

    /// The postings of the references that `position` keeps, at the positions it gives them (in the same order:
    /// a reference kept after another keeps its place after it), packed; `references` is the count kept. What
    /// removing a reference or splitting a catalog into shards files, without a descriptor read again.
    fn remap(&self, references: usize, position: impl Fn(u32) -> Option<u32>) -> InvertedFile {
        let mut packer = Packer::new(self.words(), 0, references);
        for w in 0..self.words() {
            let list = self.list(w);
            let kept = list.iter().filter_map(|p| position(p.reference()).map(|r| p.at_position(r)));
            // `position` keeps the order and maps into range: the check cannot fail.
            let packed = packer.push(kept);
            debug_assert!(packed.is_ok(), "{packed:?}");
        }
        let lists = packer.finish();
        let frequencies = lists.frequencies();
        InvertedFile { lists: Lists::Packed(lists), references, frequencies }
    }

    /// The file with the references at the positions in `refiled` filed anew from their words (as [`file`] gives
    /// them, one per keypoint), every other posting kept where it is: one pass over the lists, as [`Self::remap`].
    fn refile(&self, refiled: &[(u32, Vec<(u32, u32)>)]) -> InvertedFile {
        let mut replaced = vec![false; self.references];
        for &(r, _) in refiled {
            if let Some(slot) = replaced.get_mut(r as usize) {
                *slot = true;
            }
        }
        // The new postings by word, each word's in reference order and a reference's in keypoint order.
        let mut added: Vec<(u32, Posting)> = refiled
            .iter()
            .filter(|(r, _)| (*r as usize) < self.references.min(MAX_REFERENCES))
            .flat_map(|(r, words)| {
                words.iter().enumerate().map(|(k, &(word, packed))| (word, Posting::new(*r, k as u32, packed)))
            })
            .collect();
        added.sort_by_key(|&(word, p)| (word, p.reference()));
        let mut packer = Packer::new(self.words(), 0, self.references);
        let (mut next, mut merged) = (0, Vec::new());
        for w in 0..self.words() {
            let list = self.list(w);
            let end = next + added[next..].partition_point(|&(word, _)| word as usize == w);
            let mut new = added[next..end].iter().map(|&(_, p)| p).peekable();
            next = end;
            merged.clear();
            for &p in list.iter().filter(|p| !replaced[p.reference() as usize]) {
                while let Some(n) = new.next_if(|n| n.reference() < p.reference()) {
                    merged.push(n);
                }
                merged.push(p);
            }
            merged.extend(new);
            // Both sides in reference order, in range, and no reference on both: the check cannot fail.
            let packed = packer.push(merged.iter().copied());
            debug_assert!(packed.is_ok(), "{packed:?}");
        }
        let lists = packer.finish();
        let frequencies = lists.frequencies();
        InvertedFile { lists: Lists::Packed(lists), references: self.references, frequencies }
    }

    /// Unpacks the lists to file more references.
    fn grow(&mut self) -> (&mut Vec<Vec<Posting>>, &mut Vec<u32>) {
        if let Lists::Packed(packed) = &self.lists {
            let (lists, document_frequency) =
                (0..packed.words()).map(|w| (packed.decoded(w), packed.list(w).1)).unzip();
            self.lists = Lists::Growing { lists, document_frequency };
        }
        match &mut self.lists {
            Lists::Growing { lists, document_frequency } => (lists, document_frequency),
            Lists::Packed(_) => unreachable!("unpacked above"),
        }
    }

    /// Files one more reference (the next position) with the existing vocabulary: adding to an index never
    /// retrains.
    pub(crate) fn add(&mut self, vocabulary: &Vocabulary, features: Option<&LocalFeatures>) {
        let words = features.map_or_else(Vec::new, |f| file(vocabulary, f));
        self.push(&words);
    }

    /// Files the next reference. Beyond [`MAX_REFERENCES`] a reference is counted but not filed (the index that
    /// owns this file refuses to grow that far).
    fn push(&mut self, words: &[(u32, u32)]) {
        let reference = self.references as u32;
        if self.references < MAX_REFERENCES && !words.is_empty() {
            let mut frequencies = self.frequencies;
            let (lists, document_frequency) = self.grow();
            for (keypoint, &(word, packed)) in words.iter().enumerate() {
                let list = &mut lists[word as usize];
                if list.last().is_none_or(|p| p.reference() != reference) {
                    document_frequency[word as usize] += 1;
                    frequencies.0 += 1;
                    frequencies.1 += u64::from(document_frequency[word as usize] == 1);
                }
                list.push(Posting::new(reference, keypoint as u32, packed));
            }
            self.frequencies = frequencies;
        }
        self.references += 1;
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        match &self.lists {
            Lists::Growing { lists, document_frequency } => {
                lists.iter().map(|l| l.capacity() * 8 + 24).sum::<usize>() + document_frequency.len() * 4
            }
            Lists::Packed(packed) => packed.memory_bytes(),
        }
    }

    /// Up to `k` reference positions most likely to hold a copy of (part of) the listing, best first, with their
    /// scores.
    pub(crate) fn shortlist<'a>(
        &self,
        vocabulary: &Vocabulary,
        listing: &LocalFeatures,
        k: usize,
        config: &QueryConfig,
        keypoints: Option<&dyn Fn(usize) -> Option<Cow<'a, [Keypoint]>>>,
    ) -> Vec<(usize, f32)> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the processor supports popcnt, checked just above.
            return unsafe { self.shortlist_popcnt(vocabulary, listing, k, config, keypoints) };
        }
        self.shortlist_plain(vocabulary, listing, k, config, keypoints)
    }

    /// [`InvertedFile::shortlist`] with the `popcnt` instruction, which the default x86-64 target does not assume:
    /// every posting's signature distance is a popcount, a dozen instructions without it. (It first reached the
    /// vote loop when the search body left the thread-local's closure: the 7.55 -> 5.79 ms once quoted for this
    /// build, by votes at 100,000 references, was measured while the loop still counted bits the long way.)
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn shortlist_popcnt<'a>(
        &self,
        vocabulary: &Vocabulary,
        listing: &LocalFeatures,
        k: usize,
        config: &QueryConfig,
        keypoints: Option<&dyn Fn(usize) -> Option<Cow<'a, [Keypoint]>>>,
    ) -> Vec<(usize, f32)> {
        self.shortlist_plain(vocabulary, listing, k, config, keypoints)
    }

    #[inline(always)]
    fn shortlist_plain<'a>(
        &self,
        vocabulary: &Vocabulary,
        listing: &LocalFeatures,
        k: usize,
        config: &QueryConfig,
        keypoints: Option<&dyn Fn(usize) -> Option<Cow<'a, [Keypoint]>>>,
    ) -> Vec<(usize, f32)> {
        let n = self.references.max(1) as f32;
        // Votes are in units of a typical word's (one held by as many references as the words hold on average):
        // scores read as "about this many well-matched descriptors" whatever the catalog size, and `min_score`
        // means the same in a catalog of a hundred as in one of a million. (The vocabulary grows with the catalog,
        // so a typical word is held by a handful of references at any size: a fixed unit, that of a word held by
        // one reference in a hundred, made a typical vote weigh 0.5 at 100 references and 2.4 at 5,099, and the
        // shortlist asked four such votes of a small catalog's references and less than one of a large one's.)
        let typical = (self.frequencies.0 as f32 / self.frequencies.1.max(1) as f32).max(1.0);
        let unit = (n / typical).max(2.0).ln().powi(2);
        // A word held by a quarter of the catalog or more says little and costs the most: skipped.
        let stop = (self.references / 4).max(64) as u32;
        let signature_weights: [f32; SIGNATURE_LEN + 1] = std::array::from_fn(|h| signature_weight(h as u32));
        // The buffers are taken out of the thread-local for the search, so that its body is compiled here (with
        // `popcnt` when `shortlist_popcnt` calls) rather than in a closure of its own.
        let mut scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        let Scratch { tally, touched, votes, lookups, descriptors, probes } = &mut scratch;
        tally.resize(self.references, Tally::default());
        // Every word to read, listing descriptor by descriptor (plain, then mirrored), nearest word first: the
        // order votes are counted in. Listed first so that the loop below can fetch the words' postings ahead.
        descriptors.clear();
        descriptors.extend(listing.descriptors.iter().copied());
        descriptors.extend(listing.descriptors.iter().map(mirrored));
        lookups.clear();
        let n_listing = listing.descriptors.len();
        vocabulary.words_of_each(descriptors, config.words, probes, |slot, words| {
            let Some(kp) = listing.keypoints.get(slot % n_listing.max(1)) else { return };
            let mut angle = angle_step(kp.angle);
            if slot >= n_listing {
                angle = (ANGLE_STEPS / 2 + ANGLE_STEPS - angle) % ANGLE_STEPS;
            }
            let level = u32::from(kp.level).min(LISTING_LEVELS - 1);
            lookups.extend(words.iter().map(|&word| Lookup { word, slot: slot as u32, angle, level }));
        });
        // Each word's postings sit somewhere in hundreds of megabytes: a cache miss for its head, its signature
        // set's number, the set's bits and its first postings. Fetching them a few words ahead overlaps those
        // misses with the work on the words before; each fetch needs the one before it (the postings' place is in
        // the head, the bits' in the set's number), so they go out at three distances.
        for (i, lookup) in lookups.iter().enumerate() {
            if let Some(ahead) = lookups.get(i + HEAD_AHEAD) {
                self.prefetch_head(ahead.word);
                vocabulary.prefetch_signature_set(ahead.word);
            }
            if let Some(ahead) = lookups.get(i + BITS_AHEAD) {
                vocabulary.prefetch_signature(ahead.word);
            }
            if let Some(ahead) = lookups.get(i + LIST_AHEAD) {
                self.prefetch_list(ahead.word);
            }
            let w = lookup.word as usize;
            let df = match &self.lists {
                Lists::Growing { document_frequency, .. } => document_frequency[w],
                Lists::Packed(packed) => packed.list(w).1,
            };
            if df == 0 || df > stop {
                continue;
            }
            let idf = (n / df as f32).ln().max(0.0);
            let voter = Voter {
                signature_weights: &signature_weights,
                signature: vocabulary.signature(lookup.word, &descriptors[lookup.slot as usize]),
                max_distance: config.max_signature_distance,
                tag: lookup.slot + 1,
                weight: idf * idf / unit,
                listing: lookup.slot % n_listing.max(1) as u32,
                mirror: lookup.slot as usize >= n_listing,
                angle: lookup.angle,
                level: lookup.level,
            };
            // Two plain loops over one inlined method: voting through a closure that `for_each` called was 1.3x
            // slower (benches/README.md, 2026-11-30).
            match &self.lists {
                Lists::Growing { lists, .. } => {
                    for p in &lists[w] {
                        voter.vote(p.reference(), p.rest(), tally, touched, votes);
                    }
                }
                Lists::Packed(packed) => {
                    for (reference, rest) in packed.list(w).0 {
                        voter.vote(reference, rest, tally, touched, votes);
                    }
                }
            }
        }
        // The references with the most votes get the geometric check: their votes' turn and scale must agree.
        // Many of them: a small copy's votes are few beside the chance votes a large reference collects, and
        // only the check tells them apart (checking the best 40 rather than 2,000 lost a tenth of the copies; see
        // `QueryConfig::consistent_candidates`).
        let mut ranked: Vec<(f32, u32)> = touched.iter().map(|&r| (tally[r as usize].raw, r)).collect();
        let keep = config.consistent_candidates.max(k).min(ranked.len());
        if keep < ranked.len() {
            ranked.select_nth_unstable_by(keep, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            ranked.truncate(keep);
        }
        let mut histograms = vec![Histograms::default(); ranked.len()];
        for (slot, &(_, r)) in ranked.iter().enumerate() {
            // Mark the shortlisted references (negative raw scores cannot occur otherwise).
            tally[r as usize].raw = -(slot as f32) - 1.0;
        }
        for v in votes.iter() {
            let mark = tally[v.reference as usize].raw;
            if mark < 0.0 {
                histograms[(-mark - 1.0) as usize].add(v);
            }
        }
        let mut scored: Vec<(usize, f32)> = ranked
            .iter()
            .zip(&histograms)
            .map(|(&(_, r), h)| (r as usize, h.consistent_score()))
            .filter(|&(_, s)| s >= config.min_score)
            .collect();
        scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if let Some(keypoints) = keypoints {
            // Where the votes land: the best candidates' votes are correspondences, and a copy's agree on one
            // placement of the reference in the listing, where similar texture's votes scatter.
            scored.truncate(config.spatial_candidates.max(k));
            for &r in touched.iter() {
                tally[r as usize].last = 0;
            }
            for (slot, &(r, _)) in scored.iter().enumerate() {
                tally[r].last = slot as u32 + 1;
            }
            let mut groups: Vec<Vec<Vote>> = vec![Vec::new(); scored.len()];
            for v in votes.iter() {
                let slot = tally[v.reference as usize].last;
                if slot > 0 {
                    groups[slot as usize - 1].push(*v);
                }
            }
            // Only the best `k` placements are kept, so a candidate (or a seed) whose votes weigh less than the
            // k-th best placement so far cannot be among them: it is not checked, and its score is left under that
            // bar (the shortlist is the same as when every candidate is checked in full). Candidates come best by
            // turn and scale first, so the bar rises early; this also spares reading their keypoints, which an
            // opened index reads from its file.
            let mut best_k: Vec<f32> = Vec::with_capacity(k + 1);
            for (entry, group) in scored.iter_mut().zip(&groups) {
                // `best_k` holds at most `k` placements, best first: once full, its last is the k-th best.
                let bar = match best_k.last() {
                    Some(&kth) if best_k.len() == k => kth.max(config.min_score),
                    _ => config.min_score,
                };
                let total: f32 = group.iter().map(|v| v.weight).sum();
                entry.1 = if above(total, bar) {
                    keypoints(entry.0).map_or(0.0, |r| spatial_score(group, &listing.keypoints, &r, bar))
                } else {
                    0.0
                };
                if best_k.len() < k || best_k.last().is_some_and(|&kth| entry.1 > kth) {
                    let at = best_k.partition_point(|&s: &f32| s >= entry.1);
                    best_k.insert(at, entry.1);
                    best_k.truncate(k);
                }
            }
            scored.retain(|&(_, s)| s >= config.min_score);
            scored.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        scored.truncate(k);
        for &r in touched.iter() {
            tally[r as usize] = Tally::default();
        }
        touched.clear();
        votes.clear();
        SCRATCH.with(|s| *s.borrow_mut() = scratch);
        scored
    }

    /// Starts fetching word `w`'s head into the cache (see [`InvertedFile::shortlist`]).
    #[inline(always)]
    fn prefetch_head(&self, w: u32) {
        if let Lists::Packed(packed) = &self.lists {
            packed.prefetch_head(w);
        }
    }

    /// Starts fetching word `w`'s postings into the cache; its head should be there already.
    #[inline(always)]
    fn prefetch_list(&self, w: u32) {
        if let Lists::Packed(packed) = &self.lists {
            packed.prefetch_list(w);
        }
    }
}

/// One listing descriptor's lookup of one word, voting for the references it meets there.
struct Voter<'a> {
    /// [`signature_weight`] of each distance: a vote's `exp` was 2.7% of the shortlist's time.
    signature_weights: &'a [f32; SIGNATURE_LEN + 1],
    /// The descriptor's signature bits in the word.
    signature: u32,
    max_distance: u32,
    /// Which listing descriptor votes: one vote per descriptor and reference (the first, from its nearest word).
    tag: u32,
    /// The word's weight.
    weight: f32,
    /// The listing keypoint, whether mirrored, its orientation step and level.
    listing: u32,
    mirror: bool,
    angle: u32,
    level: u32,
}

impl Voter<'_> {
    /// Counts the vote of a posting (its reference and [`Posting::rest`]) if its signature is near and this
    /// descriptor has not voted for the reference yet.
    #[inline(always)]
    fn vote(&self, reference: u32, rest: u64, tally: &mut [Tally], touched: &mut Vec<u32>, votes: &mut Vec<Vote>) {
        let h = (Posting::rest_signature(rest) ^ self.signature).count_ones();
        let r = reference as usize;
        if h > self.max_distance || tally[r].last == self.tag {
            return;
        }
        let t = &mut tally[r];
        t.last = self.tag;
        if t.raw == 0.0 {
            touched.push(r as u32);
        }
        let weight = self.weight * self.signature_weights.get(h as usize).copied().unwrap_or(0.0);
        t.raw += weight;
        votes.push(Vote {
            reference: r as u32,
            listing: self.listing,
            keypoint: Posting::rest_keypoint(rest) as u16,
            mirror: self.mirror,
            angle_bin: ((self.angle + ANGLE_STEPS - Posting::rest_angle(rest)) % ANGLE_STEPS) as u8,
            level_bin: (self.level + LEVELS - 1 - Posting::rest_level(rest)) as u8,
            weight,
        });
    }
}

/// How many words ahead the shortlist fetches a word's head and the number of its set of signature positions.
const HEAD_AHEAD: usize = 32;
/// How many words ahead it fetches the signature positions (by then the set's number is in the cache: asking for
/// both at once made every fetch of the positions wait for the number, 3.4% of the shortlist's time at 100,000
/// references).
const BITS_AHEAD: usize = 16;
/// How many words ahead it fetches a word's postings (by then its head is in the cache).
const LIST_AHEAD: usize = 8;

/// Per-thread buffers for [`InvertedFile::shortlist`], kept between listings: a catalog-sized array is cheap to
/// reuse and dear to allocate and zero for every listing.
#[derive(Default)]
struct Scratch {
    /// Each reference's votes so far, side by side with the last listing descriptor that voted for it: the vote
    /// loop reads both for every posting that passes, at a random place in a catalog-sized array (one cache miss
    /// rather than two).
    tally: Vec<Tally>,
    /// References with a vote, to reset.
    touched: Vec<u32>,
    votes: Vec<Vote>,
    /// The words to read, in order.
    lookups: Vec<Lookup>,
    /// The listing's descriptors, then their mirror images.
    descriptors: Vec<Descriptor>,
    probes: Vec<Probe>,
}

/// A reference's entry in [`Scratch::tally`].
#[derive(Clone, Copy, Default)]
struct Tally {
    /// The tag of the last listing descriptor that voted for it (later: its place in the shortlist).
    last: u32,
    /// Its summed vote weight (0 when untouched; later, negative: its place among the best by votes).
    raw: f32,
}

/// A word to read for one listing descriptor.
#[derive(Clone, Copy)]
struct Lookup {
    word: u32,
    /// The descriptor's place in [`Scratch::descriptors`] (past the listing's count: mirrored).
    slot: u32,
    /// Its keypoint's orientation step (mirrored for a mirrored descriptor) and level.
    angle: u32,
    level: u32,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// A shortlisted reference's votes by orientation difference and level difference, plain and mirrored.
#[derive(Clone, Default)]
struct Histograms {
    angles: [[f32; ANGLE_STEPS as usize]; 2],
    levels: [[f32; LEVEL_BINS]; 2],
}

impl Histograms {
    fn add(&mut self, v: &Vote) {
        let pass = usize::from(v.mirror);
        self.angles[pass][usize::from(v.angle_bin)] += v.weight;
        self.levels[pass][usize::from(v.level_bin)] += v.weight;
    }

    /// The votes that agree with the most common turn and scale, in the better pass (plain or mirrored).
    /// Neighbouring bins count too, since orientation and level are quantised; both the turn and the scale must
    /// agree, so the smaller of the two peaks counts (weak geometric consistency).
    fn consistent_score(&self) -> f32 {
        let mut best = 0f32;
        for pass in 0..2 {
            let (angles, levels) = (&self.angles[pass], &self.levels[pass]);
            // Each bin with its neighbours, the turn's around the circle and the level's with none past the ends.
            let mut around = [0f32; ANGLE_STEPS as usize + 2];
            around[1..=angles.len()].copy_from_slice(angles);
            (around[0], around[angles.len() + 1]) = (angles[angles.len() - 1], angles[0]);
            let mut padded = [0f32; LEVEL_BINS + 2];
            padded[1..=levels.len()].copy_from_slice(levels);
            best = best.max(peak(&around).min(peak(&padded)));
        }
        best
    }
}

/// The largest sum of three neighbouring bins of `padded` (0 when none is positive). A histogram's consistent
/// score is two of these for each of the thousands of references checked: kept in eight lanes, the running maximum
/// is not one chain of dependent steps, and the compiler can take the lanes side by side (9.8% of the shortlist's
/// time at 100,000 references had gone to one such chain per histogram). Sums in the same order as a plain
/// `a + b + c`, so the scores are the same to the bit.
#[inline(always)]
fn peak(padded: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    for (i, w) in padded.windows(3).enumerate() {
        let lane = &mut lanes[i % 8];
        *lane = lane.max(w[0] + w[1] + w[2]);
    }
    lanes.iter().fold(0f32, |m, &x| m.max(x))
}

/// The weight of the largest set of `votes` that agree on one placement of the reference in the listing: for each
/// of the heaviest votes as a seed, the similarity its two keypoints imply (turn and scale from their orientations
/// and sizes, shift from their positions), and the votes whose reference keypoint it carries to its listing
/// keypoint, turned and scaled alike. The tolerance grows with the distance from the seed, since one keypoint's
/// orientation and size fix the transform only roughly. Mirrored votes are checked in the mirrored listing.
///
/// Only a weight of at least `bar` is wanted: a seed whose possible votes weigh less is not tried, so a result
/// under `bar` may be under the true weight too (one at or over it is exact).
fn spatial_score(votes: &[Vote], listing: &[Keypoint], reference: &[Keypoint], bar: f32) -> f32 {
    use std::f32::consts::{PI, TAU};
    /// Most seeds tried per pass.
    const SEEDS: usize = 32;
    struct Pair {
        r: (f32, f32),
        l: (f32, f32),
        turn: f32,
        log_scale: f32,
        size: f32,
        weight: f32,
    }
    let mut best = 0f32;
    for mirror in [false, true] {
        let mut pairs: Vec<Pair> = votes
            .iter()
            .filter(|v| v.mirror == mirror && u32::from(v.keypoint) != UNNAMED_KEYPOINT)
            .filter_map(|v| {
                let r = reference.get(usize::from(v.keypoint))?;
                let l = listing.get(v.listing as usize)?;
                let (x, angle) = if mirror { (-l.x, std::f32::consts::PI - l.angle) } else { (l.x, l.angle) };
                (r.size > 0.0 && l.size > 0.0).then(|| Pair {
                    r: (r.x, r.y),
                    l: (x, l.y),
                    // In [-pi, pi), so that two turns differ by less than two pi.
                    turn: (angle - r.angle + PI).rem_euclid(TAU) - PI,
                    log_scale: (l.size / r.size).ln(),
                    size: l.size,
                    weight: v.weight,
                })
            })
            .collect();
        if pairs.iter().map(|p| p.weight).sum::<f32>() <= best {
            continue;
        }
        pairs.sort_unstable_by(|a, b| b.weight.total_cmp(&a.weight));
        // Most pairs turn another way than a given seed: their turn's bucket (a byte each, side by side) rules them
        // out before their 32-byte record is read. A bucket test only ever lets through more than the exact test
        // below, which still decides.
        let buckets: Vec<u8> = pairs.iter().map(|p| turn_bucket(p.turn)).collect();
        let mut bucket_weights = [0f32; TURN_BUCKETS as usize];
        for (p, &b) in pairs.iter().zip(&buckets) {
            bucket_weights[usize::from(b)] += p.weight;
        }
        let mut candidates = vec![0u32; pairs.len()];
        for seed in pairs.iter().take(SEEDS) {
            // The pairs in the seed's near buckets, in order, gathered without a branch per pair; a seed whose near
            // buckets weigh less than what is wanted or found cannot do better.
            let near = near_buckets(turn_bucket(seed.turn));
            let within: f32 =
                bucket_weights.iter().enumerate().filter(|&(b, _)| near >> b & 1 == 1).map(|(_, &w)| w).sum();
            if !above(within, best.max(bar)) {
                continue;
            }
            let scale = seed.log_scale.exp();
            let (sin, cos) = seed.turn.sin_cos();
            let mut n = 0;
            for (i, &bucket) in buckets.iter().enumerate() {
                candidates[n] = i as u32;
                n += (near >> bucket & 1) as usize;
            }
            let mut sum = 0f32;
            // Plain arithmetic in this loop (32 seeds x every pair): no `rem_euclid` or `hypot`, which are library
            // calls.
            for p in candidates[..n].iter().filter_map(|&i| pairs.get(i as usize)) {
                let turn = p.turn - seed.turn;
                let turn = if turn > PI {
                    turn - TAU
                } else if turn < -PI {
                    turn + TAU
                } else {
                    turn
                };
                if turn.abs() > PLACEMENT_TURN || (p.log_scale - seed.log_scale).abs() > 0.45 {
                    continue;
                }
                let (dx, dy) = (p.r.0 - seed.r.0, p.r.1 - seed.r.1);
                let (px, py) = (seed.l.0 + scale * (cos * dx - sin * dy), seed.l.1 + scale * (sin * dx + cos * dy));
                let (mx, my) = (px - p.l.0, py - p.l.1);
                let tolerance = 0.3 * scale * (dx * dx + dy * dy).sqrt() + 0.5 * p.size;
                if mx * mx + my * my <= tolerance * tolerance {
                    sum += p.weight;
                }
            }
            best = best.max(sum);
        }
    }
    best
}

/// Whether votes weighing `bound` in all could reach `bar`. Summed in another order, the same votes may weigh
/// a few units in the last place more: the slack keeps a pruned candidate or seed from being one that reaches it.
fn above(bound: f32, bar: f32) -> bool {
    bound * 1.001 >= bar
}

/// The largest turn (radians) between a seed of [`spatial_score`] and a vote pair it counts.
const PLACEMENT_TURN: f32 = 0.4;
/// Turn buckets of [`spatial_score`] around the circle (a bit each in a `u32` mask).
const TURN_BUCKETS: u32 = 32;

/// The bucket of a turn in [-pi, pi] (pi itself, the same turn as -pi, falls in the last bucket, next to the first).
fn turn_bucket(turn: f32) -> u8 {
    use std::f32::consts::{PI, TAU};
    (((turn + PI) / TAU * TURN_BUCKETS as f32) as i32).clamp(0, TURN_BUCKETS as i32 - 1) as u8
}

/// The buckets of turns that may lie within [`PLACEMENT_TURN`] of one in `bucket`, as a mask: two such turns are
/// at most `reach` buckets apart around the circle (3, with 0.4 radians and 32 buckets).
fn near_buckets(bucket: u8) -> u32 {
    let reach = (PLACEMENT_TURN / (std::f32::consts::TAU / TURN_BUCKETS as f32)) as u32 + 1;
    (0..=2 * reach).fold(0, |mask, k| mask | 1 << ((u32::from(bucket) + TURN_BUCKETS - reach + k) % TURN_BUCKETS))
}

/// The words, signatures and geometry of one reference's descriptors.
fn file(vocabulary: &Vocabulary, features: &LocalFeatures) -> Vec<(u32, u32)> {
    features
        .descriptors
        .iter()
        .zip(&features.keypoints)
        .map(|(d, kp)| {
            let level = u32::from(kp.level).min(LEVELS - 1);
            let word = vocabulary.word_of(d);
            let signature = vocabulary.signature(word, d);
            (word, Posting::fields(signature, angle_step(kp.angle), level))
        })
        .collect()
}

/// A vote's weight by its signature distance: near-identical signatures are stronger evidence.
fn signature_weight(h: u32) -> f32 {
    let x = h as f32 / 8.0;
    (-x * x).exp()
}

/// An orientation in radians as one of 32 steps.
fn angle_step(angle: f32) -> u32 {
    if !angle.is_finite() {
        return 0;
    }
    let steps = (angle / std::f32::consts::TAU * ANGLE_STEPS as f32).round();
    (steps.rem_euclid(ANGLE_STEPS as f32) as u32) % ANGLE_STEPS
}

/// A retrieval index for local features: a visual vocabulary trained on catalog descriptors and an inverted file of
/// the references' words. [`ReferenceIndex`](crate::ReferenceIndex) keeps one for its local-feature candidates;
/// it is public for catalogs kept elsewhere (a sharded store, a database) that want the same shortlist.
///
/// ```
/// use knockoff::features::LocalFeatures;
/// use knockoff::index::WordIndex;
/// # let features = |seed: u64| {
/// #     let mut f = LocalFeatures::default();
/// #     let mut s = seed;
/// #     for i in 0..300u32 {
/// #         let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
/// #         f.descriptors.push([next(), next(), next(), next()]);
/// #         f.keypoints.push(knockoff::Keypoint {
/// #             x: (i % 20) as f32 * 30.0, y: (i / 20) as f32 * 30.0, size: 31.0, angle: 0.5, level: 0, colour: [0; 3],
/// #         });
/// #     }
/// #     f
/// # };
/// let catalog: Vec<LocalFeatures> = (1..=50).map(features).collect();
/// let mut words = WordIndex::train(catalog.iter().flat_map(|f| f.descriptors.iter().copied()).collect::<Vec<_>>());
/// words.extend(catalog.iter().map(Some));
/// // A listing that shows reference 7 (here: the same features) finds it first.
/// let shortlist = words.shortlist(&catalog[7], 3);
/// assert_eq!(shortlist[0].0, 7);
/// // With the references' keypoints at hand, the votes must also agree on where the reference sits in the listing.
/// let keypoints = |position: usize| catalog.get(position).map(|f| f.keypoints.as_slice());
/// let placed = words.shortlist_placed(&catalog[7], 3, &keypoints);
/// assert_eq!(placed[0].0, 7);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct WordIndex {
    vocabulary: Vocabulary,
    inverted: InvertedFile,
}

impl WordIndex {
    /// Trains a vocabulary on `descriptors` (a catalog's, or an even sample of them: at most
    /// [`WordIndex::training_size`] are used) and returns an index with no references yet. Deterministic: the
    /// same descriptors give the same vocabulary on every machine.
    pub fn train(descriptors: impl AsRef<[Descriptor]>) -> WordIndex {
        let descriptors = descriptors.as_ref();
        Self::train_on_sample(descriptors, descriptors.len())
    }

    /// How many descriptors a vocabulary for a catalog of `catalog_descriptors` is trained on: the whole catalog
    /// up to about 4 million (8,000 references), 4 million up to 64 million (130,000 references), then a 16th of
    /// it, up to about 33 million (a million references). A sample of that size, drawn evenly, is all
    /// [`WordIndex::train_on_sample`] needs.
    pub fn training_size(catalog_descriptors: usize) -> usize {
        super::vocabulary::training_size(catalog_descriptors).min(catalog_descriptors)
    }

    /// Like [`WordIndex::train`], from a sample of a catalog that holds `catalog_descriptors` descriptors in all:
    /// the vocabulary gets about one word per 4 of them in catalogs that are trained on whole, and words of about
    /// 64 postings in larger ones, so that posting lists stay short as the catalog grows.
    pub fn train_on_sample(sample: impl AsRef<[Descriptor]>, catalog_descriptors: usize) -> WordIndex {
        let vocabulary = Vocabulary::train(sample.as_ref(), catalog_descriptors);
        let inverted = InvertedFile::new(&vocabulary);
        WordIndex { vocabulary, inverted }
    }

    /// A stored vocabulary with no references filed.
    pub(crate) fn from_vocabulary(vocabulary: Vocabulary) -> WordIndex {
        WordIndex { inverted: InvertedFile::new(&vocabulary), vocabulary }
    }

    /// The same vocabulary with no references filed.
    pub fn emptied(&self) -> WordIndex {
        WordIndex { inverted: InvertedFile::new(&self.vocabulary), vocabulary: self.vocabulary.clone() }
    }

    /// Files one reference's features (`None`: a reference without any) at the next position, which it returns.
    /// Words come from the existing vocabulary: adding never retrains.
    pub fn add(&mut self, features: Option<&LocalFeatures>) -> usize {
        self.inverted.add(&self.vocabulary, features);
        self.inverted.references - 1
    }

    /// Files many references at the next positions, assigning their words in parallel.
    pub fn extend<'a, I>(&mut self, features: I)
    where
        I: IntoIterator<Item = Option<&'a LocalFeatures>>,
    {
        let features: Vec<Option<&LocalFeatures>> = features.into_iter().collect();
        let filed: Vec<Vec<(u32, u32)>> =
            features.par_iter().map(|f| f.map_or_else(Vec::new, |f| file(&self.vocabulary, f))).collect();
        for words in filed {
            self.inverted.push(&words);
        }
    }

    /// The index without the reference at `position`: those after it move down one place. Postings are moved,
    /// not filed again, so no descriptor is needed.
    pub fn remove(&mut self, position: usize) {
        let Ok(gone) = u32::try_from(position) else { return };
        if position >= self.len() {
            return;
        }
        self.inverted = self.inverted.remap(self.len() - 1, |r| match r.cmp(&gone) {
            std::cmp::Ordering::Less => Some(r),
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Greater => Some(r - 1),
        });
    }

    /// The index without the references at `positions` (any order; repeats and positions past the end ignored), in
    /// one pass over the postings where removing them one by one would take one pass each.
    pub fn remove_many(&mut self, positions: &[usize]) {
        let mut kept = vec![true; self.len()];
        for &p in positions {
            if let Some(k) = kept.get_mut(p) {
                *k = false;
            }
        }
        // Each old position's new one, `u32::MAX` for the removed.
        let mut next = 0u32;
        let moved: Vec<u32> = kept
            .iter()
            .map(|&k| {
                let at = if k { next } else { u32::MAX };
                next += u32::from(k);
                at
            })
            .collect();
        self.inverted =
            self.inverted.remap(next as usize, |r| moved.get(r as usize).copied().filter(|&at| at != u32::MAX));
    }

    /// Files the references at the given positions anew from their features (`None`: a reference without any),
    /// every other reference keeping its position and postings, in one pass over the postings: what replacing a
    /// reference's photo under the same id needs. Words come from the existing vocabulary; positions past the end
    /// are ignored, and a position given twice is filed from its last features.
    pub fn refile(&mut self, references: &[(usize, Option<&LocalFeatures>)]) {
        let mut last = std::collections::BTreeMap::new();
        for &(position, features) in references {
            if let Ok(position) = u32::try_from(position)
                && (position as usize) < self.len()
            {
                last.insert(position, features);
            }
        }
        let refiled: Vec<(u32, Vec<(u32, u32)>)> = last
            .into_iter()
            .collect::<Vec<_>>()
            .par_iter()
            .map(|&(position, f)| (position, f.map_or_else(Vec::new, |f| file(&self.vocabulary, f))))
            .collect();
        self.inverted = self.inverted.refile(&refiled);
    }

    /// The index of shard `number` (from 0) of `count`: the references at positions `number`, `number + count`,
    /// ... at positions 0, 1, ... (what [`ReferenceIndex::split`](crate::ReferenceIndex::split) deals out), under
    /// the same vocabulary.
    pub(crate) fn shard(&self, number: usize, count: usize) -> WordIndex {
        let count = count.max(1);
        let references = self.len().saturating_sub(number).div_ceil(count);
        let (number, count) = (number as u32, count as u32);
        let inverted = self.inverted.remap(references, |r| (r % count == number).then_some(r / count));
        WordIndex { vocabulary: self.vocabulary.clone(), inverted }
    }

    /// Packs the posting lists into one array once a catalog is filed: less memory (no spare capacity, no vector
    /// per word) and a faster search. Filing more references afterwards unpacks them until the next call.
    pub fn shrink_to_fit(&mut self) {
        self.inverted.pack();
    }

    /// Number of references filed.
    pub fn len(&self) -> usize {
        self.inverted.references
    }

    /// Whether no reference is filed.
    pub fn is_empty(&self) -> bool {
        self.inverted.references == 0
    }

    /// Number of words in the vocabulary.
    pub fn words(&self) -> usize {
        self.vocabulary.words as usize
    }

    /// Up to `k` reference positions most likely to show (part of) `listing`, best first, each with its score:
    /// about how many of the listing's descriptors meet the reference's in rare words, turned and scaled alike.
    pub fn shortlist(&self, listing: &LocalFeatures, k: usize) -> Vec<(usize, f32)> {
        self.inverted.shortlist(&self.vocabulary, listing, k, &QueryConfig::votes(), None)
    }

    /// Like [`WordIndex::shortlist`], with the spatial check: `keypoints(position)` gives a reference's keypoints
    /// (those its features were filed with), and the best candidates by turn and scale are ranked again by how
    /// many of their votes agree on one placement of the reference in the listing. Much sharper on copies that
    /// fill a small part of the listing, whose few votes are otherwise lost among similar texture's.
    pub fn shortlist_placed<'a>(
        &self,
        listing: &LocalFeatures,
        k: usize,
        keypoints: &dyn Fn(usize) -> Option<&'a [Keypoint]>,
    ) -> Vec<(usize, f32)> {
        self.shortlist_placed_with(listing, k, &|position| keypoints(position).map(Cow::Borrowed))
    }

    /// [`WordIndex::shortlist_placed`] with keypoints that may be read for the occasion (an index's stored
    /// features).
    pub(crate) fn shortlist_placed_with<'a>(
        &self,
        listing: &LocalFeatures,
        k: usize,
        keypoints: &dyn Fn(usize) -> Option<Cow<'a, [Keypoint]>>,
    ) -> Vec<(usize, f32)> {
        self.inverted.shortlist(&self.vocabulary, listing, k, &QueryConfig::placed(), Some(keypoints))
    }

    /// The vocabulary and the posting lists, to store.
    pub(crate) fn parts(&self) -> (&Vocabulary, &InvertedFile) {
        (&self.vocabulary, &self.inverted)
    }

    /// A word index from stored parts for `references` references: a vocabulary and its words' posting lists
    /// (checked while packed: every list in reference order, every position below `references`), one per word.
    pub(crate) fn from_parts(
        vocabulary: Vocabulary,
        lists: PackedLists,
        references: usize,
    ) -> Result<WordIndex, String> {
        if lists.words() != vocabulary.words as usize {
            return Err(format!("{} posting lists for {} words", lists.words(), vocabulary.words));
        }
        Ok(WordIndex { inverted: InvertedFile::packed(lists, references)?, vocabulary })
    }

    /// Heap bytes held: the vocabulary and the postings (7 bytes per reference descriptor once packed).
    pub fn memory_bytes(&self) -> usize {
        self.vocabulary.memory_bytes() + self.inverted.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::Keypoint;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn features(rng: &mut Rng, n: usize) -> LocalFeatures {
        let mut f = LocalFeatures::default();
        for _ in 0..n {
            f.descriptors.push([rng.next(), rng.next(), rng.next(), rng.next()]);
            f.keypoints.push(Keypoint {
                x: (rng.next() % 600) as f32,
                y: (rng.next() % 400) as f32,
                size: 31.0,
                angle: (rng.next() % 628) as f32 / 100.0,
                level: (rng.next() % 8) as u8,
                colour: [0; 3],
            });
        }
        f
    }

    /// `d` with 30 of its bits flipped at random: a copy's descriptor after resampling and compression.
    fn noisy(rng: &mut Rng, d: &Descriptor) -> Descriptor {
        let mut d = *d;
        for _ in 0..30 {
            let b = (rng.next() % 256) as usize;
            d[b / 64] ^= 1 << (b % 64);
        }
        d
    }

    /// A word index with a vocabulary trained on `references`' descriptors and none of them filed yet.
    fn trained_on(references: &[LocalFeatures]) -> WordIndex {
        let all: Vec<Descriptor> = references.iter().flat_map(|f| f.descriptors.iter().copied()).collect();
        WordIndex::train(&all)
    }

    /// A listing: `n` of `reference`'s keypoints turned by `turn` steps, one level smaller, 30 bits of noise, among
    /// `clutter` keypoints of something else.
    fn copy_in_clutter(
        rng: &mut Rng,
        reference: &LocalFeatures,
        n: usize,
        clutter: usize,
        mirror: bool,
    ) -> LocalFeatures {
        let mut listing = features(rng, clutter);
        for (d, kp) in reference.descriptors.iter().zip(&reference.keypoints).take(n) {
            let mut d = noisy(rng, d);
            let mut kp = *kp;
            kp.angle += 4.0 * std::f32::consts::TAU / 32.0;
            kp.level = kp.level.saturating_add(1).min(7);
            if mirror {
                d = mirrored(&d);
                kp.angle = std::f32::consts::PI - kp.angle;
            }
            listing.descriptors.push(d);
            listing.keypoints.push(kp);
        }
        listing
    }

    #[test]
    fn the_turn_and_scale_peak_is_the_heaviest_run_of_three_bins_on_each_axis() {
        // The plain reading of weak geometric consistency, bin by bin, against the lane-wise one the search uses.
        let plain = |h: &Histograms| {
            let mut best = 0f32;
            for pass in 0..2 {
                let (angles, levels) = (&h.angles[pass], &h.levels[pass]);
                let n = angles.len();
                let a = (0..n).map(|i| angles[(i + n - 1) % n] + angles[i] + angles[(i + 1) % n]).fold(0f32, f32::max);
                let l = (0..levels.len())
                    .map(|i| levels[i.saturating_sub(1)..(i + 2).min(levels.len())].iter().sum::<f32>())
                    .fold(0f32, f32::max);
                best = best.max(a.min(l));
            }
            best
        };
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..500 {
            let mut h = Histograms::default();
            // Sparse, like a reference's votes: a few bins, at the ends and around the circle's seam too.
            for _ in 0..(case % 12) {
                let pass = (rng.next() % 2) as usize;
                let weight = (rng.next() % 1000) as f32 / 97.0;
                h.angles[pass][(rng.next() % u64::from(ANGLE_STEPS)) as usize] += weight;
                h.levels[pass][(rng.next() % LEVEL_BINS as u64) as usize] += weight;
            }
            assert_eq!(h.consistent_score().to_bits(), plain(&h).to_bits(), "case {case}");
        }
        // A peak that wraps around the circle: the last turn bin, the first and the second.
        let mut h = Histograms::default();
        (h.angles[1][31], h.angles[1][0], h.angles[1][1]) = (1.0, 2.0, 4.0);
        (h.levels[1][0], h.levels[1][1]) = (3.0, 4.0);
        assert_eq!(h.consistent_score(), 7.0);
    }

    #[test]
    fn a_copy_among_clutter_tops_the_shortlist_plain_and_mirrored() {
        let mut rng = Rng(42);
        let references: Vec<LocalFeatures> = (0..300).map(|_| features(&mut rng, 300)).collect();
        let mut words = trained_on(&references);
        words.extend(references.iter().map(Some));
        for mirror in [false, true] {
            // 60 of 300 descriptors of reference 123 in a listing of 1000: a small pasted copy.
            let listing = copy_in_clutter(&mut rng, &references[123], 60, 940, mirror);
            let shortlist = words.shortlist(&listing, 5);
            assert_eq!(shortlist.first().map(|s| s.0), Some(123), "mirror {mirror}: {shortlist:?}");
            // Well clear of the next, which a couple of chance votes that agree on a turn put on the list.
            if let Some(second) = shortlist.get(1) {
                assert!(shortlist[0].1 > 2.0 * second.1, "{shortlist:?}");
            }
        }
        // An unrelated listing shortlists little, and nothing strongly.
        let unrelated = features(&mut rng, 1000);
        let shortlist = words.shortlist(&unrelated, 5);
        assert!(shortlist.iter().all(|s| s.1 < 6.0), "{shortlist:?}");
    }

    /// The shortlist asks as much of a small catalog's references as of a large one's: a copy that brings a few of
    /// a reference's descriptors is shortlisted among 100 references as among 2,000. (The vocabulary grows with
    /// the catalog, so a typical word is held by a few references at any size; with votes in units of a word held
    /// by one reference in a hundred, the small catalog asked four times the votes.)
    #[test]
    fn a_few_agreeing_votes_shortlist_a_reference_in_small_and_large_catalogs() {
        for size in [100, 2000] {
            let mut rng = Rng(7);
            let references: Vec<LocalFeatures> = (0..size).map(|_| features(&mut rng, 300)).collect();
            let mut words = trained_on(&references);
            words.extend(references.iter().map(Some));
            for (i, reference) in references.iter().enumerate().take(10) {
                // Three of the reference's descriptors, turned alike, among 400 of something else.
                let mut listing = features(&mut rng, 400);
                for (d, kp) in reference.descriptors.iter().zip(&reference.keypoints).skip(7 * i).take(3) {
                    let turned = Keypoint { angle: kp.angle + 1.0, ..*kp };
                    listing.descriptors.push(*d);
                    listing.keypoints.push(turned);
                }
                let shortlist = words.shortlist(&listing, 20);
                assert!(shortlist.iter().any(|s| s.0 == i), "{size} references, copy of {i}: {shortlist:?}");
            }
        }
    }

    /// A listing that shows `n` of `reference`'s keypoints placed by one similarity (turned by `turn` steps of 32,
    /// scaled by 1.2, shifted), mirrored if asked, with 30 bits of descriptor noise.
    fn placed_copy(rng: &mut Rng, reference: &LocalFeatures, n: usize, turn: u32, mirror: bool) -> LocalFeatures {
        let mut copy = LocalFeatures::default();
        let angle = turn as f32 * std::f32::consts::TAU / 32.0;
        let (sin, cos) = angle.sin_cos();
        for (d, kp) in reference.descriptors.iter().zip(&reference.keypoints).take(n) {
            let mut d = noisy(rng, d);
            let mut kp = *kp;
            let (x, y) = (1.2 * (cos * kp.x - sin * kp.y) + 150.0, 1.2 * (sin * kp.x + cos * kp.y) + 90.0);
            kp.x = x;
            kp.y = y;
            kp.angle += angle;
            kp.size *= 1.2;
            kp.level = kp.level.saturating_add(1).min(7);
            if mirror {
                d = mirrored(&d);
                kp.x = 1000.0 - kp.x;
                kp.angle = std::f32::consts::PI - kp.angle;
            }
            copy.descriptors.push(d);
            copy.keypoints.push(kp);
        }
        copy
    }

    /// `part`'s keypoints and descriptors added to `listing`'s.
    fn append(listing: &mut LocalFeatures, part: LocalFeatures) {
        listing.descriptors.extend(part.descriptors);
        listing.keypoints.extend(part.keypoints);
    }

    /// `n` random references of 300 features each, and a word index trained on them that holds them all.
    fn indexed(rng: &mut Rng, n: usize) -> (Vec<LocalFeatures>, WordIndex) {
        let references: Vec<LocalFeatures> = (0..n).map(|_| features(rng, 300)).collect();
        let mut words = trained_on(&references);
        words.extend(references.iter().map(Some));
        (references, words)
    }

    #[test]
    fn the_spatial_check_ranks_a_small_copy_above_texture_that_shares_more_words() {
        let mut rng = Rng(99);
        let (references, words) = indexed(&mut rng, 300);
        let keypoints = |r: usize| references.get(r).map(|f| f.keypoints.as_slice());
        for mirror in [false, true] {
            // Texture like reference 40's: 90 of its descriptors, turned and scaled alike (as a texture's repeated
            // patterns are) but scattered over the listing, not placed by one transform.
            let mut listing = placed_copy(&mut rng, &references[40], 90, 3, mirror);
            for kp in &mut listing.keypoints {
                (kp.x, kp.y) = ((rng.next() % 1000) as f32, (rng.next() % 700) as f32);
            }
            // A small copy of reference 123: 30 descriptors, one transform.
            let copy = placed_copy(&mut rng, &references[123], 30, 3, mirror);
            let clutter = features(&mut rng, 600);
            for part in [copy, clutter] {
                append(&mut listing, part);
            }
            let by_votes = words.shortlist(&listing, 5);
            assert_eq!(by_votes.first().map(|s| s.0), Some(40), "mirror {mirror}: {by_votes:?}");
            let placed = words.shortlist_placed(&listing, 5, &keypoints);
            assert_eq!(placed.first().map(|s| s.0), Some(123), "mirror {mirror}: {placed:?}");
        }
    }

    #[test]
    fn a_short_placed_shortlist_is_the_head_of_a_long_one() {
        // The placement check skips candidates and seeds that cannot reach the k-th best placement: asking for
        // fewer must give the same references with the same scores, in the same order.
        let mut rng = Rng(5);
        let (references, words) = indexed(&mut rng, 300);
        let keypoints = |r: usize| references.get(r).map(|f| f.keypoints.as_slice());
        for mirror in [false, true] {
            // Copies of 24 references, by threes shown by fewer descriptors (near ties), turned in four ways.
            let mut listing = features(&mut rng, 300);
            for (i, r) in (10..34u32).enumerate() {
                let part = placed_copy(&mut rng, &references[r as usize], 60 - 4 * (i / 3), 1 + r % 4, mirror);
                append(&mut listing, part);
            }
            let long = words.shortlist_placed(&listing, 400, &keypoints);
            assert!(long.len() >= 20, "mirror {mirror}: {long:?}");
            for k in [1, 2, 5, 12] {
                assert_eq!(words.shortlist_placed(&listing, k, &keypoints), long[..k], "mirror {mirror}, k {k}");
            }
        }
    }

    #[test]
    fn removing_and_sharding_move_postings_as_filing_again_would() {
        let mut rng = Rng(11);
        let references: Vec<LocalFeatures> = (0..30).map(|_| features(&mut rng, 80)).collect();
        let mut whole = trained_on(&references);
        whole.extend(references.iter().map(Some));
        // One without features, whose position still counts.
        whole.add(None);
        let all: Vec<Option<&LocalFeatures>> = references.iter().map(Some).chain([None]).collect();
        for gone in [0, 7, 29, 30] {
            let mut removed = whole.clone();
            removed.remove(gone);
            let mut filed = whole.emptied();
            filed.extend(all.iter().enumerate().filter(|(i, _)| *i != gone).map(|(_, f)| *f));
            assert_eq!(removed, filed, "removing {gone}");
        }
        // Many at once, in any order, as one at a time from the last.
        let gone = [29, 3, 30, 7, 3, 12, 99];
        let mut at_once = whole.clone();
        at_once.remove_many(&gone);
        let mut one_by_one = whole.clone();
        for position in [30, 29, 12, 7, 3] {
            one_by_one.remove(position);
        }
        assert_eq!(at_once, one_by_one);
        let mut filed = whole.emptied();
        filed.extend(all.iter().enumerate().filter(|(i, _)| !gone.contains(i)).map(|(_, f)| *f));
        assert_eq!(at_once, filed);
        // Refiled in place: the first with another's features, one without features given some, one with
        // features given none (a position twice: its last), one past the end ignored.
        let mut refiled = whole.clone();
        let (first, other) = (Some(&references[9]), Some(&references[20]));
        refiled.refile(&[(0, first), (30, other), (5, Some(&references[1])), (5, None), (99, first)]);
        let mut now = all.clone();
        (now[0], now[30], now[5]) = (first, other, None);
        let mut filed = whole.emptied();
        filed.extend(now.iter().copied());
        assert_eq!(refiled, filed);
        for count in [1, 2, 3, 7] {
            for number in 0..count {
                let mut filed = whole.emptied();
                filed.extend(all.iter().skip(number).step_by(count).copied());
                assert_eq!(whole.shard(number, count), filed, "shard {number} of {count}");
            }
        }
    }

    #[test]
    fn adding_one_by_one_files_like_extending() {
        let mut rng = Rng(7);
        let references: Vec<LocalFeatures> = (0..20).map(|_| features(&mut rng, 100)).collect();
        let mut extended = trained_on(&references);
        let mut added = extended.emptied();
        extended.extend(references.iter().map(Some));
        for r in &references {
            added.add(Some(r));
        }
        assert_eq!(extended, added);
        assert_eq!(added.len(), 20);
    }

    #[test]
    fn packed_lists_hold_and_find_what_growing_ones_do_and_grow_again() {
        let mut rng = Rng(11);
        let references: Vec<LocalFeatures> = (0..40).map(|_| features(&mut rng, 200)).collect();
        let mut growing = trained_on(&references);
        growing.extend(references[..30].iter().map(Some));
        let mut packed = growing.clone();
        packed.shrink_to_fit();
        assert!(matches!(packed.inverted.lists, Lists::Packed { .. }));
        assert!(packed.memory_bytes() < growing.memory_bytes());
        assert_eq!(packed, growing);
        let listing = copy_in_clutter(&mut rng, &references[17], 60, 400, false);
        let keypoints = |r: usize| references.get(r).map(|f| f.keypoints.as_slice());
        assert_eq!(packed.shortlist(&listing, 5), growing.shortlist(&listing, 5));
        assert_eq!(packed.shortlist_placed(&listing, 5, &keypoints), growing.shortlist_placed(&listing, 5, &keypoints));
        // Filing after packing unpacks: the same as filing everything while growing.
        packed.extend(references[30..].iter().map(Some));
        growing.extend(references[30..].iter().map(Some));
        assert!(matches!(packed.inverted.lists, Lists::Growing { .. }));
        assert_eq!(packed, growing);
    }

    #[test]
    fn the_placement_check_weighs_the_votes_one_transform_places() {
        let mut rng = Rng(5);
        let reference = features(&mut rng, 120);
        for mirror in [false, true] {
            // 21 of the reference's keypoints placed by one similarity, then 40 votes between keypoints at random
            // places.
            let mut copy = placed_copy(&mut rng, &reference, 21, 5, mirror);
            // Keypoints are found a pixel or two and a few degrees off.
            for kp in &mut copy.keypoints {
                kp.x += (rng.next() % 5) as f32 - 2.0;
                kp.y += (rng.next() % 5) as f32 - 2.0;
                kp.angle += ((rng.next() % 11) as f32 - 5.0) / 100.0;
            }
            let clutter = features(&mut rng, 40);
            let mut listing = copy.keypoints.clone();
            listing.extend(clutter.keypoints.iter().copied());
            let vote = |listing: usize, keypoint: usize, weight: f32| Vote {
                reference: 0,
                listing: listing as u32,
                keypoint: keypoint as u16,
                mirror,
                angle_bin: 0,
                level_bin: 0,
                weight,
            };
            let mut votes: Vec<Vote> = (0..21).map(|i| vote(i, i, 1.0 + i as f32 / 64.0)).collect();
            votes.extend((0..40).map(|i| vote(21 + i, 30 + i, 1.0)));
            let placed: f32 = (0..21).map(|i| 1.0 + i as f32 / 64.0).sum();
            let score = spatial_score(&votes, &listing, &reference.keypoints, 0.0);
            // The placed votes, and perhaps a chance vote that lands near the placement too.
            assert!(score >= placed - 1e-3 && score <= placed + 2.0 + 1e-3, "mirror {mirror}: {score} for {placed}");
            // Votes counted in the other pass do not count in this one.
            let other: Vec<Vote> = votes.iter().map(|v| Vote { mirror: !mirror, ..*v }).collect();
            assert!(spatial_score(&other, &listing, &reference.keypoints, 0.0) < 6.0, "mirror {mirror}");
        }
    }

    /// The placement check's bucket test may only rule out pairs the exact turn test would: two turns within
    /// `PLACEMENT_TURN` (0.4 radians) of each other, anywhere around the circle (across -pi/pi too), are in near
    /// buckets.
    #[test]
    fn near_turns_are_in_near_buckets() {
        use std::f32::consts::PI;
        let mut rng = Rng(17);
        for _ in 0..200_000 {
            let a = (rng.next() % 1_000_000) as f32 / 1_000_000.0 * 2.0 * PI - PI;
            let d = ((rng.next() % 1_000_001) as f32 / 1_000_000.0 * 2.0 - 1.0) * PLACEMENT_TURN;
            let b = a + d;
            let b = if b >= PI {
                b - 2.0 * PI
            } else if b < -PI {
                b + 2.0 * PI
            } else {
                b
            };
            assert!(near_buckets(turn_bucket(a)) >> turn_bucket(b) & 1 == 1, "{a} and {b}");
        }
        // Pi and -pi are one turn.
        assert!(near_buckets(turn_bucket(-PI)) >> turn_bucket(PI) & 1 == 1);
        assert!(near_buckets(turn_bucket(PI)) >> turn_bucket(-PI) & 1 == 1);
        // A turn half a circle away is not near.
        assert_eq!(near_buckets(turn_bucket(0.0)) >> turn_bucket(PI - 0.01) & 1, 0);
    }

    #[test]
    fn a_postings_parts_come_back_from_its_bits() {
        let mut rng = Rng(11);
        for _ in 0..1000 {
            let (reference, keypoint) = ((rng.next() % MAX_REFERENCES as u64) as u32, (rng.next() % 700) as u32);
            let signature = (rng.next() % (1 << SIGNATURE_BITS)) as u32;
            let (angle, level) =
                ((rng.next() % u64::from(ANGLE_STEPS)) as u32, (rng.next() % u64::from(LEVELS)) as u32);
            let p = Posting::new(reference, keypoint, Posting::fields(signature, angle, level));
            let rest = p.rest();
            assert_eq!(p.reference(), reference);
            assert_eq!(Posting::rest_keypoint(rest), keypoint.min(UNNAMED_KEYPOINT));
            assert_eq!(Posting::rest_signature(rest), signature);
            assert_eq!(Posting::rest_angle(rest), angle);
            assert_eq!(Posting::rest_level(rest), level);
            assert_eq!(Posting::from_parts(reference, rest), p);
        }
    }

    #[test]
    fn angle_steps_wrap_and_mirror() {
        assert_eq!(angle_step(0.0), 0);
        assert_eq!(angle_step(std::f32::consts::TAU), 0);
        assert_eq!(angle_step(-std::f32::consts::TAU / 32.0), 31);
        assert_eq!(angle_step(f32::NAN), 0);
        assert_eq!(angle_step(-4.1e19), angle_step(-4.1e19)); // finite and huge: no loop, some step
    }
}
