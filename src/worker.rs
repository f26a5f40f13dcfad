//! The worker protocol (feature `arrow`): listings in, results out, as streams, so that an engine (Spark's
//! `mapInArrow` or `RDD.pipe`, any program with a pipe) can feed a long-lived process that opened the index once.
//!
//! - [`serve_arrow`]: an Arrow IPC stream of record batches with a `path` column (string: the listing's name,
//!   a path or URI) and a `content` column (binary: the photo's bytes) in; other columns are ignored, and the
//!   large variants of both types are accepted. Out: an Arrow IPC stream with one batch of results per batch in
//!   (the [`columnar::schema`] rows, in input order), each flushed as soon as it is ready.
//! - [`serve_lines`]: lines of `PATH<TAB>BASE64` in, JSON lines out (one object per result row, the same
//!   fields).
//!
//! A bad record (no bytes, bytes that are not a photo, a bomb, a line without a tab or with invalid base64) is a
//! failure row in the output, with its `error_kind`, and the stream goes on. Only input that is not the protocol at
//! all (not an Arrow stream, a batch without the two columns) ends it, with [`ErrorKind::Protocol`], after every
//! result before it was written and the output stream closed properly.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{BinaryArray, RecordBatch, StringArray};
//! use arrow_ipc::reader::StreamReader;
//! use arrow_ipc::writer::StreamWriter;
//! use arrow_schema::{DataType, Field, Schema};
//! use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, ScanOptions, Scanner, worker};
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
//! let fingerprinter = Fingerprinter::for_references(FingerprintConfig::hashes_only());
//! let (index, _) = ReferenceIndex::build(format!("{dir}/refs"), &fingerprinter, |_| {});
//! let scanner = Scanner::new(index, ScanOptions::default());
//!
//! // Two records: a photo and garbage.
//! let schema = Arc::new(Schema::new(vec![Field::new("path", DataType::Utf8, false), Field::new("content", DataType::Binary, true)]));
//! let photo = std::fs::read(format!("{dir}/listings/rocket-recompressed.jpg"))?;
//! let batch = RecordBatch::try_new(schema.clone(), vec![
//!     Arc::new(StringArray::from(vec!["s3://listings/1.jpg", "s3://listings/2.jpg"])),
//!     Arc::new(BinaryArray::from(vec![Some(photo.as_slice()), Some(b"not a photo".as_slice())])),
//! ])?;
//! let mut input = Vec::new();
//! let mut writer = StreamWriter::try_new(&mut input, &schema)?;
//! writer.write(&batch)?;
//! writer.finish()?;
//! drop(writer);
//!
//! let mut output = Vec::new();
//! let summary = worker::serve_arrow(&scanner, input.as_slice(), &mut output, "{}")?;
//! assert_eq!((summary.listings, summary.failures), (2, 1));
//! let results: Vec<RecordBatch> = StreamReader::try_new(output.as_slice(), None)?.collect::<Result<_, _>>()?;
//! let verdicts = results[0].column_by_name("verdict").unwrap();
//! let verdicts = verdicts.as_any().downcast_ref::<StringArray>().unwrap();
//! assert_eq!((verdicts.value(0), verdicts.value(1)), ("match", "no_match"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{BufRead, Read, Write};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use arrow_array::{Array, BinaryArray, LargeBinaryArray, LargeStringArray, RecordBatch, StringArray};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, ErrorKind, Result};
use crate::report::columnar::{self, ResultBatchBuilder};
use crate::report::rows;
use crate::scan::{ListingReport, Outcome, ScanInput, Scanner};

/// What a worker served.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    /// Listings read (records or lines), failed ones included.
    pub listings: usize,
    /// Listings that failed (a failure row each).
    pub failures: usize,
    /// Of the failures, listings whose search could not read the index's stored features back (see
    /// [`crate::ScanSummary::index_failures`]): the index is damaged, and the `worker` example exits with status 1
    /// once its output is complete.
    #[serde(default)]
    pub index_failures: usize,
    /// Batches (Arrow) or lines read.
    pub batches: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl WorkerSummary {
    /// Listings per second.
    pub fn rate(&self) -> f64 {
        self.listings as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn protocol(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Protocol(message.into()))
}

fn write_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Write(std::io::Error::other(e.to_string())))
}

