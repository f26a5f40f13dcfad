//! The accuracy benchmark in small: a few references and distractors, the edits any perceptual hash must
//! survive. Asserts what a user relies on: those copies are found at the default thresholds, and no negative
//! (distractors edited the same ways, hard negatives included) is called a match.

use std::path::Path;

use knockoff::eval::{Corpus, CorpusSize, run};
use knockoff::{FingerprintConfig, Thresholds};

#[test]
fn survivable_edits_are_found_and_no_negative_matches() {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let corpus = Corpus::from_testdata(&testdata, CorpusSize::Small).unwrap();
    assert!(corpus.references.len() >= 4 && corpus.distractors.len() >= 4 && !corpus.hard_negatives.is_empty());
    let defaults = Thresholds::default();
    let report = run(&corpus, FingerprintConfig::default(), &defaults).unwrap();
    assert!(report.positives >= 24 && report.negatives >= 24, "{} / {}", report.positives, report.negatives);

    // Found at the default thresholds (per-edit recall is measured under the thresholds given to `run`).
    let survivable = ["re-encode WebP", "re-encode PNG", "downscale to 300 px", "blur", "JPEG quality 40"];
    let checked = report.per_edit.iter().filter(|e| survivable.contains(&e.edit.as_str())).count();
    assert_eq!(checked, survivable.len());
    for edit in report.per_edit.iter().filter(|e| survivable.contains(&e.edit.as_str())) {
        assert_eq!(edit.match_recall, 1.0, "{}: {:?}", edit.edit, report.per_edit);
    }
    // No negative at or above the default match threshold.
    let worst = report.worst_negatives.first().map_or(0.0, |w| w.2);
    assert!(worst < defaults.match_score, "a negative scored {worst}: {:?}", report.worst_negatives);
    assert_eq!(report.match_precision, 1.0);
}
