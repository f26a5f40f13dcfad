#!/usr/bin/env python3
"""knockoff on Spark: scans listing photos on any Hadoop filesystem against a reference index (or its shards).

    spark-submit deploy/spark/knockoff_scan.py \\
        --worker target/release/examples/worker --index catalog.idx [--index SHARD ...] \\
        --listings DIR_OR_URI --output OUT [--top K] [--mode arrow|pipe] [--all-files] [--overwrite]

Writes OUT/results (Parquet: every listing's rows, failures included, the columns of `scan --format parquet`)
and OUT/failures (Parquet: query, path, error_kind, error of the listings that failed). See README.md beside
this file for the columns, shards, tuning and the benchmark.

The work is done by the Rust `worker` binary (examples/worker.rs, feature `arrow`), one process per Spark task
(`--threads 1`, or `--worker-threads N`), which opens the index once and reads listings from stdin:

- `--mode arrow` (default): `DataFrame.mapInArrow`; each partition's Arrow batches (path, content) are written to
  the worker's stdin as an Arrow IPC stream by a writer thread, and its result batches read back from stdout.
- `--mode pipe`: `RDD.pipe` with the worker's `--input lines` protocol (PATH<TAB>BASE64 in, JSON lines out).

Several `--index` files are the shards of one catalog (`index ... --shards N`): every listing is searched against
each shard and the best K rows kept (score descending, then reference id), ranks renumbered 1..K.

Exit status: 0 on success, 1 on failure (the message says what: missing index, worker that cannot run, a worker
that died, output that exists ...), 2 for a usage error. Needs classic Spark (not Spark Connect): it ships files
with `SparkContext.addFile` and, in pipe mode, uses RDDs.
"""

import argparse
import collections
import json
import os
import queue
import re
import shlex
import stat
import subprocess
import sys
import threading
import time

import pyarrow as pa
import pyarrow.ipc as ipc

# The extensions `scan` reads (src/walk.rs, PHOTO_EXTENSIONS), compared without case.
PHOTO_EXTENSIONS = ("jpg", "jpeg", "jpe", "jfif", "png", "apng", "gif", "bmp", "dib", "tif", "tiff", "webp")

# The library's default `Limits::max_file_bytes` (src/decode.rs), used when the worker's configuration does not
# say its own: `scan` refuses a larger file from its size, without reading it. The job does the same, so that a
# huge file never reaches a Spark row or an Arrow batch.
MAX_FILE_BYTES = 256 << 20

# The result schema of the worker protocol (and of `scan --format parquet`), in order: name, Arrow type, nullable.
RESULT_FIELDS = [
    ("query", pa.string(), False),
    ("reference", pa.string(), True),
    ("score", pa.float32(), False),
    ("verdict", pa.string(), False),
    ("rank", pa.int32(), True),
    ("reference_id", pa.int64(), True),
    ("transform", pa.string(), True),
    ("alterations", pa.string(), True),
    ("pdq_distance", pa.int32(), True),
    ("pdq_quality", pa.int32(), True),
    ("phash_distance", pa.int32(), True),
    ("dhash_distance", pa.int32(), True),
    ("ahash_distance", pa.int32(), True),
    ("colour_distance", pa.float32(), True),
    ("inliers", pa.int32(), True),
    ("rotation_degrees", pa.float32(), True),
    ("reference_region", pa.string(), True),
    ("listing_region", pa.string(), True),
    ("error", pa.string(), True),
    ("error_kind", pa.string(), True),
    ("path", pa.string(), False),
    ("config", pa.string(), False),
]
RESULT_COLUMNS = [name for name, _, _ in RESULT_FIELDS]
RESULT_ARROW_SCHEMA = pa.schema([pa.field(n, t, nullable) for n, t, nullable in RESULT_FIELDS])
# What this job adds to the worker's rows while it merges shards (dropped before writing).
SHARD_COLUMN = "knockoff_shard"
FAILURE_COLUMNS = ["query", "path", "error_kind", "error"]

# Marks the errors this job raises inside Spark tasks, so the driver can print them without a Java stack trace.
ERROR_MARK = "knockoff-error: "
# The name of the one listing sent by the preflight check (empty content: the worker must report a failure row).
PREFLIGHT_PATH = "knockoff-preflight/empty.jpg"


class JobError(Exception):
    """A failure the user can act on; printed as `error: ...`, exit status 1."""


