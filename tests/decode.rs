//! Decoding: every hostile file gives a typed error and never a panic; every format decodes to the same photo.

mod common;

use std::time::Instant;

use common::{photos, testdata};
use knockoff::{
    DecodeOptions, ErrorKind, FingerprintConfig, Fingerprinter, compare, decode_bytes, decode_path, decode_reader,
};

#[test]
fn every_bad_file_gives_its_typed_error() {
    let options = DecodeOptions::default();
    let expect = |name: &str, check: fn(&ErrorKind) -> bool| {
        let path = testdata(&format!("bad/{name}"));
        let Err(err) = decode_path(&path, &options) else { panic!("{name} decoded") };
        assert!(check(err.kind()), "{name}: unexpected error {err}");
        assert_eq!(err.path(), Some(path.as_path()), "{name}: error must name the file");
        assert!(err.to_string().contains(name), "{name}: message must name the file: {err}");
    };
    expect("empty.jpg", |k| matches!(k, ErrorKind::Empty));
    expect("not-an-image.jpg", |k| matches!(k, ErrorKind::UnknownFormat));
    expect(
        "truncated.jpg",
        |k| matches!(k, ErrorKind::Decode { format: "jpg", message } if message.contains("truncated")),
    );
    expect("corrupt-chunk.png", |k| matches!(k, ErrorKind::Decode { format: "png", .. }));
    expect("no-frames.gif", |k| matches!(k, ErrorKind::Decode { format: "gif", .. }));
    expect("huge-dimensions.png", |k| matches!(k, ErrorKind::TooLarge { width: 100_000, height: 100_000, .. }));
    // A missing file is an I/O error, with its path.
    let err = decode_path(testdata("bad/no-such-file.jpg"), &options).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Io(_)));
}

#[test]
fn truncated_jpeg_fails_on_the_reduced_path_too() {
    let f = Fingerprinter::for_references(FingerprintConfig::default());
    let err = f.fingerprint_path(testdata("bad/truncated.jpg")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err}");
}

#[test]
fn decompression_bomb_is_refused_from_the_header_at_once() {
    let bytes = std::fs::read(testdata("bad/huge-dimensions.png")).unwrap();
    let start = Instant::now();
    for _ in 0..100 {
        let err = decode_bytes(&bytes, &DecodeOptions::default()).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::TooLarge { .. }));
    }
    // Not a timing test of our speed: a bomb that got decoded would take minutes and 30 GB, not milliseconds.
    assert!(start.elapsed().as_secs() < 5);
}

#[test]
fn limits_are_configurable() {
    let mut options = DecodeOptions::default();
    options.limits.max_pixels = 100 * 100;
    let err = decode_path(testdata("refs/coffee.jpg"), &options).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TooLarge { width: 600, height: 400, .. }), "{err}");
    options.reduce_to = Some(64);
    assert!(decode_path(testdata("refs/coffee.jpg"), &options).is_err(), "the reduced path checks limits too");
    let mut options = DecodeOptions::default();
    options.limits.max_file_bytes = 1000;
    let err = decode_path(testdata("refs/coffee.jpg"), &options).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::FileTooLarge { bytes: 79_975, limit: 1000 }), "{err}");
    let reader = std::fs::File::open(testdata("refs/coffee.jpg")).unwrap();
    let err = decode_reader(reader, &options).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::FileTooLarge { bytes: 1001, limit: 1000 }), "{err}");
}

#[test]
fn reader_and_bytes_decode_like_paths() {
    let path = testdata("refs/rocket.jpg");
    let options = DecodeOptions::default();
    let from_path = decode_path(&path, &options).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let from_bytes = decode_bytes(&bytes, &options).unwrap();
    let from_reader = decode_reader(std::fs::File::open(&path).unwrap(), &options).unwrap();
    assert_eq!(from_path.image, from_bytes.image);
    assert_eq!(from_path.image, from_reader.image);
    assert_eq!((from_path.width, from_path.height, from_path.format), (640, 427, "jpg"));
}

#[test]
fn reduced_jpeg_decoding_keeps_the_full_size_and_reaches_the_requested_side() {
    let mut options = DecodeOptions::default();
    options.reduce_to = Some(256);
    let photo = decode_path(testdata("large/collage-1600x1200.jpg"), &options).unwrap();
    assert_eq!((photo.width, photo.height), (1600, 1200));
    // 1/4 scale is the smallest DCT scale whose longer side reaches 256 (1/8 would give 200).
    assert_eq!(photo.image.dimensions(), (400, 300));
}

