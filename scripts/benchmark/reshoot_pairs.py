"""Re-shoot pairs: two photographs of the same scene or product, for the copy-versus-re-shoot benchmark (issue 10).

    target/benchmark/venv/bin/python scripts/benchmark/reshoot_pairs.py [--out target/benchmark]

Reads OpenCV's sample data from the opencv-doc package that fetch_catalog.py unpacked (OUT/x/opencv-doc_*/...;
BSD-3-Clause / Apache-2.0, see OUT/manifest.csv) and writes OUT/reshoots/: the photos (video frames as PNG) and
pairs.csv (`reference,listing,source,kind`), where `kind` is how the second photo was taken:

- `stereo`: the other camera of a stereo rig, a few centimetres to the side (aloe, the office scene, the 13
  calibration-board pairs);
- `sequence`: another frame of a video or of an optical-flow sequence (camera or objects moved; frames 8 apart in
  the surveillance, tree and animation clips);
- `other shot`: the same object or scene photographed again from elsewhere or at another time (the box on its own
  and in a cluttered scene, the graffiti wall and the aerial scene from two viewpoints, two renders of Suzanne, the
  Leuven street at two exposures).

Deterministic; needs opencv-python-headless (in the benchmark's venv) for the video frames.
"""

import argparse
import csv
import shutil
import sys
from pathlib import Path

import cv2

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
    with open(target / "pairs.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["reference", "listing", "source", "kind"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} re-shoot pairs to {target}/pairs.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
