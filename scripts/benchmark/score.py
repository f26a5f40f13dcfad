#!/usr/bin/env python3
"""Scores every method and catalog size of the retrieval benchmark in ONE markdown table.

    python3 scripts/benchmark/score.py [--data target/benchmark] [--every K] [RESULTS.csv ...]

Reads DATA/truth.csv (`listing,reference,edit,kind`, written by the `make_benchmark` example) and results files
named METHOD-N.csv (`listing,reference,score`: the method's best reference for each listing and its score, an
empty reference and 0 when it found none), by default every DATA/results/*-N.csv. Standard library only.

Definitions (every figure in the table follows from these):
- A results file holds the listings of one catalog size N: the positives whose true reference is among the N
  references, and every negative. Negatives are listings whose truth has no reference: held-out photos under the
  same edits as the positives (`negative`), tiles of catalog photos that are not in the catalog (`neighbour`),
  held-out photos as product shots on white (`white`).
- Threshold at a false-positive rate x: with n negatives, at most k = floor(x * n) of them may score above it; the
  threshold is the (k+1)-th highest negative score (the highest for x = 0), so exactly the negatives scoring
  strictly above it are false positives, and there are at most k of them. One threshold per method and size, set on
  all its negatives together (as a user sets one operating point), applied to every edit.
- A positive is found at a threshold when the method's best reference is its true reference AND its score is
  strictly above the threshold. Recall = found / positives (of that edit, or all of them).
- "Its true reference" includes any catalog file byte-identical to it: the pool's near-duplicate removal compares
  whole pictures before they are cut into tiles, so a seamless texture repeated within its picture gives identical
  tiles under different names (21 pairs in the pool of 2026-11-30), and a copy of one is as much a copy of the other.
- Top-1: share of positives whose best reference is the true one, whatever the score.
- `--every K` scores every run on every K-th listing of truth.csv only (the sample `opencv_baseline.py --every K`
  scans, written as METHOD-N-everyK.csv), so that a method too slow to scan everything is compared on the same
  listings.
- Retrieval loss (knockoff only, from METHOD-N-retrieval-loss.csv written by the `benchmark` example): share of
  positives whose search did not return the true reference although the pairwise `compare` of the two says `match`
  and scores higher than what the search returned: copies lost by the candidate search, not by verification.
"""

import argparse
import csv
import hashlib
import re
import sys
from collections import defaultdict
from pathlib import Path


def threshold(negative_scores: list[float], rate: float) -> float:
    """The score a positive must exceed so that at most floor(rate * n) negatives exceed it."""
    ordered = sorted(negative_scores, reverse=True)
    allowed = int(rate * len(ordered) + 1e-9)
    return ordered[allowed] if allowed < len(ordered) else float("-inf")


class SamePhoto:
    """Whether two catalog paths name the same photo: the same path, or byte-identical files."""

    def __init__(self, catalog: Path):
        self.catalog = catalog
        self.digests: dict[str, str | None] = {}

    def digest(self, path: str) -> str | None:
        if path not in self.digests:
            try:
                self.digests[path] = hashlib.sha256((self.catalog / path).read_bytes()).hexdigest()
            except OSError:
                self.digests[path] = None
        return self.digests[path]

    def __call__(self, answer: str, truth: str) -> bool:
        if answer == truth:
            return True
        if not answer:
            return False
        a, t = self.digest(answer), self.digest(truth)
        return a is not None and a == t