/// The same photo in every format and pixel layout (GIF, BMP, TIFF, WebP, 16-bit, palette and alpha PNG, grey,
/// CMYK, progressive and EXIF-rotated JPEG) fingerprints like the reference photo.
#[test]
fn every_format_decodes_to_the_same_photo() {
    let f = Fingerprinter::for_references(FingerprintConfig::default());
    let reference = f.fingerprint_path(testdata("formats/chelsea.jpg")).unwrap();
    let files = photos("formats");
    assert!(files.len() >= 12);
    for path in files {
        let fp = f.fingerprint_path(&path).unwrap();
        assert_eq!((fp.width, fp.height), (240, 160), "{}: EXIF orientation applied", path.display());
        let s = compare(&reference, &fp);
        assert!(s.evidence.pdq_distance <= 8, "{}: PDQ distance {}", path.display(), s.evidence.pdq_distance);
        assert_eq!(s.evidence.transform, Some(knockoff::Dihedral::Original), "{}", path.display());
    }
}

/// A product cut-out on a transparent background fingerprints like the same cut-out on white.
#[test]
fn transparency_is_flattened_onto_white() {
    let f = Fingerprinter::for_references(FingerprintConfig::default());
    let cutout = f.fingerprint_path(testdata("refs/horse.png")).unwrap();
    let on_white = f.fingerprint_path(testdata("listings/horse-on-white.jpg")).unwrap();
    let s = compare(&cutout, &on_white);
    assert!(s.evidence.pdq_distance <= 4, "{}", s.evidence.pdq_distance);
    assert!(s.evidence.colour_distance < 0.05, "{}", s.evidence.colour_distance);
}

/// Every prefix and a spread of byte corruptions of real photos in each format: decoding returns (an image or a
/// typed error), it never panics, for both the full and the reduced path.
#[test]
fn corrupted_photos_never_panic() {
    let mut reduced = DecodeOptions::default();
    reduced.reduce_to = Some(128);
    let mut cases = 0;
    for path in photos("formats") {
        let bytes = std::fs::read(&path).unwrap();
        let step = (bytes.len() / 97).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            for options in [DecodeOptions::default(), reduced] {
                let _ = decode_bytes(&bytes[..cut], &options);
                let mut flipped = bytes.clone();
                flipped[cut] ^= 0xA5;
                flipped[(cut * 7 + 13) % bytes.len()] = 0xFF;
                let _ = decode_bytes(&flipped, &options);
                cases += 2;
            }
        }
    }
    assert!(cases > 4000, "{cases}");
}

/// An animated GIF of `frames` (RGBA, each with its delay in milliseconds).
fn animated_gif(frames: Vec<(image::RgbaImage, u32)>) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        let frames = frames
            .into_iter()
            .map(|(image, ms)| image::Frame::from_parts(image, 0, 0, image::Delay::from_numer_denom_ms(ms, 1)));
        encoder.encode_frames(frames).expect("encode the GIF");
    }
    out
}

#[test]
fn an_animation_is_judged_by_the_frame_shown_longest() {
    // A copy hidden behind a blank frame shown for 20 ms: a browser shows the copy; the first frame alone scored 0.
    let rocket = image::open(testdata("refs/rocket.jpg")).unwrap().into_rgba8();
    let blank = image::RgbaImage::from_pixel(rocket.width(), rocket.height(), image::Rgba([255; 4]));
    let reference = Fingerprinter::for_references(FingerprintConfig::default())
        .fingerprint_path(testdata("refs/rocket.jpg"))
        .unwrap();
    let listings = Fingerprinter::for_listings(FingerprintConfig::default());
    for frames in [
        vec![(blank.clone(), 20), (rocket.clone(), 100_000)],
        vec![(rocket.clone(), 5_000), (blank.clone(), 100), (blank.clone(), 100)],
    ] {
        let gif = animated_gif(frames);
        let listing = listings.fingerprint_bytes(&gif).expect("an animated GIF");
        let similarity = compare(&reference, &listing);
        assert_eq!(similarity.verdict, knockoff::Verdict::Match, "{}", similarity.score);
    }
    // The blank frame shown longest is what the file shows.
    let gif = animated_gif(vec![(rocket.clone(), 20), (blank.clone(), 100_000)]);
    let photo = decode_bytes(&gif, &DecodeOptions::default()).unwrap();
    assert!(photo.image.pixels().all(|p| p.0 == [255, 255, 255]));
}

