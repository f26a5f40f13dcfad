//! Columnar results and the worker protocol (feature `arrow`): the worker gives every record of a stream the
//! rows a folder scan gives the same photo, bad records become failure rows without ending the stream, Parquet
//! output reads back as the CSV report's rows, and a catalog split into shards gives the results of the whole.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arrow_array::{Array, BinaryArray, Float32Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema};
use common::{example, testdata};
use knockoff::report::CsvReport;
use knockoff::report::columnar::{ParquetReport, run_config, schema};
use knockoff::{
    ErrorKind, FingerprintConfig, Fingerprinter, ListingReport, Outcome, ReferenceIndex, ScanOptions, Scanner,
    SearchOptions, worker,
};

fn index_of_refs() -> ReferenceIndex {
    let fingerprinter = Fingerprinter::for_references(FingerprintConfig::default());
    let (index, report) = ReferenceIndex::build(testdata("refs"), &fingerprinter, |_| {});
    assert!(report.failures.is_empty());
    index
}

/// The listings, then three hostile files (corrupt, empty, a decompression bomb).
fn listing_files() -> Vec<PathBuf> {
    let mut files = common::photos("listings");
    for bad in ["corrupt-chunk.png", "empty.jpg", "huge-dimensions.png"] {
        files.push(testdata("bad").join(bad));
    }
    files
}

/// The best reference only, as the example binaries report by default.
fn one_hit() -> ScanOptions {
    ScanOptions::default().with_search(SearchOptions::default().with_top_k(1))
}

fn input_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, true),
        Field::new("content", DataType::Binary, true),
        Field::new("modificationTime", DataType::Int64, true),
    ]))
}

/// An Arrow IPC stream of (path, content) batches of at most `per_batch` records, as Spark's `binaryFile` gives.
fn arrow_stream(records: &[(Option<String>, Option<Vec<u8>>)], per_batch: usize) -> Vec<u8> {
    let schema = input_schema();
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, &schema).unwrap();
    for chunk in records.chunks(per_batch) {
        let paths = StringArray::from(chunk.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>());
        let contents = BinaryArray::from(chunk.iter().map(|(_, c)| c.as_deref()).collect::<Vec<_>>());
        let times = Int64Array::from(vec![0; chunk.len()]);
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(paths), Arc::new(contents), Arc::new(times)]).unwrap();
        writer.write(&batch).unwrap();
    }
    writer.finish().unwrap();
    drop(writer);
    out
}

fn file_records(files: &[PathBuf]) -> Vec<(Option<String>, Option<Vec<u8>>)> {
    files.iter().map(|f| (Some(f.to_string_lossy().into_owned()), Some(std::fs::read(f).unwrap()))).collect()
}

/// Result rows as (query, reference, score, verdict, rank, error_kind).
type Key = (String, Option<String>, f32, String, Option<i32>, Option<String>);

fn keys(batches: &[RecordBatch]) -> Vec<Key> {
    let mut out = Vec::new();
    for batch in batches {
        assert_eq!(batch.schema(), schema(), "every batch has the result schema");
        let text =
            |name: &str| batch.column_by_name(name).unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
        let (query, reference, verdict, error_kind) =
            (text("query"), text("reference"), text("verdict"), text("error_kind"));
        let score = batch.column_by_name("score").unwrap().as_any().downcast_ref::<Float32Array>().unwrap().clone();
        let rank = batch.column_by_name("rank").unwrap().as_any().downcast_ref::<Int32Array>().unwrap().clone();
        let opt = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
        for i in 0..batch.num_rows() {
            out.push((
                query.value(i).to_string(),
                opt(&reference, i),
                score.value(i),
                verdict.value(i).to_string(),
                (!rank.is_null(i)).then(|| rank.value(i)),
                opt(&error_kind, i),
            ));
        }
    }
    out
}

fn report_keys(reports: &[ListingReport]) -> Vec<Key> {
    let mut out = Vec::new();
    for r in reports {
        match &r.outcome {
            Outcome::Failed { error_kind, .. } => {
                out.push((r.query.clone(), None, 0.0, "no_match".into(), None, Some(error_kind.to_string())))
            }
            Outcome::Searched { hits } if hits.is_empty() => {
                out.push((r.query.clone(), None, 0.0, "no_match".into(), None, None))
            }
            Outcome::Searched { hits } => {
                for (rank, h) in hits.iter().enumerate() {
                    let verdict = h.verdict.as_str().to_string();
                    out.push((
                        r.query.clone(),
                        Some(h.reference.clone()),
                        h.score,
                        verdict,
                        Some(rank as i32 + 1),
                        None,
                    ));
                }
            }
        }
    }
    out
}

