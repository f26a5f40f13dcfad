//! The accuracy benchmark: counterfeit-style edits of reference photos (positives) and of photos that copy no
//! reference (negatives, edited the same ways so that being edited is not itself a signal), plus hard negatives,
//! scored per method as recall at fixed false-positive rates.
//!
//! A query's prediction is its best-scoring reference. A positive counts as found at a threshold when its best
//! reference is its source and scores at or above the threshold; a negative is a false positive when its best
//! reference scores at or above it. "Recall at FPR x" uses the lowest threshold that keeps false positives at or
//! under x of the negatives.

use std::path::Path;

use ab_glyph::FontArc;
use image::RgbImage;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::decode::{DecodeOptions, Photo, decode_path};
use crate::edits::{Edit, EditKit, product_on_white, recoloured_template};
use crate::error::{Error, ErrorKind, Result};
use crate::fingerprint::{Fingerprint, FingerprintConfig, Fingerprinter};
use crate::similarity::{self, Thresholds, Verdict};

/// The photos and edits of a benchmark run.
pub struct Corpus {
    /// Authentic photos, by name.
    pub references: Vec<(String, RgbImage)>,
    /// Photos that copy no reference, by name.
    pub distractors: Vec<(String, RgbImage)>,
    /// Negatives that resemble a reference by design (same white background, same template in another colour).
    pub hard_negatives: Vec<(String, RgbImage)>,
    /// The edits applied to references and distractors.
    pub edits: Vec<(String, Edit)>,
    /// What the edits need (font, backgrounds).
    pub kit: EditKit,
}

/// How big a corpus to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorpusSize {
    /// Every photo and every edit in [`Edit::catalogue`].
    Full,
    /// A few photos and the edits a hash must survive, for `cargo test`.
    Small,
}