def pct(found: int, total: int) -> str:
    return f"{100 * found / total:.1f}" if total else "–"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="target/benchmark", type=Path)
    parser.add_argument("--every", default=1, type=int, help="score every K-th listing of truth.csv only")
    parser.add_argument("results", nargs="*", type=Path)
    args = parser.parse_args()
    with open(args.data / "truth.csv") as f:
        truth = {row["listing"]: row for row in csv.DictReader(f)}
    sample = {listing for i, listing in enumerate(truth) if i % args.every == 0}
    same = SamePhoto(args.data / "catalog")
    files = args.results or sorted(
        p for p in (args.data / "results").glob("*-*.csv") if re.fullmatch(r"[a-z0-9_]+-\d+(-every\d+)?\.csv", p.name)
    )
    runs = []  # (size, method, results)
    for path in files:
        name = re.fullmatch(r"([a-z0-9_]+)-(\d+)(?:-every\d+)?", path.stem)
        if not name:
            print(f"{path}: not a METHOD-N.csv results file", file=sys.stderr)
            return 1
        method, size = name.group(1), name.group(2)
        with open(path) as f:
            results = {
                row["listing"]: (row["reference"], float(row["score"] or 0))
                for row in csv.DictReader(f)
                if row["listing"] in sample
            }
        runs.append((int(size), method, path, results))
    runs.sort(key=lambda r: (r[0], r[1] != "knockoff", r[1]))
    if not runs:
        print("no results files", file=sys.stderr)
        return 1

    # Edits in make_benchmark's order (edits.txt), then any others in order of first appearance.
    order_file = args.data / "edits.txt"
    edits = order_file.read_text().split("\n") if order_file.exists() else []
    edits = [e for e in edits if e]
    for row in truth.values():
        if row["reference"] and row["edit"] not in edits:
            edits.append(row["edit"])
    rates = (0.0, 0.001, 0.01)
    table = {}  # (run index, edit or None) -> cell text
    extra = defaultdict(dict)  # row name -> run index -> text
    for i, (size, method, path, results) in enumerate(runs):
        negatives = [score for listing, (_, score) in results.items() if not truth[listing]["reference"]]
        positives = [(listing, ref, score) for listing, (ref, score) in results.items() if truth[listing]["reference"]]
        cuts = [threshold(negatives, r) for r in rates]
        for edit in edits + [None]:
            chosen = [(l, ref, s) for l, ref, s in positives if edit is None or truth[l]["edit"] == edit]
            cells = []
            for cut in cuts:
                found = sum(1 for l, ref, s in chosen if same(ref, truth[l]["reference"]) and s > cut)
                cells.append(pct(found, len(chosen)))
            table[(i, edit)] = " / ".join(cells)
        top1 = sum(1 for l, ref, _ in positives if same(ref, truth[l]["reference"]))
        extra["top-1"][i] = pct(top1, len(positives))
        loss_file = path.with_name(f"{path.stem}-retrieval-loss.csv")
        if loss_file.exists():
            with open(loss_file) as f:
                lost = sum(1 for row in csv.DictReader(f) if row["listing"] in sample)
            extra["retrieval loss"][i] = f"{pct(lost, len(positives))} ({lost})"
        else:
            extra["retrieval loss"][i] = "n/a"
        extra["positives / negatives"][i] = f"{len(positives)} / {len(negatives)}"
        extra["threshold @ 0 / 0.1% / 1% FP"][i] = " / ".join(f"{c:.3g}" for c in cuts)
        worst = max(((s, truth[l]["kind"]) for l, (_, s) in results.items() if not truth[l]["reference"]), default=(0, ""))
        extra["highest negative (kind)"][i] = f"{worst[0]:.3g} ({worst[1]})"

    header = [f"{method} @ {size:,}" for size, method, _, _ in runs]
    print("Recall (%) at 0 / 0.1% / 1% false positives, per edit and catalog size.\n")
    print("| edit | " + " | ".join(header) + " |")
    print("|---|" + "---|" * len(runs))
    present = {truth[l]["edit"] for _, _, _, results in runs for l in results if truth[l]["reference"]}
    edits = [e for e in edits if e in present]
    for edit in edits:
        print(f"| {edit} | " + " | ".join(table[(i, edit)] for i in range(len(runs))) + " |")
    print("| **all positives** | " + " | ".join(f"**{table[(i, None)]}**" for i in range(len(runs))) + " |")
    for name, cells in extra.items():
        print(f"| {name} | " + " | ".join(cells[i] for i in range(len(runs))) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