/// The reports of a scan of `files` (by path) with `scanner`.
fn scan_paths(scanner: &Scanner, files: &[PathBuf]) -> Vec<ListingReport> {
    common::scan_files(scanner, files.iter().map(|f| f.as_path())).0
}

fn read_stream(bytes: &[u8]) -> Vec<RecordBatch> {
    StreamReader::try_new(bytes, None).unwrap().collect::<Result<Vec<_>, _>>().unwrap()
}

#[test]
fn the_worker_gives_every_record_the_rows_a_scan_of_the_file_gives() {
    let scanner =
        Scanner::new(index_of_refs(), ScanOptions::default().with_search(SearchOptions::default().with_top_k(2)));
    let files = listing_files();
    let mut output = Vec::new();
    let input = arrow_stream(&file_records(&files), 5);
    let summary = worker::serve_arrow(&scanner, input.as_slice(), &mut output, "{}").unwrap();
    assert_eq!((summary.listings, summary.failures, summary.batches), (files.len(), 3, files.len().div_ceil(5)));
    let batches = read_stream(&output);
    assert_eq!(batches.len(), files.len().div_ceil(5), "one result batch per input batch");
    // Bytes and paths give the same fingerprints, so the same rows, in input order.
    assert_eq!(keys(&batches), report_keys(&scan_paths(&scanner, &files)));
    let matched = keys(&batches).iter().filter(|k| k.3 == "match").map(|k| k.0.clone()).collect::<Vec<_>>();
    assert!(matched.iter().any(|q| q.ends_with("rocket-collage.jpg")), "{matched:?}");
}

#[test]
fn bad_records_are_failure_rows_and_the_stream_goes_on() {
    // A 1 MiB file-size limit on the scan, so that an oversized record is cheap to make.
    let mut limits = knockoff::Limits::default();
    limits.max_file_bytes = 1 << 20;
    let scanner = Scanner::new(index_of_refs(), one_hit().with_limits(limits));
    let photo = std::fs::read(testdata("listings").join("rocket-recompressed.jpg")).unwrap();
    // Over the file-size limit: refused from its length, as the same photo as a file would be.
    let mut oversized = photo.clone();
    oversized.resize((1 << 20) + 1, 0);
    let records = vec![
        (Some("oversized".to_string()), Some(oversized)),
        (Some("null-content".to_string()), None),
        (None, Some(photo.clone())),
        (Some("garbage".to_string()), Some(b"not a photo".to_vec())),
        (Some("after".to_string()), Some(photo)),
    ];
    let mut output = Vec::new();
    let summary = worker::serve_arrow(&scanner, arrow_stream(&records, 2).as_slice(), &mut output, "{}").unwrap();
    assert_eq!((summary.listings, summary.failures), (5, 3));
    let rows = keys(&read_stream(&output));
    let by_query: Vec<(&str, &str, Option<&str>)> =
        rows.iter().map(|k| (k.0.as_str(), k.3.as_str(), k.5.as_deref())).collect();
    assert_eq!(
        by_query,
        [
            ("oversized", "no_match", Some("file_too_large")),
            ("null-content", "no_match", Some("empty")),
            ("", "match", None),
            ("garbage", "no_match", Some("unknown_format")),
            ("after", "match", None)
        ]
    );
}

