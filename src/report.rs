//! Scan reports: CSV and JSON lines as the scan goes, and a self-contained HTML report for analysts.
//!
//! CSV and JSON lines have one row per listing and reference (a listing with no reference, or that failed, gets
//! one row with an empty reference, score 0 and `no_match`); each listing's rows are written and flushed as soon
//! as its chunk of the scan finishes, so an interrupted scan keeps what it did.

use std::io::{self, Write};
use std::path::Path;

use base64::Engine;
use serde_json::json;

use crate::decode::{DecodeOptions, decode_path};
use crate::features::Rect;
use crate::fingerprint::shrink_to;
use crate::scan::{Hit, ListingReport, Outcome, ScanSummary};
use crate::similarity::{Evidence, Verdict};

/// The CSV columns, in order. The first four are fixed: `query,reference,score,verdict`.
pub const CSV_COLUMNS: [&str; 19] = [
    "query",
    "reference",
    "score",
    "verdict",
    "rank",
    "reference_id",
    "transform",
    "alterations",
    "pdq_distance",
    "pdq_quality",
    "phash_distance",
    "dhash_distance",
    "ahash_distance",
    "colour_distance",
    "inliers",
    "rotation_degrees",
    "reference_region",
    "listing_region",
    "error",
];

/// Writes a CSV report row by row.
pub struct CsvReport<W: Write> {
    out: W,
}

impl<W: Write> CsvReport<W> {
    /// Starts a report: writes the header line.
    ///
    /// # Errors
    /// Write errors.
    pub fn new(mut out: W) -> io::Result<Self> {
        writeln!(out, "{}", CSV_COLUMNS.join(","))?;
        Ok(CsvReport { out })
    }

    /// Writes one listing's rows and flushes.
    ///
    /// # Errors
    /// Write errors.
    pub fn write(&mut self, report: &ListingReport) -> io::Result<()> {
        for row in rows(report) {
            let line: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
            writeln!(self.out, "{}", line.join(","))?;
        }
        self.out.flush()
    }
}

/// Writes a JSON-lines report: one object per listing and reference, with the full evidence.
pub struct JsonlReport<W: Write> {
    out: W,
}

impl<W: Write> JsonlReport<W> {
    /// Starts a report.
    pub fn new(out: W) -> Self {
        JsonlReport { out }
    }

    /// Writes one listing's lines and flushes.
    ///
    /// # Errors
    /// Write errors.
    pub fn write(&mut self, report: &ListingReport) -> io::Result<()> {
        match &report.outcome {
            Outcome::Failed { error_kind, error } => {
                let line = json!({"query": report.query, "reference": null, "score": 0.0, "verdict": Verdict::NoMatch,
                    "error_kind": error_kind, "error": error});
                writeln!(self.out, "{line}")?;
            }
            Outcome::Searched { hits } if hits.is_empty() => {
                let line = json!({"query": report.query, "reference": null, "score": 0.0, "verdict": Verdict::NoMatch});
                writeln!(self.out, "{line}")?;
            }
            Outcome::Searched { hits } => {
                for (rank, hit) in hits.iter().enumerate() {
                    let line = json!({"query": report.query, "reference": hit.reference, "score": hit.score,
                        "verdict": hit.verdict, "rank": rank + 1, "reference_id": hit.reference_id,
                        "metadata": hit.metadata, "evidence": hit.evidence});
                    writeln!(self.out, "{line}")?;
                }
            }
        }
        self.out.flush()
    }
}

/// The CSV rows of one listing, as text fields in [`CSV_COLUMNS`] order.
fn rows(report: &ListingReport) -> Vec<Vec<String>> {
    let empty = |score: &str, error: String| {
        let mut row = vec![String::new(); CSV_COLUMNS.len()];
        row[0] = report.query.clone();
        row[2] = score.to_string();
        row[3] = Verdict::NoMatch.as_str().to_string();
        row[CSV_COLUMNS.len() - 1] = error;
        row
    };
    match &report.outcome {
        Outcome::Failed { error_kind, error } => vec![empty("0", format!("{error_kind}: {error}"))],
        Outcome::Searched { hits } if hits.is_empty() => vec![empty("0", String::new())],
        Outcome::Searched { hits } => hits
            .iter()
            .enumerate()
            .map(|(rank, hit)| {
                let e = &hit.evidence;
                vec![
                    report.query.clone(),
                    hit.reference.clone(),
                    format!("{:.4}", hit.score),
                    hit.verdict.as_str().to_string(),
                    (rank + 1).to_string(),
                    hit.reference_id.to_string(),
                    serde_json::to_value(e.transform)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    alterations_text(e),
                    e.pdq_distance.to_string(),
                    e.pdq_quality.to_string(),
                    e.phash_distance.to_string(),
                    e.dhash_distance.to_string(),
                    e.ahash_distance.to_string(),
                    format!("{:.3}", e.colour_distance),
                    e.local.as_ref().map_or("0".into(), |l| l.inliers.to_string()),
                    e.local.as_ref().map_or(String::new(), |l| format!("{:.1}", l.decomposition.rotation_degrees)),
                    e.local.as_ref().map_or(String::new(), |l| rect_text(&l.reference_region)),
                    e.local.as_ref().map_or(String::new(), |l| rect_text(&l.listing_region)),
                    String::new(),
                ]
            })
            .collect(),
    }
}

