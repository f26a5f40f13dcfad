//! The three classic 64-bit perceptual hashes (aHash, dHash, pHash), computed by `image_hasher` and wrapped so
//! that each value carries its kind.

use image::RgbImage;
use image_hasher::{FilterType, HashAlg, Hasher, HasherConfig};

use super::{Hash, HashKind};

/// Hashers for aHash, dHash and pHash, built once (building the DCT plan is not free) and shared across threads.
///
/// ```
/// let hashers = knockoff::hash::ClassicHashers::new();
/// let [ahash, dhash, phash] = hashers.hash(&image::RgbImage::new(64, 48));
/// assert_eq!((ahash.bits(), dhash.bits(), phash.bits()), (64, 64, 64));
/// ```
pub struct ClassicHashers {
    ahash: Hasher,
    dhash: Hasher,
    phash: Hasher,
}

impl ClassicHashers {
    /// Builds the three hashers.
    pub fn new() -> Self {
        // Triangle (bilinear) resizing: the input is already a small working image, where Lanczos's sharper
        // kernel buys nothing and ringing around hard product edges costs stability.
        let config = || HasherConfig::new().hash_size(8, 8).resize_filter(FilterType::Triangle);
        ClassicHashers {
            ahash: config().hash_alg(HashAlg::Mean).to_hasher(),
            dhash: config().hash_alg(HashAlg::Gradient).to_hasher(),
            // DCT of a 16x16 thumbnail, lowest 8x8 coefficients against their median.
            phash: config().hash_alg(HashAlg::Median).preproc_dct().to_hasher(),
        }
    }

    /// `[aHash, dHash, pHash]` of `image` (best a small working image: each hasher resizes it to 16x16 or less).
    pub fn hash(&self, image: &RgbImage) -> [Hash; 3] {
        [
            to_hash(HashKind::AHash, &self.ahash, image),
            to_hash(HashKind::DHash, &self.dhash, image),
            to_hash(HashKind::PHash, &self.phash, image),
        ]
    }
}

impl Default for ClassicHashers {
    fn default() -> Self {
        Self::new()
    }
}

fn to_hash(kind: HashKind, hasher: &Hasher, image: &RgbImage) -> Hash {
    let bytes = hasher.hash_image(image).as_bytes().to_vec();
    let mut word = [0u8; 8];
    // image_hasher packs bit i of its bit sequence into byte i / 8; our word keeps that sequence as bits 0..64.
    for (dst, src) in word.iter_mut().zip(&bytes) {
        *dst = *src;
    }
    Hash::from_words(kind, [u64::from_le_bytes(word), 0, 0, 0])
}