#[test]
fn input_that_is_not_the_protocol_is_a_typed_error_after_the_results_before_it() {
    let scanner = Scanner::new(index_of_refs(), one_hit());
    // No bytes at all: no listings, and a well-formed empty stream out.
    let mut output = Vec::new();
    let summary = worker::serve_arrow(&scanner, b"".as_slice(), &mut output, "{}").unwrap();
    assert_eq!(summary.listings, 0);
    assert!(read_stream(&output).is_empty());

    // Not an Arrow stream at all.
    let mut output = Vec::new();
    let err = worker::serve_arrow(&scanner, b"path,content\n".as_slice(), &mut output, "{}").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Protocol(_)), "{err}");
    assert!(read_stream(&output).is_empty(), "the output is still a well-formed (empty) stream");

    // A good batch, then a batch without `content`.
    let good = arrow_stream(&file_records(&common::photos("listings")[..2]), 2);
    let schema = Arc::new(Schema::new(vec![Field::new("path", DataType::Utf8, false)]));
    let mut bad = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bad, &schema).unwrap();
    writer.write(&RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec!["x"]))]).unwrap()).unwrap();
    writer.finish().unwrap();
    drop(writer);
    // Two streams back to back: the reader ends at the first's end-of-stream marker, so cut it off.
    let mut input = good[..good.len() - 8].to_vec();
    input.extend_from_slice(&bad);
    let mut output = Vec::new();
    let err = worker::serve_arrow(&scanner, input.as_slice(), &mut output, "{}").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Protocol(_)), "{err}");
    // A stream's schema comes once: a second schema message mid-stream is itself the error; either way the good
    // batch's results were written first and the output stream is complete.
    assert_eq!(keys(&read_stream(&output)).len(), 2);

    // Offsets out of range, which made the Arrow reader panic (found by fuzzing; the first byte is the fuzz
    // target's protocol choice): a typed error, and the output stream still complete.
    let input = std::fs::read(testdata("fuzz/worker/panic-offset.arrow")).unwrap();
    let mut output = Vec::new();
    let err = worker::serve_arrow(&scanner, &input[1..], &mut output, "{}").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Protocol(_)), "{err}");
    read_stream(&output);

    // Truncated mid-batch.
    let mut output = Vec::new();
    let err = worker::serve_arrow(&scanner, &good[..good.len() / 2], &mut output, "{}").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Protocol(_)), "{err}");
    assert!(read_stream(&output).is_empty());
}

#[test]
fn the_line_protocol_reports_bad_lines_and_goes_on() {
    use base64::Engine;
    let scanner = Scanner::new(index_of_refs(), one_hit());
    let photo = std::fs::read(testdata("listings").join("coffee-crop25.jpg")).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&photo);
    let input = format!("a.jpg\t{encoded}\nno tab here\nb.jpg\t***\n\nc.jpg\t{encoded}\r\n");
    let mut output = Vec::new();
    let summary = worker::serve_lines(&scanner, input.as_bytes(), &mut output, r#"{"run":1}"#).unwrap();
    assert_eq!((summary.listings, summary.failures), (4, 2));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(output).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seen: Vec<(&str, &str, Option<&str>)> = lines
        .iter()
        .map(|l| (l["query"].as_str().unwrap(), l["verdict"].as_str().unwrap(), l["error_kind"].as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("a.jpg", "match", None),
            ("no tab here", "no_match", Some("protocol")),
            ("b.jpg", "no_match", Some("protocol")),
            ("c.jpg", "match", None)
        ]
    );
    // Every line has every column of the Arrow schema, and the configuration as JSON.
    for line in &lines {
        for field in schema().fields() {
            assert!(line.get(field.name()).is_some(), "{} missing in {line}", field.name());
        }
        let config: serde_json::Value = serde_json::from_str(line["config"].as_str().unwrap()).unwrap();
        assert_eq!(config["run"], 1);
    }
    assert_eq!(lines[0]["reference"], "coffee.jpg");
}

/// Parses the CSV report (no quoted fields in these rows) into (query, reference, score, verdict) rows.
fn csv_rows(csv: &str) -> Vec<(String, String, f64, String)> {
    csv.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[0].to_string(), fields[1].to_string(), fields[2].parse().unwrap(), fields[3].to_string())
        })
        .collect()
}

