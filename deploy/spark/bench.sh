#!/usr/bin/env bash
# Throughput of the Spark job against the single-process `scan` on the same photos (README.md, "Benchmark").
#
#   bash deploy/spark/bench.sh [SMALL LARGE]     # copies of the 21 testdata listings (default 20 and 60)
#
# Needs what ci.sh sets up (target/spark-venv or KNOCKOFF_SPARK_VENV, target/release/examples/{worker,scan,index}).
# Runs one measurement at a time (never two Spark jobs at once). Each run is timed on two listing sets, SMALL x 21
# and LARGE x 21 photos: the difference is the marginal cost of a listing, free of the fixed costs (JVM start,
# Python workers' imports, the listing, the first tasks' warm-up), which is what a job of millions of listings
# pays. Wall time is the job proper (read, scan and write: the log's `read+scan+write job` line; `scan`'s whole
# run). CPU time is that of the whole command and every process under it (JVM, Python workers, workers), sampled
# from /proc every 0.1 s: on a shared machine it measures the engine's overhead where wall time cannot.
# REPEAT=N (default 1) repeats it all and keeps each figure's smallest value.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SMALL=${1:-20}
LARGE=${2:-60}
REPEAT=${REPEAT:-1}
VENV=${KNOCKOFF_SPARK_VENV:-$ROOT/target/spark-venv}
BIN="$ROOT/target/release/examples"
export PYSPARK_PYTHON="$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/knockoff-spark-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

make_listings() {  # folder, copies
    for i in $(seq -w 1 "$2"); do
        mkdir -p "$1/batch$i"
        for f in testdata/listings/*; do cp "$f" "$1/batch$i/$i-$(basename "$f")"; done
    done
}
make_listings "$TMP/small" "$SMALL"
make_listings "$TMP/large" "$LARGE"
NS=$(find "$TMP/small" -type f | wc -l)
NL=$(find "$TMP/large" -type f | wc -l)
"$BIN/index" testdata/refs -o "$TMP/catalog.idx" 2>/dev/null
mkdir -p "$TMP/shards"
"$BIN/index" testdata/refs -o "$TMP/shards/catalog.idx" --shards 2 2>/dev/null
echo "listing sets: $NS and $NL photos ($(du -sh "$TMP/large" | cut -f1)), 6 references, $(nproc) cores;" \
    "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# cputime.py OUT COMMAND...: runs COMMAND, writes the CPU seconds of it and all its descendants to OUT.
cat >"$TMP/cputime.py" <<'EOF'
import os, subprocess, sys, time
hz = os.sysconf("SC_CLK_TCK")
def table():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))  # ppid, utime + stime
    return out
proc = subprocess.Popen(sys.argv[2:])
tree, ticks = {proc.pid}, {}
while True:
    done = proc.poll() is not None
    t = table()
    grown = True
    while grown:
        new = {pid for pid, (ppid, _) in t.items() if ppid in tree and pid not in tree}
        tree |= new
        grown = bool(new)
    for pid in tree:
        if pid in t:
            ticks[pid] = max(ticks.get(pid, 0), t[pid][1])
    if done:
        break
    time.sleep(0.1)
own = os.times()
open(sys.argv[1], "w").write(f"{max(sum(ticks.values()) / hz, own.children_user + own.children_system)}\n")
sys.exit(proc.returncode)
EOF
now() { date +%s.%N; }
calc() { awk "BEGIN { print $1 }"; }
declare -A best
record() {  # key seconds
    if [ -z "${best[$1]:-}" ] || awk "BEGIN { exit !($2 < ${best[$1]}) }"; then best[$1]=$2; fi
}
scan_run() {  # name threads set
    local t0 t1
    t0=$(now)
    RAYON_NUM_THREADS=$2 "$VENV/bin/python" "$TMP/cputime.py" "$TMP/cpu" "$BIN/scan" --refs "$TMP/catalog.idx" \
        --queries "$TMP/$3" --format csv -o "$TMP/scan.csv" 2>/dev/null
    t1=$(now)
    record "$1|$3|job" "$(calc "$t1 - $t0")"
    record "$1|$3|total" "$(calc "$t1 - $t0")"
    record "$1|$3|cpu" "$(cat "$TMP/cpu")"
}
spark_run() {  # name master set, then spark-submit options
    local name=$1 master=$2 set=$3 t0 t1 job
    shift 3
    t0=$(now)
    "$VENV/bin/python" "$TMP/cputime.py" "$TMP/cpu" "$VENV/bin/spark-submit" --master "$master" \
        --conf spark.log.level=WARN --conf spark.ui.enabled=false "$@" deploy/spark/knockoff_scan.py \
        --worker "$BIN/worker" --listings "$TMP/$set" --output "$TMP/out" --overwrite "${JOB[@]}" \
        >"$TMP/run.log" 2>&1 || { tail -30 "$TMP/run.log"; exit 1; }
    t1=$(now)
    job=$(sed -n 's/^knockoff: read+scan+write job: \([0-9.]*\) s wall.*/\1/p' "$TMP/run.log")
    record "$name|$set|job" "$job"
    record "$name|$set|total" "$(calc "$t1 - $t0")"
    record "$name|$set|cpu" "$(cat "$TMP/cpu")"
}

RUNS=("scan, 1 thread" "scan, 2 threads" "spark local[1], arrow" "spark local[2], arrow" "spark local[2], pipe"
    "spark local[2], arrow, 1 task x 2 threads" "spark local[2], arrow, 2 shards")
for r in $(seq "$REPEAT"); do
    for set in small large; do
        echo "round $r, $set set"
        scan_run "scan, 1 thread" 1 $set
        scan_run "scan, 2 threads" 2 $set
        JOB=(--index "$TMP/catalog.idx")
        spark_run "spark local[1], arrow" 'local[1]' $set
        spark_run "spark local[2], arrow" 'local[2]' $set
        JOB=(--index "$TMP/catalog.idx" --mode pipe)
        spark_run "spark local[2], pipe" 'local[2]' $set
        JOB=(--index "$TMP/catalog.idx" --worker-threads 2)
        spark_run "spark local[2], arrow, 1 task x 2 threads" 'local[2]' $set --conf spark.task.cpus=2
        JOB=(--index "$TMP/shards/catalog-1-of-2.idx" --index "$TMP/shards/catalog-2-of-2.idx")
        spark_run "spark local[2], arrow, 2 shards" 'local[2]' $set
    done
done
echo
echo "| run | wall, job: $NS / $NL listings (s) | wall, whole command, $NL (s) | marginal listings/s (wall)" \
    "| CPU, whole command: $NS / $NL (s) | marginal CPU per listing (ms) |"
echo "|---|---|---|---|---|---|"
for name in "${RUNS[@]}"; do
    s=${best["$name|small|job"]}
    l=${best["$name|large|job"]}
    cs=${best["$name|small|cpu"]}
    cl=${best["$name|large|cpu"]}
    printf '| %s | %.1f / %.1f | %.1f | %.1f | %.1f / %.1f | %.1f |\n' "$name" "$s" "$l" \
        "${best["$name|large|total"]}" "$(calc "($NL - $NS) / ($l - $s)")" "$cs" "$cl" \
        "$(calc "1000 * ($cl - $cs) / ($NL - $NS)")"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