def log(message):
    print(f"knockoff: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------------------
# The worker process (runs on executors; also used by the driver's preflight, through a one-task Spark job)
# --------------------------------------------------------------------------------------------------------------


def executable(path):
    """Makes a shipped file executable if it lost its mode bits on the way (addFile over some filesystems)."""
    mode = os.stat(path).st_mode
    if not mode & stat.S_IXUSR:
        os.chmod(path, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def shipped(name):
    """The executor-side path of a file added with `SparkContext.addFile`."""
    from pyspark import SparkFiles

    path = SparkFiles.get(name)
    if not os.path.exists(path):
        raise RuntimeError(f"{ERROR_MARK}{name} was not shipped to this executor (looked for {path})")
    return path


class StderrTail(threading.Thread):
    """Drains a process's stderr (so it never blocks on a full pipe), keeping the last lines."""

    def __init__(self, stream, keep=40):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines = collections.deque(maxlen=keep)

    def run(self):
        for line in iter(self.stream.readline, b""):
            self.lines.append(line.decode("utf-8", "replace").rstrip("\n"))
        self.stream.close()

    def text(self):
        return "\n".join(self.lines)


class Worker:
    """One `worker --input arrow` process for one shard, fed by the caller and read by a thread of its own.

    Result batches (or the error that ended the stream) go to `out`, a queue shared by all the workers of a task,
    as (shard, kind, value) with kind "batch", "done" or "error".
    """

    def __init__(self, shard, worker_path, index_path, top, out, threads=1):
        self.shard = shard
        self.label = f"worker for shard {shard} ({os.path.basename(index_path)})"
        self.argv = [worker_path, "--index", index_path, "--top", str(top), "--input", "arrow",
                     "--threads", str(threads)]
        try:
            # Buffered pipes: a raw pipe read may return less than asked, which Arrow's reader takes for a torn
            # stream; stdin is flushed after each batch.
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, bufsize=1 << 16)
        except OSError as e:
            raise RuntimeError(f"{ERROR_MARK}cannot run the worker {worker_path}: {e}") from None
        self.stderr = StderrTail(self.proc.stderr)
        self.stderr.start()
        self.writer = None
        self.sent = collections.deque()  # the path lists of the batches sent and not yet answered
        self.out = out
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def send(self, batch):
        """Writes one batch (path, content) to the worker; False if the worker is gone (its reader reports why)."""
        batch = pa.RecordBatch.from_arrays([batch.column("path"), batch.column("content")], ["path", "content"])
        self.sent.append(batch.column(0).to_pylist())
        try:
            if self.writer is None:
                self.writer = ipc.new_stream(self.proc.stdin, batch.schema)
            self.writer.write_batch(batch)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, pa.ArrowException):
            return False
        return True

    def finish(self):
        """Ends the input stream (EOF), so that the worker flushes its last results and exits."""
        try:
            if self.writer is not None:
                self.writer.close()
            self.proc.stdin.close()
        except (BrokenPipeError, OSError, pa.ArrowException):
            pass

    def failure(self, what):
        rc = self.proc.wait()
        self.stderr.join(timeout=5)
        detail = self.stderr.text() or "(nothing on stderr)"
        return f"{ERROR_MARK}{self.label} {what} (exit status {rc}); its stderr:\n{detail}"

    def _read(self):
        try:
            reader = ipc.open_stream(self.proc.stdout)
            for batch in reader:
                expected = self.sent.popleft() if self.sent else []
                got = set(batch.column("path").to_pylist()) if "path" in batch.schema.names else set()
                if got != set(expected):
                    raise ProtocolError(
                        f"result batch does not answer the batch sent: {len(expected)} listings sent, results for "
                        f"{len(got)} ({sorted(set(expected) ^ got)[:3]} ...)")
                self.out.put((self.shard, "batch", conform(batch, self.label)))
            self.proc.stdout.close()
            rc = self.proc.wait()
            self.stderr.join(timeout=5)
            if rc != 0:
                self.out.put((self.shard, "error", self.failure("failed")))
            elif self.sent:
                self.out.put((self.shard, "error", self.failure(f"ended without answering {len(self.sent)} batches")))
            else:
                self.out.put((self.shard, "done", self.stderr.text()))
        except ProtocolError as e:
            self.kill()
            self.out.put((self.shard, "error", f"{ERROR_MARK}{self.label} broke the protocol: {e}"))
        except Exception as e:  # a torn stream: the worker died, maybe mid-batch
            rc = self.proc.wait()
            what = "failed" if rc != 0 else f"ended its output stream early ({e})"
            self.out.put((self.shard, "error", self.failure(what)))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class ProtocolError(Exception):
    pass


