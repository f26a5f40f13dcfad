//! The visual vocabulary: a tree of binary centroids (a vocabulary tree, as DBoW2 and Nistér and Stewénius build
//! them) that turns each 256-bit descriptor into a word, so that references sharing words with a listing can be
//! found through an inverted file instead of by comparing descriptors with every reference.
//!
//! Trained by hierarchical k-majority clustering (k-means for Hamming space: a cluster's centre is the bitwise
//! majority of its members), from the catalog's own descriptors, deterministically: the same descriptors always
//! give the same tree, on every machine, whatever the thread count.

use rayon::prelude::*;

use super::prefetch;
use crate::features::descriptor::Descriptor;

/// Children per node. 16 keeps a descent cheap (16 distances a level) while six levels hold 16 million words.
pub(crate) const BRANCHING: usize = 16;
/// Deepest level of leaves.
const MAX_DEPTH: usize = 6;
/// Descriptors of the catalog a word should hold on average (down to the smallest split the training sample
/// allows). Measured on the retrieval benchmark (5,109 references; shortlist recall in the top 10): 32 per word
/// 66.6%, 16 75.4%, 8 78.8%, 4 81.6%, and faster too (fewer postings visited): fine words with signatures and
/// the geometric check beat coarse words.
const TARGET_POSTINGS: f64 = 4.0;
/// Training descriptors per leaf, on average, for each unit of a node's split threshold (measured: a threshold of
/// 64 gives leaves of 8.7 descriptors).
const LEAF_PER_SPLIT: f64 = 1.0 / 7.4;
/// Descriptors a vocabulary is trained on, at least, when the catalog has that many (128 MB, about 8,000
/// references' worth): smaller catalogs are trained on whole.
const MIN_TRAINING: usize = 1 << 22;
/// Catalog descriptors per training descriptor, once a 16th of the catalog is more than [`MIN_TRAINING`] (beyond
/// 64 million descriptors, about 130,000 references). Leaves hold a few training descriptors each, so the words
/// grow with the catalog: at a million references, 4.6 million words of ~109 postings, where a vocabulary trained
/// on 4 million descriptors had 785,000 words of ~640 and made the shortlist 8 times slower than at 100,000
/// references (64 postings a word); with this one it is 3.4 times slower.
const CATALOG_PER_TRAINING: usize = 16;
/// Most descriptors a vocabulary is trained on (1 GB while it trains, reached at about a million references);
/// larger catalogs are sampled evenly, and their words hold more postings.
const MAX_TRAINING: usize = 1 << 25;

/// How many of a catalog's `catalog_descriptors` descriptors its vocabulary is trained on (an even sample).
pub(crate) fn training_size(catalog_descriptors: usize) -> usize {
    (catalog_descriptors / CATALOG_PER_TRAINING).clamp(MIN_TRAINING, MAX_TRAINING)
}
/// Rounds of k-majority refinement per node; assignments rarely change after a handful.
const ROUNDS: usize = 6;

/// A trained vocabulary tree. Node 0 is the root; every node's children are contiguous.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Vocabulary {
    /// The tree, breadth-first.
    nodes: Vec<TreeNode>,
    /// Number of leaves (words).
    pub(crate) words: u32,
    /// The descriptor bits signatures are made of, one set for each group of sibling words (the leaves under one
    /// node): the bits on which the training descriptors of each sibling were most evenly split, summed over the
    /// siblings. Members of a word agree with its centre on most bits, so bits chosen without regard to the word
    /// would hardly tell them apart (Hamming embedding's per-word medians, for binary descriptors); a word holds
    /// only a handful of training descriptors, too few to choose by alone, and its siblings' spread is a steadier
    /// guide. One set a group rather than a word: 24 bytes for about 15 words.
    signature_bits: Vec<[u8; SIGNATURE_BITS]>,
    /// Each word's set in `signature_bits`; empty when every word has its own (the set's number is the word's).
    word_signature: Vec<u32>,
}

/// One node: its centre (the root's is unused) beside where its children are, or, for a leaf, its word number.
/// Side by side because a descent reads both together: the distances to a node's children load the children's
/// ranges in the same cache lines, where a separate array cost a cache miss per level (11% of the shortlist's
/// time at 100,000 references).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct TreeNode {
    centroid: Descriptor,
    /// First child, or the word number of a leaf.
    first: u32,
    /// Children (0: a leaf).
    count: u32,
}

/// Bits in a word's signatures.
pub(crate) const SIGNATURE_BITS: usize = 24;