/// A string column by name, in either Arrow string type.
enum Names<'a> {
    Small(&'a StringArray),
    Large(&'a LargeStringArray),
}

impl Names<'_> {
    fn get(&self, i: usize) -> Option<&str> {
        match self {
            Names::Small(a) => (!a.is_null(i)).then(|| a.value(i)),
            Names::Large(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

/// A binary column by name, in either Arrow binary type.
enum Contents<'a> {
    Small(&'a BinaryArray),
    Large(&'a LargeBinaryArray),
}

impl Contents<'_> {
    fn get(&self, i: usize) -> &[u8] {
        match self {
            Contents::Small(a) if !a.is_null(i) => a.value(i),
            Contents::Large(a) if !a.is_null(i) => a.value(i),
            // A null content is an empty photo: the failure row says `empty`.
            _ => &[],
        }
    }
}

fn names<'a>(batch: &'a RecordBatch, name: &str) -> Result<Names<'a>> {
    let column = batch.column_by_name(name).ok_or_else(|| protocol(format!("no `{name}` column")))?;
    let any = column.as_any();
    any.downcast_ref::<StringArray>()
        .map(Names::Small)
        .or_else(|| any.downcast_ref::<LargeStringArray>().map(Names::Large))
        .ok_or_else(|| protocol(format!("`{name}` is {}, not a string column", column.data_type())))
}

fn contents<'a>(batch: &'a RecordBatch, name: &str) -> Result<Contents<'a>> {
    let column = batch.column_by_name(name).ok_or_else(|| protocol(format!("no `{name}` column")))?;
    let any = column.as_any();
    any.downcast_ref::<BinaryArray>()
        .map(Contents::Small)
        .or_else(|| any.downcast_ref::<LargeBinaryArray>().map(Contents::Large))
        .ok_or_else(|| protocol(format!("`{name}` is {}, not a binary column", column.data_type())))
}

/// Serves the Arrow protocol: record batches of (`path`, `content`) from `input`, one result batch per input
/// batch to `output`, each flushed. Rows carry `config` (see [`columnar::run_config`]). Returns at the end of the
/// input stream; an input of no bytes at all is an empty stream (no listings).
///
/// # Errors
/// [`ErrorKind::Protocol`] if the input is not an Arrow IPC stream or a batch lacks the columns (the output
/// stream is closed properly first, with every result before it); [`ErrorKind::Write`] if the output cannot be
/// written (a closed pipe).
pub fn serve_arrow(scanner: &Scanner, input: impl Read, output: impl Write, config: &str) -> Result<WorkerSummary> {
    let start = Instant::now();
    let mut summary = WorkerSummary::default();
    let mut writer = StreamWriter::try_new(output, &columnar::schema()).map_err(write_error)?;
    let mut input = std::io::BufReader::new(input);
    // No bytes at all is no listings (a producer with nothing to send may close the pipe without a schema).
    let empty = input.fill_buf().map_err(|e| Error::new(ErrorKind::Io(e)))?.is_empty();
    let reader = match empty {
        true => Ok(None),
        false => guarded(|| {
            StreamReader::try_new(input, None).map_err(|e| protocol(format!("not an Arrow IPC stream: {e}")))
        })
        .map(Some),
    };
    let outcome = reader.and_then(|mut reader| {
        let mut builder = ResultBatchBuilder::new(config);
        while let Some(reader) = reader.as_mut() {
            let next = guarded(|| reader.next().transpose().map_err(|e| protocol(format!("unreadable batch: {e}"))))?;
            let Some(batch) = next else { break };
            let inputs = guarded(|| {
                let (paths, bytes) = (names(&batch, "path")?, contents(&batch, "content")?);
                Ok((0..batch.num_rows())
                    .map(|i| ScanInput::Bytes {
                        name: paths.get(i).unwrap_or_default().to_string(),
                        bytes: bytes.get(i).to_vec(),
                    })
                    .collect::<Vec<_>>())
            })?;
            // A report's query is its input's name, the path as given: the `path` column too.
            scan_into(scanner, inputs, &mut summary, |report| {
                builder.push(report, &report.query);
                Ok(())
            })?;
            summary.batches += 1;
            writer.write(&builder.finish()).map_err(write_error)?;
            writer.flush().map_err(write_error)?;
        }
        Ok(())
    });
    // Close the output stream properly whatever happened, so the reader sees every batch written.
    let finished = writer.finish().map_err(write_error);
    outcome?;
    finished?;
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// Runs `f`, turning a panic into [`ErrorKind::Protocol`]: the Arrow reader trusts the offsets and lengths a
/// stream declares and panics on some that are out of range (found by fuzzing), which must end the stream with a
/// typed error, not abort the worker. The reader is not used again after a panic.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    crate::error::contain(f).unwrap_or_else(|message| Err(protocol(format!("unreadable stream: {message}"))))
}