def conform(batch, label):
    """The worker's batch with exactly the result columns, in order, as the types Spark was told."""
    names = batch.schema.names
    missing = [n for n in RESULT_COLUMNS if n not in names]
    if missing:
        raise ProtocolError(f"{label}: result batch lacks the columns {missing} (it has {names})")
    columns = []
    for name, kind, _ in RESULT_FIELDS:
        column = batch.column(name)
        if column.type != kind:
            try:
                column = column.cast(kind)
            except pa.ArrowException as e:
                raise ProtocolError(f"{label}: column {name} is {column.type}, expected {kind}: {e}") from None
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=RESULT_ARROW_SCHEMA)


def scan_partition(worker_name, index_names, top, threads, counters):
    """The mapInArrow function: per partition, one worker per shard met, fed by a writer thread."""

    # The sharded job carries each row's shard number on, for the merge.
    with_shard = len(index_names) > 1

    def run(batches):
        worker_path = executable(shipped(worker_name))
        index_paths = [shipped(name) for name in index_names]
        # Unbounded: it holds result rows (no photos), and a worker only answers what it was sent.
        results = queue.Queue()
        workers = {}
        timing = {"read": 0.0, "scan": 0.0, "hand_off": 0.0, "listings": 0}
        feed_error = []

        def worker_for(shard):
            if shard not in workers:
                workers[shard] = Worker(shard, worker_path, index_paths[shard], top, results, threads)
            return workers[shard]

        def feed():
            try:
                it = iter(batches)
                while True:
                    t = time.perf_counter()
                    batch = next(it, None)
                    timing["read"] += time.perf_counter() - t
                    if batch is None:
                        break
                    if batch.num_rows == 0:
                        continue
                    timing["listings"] += batch.num_rows
                    if SHARD_COLUMN in batch.schema.names:
                        shards = batch.column(SHARD_COLUMN).to_pylist()
                        for shard in sorted(set(shards)):
                            part = batch if len(set(shards)) == 1 else batch.filter(
                                pa.array([s == shard for s in shards]))
                            if not worker_for(shard).send(part):
                                return
                    elif not worker_for(0).send(batch):
                        return
            except BaseException as e:  # reading the partition failed: the task must fail with it
                feed_error.append(e)
            finally:
                for w in list(workers.values()):
                    w.finish()
                results.put((None, "fed", None))

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        fed = False
        done = set()
        try:
            while not fed or len(done) < len(workers):
                t = time.perf_counter()
                shard, kind, value = results.get()
                timing["scan"] += time.perf_counter() - t
                if kind == "fed":
                    fed = True
                    if feed_error:
                        raise feed_error[0]
                elif kind == "error":
                    raise RuntimeError(value)
                elif kind == "done":
                    done.add(shard)
                else:
                    if with_shard:
                        value = value.append_column(SHARD_COLUMN, pa.array([shard] * value.num_rows, pa.int32()))
                    t = time.perf_counter()
                    yield value
                    timing["hand_off"] += time.perf_counter() - t
        finally:
            for w in workers.values():
                w.kill()
            counters["read_seconds"].add(timing["read"])
            counters["scan_seconds"].add(timing["scan"])
            counters["hand_off_seconds"].add(timing["hand_off"])
            counters["listings"].add(timing["listings"])

    return run


def preflight_partition(worker_name, index_names, top):
    """One task: each shard's worker answers a one-listing stream (an empty file) with a failure row."""

    def run(_):
        worker_path = executable(shipped(worker_name))
        for shard, name in enumerate(index_names):
            out = queue.Queue()
            w = Worker(shard, worker_path, shipped(name), top, out)
            batch = pa.RecordBatch.from_arrays(
                [pa.array([PREFLIGHT_PATH], pa.string()), pa.array([b""], pa.binary())], ["path", "content"])
            w.send(batch)
            w.finish()
            rows = []
            while True:
                _, kind, value = out.get()
                if kind == "batch":
                    rows.extend(value.to_pylist())
                elif kind == "error":
                    w.kill()
                    yield {"shard": shard, "error": value}
                    break
                else:
                    yield {"shard": shard, "rows": rows, "stderr": value}
                    break

    return run


