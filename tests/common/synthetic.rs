//! Seeded synthetic fingerprints, for tests and benches of the index (benches include this file by path).

use knockoff::{ColourSignature, Fingerprint, Hash, HashKind, PdqHashes};

/// A deterministic pseudo-random source (xorshift), so failures and bench inputs reproduce.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// 256 random bits.
    pub fn words(&mut self) -> [u64; 4] {
        [self.next(), self.next(), self.next(), self.next()]
    }
}

/// A fingerprint whose plain PDQ hash is `pdq` and whose other PDQ variants and 64-bit hashes are random; size and
/// colour fixed.
pub fn fingerprint(pdq: [u64; 4], rng: &mut Rng) -> Fingerprint {
    let mut dihedral = [Hash::from_words(HashKind::Pdq, pdq); 8];
    for h in dihedral.iter_mut().skip(1) {
        *h = Hash::from_words(HashKind::Pdq, rng.words());
    }
    Fingerprint {
        width: 640,
        height: 480,
        ahash: Hash::from_words(HashKind::AHash, [rng.next(), 0, 0, 0]),
        dhash: Hash::from_words(HashKind::DHash, [rng.next(), 0, 0, 0]),
        phash: Hash::from_words(HashKind::PHash, [rng.next(), 0, 0, 0]),
        pdq: PdqHashes { dihedral, quality: 100 },
        photo_pdq: None,
        colour: ColourSignature { bins: [16; 16] },
        local: None,
        keypoint_budget: None,
    }
}