/// How far [`Vocabulary::words_of_each`] looks beyond a descriptor's nearest word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WordSearch {
    /// Most words per descriptor.
    pub(crate) probes: usize,
    /// Most branches followed a level. Fewer than `probes`: the extra words are mostly the nearest word's
    /// siblings, met on the last level of the branches followed, and each branch followed costs a node's 16
    /// distances a level in tens of megabytes of nodes (see `QueryConfig::placed`).
    pub(crate) beam: usize,
    /// How much farther (bits, summed over the levels where the branches part) than the nearest word another may
    /// be.
    pub(crate) margin: u32,
}

/// Buffers for [`Vocabulary::words_of`], reused from one descriptor to the next; `words` holds the result.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// (slack, path, word).
    leaves: Vec<(u32, u32, u32)>,
    /// (slack, path, node's position): 12 bytes an entry, where a copy of the node made 48 to shift about.
    frontier: Vec<(u32, u32, u32)>,
    next: Vec<(u32, u32, u32)>,
    pub(crate) words: Vec<u32>,
    /// The level the frontier is at.
    level: usize,
}

impl Probe {
    /// The leaves reached, as words.
    fn finish(&mut self) {
        self.words.clear();
        self.words.extend(self.leaves.iter().map(|&(_, _, word)| word));
    }
}

/// A subtree during training, flattened breadth-first once complete.
struct Node {
    centroid: Descriptor,
    children: Vec<Node>,
    /// A leaf's signature bits.
    bits: [u8; SIGNATURE_BITS],
}

impl Vocabulary {
    /// Trains a vocabulary on `descriptors` (sampled evenly down to [`training_size`]), sized for a catalog of
    /// `catalog_descriptors` descriptors in all: about one word per [`TARGET_POSTINGS`] of them, as far as the
    /// sample allows.
    pub(crate) fn train(descriptors: &[Descriptor], catalog_descriptors: usize) -> Vocabulary {
        let step = descriptors.len().div_ceil(training_size(catalog_descriptors.max(descriptors.len()))).max(1);
        let sample: Vec<Descriptor> = descriptors.iter().step_by(step).copied().collect();
        let share = sample.len() as f64 / catalog_descriptors.max(sample.len()).max(1) as f64;
        // A node is split while it holds more than this many training descriptors; never fewer than two per child.
        let min_split = ((TARGET_POSTINGS * share / LEAF_PER_SPLIT) as usize).max(2 * BRANCHING);
        // The root's bits serve only a vocabulary of one word (a catalog too small to split).
        let bits = balanced_bits(std::slice::from_ref(&sample));
        let root = Node { centroid: [0; 4], children: split(sample, 0, 1, min_split), bits };
        Vocabulary::flatten(root)
    }

    fn flatten(root: Node) -> Vocabulary {
        let (mut nodes, mut words, mut bits) = (Vec::new(), 0u32, Vec::new());
        let mut queue = std::collections::VecDeque::from([root]);
        // Breadth-first: a node's children are pushed together, so they get consecutive numbers (and its leaves
        // consecutive words).
        let mut next = 1u32;
        while let Some(node) = queue.pop_front() {
            let count = node.children.len() as u32;
            let first = if count > 0 { next } else { words };
            nodes.push(TreeNode { centroid: node.centroid, first, count });
            if count == 0 {
                words += 1;
                bits.push(node.bits);
            }
            next += count;
            queue.extend(node.children);
        }
        nodes.shrink_to_fit();
        Vocabulary::with_signature_bits(nodes, words, bits)
    }

    /// A vocabulary of `nodes` and `words` whose word `w` has the signature bits `bits[w]`, kept once for each run
    /// of words that share them.
    fn with_signature_bits(nodes: Vec<TreeNode>, words: u32, bits: Vec<[u8; SIGNATURE_BITS]>) -> Vocabulary {
        let mut signature_bits: Vec<[u8; SIGNATURE_BITS]> = Vec::new();
        let mut word_signature = Vec::with_capacity(bits.len());
        for b in bits {
            if signature_bits.last() != Some(&b) {
                signature_bits.push(b);
            }
            word_signature.push(signature_bits.len() as u32 - 1);
        }
        if signature_bits.len() == word_signature.len() {
            // One set a word (an index trained before the bits were chosen per group): no table needed.
            word_signature = Vec::new();
        }
        signature_bits.shrink_to_fit();
        Vocabulary { nodes, words, signature_bits, word_signature }
    }

    /// The bit positions that make up word `w`'s signatures.
    pub(crate) fn signature_bits_of(&self, word: u32) -> &[u8; SIGNATURE_BITS] {
        &self.signature_bits[self.signature_set(word)]
    }

