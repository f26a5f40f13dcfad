//! Perceptual hashes: one algorithm per file, one value type for all of them.
//!
//! A [`Hash`](struct@Hash) always records its [`HashKind`], so comparing an aHash with a PDQ hash is an error rather than a
//! meaningless number (the weakness of `image_hasher`'s plain bit vectors that we avoid).
//!
//! Bit order: bit `k` of a hash is bit `k % 64` of word `k / 64`; the hex form is the hash read as one big-endian
//! number, so for PDQ it is exactly the string Meta's reference implementation prints.

mod classic;
pub mod pdq;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

pub use classic::ClassicHashers;
pub use pdq::{Dihedral, PdqHashes};

/// The hash algorithms knockoff computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashKind {
    /// Average hash: 8x8 grey thumbnail, each bit is "brighter than the mean". 64 bits. Robust to resizing,
    /// recompression and global brightness; weak against crops and local edits.
    AHash,
    /// Difference hash: 9x8 grey thumbnail, each bit is "brighter than the right neighbour". 64 bits. Robust to
    /// resizing, recompression, brightness and contrast; weak against crops.
    DHash,
    /// DCT hash: low-frequency DCT coefficients of a 16x16 grey thumbnail against their median. 64 bits. The most
    /// robust of the three 64-bit hashes to blur, noise and recompression.
    PHash,
    /// Meta's PDQ: 16x16 DCT coefficients of a tent-filtered 64x64 luma image against their median. 256 bits,
    /// with a quality score and the 8 dihedral variants (mirrors and right-angle rotations) from one DCT.
    Pdq,
}

impl HashKind {
    /// All kinds, in a fixed order.
    pub const ALL: [HashKind; 4] = [HashKind::AHash, HashKind::DHash, HashKind::PHash, HashKind::Pdq];

    /// The number of bits in a hash of this kind.
    pub const fn bits(self) -> u32 {
        match self {
            HashKind::AHash | HashKind::DHash | HashKind::PHash => 64,
            HashKind::Pdq => 256,
        }
    }

    /// Lower-case name, as used in reports and JSON.
    pub const fn name(self) -> &'static str {
        match self {
            HashKind::AHash => "ahash",
            HashKind::DHash => "dhash",
            HashKind::PHash => "phash",
            HashKind::Pdq => "pdq",
        }
    }

    const fn words(self) -> usize {
        self.bits() as usize / 64
    }
}

impl fmt::Display for HashKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A perceptual hash value that knows its kind and size.
///
/// ```
/// use knockoff::{Hash, HashKind};
///
/// let a = Hash::from_hex(HashKind::PHash, "f0f0f0f0f0f0f0f0")?;
/// let b = Hash::from_hex(HashKind::PHash, "f0f0f0f0f0f0f0f1")?;
/// assert_eq!(a.distance(&b)?, 1);
///
/// // Hashes of different kinds do not compare.
/// let c = Hash::from_hex(HashKind::AHash, "f0f0f0f0f0f0f0f0")?;
/// assert!(a.distance(&c).is_err());
/// # Ok::<(), knockoff::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hash {
    kind: HashKind,
    /// Unused words (beyond `kind.bits()`) are always zero.
    words: [u64; 4],
}

impl Hash {
    /// A hash of `kind` from its words, least significant first. Words beyond the kind's size must be zero and are
    /// cleared.
    pub fn from_words(kind: HashKind, words: [u64; 4]) -> Self {
        let mut words = words;
        for w in words.iter_mut().skip(kind.words()) {
            *w = 0;
        }
        Hash { kind, words }
    }

    /// A hash of `kind` with bit `k` set wherever `bit(k)` is true, for `k` in `0..kind.bits()`.
    pub(crate) fn from_fn(kind: HashKind, mut bit: impl FnMut(usize) -> bool) -> Self {
        let mut words = [0u64; 4];
        for k in 0..kind.bits() as usize {
            if bit(k) {
                words[k / 64] |= 1 << (k % 64);
            }
        }
        Hash { kind, words }
    }

