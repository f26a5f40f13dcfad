use knockoff::edits::Edit;
use knockoff::eval::{Corpus, CorpusSize};
use knockoff::features::{LocalConfig, VerifyConfig, extract, verify};
use rayon::prelude::*;

fn main() {
    let corpus = Corpus::from_testdata(std::path::Path::new("testdata"), CorpusSize::Full).unwrap();
    let cfg = LocalConfig::default();
    let t = std::time::Instant::now();
    let refs: Vec<_> = corpus.references.iter().map(|(_, img)| (extract(img, img.dimensions(), &cfg), img.dimensions())).collect();
    eprintln!("refs {:?} kps {:?}", t.elapsed(), refs.iter().map(|r| r.0.len()).collect::<Vec<_>>());
    let mut jobs = vec![];
    for (ri, (name, img)) in corpus.references.iter().enumerate() {
        for (en, e) in &corpus.edits { jobs.push((Some(ri), name.clone(), en.clone(), img, Some(e.clone()))); }
    }
    for (name, img) in &corpus.distractors {
        for (en, e) in &corpus.edits { jobs.push((None, name.clone(), en.clone(), img, Some(e.clone()))); }
    }
    for (name, img) in &corpus.hard_negatives { jobs.push((None, name.clone(), "hard".into(), img, None)); }
    let t = std::time::Instant::now();
    let rows: Vec<_> = jobs.par_iter().map(|(truth, name, en, img, e)| {
        let q = match e { Some(e) => e.apply(img, &corpus.kit), None => (*img).clone() };
        let f = extract(&q, q.dimensions(), &cfg);
        let res: Vec<_> = refs.iter().map(|(r, rs)| verify(r, *rs, &f, q.dimensions(), &VerifyConfig::default())).collect();
        (truth.clone(), name.clone(), en.clone(), f.len(), res)
    }).collect();
    eprintln!("queries {:?}", t.elapsed());
    for (truth, name, en, n, res) in &rows {
        let s = |r: &Option<knockoff::features::LocalEvidence>| r.as_ref().map_or("-".to_string(), |e| format!("{}/{}/{:.2}{} h{:?}", e.inliers, e.matches, e.coverage, if e.mirrored {"M"} else {""}, e.hue_shift_degrees.map(|h| h.round())));
        let best_other = res.iter().enumerate().filter(|(i, _)| Some(*i) != *truth).max_by_key(|(_, r)| r.as_ref().map_or(0, |e| e.inliers)).map(|(i, r)| format!("{} r{}", s(r), i)).unwrap();
        let own = truth.map(|t| { let e = &res[t]; let d = e.as_ref().map(|e| format!("rot {:.1} sc {:.2} hue {:?} H {}", e.decomposition.rotation_degrees, e.decomposition.scale, e.hue_shift_degrees.map(|h| h.round()), e.homography_inliers)).unwrap_or_default(); format!("{} {}", s(e), d) }).unwrap_or_default();
        println!("{:5} {:28} {:26} kps {:4} own [{}] other [{}]", truth.is_some(), name, en, n, own, best_other);
    }
}