# --------------------------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="knockoff_scan.py",
        description="Scan listing photos against a knockoff reference index on Spark (see README.md).")
    p.add_argument("--worker", required=True, metavar="PATH",
                   help="the worker binary (target/release/examples/worker, built with --features arrow); "
                        "a local path or any URI SparkContext.addFile takes")
    p.add_argument("--index", required=True, action="append", metavar="PATH",
                   help="the index file; give it once per shard for a sharded catalog (catalog-K-of-N.idx)")
    p.add_argument("--listings", required=True, metavar="DIR_OR_URI",
                   help="the folder of listing photos (walked recursively): a local path, file:, hdfs:, s3a: ...")
    p.add_argument("--output", required=True, metavar="OUT",
                   help="where to write OUT/results and OUT/failures (a local path or any Hadoop URI)")
    p.add_argument("--top", type=int, default=1, metavar="K", help="references reported per listing (default 1)")
    p.add_argument("--mode", choices=["arrow", "pipe"], default="arrow",
                   help="arrow: mapInArrow and the Arrow IPC protocol (default); pipe: RDD.pipe, lines protocol")
    p.add_argument("--all-files", action="store_true",
                   help="scan every file, not only photos (photo extensions, or no extension and photo magic)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT/results and OUT/failures if they exist")
    p.add_argument("--worker-threads", type=int, default=1, metavar="N",
                   help="threads of each worker process (default 1: one process per task slot). For an index too "
                        "big to hold once per core, set it with --conf spark.task.cpus=N: one index per N cores")
    p.add_argument("--listings-per-task", type=int, default=1000, metavar="N",
                   help="listings per Spark task, each task starting a worker (default 1000; 0: Spark's own sizing "
                        "by spark.sql.files.maxPartitionBytes)")
    p.add_argument("--batch-size", type=int, default=32, metavar="N",
                   help="listings per Arrow batch sent to the worker (default 32; at most 64 MiB per batch)")
    a = p.parse_args(argv)
    if a.top < 1 or a.top > 65535:
        p.error("--top must be 1 to 65535")
    if a.worker_threads < 1:
        p.error("--worker-threads must be at least 1")
    if a.batch_size < 1:
        p.error("--batch-size must be at least 1")
    names = [os.path.basename(i.rstrip("/")) for i in a.index]
    if len(set(names)) != len(names):
        p.error("--index files must have distinct file names (they are shipped to executors by name): "
                + ", ".join(names))
    if os.path.basename(a.worker.rstrip("/")) in names:
        p.error("--worker and --index must have distinct file names")
    return a


def hadoop_path(spark, uri):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs, fs.makeQualified(path)


def check_inputs(spark, args):
    for what, uri in [("--worker", args.worker)] + [("--index", i) for i in args.index]:
        try:
            fs, path = hadoop_path(spark, uri)
            exists = fs.exists(path)
            is_file = exists and fs.getFileStatus(path).isFile()
        except Exception as e:  # an unknown scheme, no credentials ...
            raise JobError(f"{what} {uri}: cannot check it: {first_line(e)}") from None
        if not exists:
            raise JobError(f"{what} {uri}: no such file")
        if not is_file:
            raise JobError(f"{what} {uri}: not a file")
    if "://" not in args.worker and not args.worker.startswith("file:"):
        if not os.access(args.worker, os.X_OK):
            raise JobError(f"--worker {args.worker}: not executable (chmod +x it, or build it with "
                           "`cargo build --release --features arrow --example worker`)")
    try:
        fs, root = hadoop_path(spark, args.listings)
        if not fs.exists(root):
            raise JobError(f"--listings {args.listings}: no such folder")
        if not fs.getFileStatus(root).isDirectory():
            raise JobError(f"--listings {args.listings}: not a folder")
    except JobError:
        raise
    except Exception as e:
        raise JobError(f"--listings {args.listings}: cannot read it: {first_line(e)}") from None
    try:
        fs, out = hadoop_path(spark, args.output)
        for part in ("results", "failures"):
            target = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(out, part)
            if fs.exists(target) and not args.overwrite:
                raise JobError(f"{target.toString()} exists (pass --overwrite to replace it)")
    except JobError:
        raise
    except Exception as e:
        raise JobError(f"--output {args.output}: {first_line(e)}") from None
    return root.toString().rstrip("/"), out.toString().rstrip("/")


