#!/usr/bin/env python3
"""Compares the Spark job's results with a `scan` report of the same listings.

    python3 deploy/spark/compare.py OUT/results scan.csv [--parquet scan.parquet] [--all-columns] [--tolerance 1e-6]

For every listing (`query`): the same rows (one per rank, or the single row of a listing without reference or
that failed), each with the same reference, verdict, rank and score (to the tolerance, 1e-6 by default), and the
same reference_id and error. `--all-columns` compares the other CSV columns too (the evidence: distances,
transform, regions ...), numbers to the decimals the CSV prints. `--parquet` also compares with a
`scan --format parquet` file, every column but `path` and `config`, floats to the tolerance.

Prints a diff (`-` the scan's row, `+` the Spark job's) and exits 1 on any difference, 0 when they agree, 2 on a
usage error. OUT/results is a local folder or a `file:` URI (a Parquet dataset as Spark writes it).
"""

import argparse
import csv
import math
import sys

import pyarrow.dataset as ds

# The columns compared by default; the rest of the CSV's with --all-columns.
KEY_COLUMNS = ["reference", "score", "verdict", "rank", "reference_id", "error"]
FLOAT_COLUMNS = {"score", "colour_distance", "rotation_degrees"}


def local(path):
    return path[len("file:"):] if path.startswith("file:") else path


def load_results(path):
    table = ds.dataset(local(path), format="parquet").to_table()
    return [{k: v for k, v in row.items()} for row in table.to_pylist()]


def load_csv(path):
    """The CSV report's rows, with empty fields as None, and how many decimals each number was printed with."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        for row in reader:
            rows.append({k: (v if v != "" else None) for k, v in row.items()})
    return columns, rows


def decimals(text):
    return len(text.split(".", 1)[1]) if "." in text else 0


def same(column, expected, actual, tolerance, printed=False):
    """Whether a report field (text from the CSV when `printed`, else a value) equals a Spark result value."""
    if printed and expected is None and actual == "":
        return True  # the CSV writes an empty text and a null alike
    if expected is None or actual is None:
        return expected is None and actual is None
    if column in FLOAT_COLUMNS or (printed and isinstance(actual, float)):
        e = float(expected)
        allowed = tolerance
        if printed and column != "score":
            # The CSV prints evidence floats rounded (3 decimals for a distance, 1 for an angle); the score has six
            # decimals, so it is held to the tolerance.
            allowed = max(tolerance, 0.5 * 10 ** -decimals(expected) + 1e-9)
        return math.isclose(e, float(actual), rel_tol=0, abs_tol=allowed) or (math.isnan(e) and math.isnan(actual))
    if printed and isinstance(actual, int) and not isinstance(actual, bool):
        try:
            return int(expected) == actual
        except ValueError:
            return False
    return str(expected) == str(actual)


def by_query(rows):
    out = {}
    for row in rows:
        out.setdefault(row["query"], []).append(row)
    for listing in out.values():
        listing.sort(key=lambda r: (r.get("rank") is not None, int(r["rank"]) if r.get("rank") is not None else 0))
    return out


def show(row, columns):
    return ", ".join(f"{c}={row.get(c)!r}" for c in columns)


def compare(expected_rows, actual_rows, columns, tolerance, printed, what):
    """Prints the differences; returns how many listings differ."""
    expected, actual = by_query(expected_rows), by_query(actual_rows)
    differ = 0
    for query in sorted(set(expected) | set(actual)):
        e, a = expected.get(query, []), actual.get(query, [])
        problems = []
        if not e:
            problems.append("only in the Spark results")
        elif not a:
            problems.append(f"only in {what}")
        elif len(e) != len(a):
            problems.append(f"{len(e)} rows in {what}, {len(a)} in the Spark results")
        else:
            for er, ar in zip(e, a):
                bad = [c for c in columns if not same(c, er.get(c), ar.get(c), tolerance, printed)]
                if bad:
                    problems.append(f"rank {er.get('rank')}: {', '.join(bad)} differ")
        if problems:
            differ += 1
            print(f"{query}: {'; '.join(problems)}")
            for r in e:
                print(f"  - {show(r, columns)}")
            for r in a:
                print(f"  + {show(r, columns)}")
    return differ, len(set(expected) | set(actual))


def main(argv=None):
    p = argparse.ArgumentParser(description="Compare the Spark job's results with a scan report.")
    p.add_argument("results", help="OUT/results of the Spark job (a Parquet dataset)")
    p.add_argument("csv", help="the report of `scan --format csv` on the same listings")
    p.add_argument("--parquet", help="also compare with the report of `scan --format parquet`")
    p.add_argument("--all-columns", action="store_true", help="compare every CSV column, not only the key ones")
    p.add_argument("--tolerance", type=float, default=1e-6, help="for scores (default 1e-6)")
    a = p.parse_args(argv)

    actual = load_results(a.results)
    header, expected = load_csv(a.csv)
    if "query" not in header:
        print(f"{a.csv}: no `query` column: not a scan CSV report", file=sys.stderr)
        return 2
    missing = [c for c in header if actual and c not in actual[0]]
    if missing:
        print(f"the Spark results lack the CSV columns {missing}", file=sys.stderr)
        return 1
    columns = [c for c in header if c != "query"] if a.all_columns else KEY_COLUMNS
    failed = 0
    differ, listings = compare(expected, actual, columns, a.tolerance, True, a.csv)
    print(f"{a.results} vs {a.csv}: {listings} listings, {len(expected)} CSV rows, {len(actual)} result rows: "
          + (f"{differ} listings differ" if differ else "same rows"))
    failed += differ
    if a.parquet:
        scanned = ds.dataset(local(a.parquet), format="parquet").to_table().to_pylist()
        columns = [c for c in (scanned[0].keys() if scanned else []) if c not in ("query", "path", "config")]
        differ, listings = compare(scanned, actual, columns, a.tolerance, False, a.parquet)
        print(f"{a.results} vs {a.parquet}: {listings} listings, {len(scanned)} rows: "
              + (f"{differ} listings differ" if differ else "same rows"))
        failed += differ
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
