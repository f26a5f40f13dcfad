//! Columnar results (feature `arrow`): the CSV report's rows as typed Arrow record batches and Parquet files,
//! for data teams and engines (Spark, DuckDB, pandas, Polars read both natively).
//!
//! The columns are [`CSV_COLUMNS`](super::CSV_COLUMNS) typed (integers as signed integers, which every engine
//! reads; `score` as the f32 it is), then `error_kind` (the failure's [`ErrorCode`](crate::ErrorCode)), `path`
//! (the listing's full path or URI) and `config` (the run's configuration as JSON, [`run_config`]). Where the CSV
//! has an empty field the columns have a null.
//!
//! ```
//! use std::sync::atomic::AtomicBool;
//! use knockoff::report::columnar::{ParquetReport, run_config};
//! use knockoff::{FingerprintConfig, Fingerprinter, ReferenceIndex, ScanOptions, Scanner};
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
//! let fingerprinter = Fingerprinter::for_references(FingerprintConfig::hashes_only());
//! let (index, _) = ReferenceIndex::build(format!("{dir}/refs"), &fingerprinter, |_| {});
//! let scanner = Scanner::new(index, ScanOptions::default());
//! let mut parquet = ParquetReport::new(Vec::new(), run_config(&scanner, None))?;
//! let listings = std::path::Path::new(dir).join("listings");
//! scanner.scan(&listings, &AtomicBool::new(false), |_| {}, |r| parquet.write(r, &listings.join(&r.query).to_string_lossy()))?;
//! let bytes = parquet.finish()?;
//! assert_eq!(&bytes[..4], b"PAR1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Write};
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{Float32Builder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value, json};

use super::{Row, rows};
use crate::scan::{ListingReport, Scanner};

/// The result columns after the CSV's: the failure's code, the listing's full path, the run's configuration.
pub const EXTRA_COLUMNS: [&str; 3] = ["error_kind", "path", "config"];

/// Rows buffered before a Parquet report hands them to the writer (one record batch).
const BATCH_ROWS: usize = 4096;

/// The result schema: [`CSV_COLUMNS`](super::CSV_COLUMNS) typed, then [`EXTRA_COLUMNS`].
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            use DataType::{Float32, Int32, Int64, Utf8};
            let field = |name: &str, data_type: DataType, nullable: bool| Field::new(name, data_type, nullable);
            Arc::new(Schema::new(vec![
                field("query", Utf8, false),
                field("reference", Utf8, true),
                field("score", Float32, false),
                field("verdict", Utf8, false),
                field("rank", Int32, true),
                field("reference_id", Int64, true),
                field("transform", Utf8, true),
                field("alterations", Utf8, true),
                field("pdq_distance", Int32, true),
                field("pdq_quality", Int32, true),
                field("phash_distance", Int32, true),
                field("dhash_distance", Int32, true),
                field("ahash_distance", Int32, true),
                field("colour_distance", Float32, true),
                field("inliers", Int32, true),
                field("rotation_degrees", Float32, true),
                field("reference_region", Utf8, true),
                field("listing_region", Utf8, true),
                field("error", Utf8, true),
                field("error_kind", Utf8, true),
                field("path", Utf8, false),
                field("config", Utf8, false),
            ]))
        })
        .clone()
}

/// The run's configuration as one line of JSON, for the `config` column: the crate version, the index (its
/// reference count, shard, fingerprint configuration), the search options, the verdict thresholds in force and the
/// false-match rate per listing they predict, so every row says what made it.
/// `index_name` is how the index is known to the user (its file name, say).
pub fn run_config(scanner: &Scanner, index_name: Option<&str>) -> String {
    let index = scanner.index();
    json!({
        "knockoff": env!("CARGO_PKG_VERSION"),
        "index": {
            "name": index_name,
            "references": index.len(),
            "shard": index.shard(),
            "fingerprint": index.config(),
        },
        "search": scanner.options().search,
        // The verdicts' basis: the thresholds in force (the catalog's own unless set) and the false-match rate per
        // listing they predict.
        "thresholds": scanner.thresholds(),
        "false_match_rate": scanner.false_match_rate(),
    })
    .to_string()
}

