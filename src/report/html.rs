//! The self-contained HTML report for analysts (feature `report`).

use std::io::{self, Write};
use std::path::Path;

use base64::Engine;

use super::alterations_text;
use crate::decode::{DecodeOptions, Photo, decode_bytes};
use crate::fingerprint::shrink_to;
use crate::scan::{Hit, ListingReport, Outcome, ScanSummary};
use crate::similarity::Verdict;
use crate::walk::{file_name, name_path, relative_name};

/// Where the photos of a report are, to inline their thumbnails.
#[derive(Clone, Copy, Debug)]
pub struct HtmlSources<'a> {
    /// The scanned folder (listing paths are relative to it).
    pub queries: &'a Path,
    /// The catalog folder (reference paths are relative to it), if known.
    pub catalog: Option<&'a Path>,
    /// The limits the photos are decoded under: the scan's ([`ScanOptions::limits`](crate::ScanOptions::limits)),
    /// so that the report never decodes what the scan refused, nor with more memory.
    pub limits: crate::decode::Limits,
}

/// Writes the analyst's HTML report: one self-contained file (styles and thumbnails inlined). At the top, a
/// summary of the verdicts, the thresholds and what the score means; then a card per `match` listing (the
/// authentic photo and the listing side by side, in that order as in the evidence picture, the score, the verdict,
/// how it was altered, and the labelled evidence picture when local features verified it; see
/// [`crate::evidence::draw_labelled`]), sorted by score; the `review` listings likewise and the `no_match` ones as a
/// table, both collapsed; then the failures. A photo that cannot be shown says why.
///
/// # Errors
/// Write errors. Photos that cannot be read for a thumbnail show a placeholder with the reason instead.
pub fn write_html(
    out: &mut impl Write,
    reports: &[ListingReport],
    summary: &ScanSummary,
    sources: HtmlSources<'_>,
) -> io::Result<()> {
    let best = |verdict: Verdict| {
        let mut listed: Vec<(&ListingReport, Option<&Hit>)> = reports
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Searched { hits } => match hits.first() {
                    Some(h) if h.verdict == verdict => Some((r, Some(h))),
                    None if verdict == Verdict::NoMatch => Some((r, None)),
                    _ => None,
                },
                Outcome::Failed { .. } => None,
            })
            .collect();
        listed.sort_by(|a, b| {
            let score = |h: Option<&Hit>| h.map_or(0.0, |h| h.score);
            score(b.1).total_cmp(&score(a.1)).then(a.0.query.cmp(&b.0.query))
        });
        listed
    };
    let (matches, reviews, no_matches) = (best(Verdict::Match), best(Verdict::Review), best(Verdict::NoMatch));
    let failures: Vec<(&str, String, &str)> = reports
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Failed { error_kind, error } => Some((r.query.as_str(), error_kind.to_string(), error.as_str())),
            Outcome::Searched { .. } => None,
        })
        .collect();
    let thresholds = summary.thresholds;

    write!(out, "{}", HTML_HEAD)?;
    writeln!(
        out,
        "<header><h1>knockoff scan report</h1>\
         <p class=summary><span class=\"pill match\">{} match</span> <span class=\"pill review\">{} review</span> \
         <span class=\"pill no_match\">{} no match</span> <span class=\"pill failed\">{} failed</span> \
         of {} listings scanned in {:.1} s ({:.1} images/s){}.</p>\
         <p class=explain>The <b>score</b> (0 to 1) says how much of the authentic photo the listing reproduces: the \
         better of its perceptual-hash likeness and its geometrically verified local matches. <b>match</b>: the \
         listing copies the authentic photo, strong enough for a takedown request: verified matches scoring {:.2} or \
         more (about {:.0} verified matches), or hash likeness alone scoring {:.2} or more where local features had \
         nothing to check; <b>review</b>: an analyst should look (verified matches scoring {:.2} or more, hash likeness \
         alone {:.2} or more; hash likeness that the local features contradict is never more than review, from \
         {:.2}); below: no copy as far as the evidence goes. \
         The thresholds follow the catalog's size: at these, {} is expected to get a false <b>match</b> \
         ({:.2} expected among the {} listings here that could be read and searched). Each card shows the authentic photo on the left and \
         the listing on the right, as does its evidence picture.</p></header>",
        matches.len(),
        reviews.len(),
        no_matches.len(),
        failures.len(),
        summary.scanned,
        summary.elapsed.as_secs_f64(),
        summary.rate(),
        if summary.cancelled { "; <b>cancelled before the end</b>" } else { "" },
        thresholds.match_score,
        crate::similarity::inliers_for_local_score(thresholds.match_score),
        thresholds.hash_match_score,
        thresholds.review_score,
        thresholds.hash_review_score,
        thresholds.contradicted_review_score,
        super::rate_text(summary.false_match_rate),
        summary.expected_false_matches(),
        summary.scanned - summary.failures,
    )?;
    if matches.is_empty() {
        writeln!(out, "<p class=none>No listing copies a reference.</p>")?;
    }
    for (report, hit) in &matches {
        if let Some(hit) = hit {
            write_card(out, report, hit, sources)?;
        }
    }
    if !reviews.is_empty() {
        writeln!(out, "<details><summary><h2>To review ({})</h2></summary>", reviews.len())?;
        for (report, hit) in &reviews {
            if let Some(hit) = hit {
                write_card(out, report, hit, sources)?;
            }
        }
        writeln!(out, "</details>")?;
    }
    if !no_matches.is_empty() {
        writeln!(
            out,
            "<details><summary><h2>No match ({})</h2></summary><table class=listing><tr><th>listing</th>\
             <th>nearest authentic photo</th><th>score</th></tr>",
            no_matches.len()
        )?;
        for (report, hit) in &no_matches {
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&report.query),
                hit.map_or_else(|| "none".to_string(), |h| escape(&h.reference)),
                hit.map_or_else(|| "0".to_string(), |h| format!("{:.3}", h.score)),
            )?;
        }
        writeln!(out, "</table></details>")?;
    }
    if !failures.is_empty() {
        writeln!(out, "<h2>Files that could not be read ({})</h2><table class=listing>", failures.len())?;
        for (query, kind, error) in failures {
            writeln!(out, "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", escape(query), escape(&kind), escape(error))?;
        }
        writeln!(out, "</table>")?;
    }
    writeln!(out, "</body></html>")?;
    out.flush()
}

