//! A view of a PNG file without the ancillary chunks we never use.
//!
//! Colour profiles (`iCCP`) and compressed text (`zTXt`, `iTXt`) are zlib streams that the `png` crate inflates
//! while it reads the header, before any pixel limit applies: a 1 MB `iCCP` bomb inflated to 1 GB, and with
//! `image`'s allocation limit it may still take the whole limit. We fingerprint pixels, so the decoder is given a
//! spliced view of the file that leaves out every ancillary chunk except transparency (`tRNS`, which changes the
//! pixels), EXIF (`eXIf`, stored uncompressed, for the orientation) and an APNG's animation chunks. Critical
//! chunks, known or not, are all kept, so a file the decoder would refuse is still refused. Nothing is copied: the
//! view reads the original bytes.

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::ops::Range;

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
/// Ancillary chunks that change what we decode: transparency, orientation, and an APNG's animation (its control,
/// each frame's control and data; frame data is inflated frame by frame under the decoder's limits).
const KEPT_ANCILLARY: [&[u8; 4]; 5] = [b"tRNS", b"eXIf", b"acTL", b"fcTL", b"fdAT"];

/// The byte ranges of `bytes` the decoder should see: the signature and every chunk worth keeping, in order. A
/// chunk that runs past the end (a truncated file) and anything after it are kept as they are, so the decoder
/// reports the damage itself.
pub(super) fn kept_ranges(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut ranges = Vec::with_capacity(8);
    ranges.push(0..SIGNATURE.len().min(bytes.len()));
    for (at, kind, end) in chunks(bytes) {
        let Some(end) = end else {
            ranges.push(at..bytes.len());
            break;
        };
        let critical = kind[0] & 0x20 == 0;
        if critical || KEPT_ANCILLARY.iter().any(|k| k.as_slice() == kind) {
            match ranges.last_mut() {
                Some(last) if last.end == at => last.end = end,
                _ => ranges.push(at..end),
            }
        }
    }
    ranges
}

/// Whether the file declares an animation (APNG): an `acTL` chunk before the image data, where the format puts it
/// and decoders look for it. Read from the chunks' heads only, so that a still PNG is not parsed twice.
pub(super) fn is_animated(bytes: &[u8]) -> bool {
    chunks(bytes).take_while(|(_, kind, _)| kind != b"IDAT").any(|(_, kind, _)| &kind == b"acTL")
}

/// The chunks after the signature, up to `IEND`: where each starts, its type, and where it ends (length, type,
/// data, CRC), or `None` for a chunk that runs past the end of the file (the last one given). Any length is
/// handled: it only decides where the next chunk starts, checked against the file's end.
fn chunks(bytes: &[u8]) -> impl Iterator<Item = (usize, [u8; 4], Option<usize>)> + '_ {
    let mut next = Some(SIGNATURE.len());
    std::iter::from_fn(move || {
        let at = next.filter(|&at| at < bytes.len())?;
        let head = bytes.get(at..at + 8);
        let kind = head.map_or([0; 4], |h| [h[4], h[5], h[6], h[7]]);
        let end = head
            .and_then(|h| at.checked_add(12)?.checked_add(u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize))
            .filter(|&end| end <= bytes.len());
        next = end.filter(|_| &kind != b"IEND");
        Some((at, kind, end))
    })
}

/// A `Read + BufRead + Seek` over the concatenation of some ranges of a byte slice.
pub(super) struct Spliced<'a> {
    bytes: &'a [u8],
    ranges: Vec<Range<usize>>,
    /// Where each range ends in the spliced view (a running sum of their lengths): a read finds its range by binary
    /// search. A file can hold millions of ranges (every dropped chunk between two kept ones starts one), and a
    /// linear search from the first on every read made a 4 MB PNG of empty chunks take 26 seconds to decode.
    ends: Vec<u64>,
    /// Position in the spliced view.
    pos: u64,
    len: u64,
}

impl<'a> Spliced<'a> {
    pub(super) fn new(bytes: &'a [u8], ranges: Vec<Range<usize>>) -> Self {
        let ends: Vec<u64> = ranges
            .iter()
            .scan(0u64, |end, r| {
                *end += r.len() as u64;
                Some(*end)
            })
            .collect();
        let len = ends.last().copied().unwrap_or(0);
        Spliced { bytes, ranges, ends, pos: 0, len }
    }

    /// The original bytes from the current position to the end of its range.
    fn current(&self) -> &'a [u8] {
        // The first range that ends past the position holds it (empty ranges end where the one before did).
        let i = self.ends.partition_point(|&end| end <= self.pos);
        let Some(r) = self.ranges.get(i) else { return &[] };
        let start = self.ends[i] - r.len() as u64;
        let offset = (self.pos - start) as usize;
        &self.bytes[r.start + offset..r.end]
    }
}

impl Read for Spliced<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Spliced<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        Ok(self.current())
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount as u64).min(self.len);
    }
}

impl Seek for Spliced<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before 0"))?;
        self.pos = target.min(self.len);
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0; 4]);
        out
    }

    #[test]
    fn profiles_and_text_are_left_out_and_the_rest_reads_through() {
        let mut file = SIGNATURE.to_vec();
        for (kind, data) in [
            (b"IHDR", &[1u8; 13][..]),
            (b"iCCP", &[2; 40]),
            (b"tRNS", &[3; 2]),
            (b"zTXt", &[4; 9]),
            (b"IDAT", &[5; 7]),
            (b"IEND", &[]),
        ] {
            file.extend(chunk(kind, data));
        }
        let ranges = kept_ranges(&file);
        let mut view = Spliced::new(&file, ranges);
        let mut out = Vec::new();
        view.read_to_end(&mut out).unwrap();
        let mut expected = SIGNATURE.to_vec();
        for (kind, data) in [(b"IHDR", &[1u8; 13][..]), (b"tRNS", &[3; 2]), (b"IDAT", &[5; 7]), (b"IEND", &[])] {
            expected.extend(chunk(kind, data));
        }
        assert_eq!(out, expected);
        assert_eq!(view.seek(SeekFrom::Start(8)).unwrap(), 8);
        let mut head = [0u8; 8];
        view.read_exact(&mut head).unwrap();
        assert_eq!(&head[4..], b"IHDR");
    }

    #[test]
    fn a_truncated_chunk_is_kept_for_the_decoder_to_report() {
        let mut file = SIGNATURE.to_vec();
        file.extend(chunk(b"IHDR", &[1; 13]));
        file.extend_from_slice(&[0, 0, 0, 200, b'I', b'D', b'A', b'T', 1, 2]);
        let mut out = Vec::new();
        Spliced::new(&file, kept_ranges(&file)).read_to_end(&mut out).unwrap();
        assert_eq!(out, file);
    }
}