    /// Word `w`'s set in `signature_bits`.
    fn signature_set(&self, word: u32) -> usize {
        self.word_signature.get(word as usize).map_or(word as usize, |&s| s as usize)
    }

    /// A vocabulary from its stored tree (node 0 the root, every node's children contiguous and numbered after
    /// all nodes of lower levels, as [`Vocabulary::train`] lays them out), checked to be exactly such a tree:
    /// words are the leaves in node order, and each needs its signature bits.
    pub(crate) fn from_tree(
        centroids: Vec<Descriptor>,
        children: Vec<(u32, u32)>,
        signature_bits: Vec<[u8; SIGNATURE_BITS]>,
    ) -> Result<Vocabulary, String> {
        if centroids.is_empty() || centroids.len() != children.len() {
            return Err(format!("{} centroids for {} nodes", centroids.len(), children.len()));
        }
        // Breadth-first layout: the children of node i start where those of the nodes before it ended, and every
        // node but the root is some earlier node's child. That makes it a tree (no cycle, no shared child).
        let mut next = 1u32;
        let mut nodes = Vec::with_capacity(children.len());
        let mut words = 0u32;
        for (i, (&(first, count), &centroid)) in children.iter().zip(&centroids).enumerate() {
            if i > 0 && i as u32 >= next {
                return Err(format!("node {i} is nobody's child"));
            }
            if count as usize > BRANCHING {
                return Err(format!("node {i} has {count} children"));
            }
            if count == 0 {
                nodes.push(TreeNode { centroid, first: words, count });
                words += 1;
            } else {
                if first != next {
                    return Err(format!("node {i}'s children start at {first}, expected {next}"));
                }
                nodes.push(TreeNode { centroid, first, count });
                next += count;
            }
        }
        if next as usize != children.len() {
            return Err(format!("{} nodes, the tree has {next}", children.len()));
        }
        if signature_bits.len() != words as usize {
            return Err(format!("{} signatures for {words} words", signature_bits.len()));
        }
        Ok(Vocabulary::with_signature_bits(nodes, words, signature_bits))
    }

    /// The stored tree, node by node: each centre with its first child and child count (0 and 0 for a leaf), as
    /// [`Vocabulary::from_tree`] reads it.
    pub(crate) fn tree(&self) -> impl ExactSizeIterator<Item = (&Descriptor, u32, u32)> {
        self.nodes.iter().map(|n| (&n.centroid, if n.count == 0 { 0 } else { n.first }, n.count))
    }

    /// The word of `d`: the leaf reached by always descending to the nearest child.
    pub(crate) fn word_of(&self, d: &Descriptor) -> u32 {
        let mut node = self.nodes[0];
        while node.count > 0 {
            let kids = &self.nodes[node.first as usize..(node.first + node.count) as usize];
            node = kids[nearest(kids, d).0];
        }
        node.first
    }

    /// [`Vocabulary::words_of_each`] for one descriptor, into `out.words`.
    #[cfg(test)]
    pub(crate) fn words_of(&self, d: &Descriptor, search: WordSearch, out: &mut Probe) {
        self.start(out);
        while self.descend(d, search, out) {}
        out.finish();
    }

    /// Up to `search.probes` words for each of `descriptors`, given in order to `each` (the descriptor's
    /// position, its words): the nearest leaf and the leaves of the next-nearest branches whose extra distance,
    /// summed over the levels where they part, stays within `search.margin` bits, following at most
    /// `search.beam` branches a level. A descriptor of a copy shown at another scale or compressed hard differs in
    /// a fifth of its bits and often falls into a neighbouring word; searching the few nearest words (multiple
    /// assignment, on the query side only) finds it there without storing anything twice. Words come out nearest
    /// first.
    ///
    /// The descents run side by side in batches, a level at a time, with each level's nodes for the whole batch
    /// fetched before any is read: below the top levels, a large vocabulary's nodes are tens of megabytes (about
    /// 35 at 100,000 references), and one descent after another waited for each level's cache misses in turn.
    pub(crate) fn words_of_each(
        &self,
        descriptors: &[Descriptor],
        search: WordSearch,
        buffers: &mut Vec<Probe>,
        mut each: impl FnMut(usize, &[u32]),
    ) {
        /// Descents run side by side.
        const BATCH: usize = 16;
        buffers.resize_with(BATCH, Probe::default);
        for (c, chunk) in descriptors.chunks(BATCH).enumerate() {
            let batch = &mut buffers[..chunk.len()];
            for probe in batch.iter_mut() {
                self.start(probe);
            }
            loop {
                for probe in batch.iter() {
                    for node in probe.frontier.iter().filter_map(|&(_, _, at)| self.nodes.get(at as usize)) {
                        if let Some(kids) = self.nodes.get(node.first as usize..(node.first + node.count) as usize) {
                            prefetch::all(kids);
                        }
                    }
                }
                let mut more = false;
                for (d, probe) in chunk.iter().zip(batch.iter_mut()) {
                    more |= self.descend(d, search, probe);
                }
                if !more {
                    break;
                }
            }
            for (i, probe) in batch.iter_mut().enumerate() {
                probe.finish();
                each(c * BATCH + i, &probe.words);
            }
        }
    }

