//! Scan reports: CSV and JSON lines as the scan goes, and a self-contained HTML report for analysts.
//!
//! CSV and JSON lines have one row per listing and reference (a listing with no reference, or that failed, gets
//! one row with an empty reference, score 0 and `no_match`); each listing's rows are written and flushed as soon
//! as its chunk of the scan finishes, so an interrupted scan keeps what it did.

use std::io::{self, Write};

use serde_json::json;

use crate::error::ErrorCode;
use crate::features::Rect;
use crate::scan::{ListingReport, Outcome};
use crate::similarity::{Evidence, Verdict};

#[cfg(feature = "arrow")]
pub mod columnar;
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

/// Writes a CSV report row by row (RFC 4180 quoting).
///
/// Values are written as they are, paths included, so that programs reading the report get the real names. A
/// spreadsheet program, though, reads a cell that starts with `=`, `+`, `-` or `@` as a formula: when listing file
/// names come from sellers (a listing's title, a crawled URL), import the report with its columns typed as text
/// rather than opening it directly.
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
            let line: Vec<String> = csv_fields(&row).iter().map(|f| csv_field(f)).collect();
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
                writeln!(self.out, "{}", short_floats(line))?;
            }
            Outcome::Searched { hits } if hits.is_empty() => {
                let line = json!({"query": report.query, "reference": null, "score": 0.0, "verdict": Verdict::NoMatch});
                writeln!(self.out, "{}", short_floats(line))?;
            }
            Outcome::Searched { hits } => {
                for (rank, hit) in hits.iter().enumerate() {
                    let mut line = json!({"query": report.query, "reference": hit.reference, "score": hit.score,
                        "verdict": hit.verdict, "rank": rank + 1, "reference_id": hit.reference_id,
                        "metadata": hit.metadata, "evidence": hit.evidence});
                    if let (Some(sha256), Some(fields)) = (&hit.reference_sha256, line.as_object_mut()) {
                        fields.insert("reference_sha256".into(), sha256.as_str().into());
                    }
                    writeln!(self.out, "{}", short_floats(line))?;
                }
            }
        }
        self.out.flush()
    }
}

/// `value` with every number that is an `f32` widened (a JSON value holds `f64`) written as the `f32` it is:
/// `462.08902`, not `462.0890197753906`. Numbers that are not exactly an `f32` (the `f64` fields) stay as they are.
fn short_floats(mut value: serde_json::Value) -> serde_json::Value {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                if let Some(x) = n.as_f64()
                    && f64::from(x as f32) == x
                    && let Ok(short) = (x as f32).to_string().parse::<f64>()
                    && let Some(short) = serde_json::Number::from_f64(short)
                {
                    *n = short;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(fields) => fields.values_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

impl<W: Write> JsonlReport<W> {
    /// The writer back, e.g. a `Vec<u8>` of the whole report.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One row of a report (CSV, Parquet, the worker's Arrow stream): a listing and one of its references, or the
/// listing alone when it has no reference or failed. `None` is an empty CSV field, a null in columnar output.
pub(crate) struct Row<'a> {
    pub query: &'a str,
    pub reference: Option<&'a str>,
    pub score: f32,
    pub verdict: Verdict,
    pub rank: Option<u32>,
    pub reference_id: Option<u64>,
    pub transform: Option<String>,
    pub alterations: Option<String>,
    pub pdq_distance: Option<u32>,
    pub pdq_quality: Option<u32>,
    pub phash_distance: Option<u32>,
    pub dhash_distance: Option<u32>,
    pub ahash_distance: Option<u32>,
    pub colour_distance: Option<f32>,
    pub inliers: Option<u32>,
    pub rotation_degrees: Option<f32>,
    pub reference_region: Option<String>,
    pub listing_region: Option<String>,
    /// The failure's kind and message.
    pub error: Option<(ErrorCode, &'a str)>,
}

impl Row<'_> {
    /// The failure as the CSV report words it: `kind: message`.
    pub fn error_text(&self) -> Option<String> {
        self.error.map(|(kind, message)| format!("{kind}: {message}"))
    }
}

/// The rows of one listing: one per hit, or one for a listing with no hit or that failed.
pub(crate) fn rows<'a>(report: &'a ListingReport) -> Vec<Row<'a>> {
    let alone = |error: Option<(ErrorCode, &'a str)>| Row {
        query: &report.query,
        reference: None,
        score: 0.0,
        verdict: Verdict::NoMatch,
        rank: None,
        reference_id: None,
        transform: None,
        alterations: None,
        pdq_distance: None,
        pdq_quality: None,
        phash_distance: None,
        dhash_distance: None,
        ahash_distance: None,
        colour_distance: None,
        inliers: None,
        rotation_degrees: None,
        reference_region: None,
        listing_region: None,
        error,
    };
    match &report.outcome {
        Outcome::Failed { error_kind, error } => vec![alone(Some((*error_kind, error.as_str())))],
        Outcome::Searched { hits } if hits.is_empty() => vec![alone(None)],
        Outcome::Searched { hits } => hits
            .iter()
            .enumerate()
            .map(|(rank, hit)| {
                let e = &hit.evidence;
                Row {
                    query: &report.query,
                    reference: Some(&hit.reference),
                    score: hit.score,
                    verdict: hit.verdict,
                    rank: Some(rank as u32 + 1),
                    reference_id: Some(hit.reference_id),
                    transform: e
                        .transform
                        .and_then(|t| serde_json::to_value(t).ok())
                        .and_then(|v| v.as_str().map(String::from)),
                    alterations: Some(alterations_text(e)),
                    pdq_distance: Some(e.pdq_distance),
                    pdq_quality: Some(u32::from(e.pdq_quality)),
                    phash_distance: Some(e.phash_distance),
                    dhash_distance: Some(e.dhash_distance),
                    ahash_distance: Some(e.ahash_distance),
                    colour_distance: Some(e.colour_distance),
                    inliers: Some(e.local.as_ref().map_or(0, |l| l.inliers as u32)),
                    rotation_degrees: e.local.as_ref().map(|l| l.rotation_degrees()),
                    reference_region: e.local.as_ref().map(|l| rect_text(&l.reference_region)),
                    listing_region: e.local.as_ref().map(|l| rect_text(&l.listing_region)),
                    error: None,
                }
            })
            .collect(),
    }
}

