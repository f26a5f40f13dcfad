//! Makes the retrieval benchmark's listings and their ground truth from the photo pool that
//! `scripts/benchmark/fetch_catalog.py` wrote (see `scripts/benchmark/README.md`).
//!
//! ```text
//! cargo run --release --features bench-tools --example make_benchmark -- [--data target/benchmark] [--copies 100] [--negatives 60]
//!     [--hard 300] [--seed 9] [--edits hard|classic]
//! ```
//!
//! `--edits classic` makes the same listings under the everyday edits instead of the hard ones (see
//! [`classic_edits`]); give it its own `--data` folder holding links to the pool (`catalog`, `heldout`,
//! `manifest.csv`), as `scripts/benchmark/README.md` shows.
//!
//! Reads DATA/manifest.csv and writes, under DATA:
//! - `listings/lNNNNN.jpg`: the listings, named so that nothing in a name gives the answer away;
//! - `truth.csv`: `listing,reference,edit,kind`: the reference a listing copies (relative to DATA/catalog, as an
//!   index built on that folder names it) or empty for a negative; `kind` is `positive`, `negative` (a held-out
//!   photo under the same edit: being edited is not itself a signal), `neighbour` (a tile of a catalog photo that
//!   is not in the catalog: the same scene, another region) or `white` (a held-out photo as a product shot on
//!   white: the same white background as a quarter of the catalog);
//! - `edits.txt`: the edit names, in the order of the scorer's table;
//! - `catalog_order.txt`: every catalog reference, the copied ones first, then the rest in a seeded order. A
//!   catalog of size N is the first N lines, so the copied references are in every size of at least `--copies`;
//!   a smaller size (8) keeps only the first N copied references and their listings.
//!
//! Negatives are made only of photos the catalog does not already hold: every held-out tile, neighbour and
//! background is first searched against the whole catalog, and those whose best reference is a `match` are left
//! out (listed in `excluded.csv`; see `screen`).
//!
//! The copied references are a seeded sample of the catalog's photographs (not of the painted textures that only
//! fill it, `kind` `painted` in the manifest); every one gets every edit of [`edits`]. Negatives:
//! `--negatives` held-out tiles under every edit, plus up to `--hard` neighbours and `--hard` product shots on white.
//! About a minute on two cores for the defaults (100 copies x 18 edits + 60 x 18 negatives + 600 hard ones).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ab_glyph::FontArc;
use anyhow::{Context, bail};
use image::RgbImage;
use knockoff::edits::{Edit, EditKit, product_on_white};
use rayon::prelude::*;

/// The benchmark's edits: the hard ones issue 9 lists (copies pasted at 30-60% onto busy scenes, 2x2 and 3x3
/// collages of different products, 40-55% crops, a text watermark, and these with JPEG 30), plus a mirrored crop.
/// `i` varies the paste position and the collage cell from listing to listing.
fn edits(i: usize) -> Vec<(&'static str, Edit)> {
    use Edit::*;
    let paste = |scale: f32| PasteScaled { index: 0, scale, seed: i as u64 };
    let jpeg30 = Jpeg { quality: 30 };
    vec![
        ("JPEG 30", jpeg30.clone()),
        ("crop 40%", CropCentre { fraction: 0.40 }),
        ("crop 55%", CropCentre { fraction: 0.55 }),
        ("crop 55% off-centre", CropOffCentre { fraction: 0.55 }),
        ("text watermark", TextWatermark),
        ("mirror + crop 25%", Chain(vec![Mirror, CropOffCentre { fraction: 0.25 }])),
        ("paste 30%", paste(0.3)),
        ("paste 40%", paste(0.4)),
        ("paste 50%", paste(0.5)),
        ("paste 60%", paste(0.6)),
        ("2x2 collage", Grid { side: 2, slot: i % 4 }),
        ("3x3 collage", Grid { side: 3, slot: i % 9 }),
        ("crop 40% + JPEG 30", Chain(vec![CropCentre { fraction: 0.40 }, jpeg30.clone()])),
        ("text watermark + JPEG 30", Chain(vec![TextWatermark, jpeg30.clone()])),
        ("paste 40% + JPEG 30", Chain(vec![paste(0.4), jpeg30.clone()])),
        ("3x3 collage + JPEG 30", Chain(vec![Grid { side: 3, slot: i % 9 }, jpeg30.clone()])),
        (
            "crop 55% + watermark + JPEG 30",
            Chain(vec![CropOffCentre { fraction: 0.55 }, TextWatermark, jpeg30.clone()]),
        ),
        ("paste 30% + JPEG 30", Chain(vec![paste(0.3), jpeg30])),
    ]
}

