#!/usr/bin/env python3
"""Makes testdata/golden/pdq.csv: Meta's reference PDQ on the pixels our decoder produces.

Requires `pip install pdqhash numpy` (pdqhash 0.2.8 wraps Meta's C++ PDQ). Run from the repository root:

    python3 testdata/golden/make_pdq_golden.py

1. `cargo test --release --test pdq_conformance -- --ignored dump_decoded_pixels` writes our full-size decoded RGB
   of every golden photo to target/pdq-pixels/ (so decoder differences between Pillow and us do not enter).
2. The reference hashes those pixels (luma, Jarosz filter, DCT: all Meta's code) with all 8 dihedral variants.
3. Hashes are written in Meta's hex format (most significant 16-bit word first), variants in Meta's order.
"""
import os, subprocess
import numpy as np
import pdqhash

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
subprocess.run(["cargo", "test", "--release", "--test", "pdq_conformance", "--", "--ignored", "dump_decoded_pixels"],
               cwd=ROOT, check=True)
pixels = os.path.join(ROOT, "target", "pdq-pixels")


def to_hex(bits):
    # pdqhash returns bit 255 first, so the vector read in order is the big-endian number.
    return format(int("".join(str(int(b)) for b in bits), 2), "064x")


rows = ["path,width,height,quality,dihedral"]
for line in open(os.path.join(pixels, "manifest.csv")):
    path, w, h, raw = line.strip().split(",")
    img = np.fromfile(os.path.join(pixels, raw), dtype=np.uint8).reshape(int(h), int(w), 3)
    hashes, quality = pdqhash.compute_dihedral(img)
    rows.append(f"{path},{w},{h},{quality},{' '.join(to_hex(v) for v in hashes)}")
out = os.path.join(ROOT, "testdata", "golden", "pdq.csv")
open(out, "w").write("\n".join(rows) + "\n")
print(f"wrote {len(rows) - 1} rows to {out}")