/// A rectangle as `x y width height`, whole pixels.
fn rect_text(r: &Rect) -> String {
    format!("{:.0} {:.0} {:.0} {:.0}", r.x, r.y, r.width, r.height)
}

/// The alterations, in words, `; `-separated.
pub fn alterations_text(evidence: &Evidence) -> String {
    evidence.alterations.iter().map(|a| a.describe()).collect::<Vec<_>>().join("; ")
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Where the photos of a report are, to inline their thumbnails.
#[derive(Clone, Copy, Debug)]
pub struct HtmlSources<'a> {
    /// The scanned folder (listing paths are relative to it).
    pub queries: &'a Path,
    /// The catalog folder (reference paths are relative to it), if known.
    pub catalog: Option<&'a Path>,
    /// The limits the photos are decoded under: the scan's (`index.config().limits`), so that the report never
    /// decodes what the scan refused, nor with more memory.
    pub limits: crate::decode::Limits,
}

/// Writes the analyst's HTML report: one self-contained file (styles and thumbnails inlined), a card per flagged
/// listing (verdict `match` or `review`) with the listing and its authentic photo side by side, the score, the
/// verdict and how it was altered, and, when local features verified it, the evidence picture (matches joined by
/// lines, the authentic photo's outline in the listing; see [`crate::evidence`]), sorted by score; then the
/// failures.
///
/// # Errors
/// Write errors. Photos that cannot be read for a thumbnail show a placeholder instead.
pub fn write_html(
    out: &mut impl Write,
    reports: &[ListingReport],
    summary: &ScanSummary,
    sources: HtmlSources<'_>,
) -> io::Result<()> {
    let mut flagged: Vec<(&ListingReport, &Hit)> = reports
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Searched { hits } => hits.first().filter(|h| h.verdict != Verdict::NoMatch).map(|h| (r, h)),
            Outcome::Failed { .. } => None,
        })
        .collect();
    flagged.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.query.cmp(&b.0.query)));
    let failures: Vec<(&str, &str, &str)> = reports
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Failed { error_kind, error } => Some((r.query.as_str(), error_kind.as_str(), error.as_str())),
            Outcome::Searched { .. } => None,
        })
        .collect();

    write!(out, "{}", HTML_HEAD)?;
    writeln!(
        out,
        "<header><h1>knockoff scan report</h1><p>{} listings scanned, <b>{} match</b>, <b>{} review</b>, {} failed, in \
         {:.1} s ({:.1} images/s){}.</p></header>",
        summary.scanned,
        summary.matches,
        summary.reviews,
        summary.failures,
        summary.elapsed.as_secs_f64(),
        summary.rate(),
        if summary.cancelled { "; <b>cancelled before the end</b>" } else { "" }
    )?;
    if flagged.is_empty() {
        writeln!(out, "<p class=none>No listing copies a reference.</p>")?;
    }
    for (report, hit) in &flagged {
        let e = &hit.evidence;
        // Each photo is decoded once, for its thumbnail and for the evidence picture.
        let listing_photo = decode_for_report(&sources.queries.join(&report.query), &sources.limits);
        let reference_photo = sources.catalog.and_then(|c| decode_for_report(&c.join(&hit.reference), &sources.limits));
        let listing_img = listing_photo.as_ref().and_then(|p| jpeg_data_uri(&shrink_to(p, THUMBNAIL)));
        let reference_img = reference_photo.as_ref().and_then(|p| jpeg_data_uri(&shrink_to(p, THUMBNAIL)));
        let alterations = if e.alterations.is_empty() { "none detected".to_string() } else { alterations_text(e) };
        let picture = e.local.as_ref().zip(reference_photo.as_ref().zip(listing_photo.as_ref())).and_then(
            |(local, (reference, listing))| {
                jpeg_data_uri(&shrink_to(&crate::evidence::draw(reference, listing, Some(local)), EVIDENCE_WIDTH))
            },
        );
        let picture = picture.map_or(String::new(), |uri| {
            format!(
                "<figure class=evidence><img src=\"{uri}\" alt=\"evidence\"><figcaption>{} verified matches; red: \
                     the authentic photo's outline in the listing, and the part of it shown</figcaption></figure>",
                e.local.as_ref().map_or(0, |l| l.inliers)
            )
        });
        let metadata: String =
            hit.metadata.iter().map(|(k, v)| format!("<span class=meta>{}: {}</span>", escape(k), escape(v))).collect();
        writeln!(
            out,
            "<section class=\"card {verdict}\"><div class=photos>{}{}</div><div class=facts>\
             <p class=verdict>{verdict_text} <span class=score>score {:.3}</span></p>\
             <p><b>How it was altered:</b> {}</p>\
             <p><b>PDQ</b> {} / 256 bits ({}, quality {}) · <b>pHash</b> {} · <b>dHash</b> {} · <b>aHash</b> {} · \
             <b>colour</b> {:.2}</p>{metadata}{picture}</div></section>",
            figure(listing_img, "listing", &report.query),
            figure(reference_img, "authentic", &hit.reference),
            hit.score,
            escape(&alterations),
            e.pdq_distance,
            escape(e.transform.describe()),
            e.pdq_quality,
            e.phash_distance,
            e.dhash_distance,
            e.ahash_distance,
            e.colour_distance,
            verdict = hit.verdict.as_str(),
            verdict_text = if hit.verdict == Verdict::Match { "MATCH" } else { "REVIEW" },
        )?;
    }
    if !failures.is_empty() {
        writeln!(out, "<h2>Files that could not be read ({})</h2><table class=failures>", failures.len())?;
        for (query, kind, error) in failures {
            writeln!(out, "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", escape(query), escape(kind), escape(error))?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "</body></html>")?;
    out.flush()
}