impl Corpus {
    /// Builds the corpus from the bundled `testdata/` folder: the photos in `refs/` and product-style shots (a
    /// photo's centre on a white canvas) as references; `distractors/` and `listings/unrelated-*` photos, and
    /// product-style shots of them, as negatives; hard negatives are the reference product shots in another colour
    /// and other products on the same white canvas.
    ///
    /// # Errors
    /// If a photo or the font cannot be read.
    pub fn from_testdata(testdata: &Path, size: CorpusSize) -> Result<Corpus> {
        let load = |rel: &str| -> Result<(String, RgbImage)> {
            let photo = decode_path(testdata.join(rel), &DecodeOptions::default())?;
            let name = Path::new(rel).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            Ok((name, photo.image))
        };
        let font_path = testdata.join("fonts/DejaVuSansMono-Bold.ttf");
        let font_bytes = std::fs::read(&font_path).map_err(|e| Error::new(ErrorKind::Io(e)).with_path(&font_path))?;
        let font = FontArc::try_from_vec(font_bytes).map_err(|e| {
            Error::new(ErrorKind::Decode { format: "ttf", message: e.to_string() }).with_path(&font_path)
        })?;

        let (ref_names, distractor_names, product_refs, product_distractors): (&[&str], &[&str], &[&str], &[&str]) =
            match size {
                CorpusSize::Full => (
                    &[
                        "refs/astronaut.jpg",
                        "refs/chelsea.jpg",
                        "refs/coffee.jpg",
                        "refs/coins.jpg",
                        "refs/rocket.jpg",
                        "refs/horse.png",
                    ],
                    &[
                        "listings/unrelated-camera.jpg",
                        "listings/unrelated-ihc.jpg",
                        "distractors/brick.jpg",
                        "distractors/grass.jpg",
                        "distractors/gravel.jpg",
                        "distractors/cell.jpg",
                    ],
                    &["large/hubble_deep_field.jpg", "large/retina.jpg"],
                    &["listings/unrelated-camera.jpg", "listings/unrelated-ihc.jpg", "distractors/cell.jpg"],
                ),
                CorpusSize::Small => (
                    &["refs/coffee.jpg", "refs/rocket.jpg", "refs/chelsea.jpg"],
                    &["listings/unrelated-camera.jpg", "distractors/gravel.jpg", "distractors/brick.jpg"],
                    &["large/retina.jpg"],
                    &["listings/unrelated-ihc.jpg"],
                ),
            };
        let mut references = ref_names.iter().map(|r| load(r)).collect::<Result<Vec<_>>>()?;
        let mut distractors = distractor_names.iter().map(|r| load(r)).collect::<Result<Vec<_>>>()?;
        let product = |(name, img): (String, RgbImage)| (format!("{name}-product"), product_on_white(&img, 400));
        let ref_products = product_refs.iter().map(|r| load(r).map(product)).collect::<Result<Vec<_>>>()?;
        let distractor_products =
            product_distractors.iter().map(|r| load(r).map(product)).collect::<Result<Vec<_>>>()?;
        // Only a product with colour has another colour: recolouring a grey one would copy it, not make a new one.
        let mut hard_negatives: Vec<(String, RgbImage)> = ref_products
            .iter()
            .filter(|(_, img)| crate::colour::ColourSignature::of(img).chromatic_share() >= 0.3)
            .flat_map(|(name, img)| {
                [120.0, 200.0].map(|deg| (format!("{name} in another colour ({deg}°)"), recoloured_template(img, deg)))
            })
            .collect();
        hard_negatives.extend(distractor_products.iter().map(|(n, i)| (format!("{n} (same white canvas)"), i.clone())));
        references.extend(ref_products);
        distractors.extend(distractor_products);

        // Backgrounds and collage fillers: distractors only, so that a negative's collage never contains a
        // reference.
        let others: Vec<RgbImage> = distractors.iter().take(4).map(|(_, img)| img.clone()).collect();
        let edits: Vec<(String, Edit)> = match size {
            CorpusSize::Full => Edit::catalogue().into_iter().map(|(n, e)| (n.to_string(), e)).collect(),
            CorpusSize::Small => Edit::catalogue()
                .into_iter()
                .filter(|(n, _)| {
                    ["downscale to 300 px", "JPEG quality 40", "re-encode WebP", "re-encode PNG", "blur", "mirror"]
                        .contains(n)
                })
                .map(|(n, e)| (n.to_string(), e))
                .collect(),
        };
        Ok(Corpus { references, distractors, hard_negatives, edits, kit: EditKit { font, others } })
    }
}

/// One query of the benchmark.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Query {
    /// The photo it was made from.
    pub source: String,
    /// The edit applied ("as is" for hard negatives).
    pub edit: String,
    /// For positives, the position of the reference it copies.
    pub reference: Option<usize>,
    /// Whether it is a hard negative.
    pub hard: bool,
}

/// The methods compared: each hash alone, PDQ with dihedral variants, colour, the hashes' and colour's part of
/// the score, local features alone (verified inliers as scored), and the combined score.
pub const METHODS: [&str; 9] = [
    "aHash",
    "dHash",
    "pHash",
    "PDQ",
    "PDQ + dihedral",
    "colour",
    "hashes + colour",
    "local features",
    "knockoff score",
];

/// Every method's similarity of one pair, from one full comparison as a scan makes it (with a closer look at the
/// query's pixels where it shows the reference small, [`crate::zoom`]), and the verdict under `thresholds`.
fn method_similarities(
    reference: &Fingerprint,
    query: &Fingerprint,
    pixels: &Photo,
    listings: &Fingerprinter,
    thresholds: &Thresholds,
) -> ([f32; METHODS.len()], Verdict) {
    let hash = |a: &crate::Hash, b: &crate::Hash| 1.0 - a.distance_unchecked(b) as f32 / a.bits() as f32;
    let full = crate::zoom::compare_photo(reference, query, pixels, listings, thresholds);
    let scores = [
        hash(&reference.ahash, &query.ahash),
        hash(&reference.dhash, &query.dhash),
        hash(&reference.phash, &query.phash),
        hash(reference.pdq.hash(), query.pdq.hash()),
        1.0 - reference.pdq.best_match(query.pdq.hash()).0 as f32 / 256.0,
        1.0 - reference.colour.distance(&query.colour),
        similarity::hash_score(reference, query),
        full.evidence.local_score,
        full.score,
    ];
    (scores, full.verdict)
}

