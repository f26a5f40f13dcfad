#!/usr/bin/env bash
# Fills fuzz/corpus/<target> with the seed corpus from testdata/ (the corpora are not committed: libFuzzer adds
# thousands of files to them). Run from anywhere; safe to re-run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
for target in decode scan; do
    mkdir -p "$root/fuzz/corpus/$target"
    for dir in refs listings formats bad; do
        find "$root/testdata/$dir" -type f -size -200k -exec cp {} "$root/fuzz/corpus/$target/" \;
    done
done
# Index inputs are files without their checksum and end magic, and before version 5 their length too (the target
# appends correct ones).
mkdir -p "$root/fuzz/corpus/index"
for version in v2 v3 v4; do
    head -c -16 "$root/testdata/index/refs-$version.idx" > "$root/fuzz/corpus/index/refs-$version"
done
for version in v5 v6; do
    head -c -8 "$root/testdata/index/refs-$version.idx" > "$root/fuzz/corpus/index/refs-$version"
done
# The worker target: the kept regression inputs (an Arrow stream of our photos; the stable smoke test in
# tests/fuzz_smoke.rs builds its seeds in code).
mkdir -p "$root/fuzz/corpus/worker"
cp "$root"/testdata/fuzz/worker/* "$root/fuzz/corpus/worker/"