fn figure(data_uri: Option<String>, label: &str, path: &str) -> String {
    let img = match data_uri {
        Some(uri) => format!("<img src=\"{uri}\" alt=\"{}\">", escape(path)),
        None => "<div class=missing>photo not available</div>".to_string(),
    };
    format!("<figure>{img}<figcaption><b>{label}</b><br>{}</figcaption></figure>", escape(path))
}

/// Longer side of the thumbnails.
const THUMBNAIL: u32 = 240;
/// Longer side of the evidence pictures.
const EVIDENCE_WIDTH: u32 = 760;

/// A photo decoded small enough for a report (evidence pictures draw at 420 px high), or `None` if it cannot be
/// read (the card then shows a placeholder).
fn decode_for_report(path: &Path, limits: &crate::decode::Limits) -> Option<image::RgbImage> {
    let options = DecodeOptions { reduce_to: Some(640), limits: *limits, ..DecodeOptions::default() };
    decode_path(path, &options).ok().map(|photo| photo.image)
}

/// `image` as a JPEG data URI.
fn jpeg_data_uri(image: &image::RgbImage) -> Option<String> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80).encode_image(image).ok()?;
    Some(format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(&jpeg)))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const HTML_HEAD: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>knockoff scan report</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px; color: #222; }
header { border-bottom: 2px solid #ddd; margin-bottom: 16px; }
.card { display: flex; gap: 20px; border: 1px solid #ddd; border-left: 8px solid #999; border-radius: 6px;
        padding: 12px; margin: 12px 0; }
.card.match { border-left-color: #c62828; } .card.review { border-left-color: #ef8f00; }
.photos { display: flex; gap: 10px; } figure { margin: 0; width: 250px; text-align: center; }
figure img { max-width: 240px; max-height: 240px; border: 1px solid #ccc; }
figcaption { font-size: 12px; word-break: break-all; color: #555; }
.missing { width: 240px; height: 160px; background: #eee; color: #888; display: flex; align-items: center;
           justify-content: center; }
.verdict { font-size: 20px; font-weight: 700; margin: 0 0 8px; } .match .verdict { color: #c62828; }
.review .verdict { color: #ef8f00; } .score { font-weight: 400; color: #444; font-size: 16px; margin-left: 10px; }
.meta { display: inline-block; background: #f2f2f2; border-radius: 3px; padding: 1px 6px; margin-right: 6px; }
table.failures { border-collapse: collapse; } .failures td { border: 1px solid #ddd; padding: 4px 8px; font-size: 13px; }
.none { color: #2e7d32; font-weight: 600; }
figure.evidence { width: auto; margin-top: 10px; } figure.evidence img { max-width: 100%; max-height: none; }
.facts { min-width: 0; }
</style></head><body>
"#;
