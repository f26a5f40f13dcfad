#!/usr/bin/env python3
"""The OpenCV baseline on the retrieval benchmark, beside knockoff at the same catalog sizes.

    target/benchmark/venv/bin/python scripts/benchmark/opencv_baseline.py [--data target/benchmark] [--sizes 8,1000,all]
        [--every N]

Needs opencv-python-headless and numpy (from PyPI, in a venv under target/; kept outside the crate's build). The
pipeline issue 9 describes, with knockoff's budgets:
- ORB on the photo at most 640 px on its longer side (knockoff's local-feature working size), 500 features per
  reference and 1,000 per listing (knockoff's `LocalConfig` budgets);
- ONE FLANN LSH index over every reference's descriptors (6 tables, 12-bit keys, multi-probe 1);
- each listing descriptor's two nearest neighbours; a Lowe ratio test (0.75) gives a vote to the nearest one's
  reference;
- the 5 most-voted references are verified: brute-force Hamming matching with the ratio test against that
  reference, RANSAC homography (reprojection error 5 px); the score is the inlier count (0 under 4 matches).
Each listing's best reference (most inliers) and score go to DATA/results/opencv-N.csv (`listing,reference,score`),
the same shape as knockoff's, so `score.py` reads both. Reference descriptors are cached in DATA/opencv-cache/.

FLANN's LSH search grows with the catalog (its buckets hold more descriptors): at 1,000 references the full 3,266
listings took over an hour on two shared cores. `--every N` scans every N-th listing of the truth file (positives
and negatives alike, the same listings at every size), written to DATA/results/opencv-N-everyK.csv; `score.py`
scores a sample on the listings it holds, so compare it with knockoff on the same sample (`score.py --every K`).
"""

import argparse
import csv
import multiprocessing
import sys
import time
from pathlib import Path

import cv2
import numpy as np

WORKING_SIDE = 640
REFERENCE_FEATURES = 500
LISTING_FEATURES = 1000
RATIO = 0.75
VERIFY = 5

# Set before the worker processes fork, so they share them read-only.
STATE: dict = {}


def features(path: Path, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint positions (N x 2, float32) and ORB descriptors (N x 32, uint8) of a photo."""
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    scale = WORKING_SIDE / max(grey.shape)
    if scale < 1:
        grey = cv2.resize(grey, (round(grey.shape[1] * scale), round(grey.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    orb = cv2.ORB_create(nfeatures=budget)
    keypoints, descriptors = orb.detectAndCompute(grey, None)
    if descriptors is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    return np.float32([k.pt for k in keypoints]), descriptors


def reference_features(data: Path, reference: str) -> tuple[np.ndarray, np.ndarray]:
    cache = data / "opencv-cache" / (reference + ".npz")
    if cache.exists():
        stored = np.load(cache)
        return stored["points"], stored["descriptors"]
    points, descriptors = features(data / "catalog" / reference, REFERENCE_FEATURES)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, points=points, descriptors=descriptors)
    return points, descriptors


def ratio_matches(query: np.ndarray, train: np.ndarray) -> list[tuple[int, int]]:
    """(query index, train index) pairs that pass the ratio test, brute force."""
    if len(query) < 2 or len(train) < 2:
        return []
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = []
    for m in matcher.knnMatch(query, train, k=2):
        if len(m) == 2 and m[0].distance < RATIO * m[1].distance:
            pairs.append((m[0].queryIdx, m[0].trainIdx))
    return pairs


def search(listing: Path) -> tuple[str, int]:
    """The listing's best reference and its inlier count ('' and 0 if none)."""
    points, descriptors = features(listing, LISTING_FEATURES)
    if len(descriptors) < 2:
        return "", 0
    index, owners, references, ref_features = STATE["index"], STATE["owners"], STATE["references"], STATE["features"]
    found, distances = index.knnSearch(descriptors, 2, params={})
    votes = np.zeros(len(references), np.int64)
    for (first, second), (d1, d2) in zip(found, distances):
        # LSH can return fewer than two neighbours (index -1): no ratio test possible, no vote.
        if first >= 0 and second >= 0 and d1 < RATIO * d2:
            votes[owners[first]] += 1
    best, best_score = "", 0
    for candidate in np.argsort(-votes, kind="stable")[:VERIFY]:
        if votes[candidate] == 0:
            break
        ref_points, ref_descriptors = ref_features[candidate]
        pairs = ratio_matches(descriptors, ref_descriptors)
        if len(pairs) < 4:
            continue
        src = np.float32([ref_points[t] for _, t in pairs]).reshape(-1, 1, 2)
        dst = np.float32([points[q] for q, _ in pairs]).reshape(-1, 1, 2)
        _, mask = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
        inliers = int(mask.sum()) if mask is not None else 0
        if inliers > best_score:
            best, best_score = references[candidate], inliers
    return best, best_score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="target/benchmark", type=Path)
    parser.add_argument("--sizes", default="8,1000,all")
    parser.add_argument("--jobs", default=2, type=int, help="worker processes (default 2)")
    parser.add_argument("--every", default=1, type=int, help="scan every N-th listing only (default 1: all)")
    args = parser.parse_args()
    data: Path = args.data
    cv2.setNumThreads(1)
    order = (data / "catalog_order.txt").read_text().split()
    with open(data / "truth.csv") as f:
        truth = list(csv.DictReader(f))
    (data / "results").mkdir(parents=True, exist_ok=True)
    for size in args.sizes.split(","):
        n = len(order) if size == "all" else min(int(size), len(order))
        references = order[:n]
        start = time.time()
        with multiprocessing.Pool(args.jobs) as pool:
            ref_features = pool.starmap(reference_features, [(data, r) for r in references])
        owners = np.concatenate([np.full(len(d), i, np.int64) for i, (_, d) in enumerate(ref_features)])
        stacked = np.concatenate([d for _, d in ref_features])
        index = cv2.flann_Index(stacked, dict(algorithm=6, table_number=6, key_size=12, multi_probe_level=1))
        index_seconds = time.time() - start
        STATE.update(index=index, owners=owners, references=references, features=ref_features)

        catalog = set(references)
        rows = [t for i, t in enumerate(truth) if i % args.every == 0]
        rows = [t for t in rows if not t["reference"] or t["reference"] in catalog]
        start = time.time()
        with multiprocessing.Pool(args.jobs) as pool:  # forked after STATE is set: workers share the index
            found = pool.map(search, [data / "listings" / t["listing"] for t in rows], chunksize=8)
        scan_seconds = time.time() - start
        name = f"opencv-{n}.csv" if args.every == 1 else f"opencv-{n}-every{args.every}.csv"
        with open(data / "results" / name, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["listing", "reference", "score"])
            for t, (reference, score) in zip(rows, found):
                writer.writerow([t["listing"], reference, score])
        print(
            f"{n} references ({len(stacked)} descriptors): indexed in {index_seconds:.1f} s; scanned {len(rows)} "
            f"listings in {scan_seconds:.1f} s ({len(rows) / max(scan_seconds, 1e-9):.1f} listings/s, "
            f"{args.jobs} processes)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
