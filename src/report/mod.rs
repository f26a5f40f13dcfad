//! Scan reports: CSV and JSON lines as the scan goes, and a self-contained HTML report for analysts.
//!
//! CSV and JSON lines have one row per listing and reference (a listing with no reference, or that failed, gets
//! one row with an empty reference, score 0 and `no_match`); each listing's rows are written and flushed as soon
//! as its chunk of the scan finishes, so an interrupted scan keeps what it did.

use std::io::{self, Write};

use serde_json::json;

use crate::features::Rect;
use crate::scan::{ListingReport, Outcome};
use crate::similarity::{Evidence, Verdict};

#[cfg(feature = "report")]
mod html;
#[cfg(feature = "report")]
pub use html::{HtmlSources, write_html};

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

    /// The writer back, e.g. a `Vec<u8>` of the whole report.
    pub fn into_inner(self) -> W {
        self.out
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

impl<W: Write> JsonlReport<W> {
    /// The writer back, e.g. a `Vec<u8>` of the whole report.
    pub fn into_inner(self) -> W {
        self.out
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
                    e.transform
                        .and_then(|t| serde_json::to_value(t).ok())
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
                    e.local.as_ref().map_or(String::new(), |l| format!("{:.1}", l.rotation_degrees())),
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