def first_line(e):
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def preflight(spark, args, worker_name, index_names):
    """Runs each shard's worker once on an executor: it starts, opens its index and answers the protocol."""
    rdd = spark.sparkContext.parallelize([0], 1)
    answers = rdd.mapPartitions(preflight_partition(worker_name, index_names, args.top)).collect()
    empty_rows = {}
    for answer in answers:
        shard = answer["shard"]
        label = f"--index {args.index[shard]}"
        if "error" in answer:
            raise JobError(f"{label}: the worker failed its preflight check:\n"
                           + answer["error"].removeprefix(ERROR_MARK))
        rows = answer["rows"]
        if len(rows) != 1 or rows[0].get("path") != PREFLIGHT_PATH or not rows[0].get("error_kind"):
            raise JobError(f"{label}: the worker answered an empty listing with {rows!r}; expected one failure row "
                           "(the worker protocol has changed?)")
        empty_rows[shard] = rows[0]
    check_shards(args.index, [empty_rows[k]["config"] for k in range(len(args.index))])
    return empty_rows


def index_config(config):
    """The `index` part of a worker's configuration JSON (None if it has no such part)."""
    try:
        index = json.loads(config).get("index")
    except (ValueError, AttributeError):
        return None
    return index if isinstance(index, dict) else None


def check_shards(paths, configs):
    """The --index files are one whole catalog, or every shard of one catalog, each once."""
    indexes = [index_config(c) for c in configs]
    if any(i is None or "shard" not in i for i in indexes):
        log("warning: the worker's configuration does not say which shard each index is; not checked")
        return
    shards = [i["shard"] for i in indexes]
    whole = [p for p, s in zip(paths, shards) if s is None]
    if whole and len(paths) > 1:
        raise JobError(f"--index {whole[0]} is a whole catalog, not a shard: give one whole index, or every shard "
                       "of one catalog")
    if whole:
        return
    counts = {(s["count"], s.get("catalog_references")) for s in shards}
    numbers = sorted(s["number"] for s in shards)
    count = shards[0]["count"]
    if len(counts) > 1:
        raise JobError("the --index files are shards of different catalogs (shard counts or catalog sizes differ)")
    if numbers != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(numbers))
        repeated = sorted({n for n in numbers if numbers.count(n) > 1})
        raise JobError(f"the catalog has {count} shards: "
                       + (f"shard(s) {missing} missing" if missing else "")
                       + ("; " if missing and repeated else "")
                       + (f"shard(s) {repeated} given twice" if repeated else "")
                       + " (every listing must be searched against every shard)")
    fingerprints = {json.dumps(i.get("fingerprint"), sort_keys=True) for i in indexes}
    if len(fingerprints) > 1:
        raise JobError("the --index shards were built with different fingerprint configurations")


def max_file_bytes(config):
    """The worker's file size limit (its `limits.max_file_bytes`), or the library's default."""
    index = index_config(config) or {}
    limit = ((index.get("fingerprint") or {}).get("limits") or {}).get("max_file_bytes")
    return limit if isinstance(limit, int) and limit > 0 else MAX_FILE_BYTES


def spark_result_schema(with_shard):
    from pyspark.sql import types as T

    spark_type = {pa.string(): T.StringType(), pa.float32(): T.FloatType(), pa.int32(): T.IntegerType(),
                  pa.int64(): T.LongType()}
    fields = [T.StructField(n, spark_type[t], nullable) for n, t, nullable in RESULT_FIELDS]
    if with_shard:
        fields.append(T.StructField(SHARD_COLUMN, T.IntegerType(), False))
    return T.StructType(fields)


