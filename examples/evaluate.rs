//! The accuracy benchmark: how well each method finds counterfeit-style edits of the reference photos in
//! `testdata/`, with no false positives among photos that copy no reference.
//!
//! ```text
//! cargo run --release --features bench-tools --example evaluate -- [--json PATH] [--svg PATH] [--small]
//! ```
//!
//! Prints a markdown report (recall at 0, 0.1% and 1% false positives per method; per-edit recall; the verdicts'
//! precision and recall under thresholds calibrated on this run), writes the same as JSON with `--json`, and a
//! per-edit recall chart as SVG (default `docs/accuracy.svg`). `--small` runs the quick version the tests use.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use knockoff::eval::{Corpus, CorpusSize, Report, run};
use knockoff::{FingerprintConfig, Thresholds};

/// The command line, for `--help` and for arguments it does not know.
const USAGE: &str = "evaluate [--json PATH] [--svg PATH] [--small]";

fn main() -> anyhow::Result<()> {
    let (mut json, mut svg, mut size) = (None, Some("docs/accuracy.svg".to_string()), CorpusSize::Full);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = Some(args.next().context("--json needs a path")?),
            "--svg" => svg = Some(args.next().context("--svg needs a path")?),
            "--small" => size = CorpusSize::Small,
            "-h" | "--help" => {
                println!("usage: {USAGE}");
                return Ok(());
            }
            other => anyhow::bail!("unexpected argument {other:?}; usage: {USAGE}"),
        }
    }
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let corpus = Corpus::from_testdata(&testdata, size)?;
    let report = run(&corpus, FingerprintConfig::default(), &Thresholds::default())?;
    print!("{}", markdown(&report));
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {path}"))?;
    }
    if let Some(path) = svg {
        if let Some(dir) = Path::new(&path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, chart(&report)).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

fn pct(x: f32) -> String {
    format!("{:.1}%", x * 100.0)
}

fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Accuracy\n\n{} positives (edited references), {} negatives ({} hard), {:.1} s.\n",
        r.positives, r.negatives, r.hard_negatives, r.seconds
    );
    let _ = writeln!(
        out,
        "| method | recall @ 0 FP | recall @ 0.1% FP | recall @ 1% FP | top-1 accuracy |\n|---|---|---|---|---|"
    );
    for m in &r.methods {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            m.method,
            pct(m.recall_at_fpr_0),
            pct(m.recall_at_fpr_0_1),
            pct(m.recall_at_fpr_1),
            pct(m.top1_accuracy)
        );
    }
    let _ = writeln!(
        out,
        "\nThis run calibrates: match at score >= {:.2} (<= 0.1% false positives), review at >= {:.2} (<= 1%).\n\
         Under the library's thresholds (match >= {:.2}, review >= {:.2}): `match` verdicts precision {}, recall {}; \
         `match` or `review` precision {}, recall {}; {} negatives in review.\n",
        r.calibrated.match_score,
        r.calibrated.review_score,
        r.thresholds.match_score,
        r.thresholds.review_score,
        pct(r.match_precision),
        pct(r.match_recall),
        pct(r.flagged_precision),
        pct(r.flagged_recall),
        r.negatives_in_review
    );
    let _ = writeln!(out, "Highest-scoring negatives (they set the thresholds):\n");
    for (source, edit, score, reference) in &r.worst_negatives {
        let _ = writeln!(out, "- {source}, {edit}: {score:.3} against {reference}");
    }
    let _ = writeln!(
        out,
        "\n| edit | knockoff `match` recall (default thresholds) | knockoff score @ 0 FP | local features @ 0 FP | \
         PDQ + dihedral @ 0 FP |\n|---|---|---|---|---|"
    );
    for e in &r.per_edit {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            e.edit,
            pct(e.match_recall),
            pct(e.score_recall_at_fpr_0),
            pct(e.local_recall_at_fpr_0),
            pct(e.pdq_recall_at_fpr_0)
        );
    }
    out
}

/// A horizontal bar chart of per-edit recall, knockoff's verdicts beside PDQ + dihedral, as plain SVG.
fn chart(r: &Report) -> String {
    let (row, left, width) = (22.0, 200.0, 420.0);
    let height = 60.0 + row * r.per_edit.len() as f32;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">Recall per edit: knockoff `match` (default thresholds) vs PDQ + dihedral (no false positive)</text>\
         <rect x=\"{left}\" y=\"30\" width=\"12\" height=\"10\" fill=\"#c62828\"/><text x=\"{l1}\" y=\"39\">knockoff match</text>\
         <rect x=\"{l2}\" y=\"30\" width=\"12\" height=\"10\" fill=\"#90a4ae\"/><text x=\"{l3}\" y=\"39\">PDQ + dihedral</text>",
        w = left + width + 110.0,
        l1 = left + 16.0,
        l2 = left + 130.0,
        l3 = left + 146.0
    );
    for (i, e) in r.per_edit.iter().enumerate() {
        let y = 50.0 + row * i as f32;
        let _ = write!(
            svg,
            "<text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{name}</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{a}\" height=\"9\" fill=\"#c62828\"/>\
             <rect x=\"{left}\" y=\"{y2}\" width=\"{b}\" height=\"9\" fill=\"#90a4ae\"/>\
             <text x=\"{vx}\" y=\"{ty}\" fill=\"#444\">{va:.0}% / {vb:.0}%</text>",
            tx = left - 6.0,
            ty = y + 13.0,
            name = e.edit.replace('&', "&amp;").replace('<', "&lt;"),
            a = width * e.match_recall,
            y2 = y + 9.0,
            b = width * e.pdq_recall_at_fpr_0,
            vx = left + width + 4.0,
            va = e.match_recall * 100.0,
            vb = e.pdq_recall_at_fpr_0 * 100.0
        );
    }
    svg + "</svg>\n"
}