/// A row as text fields in [`CSV_COLUMNS`] order.
fn csv_fields(row: &Row) -> Vec<String> {
    fn opt<T: ToString>(v: &Option<T>) -> String {
        v.as_ref().map(T::to_string).unwrap_or_default()
    }
    vec![
        row.query.to_string(),
        row.reference.unwrap_or_default().to_string(),
        // Six decimals: a score read back from the CSV is the f32 within 1e-6.
        if row.reference.is_some() { format!("{:.6}", row.score) } else { "0".to_string() },
        row.verdict.as_str().to_string(),
        opt(&row.rank),
        opt(&row.reference_id),
        opt(&row.transform),
        opt(&row.alterations),
        opt(&row.pdq_distance),
        opt(&row.pdq_quality),
        opt(&row.phash_distance),
        opt(&row.dhash_distance),
        opt(&row.ahash_distance),
        row.colour_distance.map(|d| format!("{d:.3}")).unwrap_or_default(),
        opt(&row.inliers),
        row.rotation_degrees.map(|d| format!("{d:.1}")).unwrap_or_default(),
        opt(&row.reference_region),
        opt(&row.listing_region),
        row.error_text().unwrap_or_default(),
    ]
}

/// A rectangle as `x y width height`, whole pixels.
fn rect_text(r: &Rect) -> String {
    format!("{:.0} {:.0} {:.0} {:.0}", r.x, r.y, r.width, r.height)
}

/// The alterations, in words, `; `-separated.
pub fn alterations_text(evidence: &Evidence) -> String {
    evidence.alterations.iter().map(|a| a.describe()).collect::<Vec<_>>().join("; ")
}

/// A rate per listing as readers take it in: "about 1 in 1,000 listings" ("no listing" for 0).
///
/// ```
/// assert_eq!(knockoff::report::rate_text(0.001), "about 1 in 1,000 listings");
/// ```
pub fn rate_text(share: f64) -> String {
    if share.is_nan() || share <= 0.0 {
        return "no listing".into();
    }
    let digits = ((1.0 / share).round() as u64).to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("about 1 in {grouped} listings")
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_write_an_f32_as_the_f32_it_is_and_leave_an_f64_alone() {
        let (x, y, z) = (462.08902_f32, 0.1_f64, 1.0e-7_f32);
        let line = short_floats(json!({"x": x, "nested": [{"y": y, "z": z}], "n": 3}));
        let text = line.to_string();
        assert_eq!(text, r#"{"n":3,"nested":[{"y":0.1,"z":1e-7}],"x":462.08902}"#);
        // Read back, each is the value written.
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["x"].as_f64().map(|v| v as f32), Some(x));
        assert_eq!(back["nested"][0]["z"].as_f64().map(|v| v as f32), Some(z));
    }
}