def read_listings(spark, args, empty_row):
    """The listing photos to scan (path, content), the failure rows of the photos the worker never sees, and how
    many files the listing found.

    Those are the files over the size limit (refused from their size, as `scan` does, so a huge file never
    becomes a Spark row) and the empty files: Spark's file sources drop zero-byte files from a scan, so they are
    found by comparing the file index with what the scan reads. `empty_row` is the worker's own answer to an
    empty listing (from the preflight check), the template of theirs.
    """
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    files = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(args.listings)
    listed = files._jdf.inputFiles()
    size_tasks(spark, files, len(listed), args.listings_per_task)
    # As `scan` lists files (src/walk.rs): a photo extension (any case), or no extension and a photo format's
    # magic bytes (crawlers save photos under hash names). Rust's `Path::extension` is the text after the last dot
    # of the file name, unless the name has no dot or only a leading one.
    name = F.regexp_extract("path", r"([^/]*)$", 1)
    has_extension = name.rlike(r"^.+\.[^.]*$")
    extension = F.lower(F.regexp_extract(name, r"^.+\.([^.]*)$", 1))
    photo_extension = extension.isin(*PHOTO_EXTENSIONS)
    head = F.hex(F.substring("content", 1, 12))
    magic = (head.startswith("89504E470D0A1A0A") | head.startswith("FFD8FF") | head.startswith("474946383961")
             | head.startswith("474946383761")
             | (head.startswith("52494646") & (F.substring(head, 17, 8) == F.lit("57454250")))
             | head.startswith("4D4D002A") | head.startswith("49492A00") | head.startswith("424D"))

    # Pushed down to the file source: an oversized file is never read (its content is not even opened).
    limit = max_file_bytes(empty_row["config"])
    listings = files.filter(F.col("length") <= F.lit(limit))
    large = files.filter(F.col("length") > F.lit(limit)).select("path", "length")
    if not args.all_files:
        listings = listings.filter(F.when(has_extension, photo_extension).otherwise(magic))
        # Without an extension a large file is listed unread (`scan` would read its first bytes).
        large = large.filter(F.when(has_extension, photo_extension).otherwise(F.lit(True)))
    message = F.format_string(f"file of %d bytes exceeds the limit of {limit} bytes", F.col("length"))
    unread = failure_rows(large, empty_row, "file_too_large", F.concat(F.lit("file_too_large: "), message))

    # Empty files: in the file index, not in the scan. Counting first keeps the usual case (none) to a cheap job.
    read = files.select("length").count()
    if len(listed) > read:
        jvm = spark.sparkContext._jvm
        seq = jvm.scala.collection.immutable.ArraySeq.unsafeWrapArray(listed)
        index = DataFrame(spark._jsparkSession.createDataset(seq, jvm.org.apache.spark.sql.Encoders.STRING())
                          .toDF(), spark)
        # The index gives URIs (`file:///a%20b.jpg`), the scan's `_metadata.file_path` the same encoding with
        # `file:/a%20b.jpg`; `path` is decoded (`file:/a b.jpg`).
        uri = F.regexp_replace("value", r"^([A-Za-z][A-Za-z0-9+.-]*):///", "$1:/")
        index = index.select(uri.alias("file_path"))
        scanned = files.select(F.col("_metadata.file_path").alias("file_path"))
        empty = index.join(scanned, "file_path", "left_anti").select(
            F.url_decode(F.replace("file_path", F.lit("+"), F.lit("%2B"))).alias("path"))
        if not args.all_files:
            # Without an extension an empty file is not a photo (no magic bytes): `scan` skips it.
            empty = empty.filter(has_extension & photo_extension)
        unread = unread.unionByName(
            failure_rows(empty, empty_row, empty_row["error_kind"], F.lit(empty_row["error"])))
    return listings.select("path", "content"), unread, len(listed)