    /// Sets `probe` at the root.
    fn start(&self, probe: &mut Probe) {
        probe.leaves.clear();
        probe.frontier.clear();
        probe.frontier.push((0, 0, 0));
        probe.level = 0;
    }

    /// One level of [`Vocabulary::words_of`]'s search: whether any branch goes on.
    #[inline(always)]
    fn descend(&self, d: &Descriptor, search: WordSearch, probe: &mut Probe) -> bool {
        // (slack so far, path, node): a small best-first search over the tree, at most `search.beam` branches a
        // level, the leaves met on the way kept as they are met (at most `search.probes`, the nearest). The path
        // (child numbers, four bits a level from the top) breaks ties the way the greedy descent does, so the
        // greedy word always comes first.
        let WordSearch { probes, beam, margin } = search;
        let Probe { leaves, frontier, next, level, .. } = probe;
        if frontier.is_empty() {
            return false;
        }
        let mut dist = [0u32; BRANCHING];
        next.clear();
        for &(slack, path, at) in frontier.iter() {
            let node = self.nodes[at as usize];
            if node.count == 0 {
                keep_nearest(leaves, (slack, path, node.first), probes);
                continue;
            }
            let kids = &self.nodes[node.first as usize..(node.first + node.count) as usize];
            distances(kids, d, &mut dist[..kids.len()]);
            let dist = &dist[..kids.len()];
            let best = dist.iter().copied().min().unwrap_or(0);
            // The children within the margin (`slack + di - best <= margin`; a kept branch's slack never exceeds
            // the margin), as a bit mask: most are not, and a branch per child mispredicted often.
            let limit = best.saturating_add(margin.saturating_sub(slack));
            let mut within = dist.iter().enumerate().fold(0u32, |m, (i, &di)| m | u32::from(di <= limit) << i);
            while within != 0 {
                let i = within.trailing_zeros() as usize;
                within &= within - 1;
                let entry = (slack + (dist[i] - best), path | (i as u32) << (4 * (MAX_DEPTH - 1 - *level)));
                let kid = &kids[i];
                if kid.count == 0 {
                    keep_nearest(leaves, (entry.0, entry.1, kid.first), probes);
                } else {
                    keep_nearest(next, (entry.0, entry.1, node.first + i as u32), beam);
                }
            }
        }
        std::mem::swap(frontier, next);
        *level += 1;
        !frontier.is_empty()
    }

    /// Starts fetching the number of `word`'s set of signature positions into the cache.
    #[inline(always)]
    pub(crate) fn prefetch_signature_set(&self, word: u32) {
        prefetch::one(self.word_signature.get(word as usize));
    }

    /// Starts fetching `word`'s signature positions into the cache (best once its set's number is there).
    #[inline(always)]
    pub(crate) fn prefetch_signature(&self, word: u32) {
        prefetch::one(self.signature_bits.get(self.signature_set(word)));
    }

    /// The signature of `d` in `word`: its bits at the word's signature positions.
    pub(crate) fn signature(&self, word: u32, d: &Descriptor) -> u32 {
        let mut s = 0u32;
        for (j, &bit) in self.signature_bits_of(word).iter().enumerate() {
            s |= (((d[usize::from(bit / 64)] >> (bit % 64)) & 1) as u32) << j;
        }
        s
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<TreeNode>()
            + self.signature_bits.capacity() * SIGNATURE_BITS
            + self.word_signature.capacity() * 4
    }
}

/// Inserts `entry` into `list`, kept sorted by (slack, path) and at most `cap` long: a selection of the nearest
/// branches, where sorting every candidate branch took 7% of the shortlist's time.
fn keep_nearest<T: Copy>(list: &mut Vec<(u32, u32, T)>, entry: (u32, u32, T), cap: usize) {
    let key = |e: &(u32, u32, T)| (e.0, e.1);
    if list.len() >= cap && list.last().is_none_or(|last| key(last) <= key(&entry)) {
        return;
    }
    let at = list.partition_point(|e| key(e) < key(&entry));
    list.insert(at, entry);
    list.truncate(cap);
}