/// One listing's card: the authentic photo and the listing, the verdict and the evidence.
fn write_card(out: &mut impl Write, report: &ListingReport, hit: &Hit, sources: HtmlSources<'_>) -> io::Result<()> {
    let e = &hit.evidence;
    // Each photo is decoded once, for its thumbnail and for the evidence picture.
    // Reopened by the paths the names stand for (a name's text escapes what is not UTF-8: `walk::name_path`).
    let listing_photo =
        decode_for_report(&sources.queries.join(name_path(&report.query)), &sources.limits, "moved or deleted?", None)
            .map(|photo| photo.image);
    // The reference's name comes from the index file, which may come from elsewhere: one that would leave the
    // catalog folder (absolute, or with `..`) is not followed.
    let reference_photo = match (sources.catalog, relative_name(&hit.reference)) {
        (Some(catalog), Some(name)) => {
            let path = catalog.join(name);
            // Evidence drawn on another photo than the one matched would be false evidence: a photo replaced under
            // its name since it was indexed has another SHA-256 (where the index records it), or shows in its size.
            let hint = "moved? scan with --catalog-root DIR";
            decode_for_report(&path, &sources.limits, hint, hit.reference_sha256.as_deref()).and_then(|photo| {
                match e.local.as_ref().map(|l| l.reference_size) {
                    Some((w, h)) if (w, h) != (photo.width, photo.height) => Err(format!(
                        "{} is {}x{}, the indexed photo was {w}x{h}: replaced since it was indexed? not shown",
                        path.display(),
                        photo.width,
                        photo.height
                    )),
                    _ => Ok(photo),
                }
            })
        }
        (Some(_), None) => Err("its path in the index leaves the catalog folder: not shown".to_string()),
        (None, _) => Err("the index does not record where the catalog is: scan with --catalog-root DIR".to_string()),
    }
    .map(|photo| photo.image);
    let thumbnail = |photo: &Result<image::RgbImage, String>| match photo {
        Ok(p) => jpeg_data_uri(&shrink_to(p, THUMBNAIL)).ok_or_else(|| "cannot encode a thumbnail".to_string()),
        Err(reason) => Err(reason.clone()),
    };
    let alterations = if e.alterations.is_empty() { "none detected".to_string() } else { alterations_text(e) };
    let picture = match (&reference_photo, &listing_photo) {
        (Ok(reference), Ok(listing)) if e.local.is_some() => {
            let similarity =
                crate::similarity::Similarity { score: hit.score, verdict: hit.verdict, evidence: e.clone() };
            let names = (file_name(&hit.reference), file_name(&report.query));
            let drawn = crate::evidence::draw_labelled(reference, listing, &similarity, names);
            jpeg_data_uri(&shrink_to(&drawn, EVIDENCE_WIDTH))
        }
        _ => None,
    };
    let picture = picture.map_or(String::new(), |uri| {
        format!(
            "<figure class=evidence><img src=\"{uri}\" alt=\"evidence picture\"><figcaption>Left: the authentic photo; \
             right: the listing. {} verified matches (green); red: the authentic photo's outline in the listing, and \
             the part of it shown</figcaption></figure>",
            e.local.as_ref().map_or(0, |l| l.inliers)
        )
    });
    let metadata: String =
        hit.metadata.iter().map(|(k, v)| format!("<span class=meta>{}: {}</span>", escape(k), escape(v))).collect();
    writeln!(
        out,
        "<section class=\"card {verdict}\"><div class=photos>{}{}</div><div class=facts>\
         <p class=verdict>{verdict_text} <span class=score>score {:.3}</span></p>\
         <p><b>How it was altered:</b> {}</p><p><b>Orientation:</b> {}</p>\
         <p><b>PDQ</b> {} / 256 bits (quality {}) · <b>pHash</b> {} · <b>dHash</b> {} · <b>aHash</b> {} · \
         <b>colour</b> {:.2} · <b>verified matches</b> {}{}</p>{sha256}{metadata}</div>{picture}</section>",
        figure(thumbnail(&reference_photo), "authentic", &hit.reference),
        figure(thumbnail(&listing_photo), "listing", &report.query),
        hit.score,
        escape(&alterations),
        escape(e.transform.map_or("not established", |t| t.describe())),
        e.pdq_distance,
        e.pdq_quality,
        e.phash_distance,
        e.dhash_distance,
        e.ahash_distance,
        e.colour_distance,
        e.local.as_ref().map_or(0, |l| l.inliers),
        e.local
            .as_ref()
            .and_then(|l| l.zoom)
            .map_or(String::new(), |z| format!(" (on the copy's part of the listing enlarged ×{z:.1})")),
        sha256 = hit
            .reference_sha256
            .as_ref()
            .map_or(String::new(), |h| format!("<p><b>Authentic photo's SHA-256</b> <code>{}</code></p>", escape(h))),
        verdict = hit.verdict.as_str(),
        verdict_text = if hit.verdict == Verdict::Match { "MATCH" } else { "REVIEW" },
    )
}