/// One result row as a JSON object with the result schema's field names and types (nulls included; `config` a
/// string of JSON, as in the column), for line-oriented consumers (the worker's `lines` protocol).
pub(crate) fn row_json(row: &Row, path: &str, config: &str) -> Value {
    let mut object = Map::new();
    let mut put = |name: &str, value: Value| {
        object.insert(name.to_string(), value);
    };
    put("query", json!(row.query));
    put("reference", json!(row.reference));
    put("score", json!(row.score));
    put("verdict", json!(row.verdict.as_str()));
    put("rank", json!(row.rank));
    put("reference_id", json!(row.reference_id));
    put("transform", json!(row.transform));
    put("alterations", json!(row.alterations));
    put("pdq_distance", json!(row.pdq_distance));
    put("pdq_quality", json!(row.pdq_quality));
    put("phash_distance", json!(row.phash_distance));
    put("dhash_distance", json!(row.dhash_distance));
    put("ahash_distance", json!(row.ahash_distance));
    put("colour_distance", json!(row.colour_distance));
    put("inliers", json!(row.inliers));
    put("rotation_degrees", json!(row.rotation_degrees));
    put("reference_region", json!(row.reference_region));
    put("listing_region", json!(row.listing_region));
    put("error", json!(row.error_text()));
    put("error_kind", json!(row.error.map(|(kind, _)| kind.as_str())));
    put("path", json!(path));
    // A string, as in the Arrow column: consumers of either read the same types.
    put("config", json!(config));
    Value::Object(object)
}

/// Accumulates result rows into an Arrow [`RecordBatch`] of the result [`schema`].
pub struct ResultBatchBuilder {
    config: String,
    rows: usize,
    query: StringBuilder,
    reference: StringBuilder,
    score: Float32Builder,
    verdict: StringBuilder,
    rank: Int32Builder,
    reference_id: Int64Builder,
    transform: StringBuilder,
    alterations: StringBuilder,
    pdq_distance: Int32Builder,
    pdq_quality: Int32Builder,
    phash_distance: Int32Builder,
    dhash_distance: Int32Builder,
    ahash_distance: Int32Builder,
    colour_distance: Float32Builder,
    inliers: Int32Builder,
    rotation_degrees: Float32Builder,
    reference_region: StringBuilder,
    listing_region: StringBuilder,
    error: StringBuilder,
    error_kind: StringBuilder,
    path: StringBuilder,
    config_column: StringBuilder,
}

/// A count as a signed 32-bit column value (distances, ranks and inlier counts are far below 2^31).
fn int(v: Option<u32>) -> Option<i32> {
    v.map(|v| i32::try_from(v).unwrap_or(i32::MAX))
}

impl ResultBatchBuilder {
    /// An empty batch whose rows carry `config` (see [`run_config`]).
    pub fn new(config: impl Into<String>) -> Self {
        ResultBatchBuilder {
            config: config.into(),
            rows: 0,
            query: StringBuilder::new(),
            reference: StringBuilder::new(),
            score: Float32Builder::new(),
            verdict: StringBuilder::new(),
            rank: Int32Builder::new(),
            reference_id: Int64Builder::new(),
            transform: StringBuilder::new(),
            alterations: StringBuilder::new(),
            pdq_distance: Int32Builder::new(),
            pdq_quality: Int32Builder::new(),
            phash_distance: Int32Builder::new(),
            dhash_distance: Int32Builder::new(),
            ahash_distance: Int32Builder::new(),
            colour_distance: Float32Builder::new(),
            inliers: Int32Builder::new(),
            rotation_degrees: Float32Builder::new(),
            reference_region: StringBuilder::new(),
            listing_region: StringBuilder::new(),
            error: StringBuilder::new(),
            error_kind: StringBuilder::new(),
            path: StringBuilder::new(),
            config_column: StringBuilder::new(),
        }
    }

    /// Appends one listing's rows (one per hit, or one alone); `path` is its full path or URI.
    pub fn push(&mut self, report: &ListingReport, path: &str) {
        for row in rows(report) {
            self.push_row(&row, path);
        }
    }