def size_tasks(spark, files, count, per_task):
    """Packs about `per_task` listings in a task, so that starting a worker (and opening its index) is paid once per
    that many listings; Spark's default packs 128 MB counting each file as at least 4 MB, ~32 photos. Spark still
    splits a small job across all task slots."""
    if per_task <= 0 or count == 0:
        return
    total = int(str(files._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
    open_cost = spark._jsparkSession.sessionState().conf().filesOpenCostInBytes()
    target = per_task * (total // count + open_cost)
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(max(target, 1 << 20)))


def failure_rows(paths, template, kind, error):
    """One failure row per path, as the worker words a failure (`template` is one of its failure rows)."""
    from pyspark.sql import functions as F

    schema = spark_result_schema(False)
    columns = {f.name: F.lit(template.get(f.name)).cast(f.dataType) for f in schema.fields}
    columns.update({"query": F.col("path"), "path": F.col("path"), "error": error, "error_kind": F.lit(kind)})
    return paths.select(*[columns[name].alias(name) for name in RESULT_COLUMNS])


def scan_arrow(spark, listings, args, worker_name, index_names, counters):
    from pyspark.sql import functions as F

    sharded = len(index_names) > 1
    if sharded:
        # One shard per partition: a cartesian product (not a broadcast join, which would give every task every
        # shard and so every shard's memory) pairs each listing partition with each shard. Each listing is read
        # once per shard; the memory of a task is one shard's.
        shards = spark.range(len(index_names), numPartitions=len(index_names)).select(
            F.col("id").cast("int").alias(SHARD_COLUMN))
        listings = listings.hint("shuffle_replicate_nl").crossJoin(shards)
    return listings.mapInArrow(scan_partition(worker_name, index_names, args.top, args.worker_threads, counters),
                               spark_result_schema(sharded))


def scan_pipe(spark, listings, args, worker_name, index_names):
    """RDD.pipe with the lines protocol: PATH<TAB>BASE64 in, JSON lines out."""
    from pyspark import SparkFiles
    from pyspark.sql import functions as F

    spark.conf.set("spark.sql.chunkBase64String.enabled", "false")
    # A path holding a tab or a line break cannot go on a line: those (and %) are %-escaped on the way in and
    # unescaped from the results.
    path = F.col("path")
    escaped = F.replace(F.replace(F.replace(F.replace(path, F.lit("%"), F.lit("%25")), F.lit("\t"), F.lit("%09")),
                                  F.lit("\n"), F.lit("%0A")), F.lit("\r"), F.lit("%0D"))
    lines = listings.select(F.concat(escaped, F.lit("\t"), F.coalesce(F.base64("content"), F.lit(""))).alias("l"))
    lines = lines.rdd.map(lambda row: row[0])
    # RDD.pipe runs a command fixed on the driver. In local mode the driver's SparkFiles folder is the executors';
    # on a cluster, files added with addFile are fetched into each executor's working folder (the Python
    # workers' too), so a relative path finds them there. Spark's fetch keeps the execute bit.
    local = re.fullmatch(r"local(\[.*\])?", spark.sparkContext.master) is not None  # not local-cluster

    def where(name):
        return SparkFiles.get(name) if local else os.path.join(".", name)

    parts = []
    sharded = len(index_names) > 1
    for shard, name in enumerate(index_names):
        command = shlex.join([where(worker_name), "--index", where(name), "--top", str(args.top),
                              "--input", "lines", "--threads", str(args.worker_threads)])
        out = lines.pipe(command, checkCode=True)
        frame = spark.read.schema(spark_result_schema(False)).option("mode", "FAILFAST").json(out)
        if sharded:
            frame = frame.withColumn(SHARD_COLUMN, F.lit(shard))
        parts.append(frame)
    results = parts[0]
    for part in parts[1:]:
        results = results.unionByName(part)

    def unescape(column):
        c = F.col(column)
        for code, char in (("%09", "\t"), ("%0A", "\n"), ("%0D", "\r"), ("%25", "%")):
            c = F.replace(c, F.lit(code), F.lit(char))
        return c

    return results.withColumn("path", unescape("path")).withColumn("query", unescape("query"))


def merge_shards(results, top):
    """Per listing: the rows with a reference, best score first (then reference id), first `top`, ranks 1..top;
    or, when no shard gave a reference, one row without (a no-match or a failure: every shard gives the same)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    has_reference = F.col("reference").isNotNull()
    order = Window.partitionBy("path").orderBy(
        has_reference.desc(), F.col("score").desc(), F.col("reference_id").asc_nulls_last(), F.col(SHARD_COLUMN))
    ranked = results.withColumn("_n", F.row_number().over(order))
    kept = ranked.filter((F.col("_n") <= top) & (has_reference | (F.col("_n") == 1)))
    return kept.withColumn("rank", F.when(has_reference, F.col("_n").cast("int"))).drop("_n", SHARD_COLUMN)


def relative_query(root):
    """`query` as `scan` names a listing: its path relative to the --listings folder, `/`-separated."""
    from pyspark.sql import functions as F

    prefix = root + "/"
    path = F.col("path")
    return F.when(path.startswith(prefix), F.expr(f"substring(path, {len(prefix) + 1})")).otherwise(path)


def run(args):
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    started = time.perf_counter()
    spark = SparkSession.builder.appName("knockoff-scan").getOrCreate()
    sc = spark.sparkContext
    info = log

    # Arrow batches to the worker: --batch-size listings, and never more than 64 MiB of photos.
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch_size))
    spark.conf.set("spark.sql.execution.arrow.maxBytesPerBatch", str(64 << 20))

    root, out = check_inputs(spark, args)
    worker_name = os.path.basename(args.worker.rstrip("/"))
    index_names = [os.path.basename(i.rstrip("/")) for i in args.index]
    sc.addFile(args.worker)
    for index in args.index:
        sc.addFile(index)

    t = time.perf_counter()
    empty_rows = preflight(spark, args, worker_name, index_names)
    info(f"preflight: {len(index_names)} index file(s) open on an executor in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    listings, unread, listed = read_listings(spark, args, empty_rows[0])
    seconds = time.perf_counter() - t
    info(f"listing {root}: {listed} files in {seconds:.1f} s ({listed / max(seconds, 1e-9):.0f} files/s; the file "
         "index and a count of what it reads)")

    counters = {k: sc.accumulator(0.0 if k.endswith("seconds") else 0)
                for k in ("read_seconds", "scan_seconds", "hand_off_seconds", "listings")}
    if args.mode == "arrow":
        results = scan_arrow(spark, listings, args, worker_name, index_names, counters)
    else:
        results = scan_pipe(spark, listings, args, worker_name, index_names)
    if len(index_names) > 1:
        results = merge_shards(results, args.top)
    results = results.select(*RESULT_COLUMNS)
    results = results.unionByName(unread).withColumn("query", relative_query(root))

    results_uri, failures_uri = f"{out}/results", f"{out}/failures"
    mode = "overwrite" if args.overwrite else "errorifexists"
    t = time.perf_counter()
    results.write.mode(mode).parquet(results_uri)
    scan_wall = time.perf_counter() - t

    t = time.perf_counter()
    written = spark.read.parquet(results_uri)
    written.filter(F.col("error_kind").isNotNull()).select(*FAILURE_COLUMNS).write.mode(mode).parquet(failures_uri)
    stats = written.agg(F.countDistinct("path").alias("listings"), F.count(F.lit(1)).alias("rows"),
                        F.countDistinct(F.when(F.col("error_kind").isNotNull(), F.col("path"))).alias("failures"),
                        F.countDistinct(F.when(F.col("verdict") == "match", F.col("path"))).alias("matches"),
                        F.countDistinct(F.when(F.col("verdict") == "review", F.col("path"))).alias("review"),
                        ).first()
    failures_wall = time.perf_counter() - t

    n = stats["listings"]
    rate = (lambda count, seconds: f"{count / seconds:.1f} listings/s" if seconds > 0 else "n/a")
    info(f"scan: {n} listings ({stats['failures']} failures, {stats['matches']} matches, {stats['review']} to "
         f"review), {stats['rows']} rows, against {len(index_names)} index file(s), mode {args.mode}, "
         f"{sc.defaultParallelism} task slots")
    info(f"read+scan+write job: {scan_wall:.1f} s wall, {rate(n, scan_wall)}")
    if args.mode == "arrow":
        sent = counters["listings"].value  # listings x shards
        read_s, scan_s, hand_s = (counters[k].value for k in ("read_seconds", "scan_seconds", "hand_off_seconds"))
        info(f"  read  (Spark reading photos, to the task): {read_s:.1f} task-s, {rate(sent, read_s)} per task")
        info(f"  scan  (waiting on the worker processes):   {scan_s:.1f} task-s, {rate(sent, scan_s)} per task")
        info(f"  write (results handed back to Spark):      {hand_s:.1f} task-s, {rate(sent, hand_s)} per task"
             + ("; then the shard merge and the Parquet write" if len(index_names) > 1 else ""))
        if len(index_names) > 1:
            info(f"  {sent} listing-shard pairs scanned ({len(index_names)} shards)")
    info(f"failures + summary: {failures_wall:.1f} s; total {time.perf_counter() - started:.1f} s")
    info(f"wrote {results_uri} and {failures_uri}")
    return 0


def task_error(e):
    """The message of a failure raised in a task by this job, if that is what `e` is."""
    text = str(e)
    at = text.find(ERROR_MARK)
    if at < 0:
        # RDD.pipe (--mode pipe) words its own: the worker's stderr is in the executor's log.
        exited = re.search(r"PIPE_FUNCTION_EXITED\] Pipe function `(\S+)[^`]*` exited with error code (-?\d+)", text)
        if exited:
            return (f"the worker ({os.path.basename(exited.group(1))}, --mode pipe) exited with status "
                    f"{exited.group(2)}; its stderr is in the executor's log")
        return None
    message = text[at + len(ERROR_MARK):]
    # Cut the Java/Python stack trace that follows the message.
    for stop in ("\n\tat ", "\nTraceback", "\n\n\tat "):
        cut = message.find(stop)
        if cut >= 0:
            message = message[:cut]
    return message.rstrip()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except JobError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:
        message = task_error(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