fn figure(data_uri: Result<String, String>, label: &str, path: &str) -> String {
    let img = match data_uri {
        Ok(uri) => format!("<img src=\"{uri}\" alt=\"{}\">", escape(path)),
        Err(reason) => format!("<div class=missing>photo not available: {}</div>", escape(&reason)),
    };
    format!("<figure>{img}<figcaption><b>{label}</b><br>{}</figcaption></figure>", escape(path))
}

/// Longer side of the thumbnails.
const THUMBNAIL: u32 = 240;
/// Longer side of the evidence pictures.
const EVIDENCE_WIDTH: u32 = 900;

/// A photo decoded small enough for a report (evidence pictures draw at 420 px high), or why it cannot be shown.
/// `missing` is the hint given when the file is not there; a file whose SHA-256 is not `sha256` (hex), where given,
/// is not the photo meant and is not decoded.
fn decode_for_report(
    path: &Path,
    limits: &crate::decode::Limits,
    missing: &str,
    sha256: Option<&str>,
) -> Result<Photo, String> {
    let options = DecodeOptions { reduce_to: Some(640), limits: *limits, ..DecodeOptions::default() };
    let bytes = crate::decode::read_regular(path, limits.max_file_bytes).map_err(|e| match e.kind() {
        crate::error::ErrorKind::Io(io) if io.kind() == io::ErrorKind::NotFound => {
            format!("{} not found ({missing})", path.display())
        }
        _ => e.with_path(path).to_string(),
    })?;
    if sha256.is_some_and(|expected| expected != crate::index::hex(&crate::index::sha256(&bytes.0))) {
        return Err(format!(
            "{} is not the photo indexed (another SHA-256): replaced since it was indexed? not shown",
            path.display()
        ));
    }
    decode_bytes(&bytes.0, &options).map_err(|e| e.with_path(path).to_string())
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
.card { display: flex; flex-wrap: wrap; gap: 20px; border: 1px solid #ddd; border-left: 8px solid #999;
        border-radius: 6px; padding: 12px; margin: 12px 0; }
.card.match { border-left-color: #c62828; } .card.review { border-left-color: #ef8f00; }
.photos { display: flex; gap: 10px; } figure { margin: 0; width: 250px; text-align: center; }
figure img { max-width: 240px; max-height: 240px; border: 1px solid #ccc; }
figcaption { font-size: 12px; overflow-wrap: anywhere; color: #555; }
.missing { width: 240px; min-height: 160px; background: #eee; color: #666; display: flex; align-items: center;
           justify-content: center; padding: 8px; box-sizing: border-box; font-size: 12px; overflow-wrap: anywhere; }
.pill { display: inline-block; border-radius: 10px; padding: 1px 10px; font-weight: 600; color: #fff; }
.pill.match { background: #c62828; } .pill.review { background: #ef8f00; } .pill.no_match { background: #2e7d32; }
.pill.failed { background: #666; } .explain { font-size: 13px; color: #444; }
details { margin: 12px 0; } summary h2 { display: inline; font-size: 18px; cursor: pointer; }
table.listing { border-collapse: collapse; margin-top: 8px; }
.listing td, .listing th { border: 1px solid #ddd; padding: 4px 8px; font-size: 13px; text-align: left;
                          overflow-wrap: anywhere; }
.verdict { font-size: 20px; font-weight: 700; margin: 0 0 8px; } .match .verdict { color: #c62828; }
.review .verdict { color: #ef8f00; } .score { font-weight: 400; color: #444; font-size: 16px; margin-left: 10px; }
.meta { display: inline-block; background: #f2f2f2; border-radius: 3px; padding: 1px 6px; margin-right: 6px; }
.none { color: #2e7d32; font-weight: 600; }
figure.evidence { width: auto; flex-basis: 100%; } figure.evidence img { max-width: 100%; max-height: none; }
.facts { min-width: 0; flex: 1 1 300px; }
</style></head><body>
"#;
