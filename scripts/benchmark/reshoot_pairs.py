"""Re-shoot pairs: two photographs of the same scene or product, for the copy-versus-re-shoot benchmark (issue 10).

    target/benchmark/venv/bin/python scripts/benchmark/reshoot_pairs.py [--out target/benchmark]

Reads OpenCV's sample data from the opencv-doc package that fetch_catalog.py unpacked (OUT/x/opencv-doc_*/...;
BSD-3-Clause / Apache-2.0, see OUT/manifest.csv) and writes OUT/reshoots/: the photos (video frames as PNG) and
pairs.csv (`reference,listing,source,kind`), where `kind` is how the second photo was taken:

- `stereo`: the other camera of a stereo rig, a few centimetres to the side (aloe, the office scene, the 13
  calibration-board pairs; and Middlebury's motorcycle as scikit-image ships it, see below);
- `synthesised view`: views between the motorcycle's two cameras, at a quarter, half and three quarters of the
  way, made from the left photo and its ground-truth disparity (each pixel shifted by that share of its disparity,
  nearer pixels drawn over farther ones, what neither camera saw filled from its left neighbour), with sensor noise
  and a 4% exposure change of their own: real depth, less parallax than the stereo pair has. They show how little
  parallax the copy/re-shoot test needs;
- `sequence`: another frame of a video or of an optical-flow sequence (camera or objects moved; frames 8 apart in
  the surveillance, tree and animation clips);
- `other shot`: the same object or scene photographed again from elsewhere or at another time (the box on its own
  and in a cluttered scene, the graffiti wall and the aerial scene from two viewpoints, two renders of Suzanne, the
  Leuven street at two exposures).

The motorcycle (Middlebury 2014 stereo, Scharstein et al., as scaled down by scikit-image) is read from the
scikit-image 0.26.0 wheel on PyPI (BSD-3-Clause, its LICENSE.txt), downloaded once to OUT/x/pypi with pip.

Deterministic; needs opencv-python-headless and numpy (in the benchmark's venv).
"""

import argparse
import csv
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np

STEREO = [("aloeL.jpg", "aloeR.jpg"), ("left.jpg", "right.jpg")] + [
    (f"left{k:02d}.jpg", f"right{k:02d}.jpg") for k in range(1, 15) if k != 10
]
SEQUENCE = [("basketball1.png", "basketball2.png"), ("rubberwhale1.png", "rubberwhale2.png")]
OTHER_SHOT = [
    ("box.png", "box_in_scene.png"),
    ("graf1.png", "graf3.png"),
    ("aero1.jpg", "aero3.jpg"),
    ("Blender_Suzanne1.jpg", "Blender_Suzanne2.jpg"),
    ("leuvenA.jpg", "leuvenB.jpg"),
]
# (clip, first frames, gap): pairs of frames `gap` apart.
VIDEOS = [("vtest.avi", [0, 200, 400, 600], 8), ("tree.avi", [0, 150, 300], 8), ("Megamind.avi", [20, 100, 180], 8)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="target/benchmark", type=Path)
    out = parser.parse_args().out
    found = sorted(out.glob("x/opencv-doc_*/usr/share/doc/opencv-doc/examples/data"))
    if not found:
        print("no opencv-doc under OUT/x: run fetch_catalog.py first", file=sys.stderr)
        return 1
    data, target = found[-1], out / "reshoots"
    target.mkdir(parents=True, exist_ok=True)
    rows = []
    for kind, pairs in [("stereo", STEREO), ("sequence", SEQUENCE), ("other shot", OTHER_SHOT)]:
        for a, b in pairs:
            for name in (a, b):
                shutil.copyfile(data / name, target / name)
            rows.append((a, b, f"opencv-doc/{a}", kind))
    for clip, starts, gap in VIDEOS:
        capture = cv2.VideoCapture(str(data / clip))
        frames = {}
        wanted = {f for s in starts for f in (s, s + gap)}
        index = 0
        while len(frames) < len(wanted):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted:
                frames[index] = frame
            index += 1
        stem = Path(clip).stem
        for s in starts:
            if s in frames and s + gap in frames:
                names = [f"{stem}-{f:04d}.png" for f in (s, s + gap)]
                for f, name in zip((s, s + gap), names):
                    cv2.imwrite(str(target / name), frames[f])
                rows.append((names[0], names[1], f"opencv-doc/{clip}", "sequence"))
    rows += motorcycle(out, target)
    with open(target / "pairs.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["reference", "listing", "source", "kind"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} re-shoot pairs to {target}/pairs.csv")
    return 0


SKIMAGE = "scikit-image==0.26.0"
MOTORCYCLE = ["motorcycle_left.png", "motorcycle_right.png", "motorcycle_disp.npz"]


def motorcycle(out: Path, target: Path) -> list[tuple[str, str, str, str]]:
    """The motorcycle stereo pair, and views synthesised between its cameras from the ground-truth disparity."""
    pypi = out / "x" / "pypi"
    wheels = sorted(pypi.glob("scikit_image-0.26.0-*.whl"))
    if not wheels:
        pypi.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(pypi), SKIMAGE]
        if subprocess.run(command).returncode != 0:
            print(f"could not download {SKIMAGE}: the motorcycle pairs are left out", file=sys.stderr)
            return []
        wheels = sorted(pypi.glob("scikit_image-0.26.0-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name in MOTORCYCLE:
            (target / name).write_bytes(wheel.read(f"skimage/data/{name}"))
    source = "scikit-image 0.26.0/skimage/data (Middlebury 2014)"
    rows = [("motorcycle_left.png", "motorcycle_right.png", source, "stereo")]
    left = cv2.imread(str(target / "motorcycle_left.png")).astype(np.float32)
    disparity = np.load(target / "motorcycle_disp.npz")["arr_0"]
    rng = np.random.default_rng(2026)
    for share in (0.25, 0.5, 0.75):
        name = f"motorcycle_view{int(share * 100):02d}.png"
        view = shifted_view(left, disparity, share)
        view = np.clip(view * 1.04 + rng.normal(0.0, 2.0, view.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(target / name), view)
        rows.append(("motorcycle_left.png", name, source, "synthesised view"))
    return rows


def shifted_view(left: np.ndarray, disparity: np.ndarray, share: float) -> np.ndarray:
    """The scene from `share` of the way to the right camera: each pixel moved left by that share of its disparity,
    nearer (larger disparity) drawn last, holes filled from the left along the row."""
    h, w = disparity.shape
    known = np.isfinite(disparity)
    ys, xs = np.nonzero(known)
    d = disparity[ys, xs]
    to = np.round(xs - share * d).astype(int)
    inside = (to >= 0) & (to < w)
    order = np.argsort(d[inside], kind="stable")
    ys, xs, to = ys[inside][order], xs[inside][order], to[inside][order]
    view = np.zeros_like(left)
    filled = np.zeros((h, w), dtype=bool)
    view[ys, to] = left[ys, xs]
    filled[ys, to] = True
    for y in range(h):
        last = None
        for x in range(w):
            if filled[y, x]:
                last = x
            elif last is not None:
                view[y, x] = view[y, last]
    return view


if __name__ == "__main__":
    sys.exit(main())