    fn push_row(&mut self, row: &Row, path: &str) {
        self.rows += 1;
        self.query.append_value(row.query);
        self.reference.append_option(row.reference);
        self.score.append_value(row.score);
        self.verdict.append_value(row.verdict.as_str());
        self.rank.append_option(int(row.rank));
        self.reference_id.append_option(row.reference_id.map(|id| i64::try_from(id).unwrap_or(i64::MAX)));
        self.transform.append_option(row.transform.as_deref());
        self.alterations.append_option(row.alterations.as_deref());
        self.pdq_distance.append_option(int(row.pdq_distance));
        self.pdq_quality.append_option(int(row.pdq_quality));
        self.phash_distance.append_option(int(row.phash_distance));
        self.dhash_distance.append_option(int(row.dhash_distance));
        self.ahash_distance.append_option(int(row.ahash_distance));
        self.colour_distance.append_option(row.colour_distance);
        self.inliers.append_option(int(row.inliers));
        self.rotation_degrees.append_option(row.rotation_degrees);
        self.reference_region.append_option(row.reference_region.as_deref());
        self.listing_region.append_option(row.listing_region.as_deref());
        self.error.append_option(row.error_text());
        self.error_kind.append_option(row.error.map(|(kind, _)| kind.as_str()));
        self.path.append_value(path);
        self.config_column.append_value(&self.config);
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was appended since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows so far as a record batch; the builder starts empty again.
    pub fn finish(&mut self) -> RecordBatch {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.query.finish()),
            Arc::new(self.reference.finish()),
            Arc::new(self.score.finish()),
            Arc::new(self.verdict.finish()),
            Arc::new(self.rank.finish()),
            Arc::new(self.reference_id.finish()),
            Arc::new(self.transform.finish()),
            Arc::new(self.alterations.finish()),
            Arc::new(self.pdq_distance.finish()),
            Arc::new(self.pdq_quality.finish()),
            Arc::new(self.phash_distance.finish()),
            Arc::new(self.dhash_distance.finish()),
            Arc::new(self.ahash_distance.finish()),
            Arc::new(self.colour_distance.finish()),
            Arc::new(self.inliers.finish()),
            Arc::new(self.rotation_degrees.finish()),
            Arc::new(self.reference_region.finish()),
            Arc::new(self.listing_region.finish()),
            Arc::new(self.error.finish()),
            Arc::new(self.error_kind.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.config_column.finish()),
        ];
        // Every column got exactly one value per row, of the schema's type and nullability: cannot fail.
        RecordBatch::try_new(schema(), columns).unwrap_or_else(|_| RecordBatch::new_empty(schema()))
    }
}

/// Writes a Parquet report (Snappy-compressed, Spark's default) as a scan goes: rows are buffered and written
/// in batches; the file is complete once [`finish`](Self::finish) has written its footer. (Parquet cannot be
/// read before its footer is written: stream a CSV beside it if an interrupted scan must keep its results.)
pub struct ParquetReport<W: Write + Send> {
    writer: ArrowWriter<W>,
    batch: ResultBatchBuilder,
}

fn io_error(e: parquet::errors::ParquetError) -> io::Error {
    match e {
        parquet::errors::ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        other => io::Error::other(other),
    }
}

impl<W: Write + Send> ParquetReport<W> {
    /// Starts a report whose rows carry `config` (see [`run_config`]).
    ///
    /// # Errors
    /// Write errors.
    pub fn new(out: W, config: impl Into<String>) -> io::Result<Self> {
        let properties = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let writer = ArrowWriter::try_new(out, schema(), Some(properties)).map_err(io_error)?;
        Ok(ParquetReport { writer, batch: ResultBatchBuilder::new(config) })
    }

    /// Adds one listing's rows; `path` is its full path or URI.
    ///
    /// # Errors
    /// Write errors.
    pub fn write(&mut self, report: &ListingReport, path: &str) -> io::Result<()> {
        self.batch.push(report, path);
        if self.batch.len() >= BATCH_ROWS {
            self.writer.write(&self.batch.finish()).map_err(io_error)?;
        }
        Ok(())
    }

    /// Writes the remaining rows and the footer, and gives the writer back.
    ///
    /// # Errors
    /// Write errors.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.batch.is_empty() {
            self.writer.write(&self.batch.finish()).map_err(io_error)?;
        }
        let mut out = self.writer.into_inner().map_err(io_error)?;
        out.flush()?;
        Ok(out)
    }
}