/// Results of one method.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodResult {
    /// The method.
    pub method: String,
    /// Recall with no false positive at all.
    pub recall_at_fpr_0: f32,
    /// Recall with at most 0.1% false positives.
    pub recall_at_fpr_0_1: f32,
    /// Recall with at most 1% false positives.
    pub recall_at_fpr_1: f32,
    /// Share of positives whose best reference is their source, whatever its score.
    pub top1_accuracy: f32,
    /// The threshold behind `recall_at_fpr_0` (similarity in this method's own scale).
    pub threshold_fpr_0: f32,
}

/// Recall of one edit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EditRecall {
    /// The edit.
    pub edit: String,
    /// Share of its positives that get a `Match` verdict for the right reference under the run's thresholds.
    pub match_recall: f32,
    /// Share found by the combined score at its zero-false-positive threshold.
    pub score_recall_at_fpr_0: f32,
    /// Share found by local features alone at their zero-false-positive threshold.
    pub local_recall_at_fpr_0: f32,
    /// Share found by PDQ + dihedral at its zero-false-positive threshold.
    pub pdq_recall_at_fpr_0: f32,
}

/// The whole benchmark report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Positive queries.
    pub positives: usize,
    /// Negative queries (hard ones included).
    pub negatives: usize,
    /// Hard negatives among them.
    pub hard_negatives: usize,
    /// Per method.
    pub methods: Vec<MethodResult>,
    /// Per edit, for the combined score's verdicts and for PDQ.
    pub per_edit: Vec<EditRecall>,
    /// The thresholds the verdicts below were judged under.
    pub thresholds: Thresholds,
    /// Thresholds calibrated on this run: `match_score` keeps false positives at or under 0.1% of negatives,
    /// `review_score` at or under 1%.
    pub calibrated: Thresholds,
    /// Precision of `Match` verdicts under the run's thresholds (right reference).
    pub match_precision: f32,
    /// Recall of `Match` verdicts.
    pub match_recall: f32,
    /// Precision of `Match` or `Review`.
    pub flagged_precision: f32,
    /// Recall of `Match` or `Review`.
    pub flagged_recall: f32,
    /// Negatives flagged `Review` under the run's thresholds.
    pub negatives_in_review: usize,
    /// The highest-scoring negatives under the combined score (they set the thresholds): source, edit, score and
    /// the reference they resemble.
    pub worst_negatives: Vec<(String, String, f32, String)>,
    /// Seconds the run took.
    pub seconds: f64,
}