/// Serves the line protocol: `PATH<TAB>BASE64` lines from `input` (for `RDD.pipe` and shell pipes), one JSON
/// object per result row to `output` (the [`columnar::schema`] fields), flushed after each line. A line that is
/// not `PATH<TAB>BASE64` is a `protocol` failure row (named by its path, or by `line N`) and the stream goes on.
///
/// # Errors
/// [`ErrorKind::Io`] if the input cannot be read, [`ErrorKind::Write`] if the output cannot be written.
pub fn serve_lines(
    scanner: &Scanner,
    input: impl BufRead,
    mut output: impl Write,
    config: &str,
) -> Result<WorkerSummary> {
    let start = Instant::now();
    let mut summary = WorkerSummary::default();
    for (n, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(|e| Error::new(ErrorKind::Io(e)))?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.is_empty() {
            continue;
        }
        summary.batches += 1;
        let mut fields = line.splitn(2, |&b| b == b'\t');
        let (path, encoded) = (fields.next().unwrap_or_default(), fields.next());
        let path = String::from_utf8_lossy(path).into_owned();
        let name = if path.is_empty() { format!("line {}", n + 1) } else { path.clone() };
        let decoded = match encoded {
            None => Err("expected PATH<TAB>BASE64".to_string()),
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| format!("the content is not base64: {e}")),
        };
        let mut emit = |report: &ListingReport| -> std::io::Result<()> {
            for row in rows(report) {
                writeln!(output, "{}", columnar::row_json(&row, &name, config))?;
            }
            output.flush()
        };
        match decoded {
            Ok(bytes) => {
                let input = ScanInput::Bytes { name: name.clone(), bytes };
                scan_into(scanner, [input], &mut summary, &mut emit)?;
            }
            Err(message) => {
                summary.listings += 1;
                summary.failures += 1;
                let report = ListingReport {
                    query: name.clone(),
                    outcome: Outcome::Failed { error_kind: ErrorCode::Protocol, error: message },
                };
                emit(&report).map_err(|e| Error::new(ErrorKind::Write(e)))?;
            }
        }
    }
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// Scans `inputs` in order into `sink`, counting listings and failures.
fn scan_into(
    scanner: &Scanner,
    inputs: impl IntoIterator<Item = ScanInput>,
    summary: &mut WorkerSummary,
    mut sink: impl FnMut(&ListingReport) -> std::io::Result<()>,
) -> Result<()> {
    let never = AtomicBool::new(false);
    // The scan's only errors are the sink's: writing the output (`ErrorKind::Write`).
    let done = scanner.scan_files(inputs, &never, |_| {}, |report| sink(report))?;
    summary.listings += done.scanned;
    summary.failures += done.failures;
    summary.index_failures += done.index_failures;
    Ok(())
}
