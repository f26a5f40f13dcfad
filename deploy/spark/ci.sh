#!/usr/bin/env bash
# The Spark deployment's check, for .ci/run: the Spark job (deploy/spark/knockoff_scan.py) on local[2] must give
# the rows `scan` gives on the same listings, with one index and with the catalog in 2 shards.
#
#   bash deploy/spark/ci.sh
#
# - A venv with PySpark and PyArrow at the versions tested (target/spark-venv, reused when it has them; set
#   KNOCKOFF_SPARK_VENV to put it elsewhere). Needs Java 17 (installed with apt-get when missing and root).
# - Uses target/release/examples/{worker,scan,index} (what `cargo test --release --all-features` leaves), or builds
#   them with `cargo build --release --features arrow --examples` when one is missing or lacks Parquet support.
# - A listing folder: testdata/listings, three files of testdata/bad in a subfolder, a photo saved without
#   extension, a text file (skipped by both) and a sparse 300 MB .jpg (refused from its size by both).
# - `scan --top 2` as CSV and Parquet; the Spark job with one index (arrow mode, then pipe mode) and with 2 shards,
#   each compared with the CSV and the Parquet (compare.py, every column); compare.py must fail on an altered CSV;
#   the job must exit 1 with a message for a missing index.
# Takes ~2 minutes on this 2-core machine (117 s with the venv in place, 141 s creating it from pip's cache), most
# of it Spark's fixed costs: one JVM per spark-submit, ~30 s per job.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

PYSPARK_VERSION=4.3.0
PYARROW_VERSION=26.0.1
# PySpark's mapInArrow goes through pandas_udf, which requires pandas to be importable.
PANDAS_VERSION=3.1.1
VENV=${KNOCKOFF_SPARK_VENV:-$ROOT/target/spark-venv}
START=$(date +%s)
passed=0
failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }
elapsed() { echo "$(($(date +%s) - START)) s"; }

echo "== Spark deployment check (deploy/spark)"
if ! command -v java >/dev/null 2>&1; then
    echo "java not found: installing openjdk-17-jre-headless"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
fi
want="import pyspark, pyarrow, pandas; assert (pyspark.__version__, pyarrow.__version__, pandas.__version__) == \
('$PYSPARK_VERSION', '$PYARROW_VERSION', '$PANDAS_VERSION')"
if ! "$VENV/bin/python" -c "$want" 2>/dev/null; then
    echo "creating $VENV (pyspark $PYSPARK_VERSION, pyarrow $PYARROW_VERSION, pandas $PANDAS_VERSION)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "pyspark==$PYSPARK_VERSION" "pyarrow==$PYARROW_VERSION" "pandas==$PANDAS_VERSION"
    "$VENV/bin/python" -c "$want"
fi
echo "venv ready ($(elapsed))"
export PYSPARK_PYTHON="$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
PY="$VENV/bin/python"

BIN="$ROOT/target/release/examples"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/knockoff-spark-ci.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
need_build=0
for b in worker scan index; do [ -x "$BIN/$b" ] || need_build=1; done
if [ "$need_build" = 0 ] && ! "$BIN/scan" --refs testdata/refs --queries testdata/refs --format parquet \
        -o "$TMP/probe.parquet" 2>/dev/null; then
    need_build=1  # a scan built without --features arrow
fi
if [ "$need_build" = 1 ]; then
    echo "building the worker, scan and index examples (--features arrow)"
    cargo build --release --features arrow --examples
fi