/// The second set (`--edits classic`): the accuracy benchmark's own edits ([`Edit::catalogue`]: crops, resizing,
/// recompression, rotations, mirror, perspective, colour and tone, blur, noise, watermark, logo, borders, a paste
/// at half size, a 2x2 collage, combinations), which its 8 references cannot show at catalog scale; plus a 90° hue
/// shift, where the score's hue rule starts to read a recoloured copy as another colour of the same product.
fn classic_edits() -> Vec<(&'static str, Edit)> {
    let mut edits = Edit::catalogue();
    edits.push(("hue shift 90°", Edit::Hue { degrees: 90.0 }));
    edits
}

/// A stable 64-bit hash (FNV-1a then a mix), so orders and picks are the same on every machine and run.
fn stable_hash(text: &str, seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Verified inliers from which a photo shares content with its best reference whatever the verdict. A `review`
/// can be shared artwork that the scorer discounts because it covers part of the photo only (the mirrored face of
/// one skybox: 59-89 inliers, `review` at 0.46); shown small in a collage or a paste, with the closer look, the
/// same tile scored 0.88, `match`, and set the zero-false-positive bar at 5,099 references (2026-12-01). Unrelated
/// photos verify with at most a handful of chance inliers; the score reaches one half at 8.
const SHARED_INLIERS: usize = 16;

/// Leaves out of the negatives' material (held-out tiles, neighbours, backgrounds) every photo whose content the
/// catalog already holds. The pool's near-duplicate removal compares whole pictures, but the texture packs share
/// parts and variants (the same well in two racing games, a wall with and without cracks, the tile next door of a
/// seamless texture, the other frame of a stereo pair): listings made of those are copies or re-shoots, not
/// negatives, and they would set every zero-false-positive threshold. Each photo is searched against the whole
/// catalog (a wide shortlist) and left out when its best reference is a `match` under the default pairwise
/// thresholds or verifies with `SHARED_INLIERS` inliers, as it is or as a product shot on white; they are listed
/// in DATA/excluded.csv (`path,reference,score`) for inspection.
fn screen(
    data: &Path,
    heldout: Vec<String>,
    neighbours: Vec<String>,
    backgrounds: Vec<String>,
) -> anyhow::Result<(Vec<String>, Vec<String>, Vec<String>)> {
    use knockoff::{FingerprintConfig, Fingerprinter, Photo, ReferenceIndex, SearchOptions, Thresholds, Verdict};

    let start = Instant::now();
    let (index, _) = ReferenceIndex::build(
        data.join("catalog"),
        &Fingerprinter::for_references(FingerprintConfig::default()),
        |_| {},
    );
    let listings = Fingerprinter::for_listings(*index.config());
    let options = SearchOptions::default().with_top_k(1).with_shortlist(50).with_thresholds(Thresholds::default());
    let all: Vec<&String> = heldout.iter().chain(&neighbours).chain(&backgrounds).collect();
    // Each photo as it is and as a product shot on white (how the `white` negatives show it: the white canvas
    // can reveal a likeness the photo's own surroundings hid), searched as a scan searches the listings: with the
    // closer look at a reference shown small.
    let found: BTreeMap<String, (String, f32)> = all
        .par_iter()
        .filter_map(|path| {
            let photo = image::open(data.join(path)).ok()?.to_rgb8();
            let white = product_on_white(&photo, 800);
            [Photo::from(photo), Photo::from(white)].iter().find_map(|photo| {
                let fingerprint = listings.fingerprint_photo(photo).ok()?;
                let best = index.search_photo(&fingerprint, photo, &options).ok()?.into_iter().next()?;
                let shared = best.similarity.evidence.local.as_ref().is_some_and(|l| l.inliers >= SHARED_INLIERS);
                (best.similarity.verdict == Verdict::Match || shared)
                    .then(|| (path.to_string(), (index.references()[best.index].path.clone(), best.similarity.score)))
            })
        })
        .collect();
    let mut csv = String::from("path,reference,score\n");
    for (path, (reference, score)) in &found {
        let _ = writeln!(csv, "{path},{reference},{score:.6}");
    }
    std::fs::write(data.join("excluded.csv"), csv)?;
    eprintln!(
        "screened {} photos against the catalog of {} in {:.1} s: {} left out (excluded.csv)",
        all.len(),
        index.len(),
        start.elapsed().as_secs_f64(),
        found.len()
    );
    let keep = |v: Vec<String>| v.into_iter().filter(|p| !found.contains_key(p)).collect();
    Ok((keep(heldout), keep(neighbours), keep(backgrounds)))
}

fn seeded_order(mut items: Vec<String>, seed: u64) -> Vec<String> {
    items.sort_by_key(|p| (stable_hash(p, seed), p.clone()));
    items
}

struct Job {
    listing: String,
    reference: String,
    edit: String,
    kind: &'static str,
    source: PathBuf,
    edit_op: Option<Edit>,
    /// Backgrounds (paste) or collage fillers.
    others: Vec<PathBuf>,
    white: bool,
}

/// The command line, for `--help` and for arguments it does not know.
const USAGE: &str =
    "make_benchmark [--data DIR] [--copies N] [--negatives N] [--hard N] [--seed S] [--edits hard|classic]";

fn main() -> anyhow::Result<()> {
    let (mut data, mut copies, mut negatives, mut hard, mut seed) =
        (PathBuf::from("target/benchmark"), 100usize, 60usize, 300usize, 9u64);
    let mut classic = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--data" => data = PathBuf::from(value()?),
            "--copies" => copies = value()?.parse()?,
            "--negatives" => negatives = value()?.parse()?,
            "--hard" => hard = value()?.parse()?,
            "--seed" => seed = value()?.parse()?,
            "--edits" => {
                classic = match value()?.as_str() {
                    "hard" => false,
                    "classic" => true,
                    other => bail!("--edits {other:?}: hard or classic"),
                }
            }
            "-h" | "--help" => {
                println!("usage: {USAGE}");
                return Ok(());
            }
            other => bail!("unexpected argument {other:?}; usage: {USAGE}"),
        }
    }
    let start = Instant::now();
    let manifest = std::fs::read_to_string(data.join("manifest.csv")).with_context(|| {
        format!("reading {}/manifest.csv: run scripts/benchmark/fetch_catalog.py first", data.display())
    })?;
    // path,role,... with paths relative to DATA; roles: catalog, heldout, neighbour, background.
    // The last column, `kind`, is `painted` for references that only fill the catalog (never copied).
    let mut by_role: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut painted = std::collections::BTreeSet::new();
    for line in manifest.lines().skip(1) {
        let mut fields = line.split(',');
        if let (Some(path), Some(role)) = (fields.next(), fields.next()) {
            by_role.entry(role.to_string()).or_default().push(path.to_string());
            if line.rsplit(',').next() == Some("painted") {
                painted.insert(path.to_string());
            }
        }
    }
    let role = |r: &str| by_role.get(r).cloned().unwrap_or_default();
    let catalog: Vec<String> =
        role("catalog").into_iter().map(|p| p.trim_start_matches("catalog/").to_string()).collect();
    // Negatives and fillers are photographs, like the copies.
    let photos = |r: &str| -> Vec<String> { role(r).into_iter().filter(|p| !painted.contains(p)).collect() };
    let (heldout, neighbours, backgrounds) = (photos("heldout"), photos("neighbour"), photos("background"));
    // What a negative is made of must not be in the catalog already (see `screen`).
    let (heldout, neighbours, backgrounds) = screen(&data, heldout, neighbours, backgrounds)?;
    if catalog.len() < copies || heldout.len() < 9 || backgrounds.is_empty() {
        bail!(
            "the pool is too small: {} catalog, {} held-out tiles, {} backgrounds",
            catalog.len(),
            heldout.len(),
            backgrounds.len()
        );
    }

    // The copied references: a seeded sample of the photographs; the catalog order puts them first.
    let shuffled = seeded_order(catalog, seed);
    let copied: Vec<String> =
        shuffled.iter().filter(|p| !painted.contains(&format!("catalog/{p}"))).take(copies).cloned().collect();
    if copied.len() < copies {
        bail!("only {} photographs in the catalog for {copies} copies", copied.len());
    }
    let chosen: std::collections::BTreeSet<&String> = copied.iter().collect();
    let order: Vec<String> =
        copied.iter().cloned().chain(shuffled.iter().filter(|p| !chosen.contains(p)).cloned()).collect();
    let mut order_text = String::new();
    for path in &order {
        let _ = writeln!(order_text, "{path}");
    }
    std::fs::write(data.join("catalog_order.txt"), order_text)?;

    // Held-out tiles: fillers for collages of *different* products and the sources of negatives, disjoint.
    let heldout = seeded_order(heldout, seed ^ 1);
    let negative_sources: Vec<String> = heldout.iter().take(negatives).cloned().collect();
    let fillers: Vec<String> = heldout.iter().skip(negatives).cloned().collect();
    let fillers = if fillers.len() >= 8 { fillers } else { heldout.clone() };
    let backgrounds = seeded_order(backgrounds, seed ^ 2);

    let mut jobs = Vec::new();
    let mut add =
        |source: PathBuf, reference: &str, kind: &'static str, edit: Option<(&str, Edit)>, white: bool, n: usize| {
            let others: Vec<PathBuf> = match &edit {
                Some((_, e)) if format!("{e:?}").contains("Paste") => {
                    vec![data.join(&backgrounds[n % backgrounds.len()])]
                }
                Some((_, e)) if format!("{e:?}").contains("Grid") || format!("{e:?}").contains("Collage") => {
                    (0..8).map(|k| data.join(&fillers[(n * 8 + k * 7919) % fillers.len()])).collect()
                }
                _ => Vec::new(),
            };
            jobs.push(Job {
                listing: String::new(),
                reference: reference.to_string(),
                edit: edit
                    .as_ref()
                    .map_or(if white { "product on white" } else { "none" }.to_string(), |(n, _)| n.to_string()),
                kind,
                source,
                edit_op: edit.map(|(_, e)| e),
                others,
                white,
            });
        };
    let edits = |i: usize| if classic { classic_edits() } else { edits(i) };
    let mut n = 0;
    for reference in &copied {
        for edit in edits(n) {
            add(data.join("catalog").join(reference), reference, "positive", Some(edit), false, n);
            n += 1;
        }
    }
    for source in &negative_sources {
        for edit in edits(n) {
            add(data.join(source), "", "negative", Some(edit), false, n);
            n += 1;
        }
    }
    for source in seeded_order(neighbours, seed ^ 3).iter().take(hard) {
        add(data.join(source), "", "neighbour", None, false, n);
        n += 1;
    }
    for source in heldout.iter().rev().take(hard) {
        add(data.join(source), "", "white", None, true, n);
        n += 1;
    }
    // Listing names in a seeded order, so that a listing's number says nothing about what it is.
    let mut numbers: Vec<usize> = (0..jobs.len()).collect();
    numbers.sort_by_key(|&k| stable_hash(&k.to_string(), seed ^ 4));
    for (job, number) in jobs.iter_mut().zip(numbers) {
        job.listing = format!("l{number:05}.jpg");
    }

    let font_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fonts/DejaVuSansMono-Bold.ttf");
    let font = FontArc::try_from_vec(std::fs::read(&font_path)?)?;
    let out = data.join("listings");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    std::fs::create_dir_all(&out)?;
    let load = |p: &Path| -> anyhow::Result<RgbImage> {
        Ok(image::open(p).with_context(|| format!("reading {}", p.display()))?.to_rgb8())
    };
    jobs.par_iter().try_for_each(|job| -> anyhow::Result<()> {
        let photo = load(&job.source)?;
        let kit =
            EditKit { font: font.clone(), others: job.others.iter().map(|p| load(p)).collect::<anyhow::Result<_>>()? };
        let listing = match (&job.edit_op, job.white) {
            (Some(edit), _) => edit.apply(&photo, &kit),
            (None, true) => product_on_white(&photo, 800),
            (None, false) => photo,
        };
        // Saved as a seller's upload would be: JPEG at a high quality (JPEG 30 edits were already applied).
        let path = out.join(&job.listing);
        let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
        image::codecs::jpeg::JpegEncoder::new_with_quality(file, 90)
            .encode_image(&listing)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    })?;

    let mut truth = String::from("listing,reference,edit,kind\n");
    let mut sorted: Vec<&Job> = jobs.iter().collect();
    sorted.sort_by(|a, b| a.listing.cmp(&b.listing));
    for job in sorted {
        let _ = writeln!(truth, "{},{},{},{}", job.listing, job.reference, job.edit, job.kind);
    }
    std::fs::write(data.join("truth.csv"), truth)?;
    // The edits in the order above, for the scorer's table.
    let names: Vec<&str> = edits(0).iter().map(|(name, _)| *name).collect();
    std::fs::write(data.join("edits.txt"), names.join("\n") + "\n")?;
    let count = |k: &str| jobs.iter().filter(|j| j.kind == k).count();
    eprintln!(
        "wrote {} listings ({} positives of {} references, {} negatives, {} neighbours, {} on white) in {:.1} s; catalog of {}",
        jobs.len(),
        count("positive"),
        copies,
        count("negative"),
        count("neighbour"),
        count("white"),
        start.elapsed().as_secs_f64(),
        order.len()
    );
    Ok(())
}