/// Splits `members` into up to [`BRANCHING`] clusters and recurses; an empty list for a leaf.
fn split(members: Vec<Descriptor>, depth: usize, path: u64, min_split: usize) -> Vec<Node> {
    if depth >= MAX_DEPTH || members.len() < min_split {
        return Vec::new();
    }
    let centres = k_majority(&members, path);
    if centres.len() < 2 {
        return Vec::new();
    }
    let mut groups: Vec<Vec<Descriptor>> = vec![Vec::new(); centres.len()];
    let mut dist = vec![0u32; centres.len()];
    for d in &members {
        distances(&centres, d, &mut dist);
        groups[argmin(&dist)].push(*d);
    }
    drop(members);
    // The children's leaves share one set of signature bits (see `Vocabulary::signature_bits`).
    let bits = balanced_bits(&groups);
    centres
        .into_par_iter()
        .zip(groups)
        .enumerate()
        .map(|(i, (centroid, group))| Node {
            centroid,
            children: split(group, depth + 1, path * BRANCHING as u64 + i as u64, min_split),
            bits,
        })
        .collect()
}

/// The [`SIGNATURE_BITS`] bit positions on which the members of each of `groups` are most evenly split within
/// their own group (the imbalance of each bit summed over the groups), in increasing order (spread over the
/// descriptor when there are too few members to tell).
fn balanced_bits(groups: &[Vec<Descriptor>]) -> [u8; SIGNATURE_BITS] {
    let mut imbalance = [0i64; 256];
    for group in groups {
        let mut counter = BitCounter::default();
        for d in group {
            counter.add(d);
        }
        counter.flush();
        let n = group.len() as i64;
        for (sum, &ones) in imbalance.iter_mut().zip(&counter.wide) {
            *sum += (2 * i64::from(ones) - n).abs();
        }
    }
    // (imbalance, tie-break, bit): ties (always, with no members) go to positions spread by the stride 53. The bit
    // itself is what is kept: keeping the tie-break instead (as until 2026-11-30) gave each word bits unrelated
    // to its members.
    let mut order: Vec<(i64, usize, usize)> =
        imbalance.iter().enumerate().map(|(bit, &sum)| (sum, (bit * 53 + 7) % 256, bit)).collect();
    order.sort_unstable();
    let mut bits = [0u8; SIGNATURE_BITS];
    for (b, &(_, _, bit)) in bits.iter_mut().zip(&order) {
        *b = bit as u8;
    }
    bits.sort_unstable();
    bits
}

/// K-majority clustering of `members`: k-means++ seeding, then rounds of assigning each member to its nearest
/// centre and moving each centre to its members' bitwise majority. Seeded by the node's path in the tree, so
/// that the result depends on nothing but the members.
fn k_majority(members: &[Descriptor], path: u64) -> Vec<Descriptor> {
    let mut rng = SplitMix(path.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x6b6e_6f63_6b6f_6666);
    let n = members.len();
    // k-means++: each new centre drawn with probability proportional to the squared distance to the nearest
    // centre so far, which spreads the centres over the data.
    let mut centres = vec![members[(rng.next() % n as u64) as usize]];
    let mut nearest_sq: Vec<u64> = members.iter().map(|d| u64::from(distance(d, &centres[0])).pow(2)).collect();
    while centres.len() < BRANCHING {
        let total: u64 = nearest_sq.iter().sum();
        if total == 0 {
            break; // fewer distinct descriptors than clusters
        }
        let mut pick = rng.next() % total;
        let chosen = nearest_sq
            .iter()
            .position(|&w| {
                if pick < w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .unwrap_or(n - 1);
        let c = members[chosen];
        centres.push(c);
        for (sq, d) in nearest_sq.iter_mut().zip(members) {
            *sq = (*sq).min(u64::from(distance(d, &c)).pow(2));
        }
    }
    let k = centres.len();
    let mut assignment = vec![u8::MAX; n];
    let mut dist = vec![0u32; k];
    for _ in 0..ROUNDS {
        let mut changed = false;
        let mut counters: Vec<BitCounter> = (0..k).map(|_| BitCounter::default()).collect();
        for (a, d) in assignment.iter_mut().zip(members) {
            distances(&centres, d, &mut dist);
            let best = argmin(&dist) as u8;
            changed |= *a != best;
            *a = best;
            counters[best as usize].add(d);
        }
        if !changed {
            break;
        }
        for (centre, counter) in centres.iter_mut().zip(&mut counters) {
            if let Some(majority) = counter.majority(centre) {
                *centre = majority;
            }
        }
    }
    centres
}

fn argmin(values: &[u32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v < values[best] {
            best = i;
        }
    }
    best
}

/// Per-bit counts of 1s over many descriptors: eight bits at a time through a lookup table into byte lanes of a
/// u64, flushed to wide counters every 255 additions (32 table additions per descriptor instead of 256).
struct BitCounter {
    lanes: [u64; 32],
    wide: [u32; 256],
    pending: u32,
    total: u32,
}

impl Default for BitCounter {
    fn default() -> Self {
        BitCounter { lanes: [0; 32], wide: [0; 256], pending: 0, total: 0 }
    }
}

/// Byte `b` spread into eight byte lanes: lane `i` holds bit `i` of `b`.
const SPREAD: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut i = 0;
        while i < 8 {
            table[b] |= (((b >> i) & 1) as u64) << (8 * i);
            i += 1;
        }
        b += 1;
    }
    table
};