#[test]
fn parquet_output_reads_back_as_the_csv_rows() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let scanner =
        Scanner::new(index_of_refs(), ScanOptions::default().with_search(SearchOptions::default().with_top_k(2)));
    let folder = testdata("listings");
    let mut csv = CsvReport::new(Vec::new()).unwrap();
    let mut parquet = ParquetReport::new(Vec::new(), run_config(&scanner, Some("refs"))).unwrap();
    scanner
        .scan(
            &folder,
            &AtomicBool::new(false),
            |_| {},
            |r| {
                csv.write(r)?;
                parquet.write(r, &folder.join(&r.query).to_string_lossy())
            },
        )
        .unwrap();
    let csv = csv_rows(&String::from_utf8(csv.into_inner()).unwrap());
    let bytes = bytes::Bytes::from(parquet.finish().unwrap());
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    let rows = keys(&batches);
    assert_eq!(rows.len(), csv.len());
    for (row, csv) in rows.iter().zip(&csv) {
        assert_eq!((&row.0, row.1.as_deref().unwrap_or(""), &row.3), (&csv.0, csv.1.as_str(), &csv.3));
        assert!((f64::from(row.2) - csv.2).abs() <= 1e-6, "{row:?} against {csv:?}");
    }
    // Paths and configuration on every row.
    let batch = &batches[0];
    let path = batch.column_by_name("path").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    assert!(Path::new(path.value(0)).is_file());
    let config = batch.column_by_name("config").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    let config: serde_json::Value = serde_json::from_str(config.value(0)).unwrap();
    assert_eq!(config["index"]["references"], 6);
    assert_eq!(config["search"]["top_k"], 2);
    // The verdicts' basis: the thresholds in force for this catalog and the false-match rate they predict.
    assert_eq!(
        config["thresholds"]["match_score"],
        serde_json::json!(knockoff::Thresholds::for_catalog(6).match_score)
    );
    assert!(config["false_match_rate"].as_f64().is_some_and(|r| r > 0.0 && r <= 0.001));
}

/// The best `top` hits per listing over several shards' reports: score first, then reference id.
fn merge(per_shard: &[Vec<ListingReport>], top: usize) -> BTreeMap<String, Vec<(u64, f32)>> {
    let mut merged: BTreeMap<String, Vec<(u64, f32)>> = BTreeMap::new();
    for reports in per_shard {
        for r in reports {
            let hits = merged.entry(r.query.clone()).or_default();
            if let Outcome::Searched { hits: found } = &r.outcome {
                hits.extend(found.iter().map(|h| (h.reference_id, h.score)));
            }
        }
    }
    for hits in merged.values_mut() {
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hits.truncate(top);
    }
    merged
}

#[test]
fn shards_together_give_the_results_of_the_whole_catalog() {
    let dir = std::env::temp_dir().join(format!("knockoff-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let whole = index_of_refs();
    let shards = whole.split(2).unwrap();
    assert_eq!(shards.iter().map(|s| s.len()).collect::<Vec<_>>(), [3, 3]);
    let mut ids: Vec<u64> = shards.iter().flat_map(|s| s.references().iter().map(|r| r.id)).collect();
    ids.sort_unstable();
    assert_eq!(ids, whole.references().iter().map(|r| r.id).collect::<Vec<_>>(), "disjoint, complete, ids kept");
    // Through the file: shard information and ids survive a save.
    let mut opened = Vec::new();
    for (k, shard) in shards.iter().enumerate() {
        let path = dir.join(format!("catalog-{}-of-2.idx", k + 1));
        shard.save(&path).unwrap();
        let back = ReferenceIndex::open(&path).unwrap();
        let info = back.shard().unwrap();
        assert_eq!((info.number, info.count, info.catalog_references), (k as u32 + 1, 2, 6));
        let mut loaded = ReferenceIndex::open(&path).unwrap();
        loaded.load_features().unwrap();
        assert_eq!(loaded.references(), shard.references());
        opened.push(back);
    }
    let top = 3;
    let options = ScanOptions::default().with_search(SearchOptions::default().with_top_k(top));
    let files = common::photos("listings");
    let single = scan_paths(&Scanner::new(whole, options), &files);
    let per_shard: Vec<Vec<ListingReport>> =
        opened.into_iter().map(|shard| scan_paths(&Scanner::new(shard, options), &files)).collect();
    let expected: BTreeMap<String, Vec<(u64, f32)>> = single
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Searched { hits } => (r.query.clone(), hits.iter().map(|h| (h.reference_id, h.score)).collect()),
            Outcome::Failed { .. } => (r.query.clone(), Vec::new()),
        })
        .collect();
    assert_eq!(merge(&per_shard, top), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn splitting_refuses_what_cannot_be_a_shard_set() {
    let whole = index_of_refs();
    for count in [0, 7, 5000] {
        let err = whole.split(count).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidConfig(_)), "{count}: {err}");
    }
    let shard = whole.split(3).unwrap().remove(0);
    assert!(matches!(shard.split(2).unwrap_err().kind(), ErrorKind::InvalidConfig(_)));
    // A shard's later additions get ids past every reference of the whole catalog.
    let mut shard = shard;
    let fingerprint = whole.references()[0].fingerprint.clone();
    let id = shard.add("new.jpg", fingerprint, knockoff::NO_METADATA).unwrap();
    assert!(whole.references().iter().all(|r| r.id < id));
}