/// Runs the benchmark on `corpus` with fingerprints from `config`, judging verdicts under `thresholds` (normally
/// [`Thresholds::default`]); the report also gives the thresholds this run would calibrate.
///
/// # Errors
/// If a reference or an edited query cannot be fingerprinted (e.g. an edit left it under 5 pixels): the benchmark
/// would otherwise silently drop it, or worse, misalign references and their positives. The error names the
/// photo and the edit.
pub fn run(corpus: &Corpus, config: FingerprintConfig, thresholds: &Thresholds) -> Result<Report> {
    let start = std::time::Instant::now();
    let (fingerprinter, listings) = (Fingerprinter::for_references(config), Fingerprinter::for_listings(config));
    let fingerprint = |img: &RgbImage| fingerprinter.fingerprint_image(&image::DynamicImage::ImageRgb8(img.clone()));
    let references: Vec<Fingerprint> = corpus
        .references
        .par_iter()
        .map(|(name, img)| fingerprint(img).map_err(|e| e.with_path(name)))
        .collect::<Result<_>>()?;

    // Every (photo, edit) pair, made and fingerprinted in parallel.
    let mut jobs: Vec<(Query, &RgbImage, Option<Edit>)> = Vec::new();
    for (position, (name, img)) in corpus.references.iter().enumerate() {
        for (edit_name, edit) in &corpus.edits {
            let query = Query { source: name.clone(), edit: edit_name.clone(), reference: Some(position), hard: false };
            jobs.push((query, img, Some(edit.clone())));
        }
    }
    for (name, img) in &corpus.distractors {
        for (edit_name, edit) in &corpus.edits {
            let query = Query { source: name.clone(), edit: edit_name.clone(), reference: None, hard: false };
            jobs.push((query, img, Some(edit.clone())));
        }
    }
    for (name, img) in &corpus.hard_negatives {
        for (edit_name, edit) in [("as is", None), ("JPEG quality 60", Some(Edit::Jpeg { quality: 60 }))] {
            jobs.push((Query { source: name.clone(), edit: edit_name.into(), reference: None, hard: true }, img, edit));
        }
    }
    // all[q][r] = every method's similarity of query q and reference r and the verdict (one full comparison per
    // pair), made while the query's pixels are at hand: a closer look needs them, and keeping every edited photo
    // for later would take half a gigabyte.
    type Row = Vec<([f32; METHODS.len()], Verdict)>;
    let (queries, all): (Vec<Query>, Vec<Row>) = jobs
        .par_iter()
        .map(|(query, img, edit)| {
            let edited = match edit {
                Some(e) => e.apply(img, &corpus.kit),
                None => (*img).clone(),
            };
            let pixels = Photo::from(edited);
            let fp = listings
                .fingerprint_photo(&pixels)
                .map_err(|e| e.with_path(format!("{} ({})", query.source, query.edit)))?;
            let row = references.iter().map(|r| method_similarities(r, &fp, &pixels, &listings, thresholds)).collect();
            Ok((query.clone(), row))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    // best[m][q] = (best reference, its similarity) for method m and query q.
    let best: Vec<Vec<(usize, f32)>> = (0..METHODS.len())
        .map(|m| {
            all.iter()
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .map(|(i, (s, _))| (i, s[m]))
                        .fold((0, f32::MIN), |a, b| if b.1 > a.1 { b } else { a })
                })
                .collect()
        })
        .collect();

    let is_positive = |q: &Query| q.reference.is_some();
    let positives = queries.iter().filter(|q| is_positive(q)).count();
    let negatives = queries.len() - positives;
    let hard_negatives = queries.iter().filter(|q| q.hard).count();

    let threshold_at = |m: usize, fpr: f32| -> f32 {
        let mut negative_best: Vec<f32> =
            queries.iter().zip(&best[m]).filter(|(q, _)| !is_positive(q)).map(|(_, b)| b.1).collect();
        negative_best.sort_by(|a, b| b.total_cmp(a));
        let allowed = (fpr * negatives as f32).floor() as usize;
        // Just above the (allowed + 1)-th highest negative.
        negative_best.get(allowed).map_or(f32::MIN, |v| next_up(*v))
    };
    let found = |threshold: f32, q: &Query, b: &(usize, f32)| q.reference == Some(b.0) && b.1 >= threshold;
    let recall = |m: usize, threshold: f32| {
        queries.iter().zip(&best[m]).filter(|(q, b)| found(threshold, q, b)).count() as f32 / positives.max(1) as f32
    };

    let methods: Vec<MethodResult> = METHODS
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let t0 = threshold_at(m, 0.0);
            MethodResult {
                method: name.to_string(),
                recall_at_fpr_0: recall(m, t0),
                recall_at_fpr_0_1: recall(m, threshold_at(m, 0.001)),
                recall_at_fpr_1: recall(m, threshold_at(m, 0.01)),
                top1_accuracy: recall(m, f32::MIN),
                threshold_fpr_0: t0,
            }
        })
        .collect();

    let score = METHODS.len() - 1;
    let local = METHODS.len() - 2;
    // The verdict of each query's best reference, judged as the library judges it (by the kind of evidence too).
    let verdicts: Vec<Verdict> = all.iter().zip(&best[score]).map(|(row, b)| row[b.0].1).collect();
    let called = |i: usize, at_least: Verdict| verdicts[i] <= at_least;
    let pdq = 4;
    let calibrated =
        Thresholds::new(round_up(threshold_at(score, 0.001).max(0.5)), round_up(threshold_at(score, 0.01).max(0.4)));
    let pdq_t0 = threshold_at(pdq, 0.0);
    let (score_t0, local_t0) = (threshold_at(score, 0.0), threshold_at(local, 0.0));
    let per_edit = corpus
        .edits
        .iter()
        .map(|(edit, _)| {
            let of_edit: Vec<usize> =
                (0..queries.len()).filter(|&i| is_positive(&queries[i]) && &queries[i].edit == edit).collect();
            let share = |m: usize, t: f32| {
                of_edit.iter().filter(|&&i| found(t, &queries[i], &best[m][i])).count() as f32
                    / of_edit.len().max(1) as f32
            };
            EditRecall {
                edit: edit.clone(),
                match_recall: of_edit
                    .iter()
                    .filter(|&&i| queries[i].reference == Some(best[score][i].0) && called(i, Verdict::Match))
                    .count() as f32
                    / of_edit.len().max(1) as f32,
                score_recall_at_fpr_0: share(score, score_t0),
                local_recall_at_fpr_0: share(local, local_t0),
                pdq_recall_at_fpr_0: share(pdq, pdq_t0),
            }
        })
        .collect();

    let flagged = |at_least: Verdict| {
        let (mut right, mut wrong) = (0usize, 0usize);
        for (i, (q, b)) in queries.iter().zip(&best[score]).enumerate() {
            if called(i, at_least) {
                if q.reference == Some(b.0) { right += 1 } else { wrong += 1 }
            }
        }
        let precision = right as f32 / (right + wrong).max(1) as f32;
        (precision, right as f32 / positives.max(1) as f32, wrong)
    };
    let (match_precision, match_recall, _) = flagged(Verdict::Match);
    let (flagged_precision, flagged_recall, _) = flagged(Verdict::Review);
    let negatives_in_review =
        (0..queries.len()).filter(|&i| !is_positive(&queries[i]) && verdicts[i] == Verdict::Review).count();

    let mut worst_negatives: Vec<(String, String, f32, String)> = queries
        .iter()
        .zip(&best[score])
        .filter(|(q, _)| !is_positive(q))
        .map(|(q, b)| (q.source.clone(), q.edit.clone(), b.1, corpus.references[b.0].0.clone()))
        .collect();
    worst_negatives.sort_by(|a, b| b.2.total_cmp(&a.2));
    worst_negatives.truncate(8);

    Ok(Report {
        thresholds: *thresholds,
        worst_negatives,
        positives,
        negatives,
        hard_negatives,
        methods,
        per_edit,
        calibrated,
        match_precision,
        match_recall,
        flagged_precision,
        flagged_recall,
        negatives_in_review,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The smallest f32 above `v`.
fn next_up(v: f32) -> f32 {
    if v.is_nan() || v == f32::INFINITY {
        return v;
    }
    let bits = v.to_bits();
    f32::from_bits(if v >= 0.0 { bits + 1 } else { bits - 1 })
}

/// Rounds up to the next hundredth, so that published thresholds are readable and stay on the safe side.
fn round_up(v: f32) -> f32 {
    ((v * 100.0).ceil() / 100.0).min(1.0)
}