impl BitCounter {
    fn add(&mut self, d: &Descriptor) {
        for (w, word) in d.iter().enumerate() {
            for byte in 0..8 {
                self.lanes[w * 8 + byte] += SPREAD[((word >> (8 * byte)) & 0xff) as usize];
            }
        }
        self.pending += 1;
        self.total += 1;
        if self.pending == 255 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for (j, lane) in self.lanes.iter_mut().enumerate() {
            for i in 0..8 {
                self.wide[j * 8 + i] += ((*lane >> (8 * i)) & 0xff) as u32;
            }
            *lane = 0;
        }
        self.pending = 0;
    }

    /// The bitwise majority; ties keep `current`'s bit (so a centre does not flicker). `None` with no members.
    fn majority(&mut self, current: &Descriptor) -> Option<Descriptor> {
        self.flush();
        if self.total == 0 {
            return None;
        }
        let mut out = [0u64; 4];
        for (bit, &ones) in self.wide.iter().enumerate() {
            let (w, b) = (bit / 64, bit % 64);
            let set = match (2 * ones).cmp(&self.total) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => current[w] >> b & 1 == 1,
            };
            out[w] |= u64::from(set) << b;
        }
        Some(out)
    }
}

/// SplitMix64: a tiny, well-mixed, seedable generator (training must not depend on a crate's RNG stream).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[inline(always)]
fn distance(a: &Descriptor, b: &Descriptor) -> u32 {
    (a[0] ^ b[0]).count_ones() + (a[1] ^ b[1]).count_ones() + (a[2] ^ b[2]).count_ones() + (a[3] ^ b[3]).count_ones()
}

/// Something with a centre: a bare descriptor while training, a tree node while searching.
trait Centre {
    fn centre(&self) -> &Descriptor;
}

impl Centre for Descriptor {
    #[inline(always)]
    fn centre(&self) -> &Descriptor {
        self
    }
}

impl Centre for TreeNode {
    #[inline(always)]
    fn centre(&self) -> &Descriptor {
        &self.centroid
    }
}

#[inline(always)]
fn distances_plain<C: Centre>(centres: &[C], d: &Descriptor, out: &mut [u32]) {
    for (o, c) in out.iter_mut().zip(centres) {
        *o = distance(c.centre(), d);
    }
}