// ---------------------------------------------------------------------------------------------------------------
// The example binaries: `worker` over a pipe, `scan --format parquet`, `index --shards`.

/// Runs the worker example with `args`, the `files` as an Arrow stream on its stdin (written from another thread,
/// as an engine does, so that neither side waits on a full pipe).
fn run_worker(args: &[&str], files: &[PathBuf]) -> std::process::Output {
    let mut child = example("worker")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = arrow_stream(&file_records(files), 4);
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

#[test]
fn the_worker_binary_serves_a_pipe_and_shards_are_written() {
    let dir = std::env::temp_dir().join(format!("knockoff-worker-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let refs = testdata("refs");
    let status = example("index")
        .args([refs.to_str().unwrap(), "-o", dir.join("catalog.idx").to_str().unwrap(), "--shards", "2"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for k in 1..=2 {
        assert!(dir.join(format!("catalog-{k}-of-2.idx")).is_file());
    }
    let files = listing_files();
    let output = run_worker(&["--index", dir.join("catalog-1-of-2.idx").to_str().unwrap(), "--threads", "1"], &files);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows = keys(&read_stream(&output.stdout));
    assert_eq!(rows.len(), files.len());
    assert_eq!(rows.iter().filter(|k| k.5.is_some()).count(), 3);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("worker: {} listings, 3 failures", files.len())), "{stderr}");

    // An index that is not there: exit status 1, and the path and the system's reason, each said once.
    let output = example("worker").args(["--index", "/no/such/catalog.idx"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("/no/such/catalog.idx").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");

    // Garbage on stdin: exit status 1, a message, and a well-formed empty stream on stdout.
    let mut child = example("worker")
        .args(["--index", dir.join("catalog-2-of-2.idx").to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"not arrow").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("malformed worker input"));
    assert!(read_stream(&output.stdout).is_empty());

    // A stream that makes the Arrow reader panic (found by fuzzing; the first byte is the fuzz target's protocol
    // choice): the typed error, said once, and no panic message or backtrace on stderr (backtraces enabled).
    let input = std::fs::read(testdata("fuzz/worker/panic-offset.arrow")).unwrap();
    let mut child = example("worker")
        .args(["--index", dir.join("catalog-2-of-2.idx").to_str().unwrap()])
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input[1..]).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("unreadable stream").count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    read_stream(&output.stdout);

    // A shard whose stored features are damaged (the last reference's descriptor checksum, the byte before the
    // footer's 24): every record still gets its row and the output stream is complete, then the worker says the
    // index is damaged and exits with status 1.
    let damaged = dir.join("damaged.idx");
    let mut bytes = std::fs::read(dir.join("catalog-2-of-2.idx")).unwrap();
    let at = bytes.len() - 25;
    bytes[at] ^= 0x01;
    std::fs::write(&damaged, &bytes).unwrap();
    let output = run_worker(&["--index", damaged.to_str().unwrap()], &files);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(keys(&read_stream(&output.stdout)).len(), files.len());
    assert!(String::from_utf8_lossy(&output.stderr).contains("the index is damaged"));

    // scan --format parquet: the CSV's rows.
    let parquet = dir.join("scan.parquet");
    let status = example("scan")
        .args(["--refs", refs.to_str().unwrap(), "--queries", testdata("listings").to_str().unwrap()])
        .args(["--format", "parquet", "-o", parquet.to_str().unwrap()])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = bytes::Bytes::from(std::fs::read(&parquet).unwrap());
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap().build().unwrap();
    let rows = keys(&reader.collect::<Result<Vec<_>, _>>().unwrap());
    assert_eq!(rows.len(), common::photos("listings").len());
    assert!(rows.iter().any(|k| k.0 == "rocket-collage.jpg" && k.1.as_deref() == Some("rocket.jpg") && k.3 == "match"));
    std::fs::remove_dir_all(&dir).unwrap();
}