    /// Parses the hex form (as printed by [`Hash::to_hex`]); upper or lower case.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidHash`] if the string is not `kind.bits() / 4` hex digits.
    pub fn from_hex(kind: HashKind, hex: &str) -> Result<Self> {
        let invalid = |message: String| Error::new(ErrorKind::InvalidHash { kind, message });
        let digits = kind.bits() as usize / 4;
        if hex.len() != digits {
            return Err(invalid(format!("expected {digits} hex digits, got {}", hex.len())));
        }
        let mut words = [0u64; 4];
        for (i, chunk) in hex.as_bytes().chunks(16).enumerate() {
            let text = std::str::from_utf8(chunk).map_err(|_| invalid("not ASCII".into()))?;
            let value = u64::from_str_radix(text, 16).map_err(|e| invalid(format!("{text:?}: {e}")))?;
            // The first chunk is the most significant word.
            words[kind.words() - 1 - i] = value;
        }
        Ok(Hash { kind, words })
    }

    /// The kind of hash this is.
    pub fn kind(&self) -> HashKind {
        self.kind
    }

    /// The number of bits.
    pub fn bits(&self) -> u32 {
        self.kind.bits()
    }

    /// The words, least significant first; only the first `bits() / 64` are used.
    pub fn words(&self) -> &[u64] {
        &self.words[..self.kind.words()]
    }

    /// Whether bit `k` is set (false beyond the hash's size).
    pub fn bit(&self, k: usize) -> bool {
        k < self.kind.bits() as usize && self.words[k / 64] >> (k % 64) & 1 == 1
    }

    /// The number of set bits.
    pub fn count_ones(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    /// Hamming distance: the number of differing bits, from 0 to `bits()`.
    ///
    /// # Errors
    /// [`ErrorKind::HashKindMismatch`] if the hashes are of different kinds.
    pub fn distance(&self, other: &Hash) -> Result<u32> {
        if self.kind != other.kind {
            return Err(Error::new(ErrorKind::HashKindMismatch { left: self.kind, right: other.kind }));
        }
        Ok(self.distance_unchecked(other))
    }

    /// Hamming distance of two hashes known to be of the same kind (checked in debug builds).
    pub(crate) fn distance_unchecked(&self, other: &Hash) -> u32 {
        debug_assert_eq!(self.kind, other.kind);
        (self.words[0] ^ other.words[0]).count_ones()
            + (self.words[1] ^ other.words[1]).count_ones()
            + (self.words[2] ^ other.words[2]).count_ones()
            + (self.words[3] ^ other.words[3]).count_ones()
    }

    /// The hex form: the hash as one big-endian number, `bits() / 4` lower-case digits. For PDQ this is the same
    /// string Meta's reference implementation prints.
    pub fn to_hex(&self) -> String {
        self.words().iter().rev().map(|w| format!("{w:016x}")).collect()
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Parses `kind:hex`, the [`fmt::Debug`] form, e.g. `pdq:f8f8...`.
impl FromStr for Hash {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (name, hex) = s.split_once(':').ok_or_else(|| {
            Error::new(ErrorKind::InvalidHash { kind: HashKind::Pdq, message: "expected kind:hex".into() })
        })?;
        let kind = HashKind::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            Error::new(ErrorKind::InvalidHash { kind: HashKind::Pdq, message: format!("unknown hash kind {name:?}") })
        })?;
        Hash::from_hex(kind, hex)
    }
}

/// Serialised as the string `kind:hex` (e.g. `"phash:f0f0f0f0f0f0f0f0"`): compact, readable, and still carrying the
/// kind.
impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{self:?}"))
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_keeps_word_order() {
        let hex = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        let h = Hash::from_hex(HashKind::Pdq, hex).unwrap();
        assert_eq!(h.to_hex(), hex);
        // Least significant word last in the string.
        assert_eq!(h.words()[0], 0x33e6_b39c_4e9c_9b22);
        let parsed: Hash = format!("{h:?}").parse().unwrap();
        assert_eq!(parsed, h);
    }

    #[test]
    fn bad_hex_is_a_typed_error() {
        for bad in ["", "123", "zzzzzzzzzzzzzzzz", "f0f0f0f0f0f0f0f0f0"] {
            let err = Hash::from_hex(HashKind::AHash, bad).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::InvalidHash { .. }), "{bad}");
        }
        assert!("nope:00".parse::<Hash>().is_err());
    }

    #[test]
    fn serde_round_trip() {
        let h = Hash::from_words(HashKind::DHash, [0x0123_4567_89ab_cdef, 0, 0, 0]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, "\"dhash:0123456789abcdef\"");
        let back: Hash = serde_json::from_str(&json).unwrap();
        assert_eq!(back, h);
    }
}