/// The distance from `d` to each centre. The hot loop of training and of every query descriptor's descent:
/// compiled with `popcnt` where the processor has it (the default x86-64 target does not assume it).
fn distances<C: Centre>(centres: &[C], d: &Descriptor, out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
    {
        // SAFETY: the processor supports these features, checked just above.
        unsafe { distances_avx512(centres, d, out) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the processor supports popcnt, checked just above.
        unsafe { distances_popcnt(centres, d, out) };
        return;
    }
    distances_plain(centres, d, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn distances_popcnt<C: Centre>(centres: &[C], d: &Descriptor, out: &mut [u32]) {
    distances_plain(centres, d, out);
}

/// [`distances`] with AVX-512's popcount, four centres at a time: each centre's 256 bits in one register, and the
/// four counts summed across their words with two unpacks and a swap of halves. The vocabulary descent
/// computes 16 of these per node it enters.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512vpopcntdq")]
fn distances_avx512<C: Centre>(centres: &[C], d: &Descriptor, out: &mut [u32]) {
    use std::arch::x86_64::*;
    // SAFETY: a descriptor is 32 bytes; unaligned loads.
    let query = unsafe { _mm256_loadu_si256(d.as_ptr().cast()) };
    let count = |c: &C| {
        // SAFETY: as above.
        let centre = unsafe { _mm256_loadu_si256(c.centre().as_ptr().cast()) };
        _mm256_popcnt_epi64(_mm256_xor_si256(centre, query))
    };
    let mut groups = centres.chunks_exact(4);
    let mut outs = out.chunks_exact_mut(4);
    for (c, o) in (&mut groups).zip(&mut outs) {
        let (p0, p1, p2, p3) = (count(&c[0]), count(&c[1]), count(&c[2]), count(&c[3]));
        // Lanes: p0's words 0+1, p1's 0+1, p0's 2+3, p1's 2+3 (and the same for p2, p3).
        let s01 = _mm256_add_epi64(_mm256_unpacklo_epi64(p0, p1), _mm256_unpackhi_epi64(p0, p1));
        let s23 = _mm256_add_epi64(_mm256_unpacklo_epi64(p2, p3), _mm256_unpackhi_epi64(p2, p3));
        let total =
            _mm256_add_epi64(_mm256_permute2x128_si256::<0x20>(s01, s23), _mm256_permute2x128_si256::<0x31>(s01, s23));
        // SAFETY: `o` holds four u32s.
        unsafe { _mm_storeu_si128(o.as_mut_ptr().cast(), _mm256_cvtepi64_epi32(total)) };
    }
    for (c, o) in groups.remainder().iter().zip(outs.into_remainder()) {
        *o = distance(c.centre(), d);
    }
}

/// The position of the centre nearest to `d` and its distance.
fn nearest<C: Centre>(centres: &[C], d: &Descriptor) -> (usize, u32) {
    let mut dist = [0u32; BRANCHING];
    let n = centres.len().min(BRANCHING);
    distances(&centres[..n], d, &mut dist[..n]);
    let best = argmin(&dist[..n]);
    (best, dist[best])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_descriptors(seed: u64, n: usize) -> Vec<Descriptor> {
        let mut rng = SplitMix(seed);
        (0..n).map(|_| [rng.next(), rng.next(), rng.next(), rng.next()]).collect()
    }

    fn flip(d: &Descriptor, bits: usize, rng: &mut SplitMix) -> Descriptor {
        let mut d = *d;
        for _ in 0..bits {
            let b = (rng.next() % 256) as usize;
            d[b / 64] ^= 1 << (b % 64);
        }
        d
    }

    #[test]
    fn training_is_deterministic_and_covers_every_descriptor() {
        let data = random_descriptors(7, 5000);
        let a = Vocabulary::train(&data, data.len());
        let b = Vocabulary::train(&data, data.len());
        assert_eq!(a, b);
        assert!(a.words > 16, "{} words", a.words);
        for d in &data[..100] {
            assert!(a.word_of(d) < a.words);
        }
    }

    #[test]
    fn signatures_are_made_of_the_bits_a_word_splits_on() {
        // Every descriptor has its first 64 bits set: those tell no two apart, and no signature may use them.
        let data: Vec<Descriptor> =
            random_descriptors(5, 5000).into_iter().map(|d| [u64::MAX, d[1], d[2], d[3]]).collect();
        let vocabulary = Vocabulary::train(&data, data.len());
        let mut members = vec![0usize; vocabulary.words as usize];
        for d in &data {
            members[vocabulary.word_of(d) as usize] += 1;
        }
        // Words with a few training descriptors (a word with none has nothing to choose by).
        let held = members.iter().filter(|&&m| m >= 4).count();
        assert!(held > 100, "{held} of {} words hold 4 descriptors or more", vocabulary.words);
        for (word, _) in members.iter().enumerate().filter(|&(_, &m)| m >= 4) {
            let bits = vocabulary.signature_bits_of(word as u32);
            assert!(bits.iter().all(|&b| b >= 64), "a constant bit in {bits:?}");
        }
        // One set of bits for each group of sibling words, not one a word.
        assert!(
            vocabulary.signature_bits.len() * 4 < vocabulary.words as usize,
            "{} sets",
            vocabulary.signature_bits.len()
        );
    }

    #[test]
    fn a_noisy_query_meets_its_own_cluster_and_no_other() {
        // 40 clusters of noisy copies of one descriptor each (a point seen in 40 photos, 12 bits of noise).
        let mut rng = SplitMix(3);
        let centres = random_descriptors(11, 40);
        let data: Vec<Descriptor> =
            centres.iter().flat_map(|c| (0..50).map(|_| flip(c, 12, &mut rng)).collect::<Vec<_>>()).collect();
        let vocabulary = Vocabulary::train(&data, data.len());
        let word_cluster: Vec<(u32, usize)> =
            data.iter().enumerate().map(|(i, d)| (vocabulary.word_of(d), i / 50)).collect();
        let mut probe = Probe::default();
        let mut met = 0;
        for (i, c) in centres.iter().enumerate() {
            let query = flip(c, 20, &mut rng);
            vocabulary.words_of(&query, WordSearch { probes: 3, beam: 3, margin: 24 }, &mut probe);
            assert!(!probe.words.is_empty() && probe.words.len() <= 3);
            assert_eq!(probe.words[0], vocabulary.word_of(&query), "nearest word first");
            let clusters: Vec<usize> =
                word_cluster.iter().filter(|(w, _)| probe.words.contains(w)).map(|&(_, cluster)| cluster).collect();
            assert!(clusters.iter().all(|&cluster| cluster == i), "query {i} met clusters {clusters:?}");
            met += usize::from(!clusters.is_empty());
        }
        assert!(met >= 36, "{met} of 40 queries met their cluster");
    }

    #[test]
    fn descents_side_by_side_give_each_descriptor_its_own_words() {
        let data = random_descriptors(13, 3000);
        let vocabulary = Vocabulary::train(&data, data.len());
        // Queries near catalog descriptors and far from all, more than one batch and a partial one.
        let mut rng = SplitMix(17);
        let queries: Vec<Descriptor> =
            data.iter().step_by(41).map(|d| flip(d, 30, &mut rng)).chain(random_descriptors(19, 30)).collect();
        let mut buffers = Vec::new();
        let mut seen = 0;
        let search = WordSearch { probes: 3, beam: 2, margin: 8 };
        vocabulary.words_of_each(&queries, search, &mut buffers, |i, words| {
            assert_eq!(i, seen, "in order");
            seen += 1;
            let mut alone = Probe::default();
            vocabulary.words_of(&queries[i], search, &mut alone);
            assert_eq!(words, alone.words.as_slice(), "query {i}");
        });
        assert_eq!(seen, queries.len());
    }

    #[test]
    fn a_narrow_beam_keeps_the_nearest_word_first_and_still_finds_others() {
        let data = random_descriptors(31, 6000);
        let vocabulary = Vocabulary::train(&data, data.len());
        let mut rng = SplitMix(37);
        let queries: Vec<Descriptor> = data.iter().step_by(29).map(|d| flip(d, 40, &mut rng)).collect();
        for beam in 1..=3 {
            let search = WordSearch { probes: 3, beam, margin: 8 };
            let mut extra = 0;
            let mut probe = Probe::default();
            for query in &queries {
                vocabulary.words_of(query, search, &mut probe);
                assert_eq!(probe.words.first(), Some(&vocabulary.word_of(query)), "beam {beam}: nearest word first");
                let mut distinct = probe.words.clone();
                distinct.sort_unstable();
                distinct.dedup();
                assert!(distinct.len() == probe.words.len() && distinct.len() <= 3, "beam {beam}: {:?}", probe.words);
                extra += probe.words.len() - 1;
            }
            // The nearest word's siblings within the margin come on the last level of the one branch followed.
            assert!(extra >= queries.len() / 2, "beam {beam}: {extra} extra words for {} queries", queries.len());
        }
    }

    #[test]
    fn every_distance_kernel_counts_the_differing_bits() {
        let centres = random_descriptors(23, 16);
        for n in [16, 13, 3, 1] {
            for d in random_descriptors(29, 20) {
                let mut plain = vec![0; n];
                distances_plain(&centres[..n], &d, &mut plain);
                assert_eq!(plain, centres[..n].iter().map(|c| distance(c, &d)).collect::<Vec<_>>());
                let mut dispatched = vec![0; n];
                distances(&centres[..n], &d, &mut dispatched);
                assert_eq!(dispatched, plain, "{n} centres");
            }
        }
    }

    #[test]
    fn bit_counter_majority_matches_a_plain_count() {
        let data = random_descriptors(5, 601);
        let mut counter = BitCounter::default();
        for d in &data {
            counter.add(d);
        }
        let majority = counter.majority(&[0; 4]).unwrap_or_default();
        for bit in 0..256 {
            let ones = data.iter().filter(|d| d[bit / 64] >> (bit % 64) & 1 == 1).count();
            assert_eq!(majority[bit / 64] >> (bit % 64) & 1 == 1, ones * 2 > data.len(), "bit {bit}");
        }
    }
}