#[test]
fn an_animation_of_thousands_of_frames_is_read_at_once() {
    // Frames past the 64th are never decoded (the bound is a hang guard: the 64 take milliseconds); a truncated
    // animation keeps the frames it has.
    let frame = image::RgbaImage::from_pixel(64, 64, image::Rgba([10, 200, 30, 255]));
    let gif = animated_gif((0..3_000).map(|_| (frame.clone(), 10)).collect());
    let start = Instant::now();
    let photo = decode_bytes(&gif, &DecodeOptions::default()).unwrap();
    assert_eq!(photo.image.dimensions(), (64, 64));
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
    let truncated = &gif[..gif.len() / 2];
    assert_eq!(decode_bytes(truncated, &DecodeOptions::default()).unwrap().image.dimensions(), (64, 64));
}

/// A PNG chunk: length, type, data, CRC of type and data.
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    [&(data.len() as u32).to_be_bytes()[..], kind, data, &crc.finalize().to_be_bytes()].concat()
}

/// A 32x32 RGBA PNG of `frames` (colour, delay in milliseconds), animated (APNG) when there are two or more.
fn png_of(frames: &[([u8; 4], u16)]) -> Vec<u8> {
    use std::io::Write;
    let side = 32u32;
    let zlib = |rgba: [u8; 4]| {
        let row: Vec<u8> = std::iter::once(0).chain((0..side).flat_map(|_| rgba)).collect();
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        (0..side).for_each(|_| encoder.write_all(&row).unwrap());
        encoder.finish().unwrap()
    };
    let frame_control = |sequence: u32, delay: u16| {
        let size = [side.to_be_bytes(), side.to_be_bytes(), [0; 4], [0; 4]].concat();
        [&sequence.to_be_bytes()[..], &size, &delay.to_be_bytes(), &1000u16.to_be_bytes(), &[0, 0]].concat()
    };
    let header = [&side.to_be_bytes()[..], &side.to_be_bytes(), &[8, 6, 0, 0, 0]].concat();
    let mut png = [&b"\x89PNG\r\n\x1a\n"[..], &png_chunk(b"IHDR", &header)].concat();
    let animated = frames.len() > 1;
    if animated {
        let control = [(frames.len() as u32).to_be_bytes(), [0; 4]].concat();
        png.extend(png_chunk(b"acTL", &control));
    }
    let mut sequence = 0;
    for (i, &(rgba, delay)) in frames.iter().enumerate() {
        if animated {
            png.extend(png_chunk(b"fcTL", &frame_control(sequence, delay)));
            sequence += 1;
        }
        if i == 0 {
            png.extend(png_chunk(b"IDAT", &zlib(rgba)));
        } else {
            png.extend(png_chunk(b"fdAT", &[&sequence.to_be_bytes()[..], &zlib(rgba)].concat()));
            sequence += 1;
        }
    }
    png.extend(png_chunk(b"IEND", &[]));
    png
}

#[test]
fn an_animated_png_is_judged_by_the_frame_shown_longest_and_a_still_one_by_its_image() {
    let (white, red) = ([255, 255, 255, 255], [200, 0, 0, 255]);
    let colour = |png: &[u8]| {
        let photo = decode_bytes(png, &DecodeOptions::default()).expect("decodes");
        assert_eq!(photo.image.dimensions(), (32, 32));
        let first = photo.image.get_pixel(0, 0).0;
        assert!(photo.image.pixels().all(|p| p.0 == first));
        first
    };
    assert_eq!(colour(&png_of(&[(white, 20), (red, 5_000)])), [200, 0, 0]);
    assert_eq!(colour(&png_of(&[(red, 5_000), (white, 20), (white, 20)])), [200, 0, 0]);
    assert_eq!(colour(&png_of(&[(red, 20), (white, 5_000)])), [255, 255, 255]);
    assert_eq!(colour(&png_of(&[(red, 0)])), [200, 0, 0]);
}