# The listings: the test photos, hostile files in a subfolder, a photo named without extension (a crawler's hash
# name: scanned by its magic bytes), a text file (skipped) and a sparse file over the 256 MiB limit.
L="$TMP/listings"
mkdir -p "$L/bad" "$L/crawled"
cp testdata/listings/* "$L/"
cp testdata/bad/empty.jpg testdata/bad/truncated.jpg testdata/bad/not-an-image.jpg "$L/bad/"
cp testdata/listings/coffee-hue.jpg "$L/crawled/9f2c41d07be3"
echo "not a photo" > "$L/crawled/notes.txt"
truncate -s 300000000 "$L/bad/huge.jpg"

"$BIN/index" testdata/refs -o "$TMP/catalog.idx" 2>&1 | tail -1
mkdir -p "$TMP/shards"
"$BIN/index" testdata/refs -o "$TMP/shards/catalog.idx" --shards 2 2>&1 | tail -1
"$BIN/scan" --refs "$TMP/catalog.idx" --queries "$L" --top 2 --format csv -o "$TMP/scan.csv" 2>&1 | tail -1
"$BIN/scan" --refs "$TMP/catalog.idx" --queries "$L" --top 2 --format parquet -o "$TMP/scan.parquet" 2>&1 | tail -1
echo "indexes and scan reports ready ($(elapsed))"

spark() {
    "$VENV/bin/spark-submit" --master 'local[2]' --conf spark.log.level=WARN --conf spark.ui.enabled=false \
        deploy/spark/knockoff_scan.py --worker "$BIN/worker" "$@"
}

check_run() {  # name, output folder, then the job's arguments
    local name=$1 out=$2
    shift 2
    if spark --listings "$L" --output "$out" --top 2 "$@" >"$TMP/$name.log" 2>&1; then
        grep '^knockoff:' "$TMP/$name.log" || true
        if "$PY" deploy/spark/compare.py "$out/results" "$TMP/scan.csv" --parquet "$TMP/scan.parquet" \
                --all-columns >"$TMP/$name.compare" 2>&1; then
            tail -2 "$TMP/$name.compare"
            ok "$name: the Spark results are scan's rows ($(elapsed))"
        else
            cat "$TMP/$name.compare"
            bad "$name: the Spark results differ from scan's"
        fi
    else
        tail -40 "$TMP/$name.log"
        bad "$name: the Spark job failed"
    fi
}

check_run "one-index" "$TMP/out-one" --index "$TMP/catalog.idx"
check_run "one-index-pipe" "$TMP/out-pipe" --index "$TMP/catalog.idx" --mode pipe
check_run "two-shards" "$TMP/out-shards" --index "$TMP/shards/catalog-1-of-2.idx" \
    --index "$TMP/shards/catalog-2-of-2.idx"

# The failures folder: exactly the failed listings.
if [ -d "$TMP/out-one/failures" ]; then
    if "$PY" - "$TMP/out-one/failures" "$TMP/scan.csv" <<'EOF'
import csv, sys
import pyarrow.dataset as ds
got = sorted((r["query"], r["error_kind"], r["error"]) for r in ds.dataset(sys.argv[1]).to_table().to_pylist())
want = sorted((r["query"], r["error"].split(":", 1)[0], r["error"])
              for r in csv.DictReader(open(sys.argv[2])) if r["error"])
print(f"failures: {len(got)} rows, expected {len(want)}")
sys.exit(0 if got == want and len(want) >= 4 else 1)
EOF
    then
        ok "failures: OUT/failures lists the failed listings"
    else
        bad "failures: OUT/failures is not the failed listings"
    fi
fi

# compare.py must be able to fail: one score and one verdict altered.
"$PY" - "$TMP/scan.csv" "$TMP/altered.csv" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
header = rows[0]
score, verdict = header.index("score"), header.index("verdict")
first = next(r for r in rows[1:] if r[score] not in ("", "0"))
first[score] = f"{float(first[score]) + 0.00001:.6f}"
last = next(r for r in reversed(rows[1:]) if r[verdict] == "match")
last[verdict] = "review"
csv.writer(open(sys.argv[2], "w", newline=""), lineterminator="\n").writerows(rows)
EOF
if "$PY" deploy/spark/compare.py "$TMP/out-one/results" "$TMP/altered.csv" >"$TMP/altered.compare" 2>&1; then
    bad "compare.py: an altered CSV compared equal"
elif grep -q "2 listings differ" "$TMP/altered.compare"; then
    ok "compare.py: an altered CSV is told apart (2 listings differ)"
else
    cat "$TMP/altered.compare"
    bad "compare.py: an altered CSV did not give the 2 differences expected"
fi

# A missing index: exit status 1 and a message naming it.
if spark --listings "$L" --output "$TMP/out-missing" --index "$TMP/no-such.idx" >"$TMP/missing.log" 2>&1; then
    bad "missing index: the job succeeded"
elif grep -q "^error: --index .*no-such.idx: no such file" "$TMP/missing.log"; then
    ok "missing index: exit status 1, the message names it"
else
    tail -20 "$TMP/missing.log"
    bad "missing index: no clear message"
fi

echo "Spark deployment check done in $(elapsed)"
echo "spark: $passed passed, $failed failed"
[ "$failed" = 0 ]
