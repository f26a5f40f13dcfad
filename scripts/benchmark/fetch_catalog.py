#!/usr/bin/env python3
"""Builds the retrieval benchmark's photo pool from Debian packages: a catalog of 5,000+ reference photos and a
held-out pool that is never in the catalog (for negatives, backgrounds and collage fillers).

    python3 scripts/benchmark/fetch_catalog.py [--out target/benchmark] [--tile 480]

Needs `apt-get` (Debian bookworm lists; `apt-get update` once) and Pillow + numpy. Nothing is installed: each
package is fetched with `apt-get download` and unpacked with `dpkg-deb -x` under OUT/x/. Deterministic: inputs
sorted, splits by a hash of the source path, no randomness.

What comes out (all under OUT, git-ignored):
- catalog/PKG/NAME-rRcC.jpg: non-overlapping tiles of catalog photos (each tile one reference), and
  catalog/PKG/NAME-rRcC-white.jpg: for one catalog photo in four, its tiles as product-style shots on white
  (the tile's centre in an ellipse on a white square), so that a quarter of the catalog looks like catalog
  product shots. A photo's tiles are all tiles or all product shots, never both, so no two references overlap.
- heldout/tiles/...: tiles of held-out photos (20% of source photos, chosen by hash, never in the catalog);
  negatives are made of them.
- heldout/neighbours/...: for each catalog photo, one tile in eight is left out of the catalog and kept here:
  the same scene, another region (a hard negative).
- heldout/photos/...: held-out photos whole, at 1,024 px: busy backgrounds for pasted copies.
- manifest.csv: every file written, with its role, package, version, original file, licence (per file, from the
  package's debian/copyright) and kind (`photo`, or `painted` for the 0 A.D. skins that only fill the catalog).
- done/PACKAGE.json: what each package gave, so that a rerun redoes only packages added at the end of SOURCES.

About 20 minutes on two busy cores the first time (4.7 GB of packages; decoding the big PNGs dominates).

Left out on purpose: mate-backgrounds, lomiri-wallpapers-* and tuxpaint-stamps-default (the held-out benchmark
uses them).
"""

import argparse
import csv
import fnmatch
import hashlib
import json
import zipfile
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = 200_000_000

# Package, the photo files in it (glob patterns on the unpacked path; `*.pk3` and `*.zip` archives are unzipped
# under pk3/ first) and, optionally, the archive members to unzip (all by default).
# Each file's licence is read from the package's debian/copyright (see `licence_of`).
SOURCES = [
    ("plasma-workspace-wallpapers", ["usr/share/wallpapers/*/contents/images/*"]),
    ("ukui-wallpapers", ["usr/share/backgrounds/*"]),
    (
        "stellarium-data",
        [
            "usr/share/stellarium/landscapes/*/*",
            "usr/share/stellarium/nebulae/default/*",
        ],
    ),
    ("opencv-doc", ["usr/share/doc/opencv-doc/examples/data/*"]),
    # Scratch 1.4's media library: photographed backgrounds, and costumes (people, animals, things) cut out on
    # transparency, which become product-style shots on white.
    ("scratch", ["usr/share/scratch/Media/Backgrounds/*/*", "usr/share/scratch/Media/Costumes/*/*"]),
    # Photographic textures (walls, ground, wood, vehicles, shop fronts ...).
    ("ufoai-textures", ["pk3/textures/*/*"]),
    ("supertuxkart-data", ["usr/share/games/supertuxkart/data/textures/*", "usr/share/games/supertuxkart/data/tracks/*/*"]),
    ("openarena-081-textures", ["pk3/textures/*/*"]),
    ("nexuiz-textures", ["pk3/textures/*", "pk3/textures/*/*"]),
    ("redeclipse-data", ["usr/share/games/redeclipse/data/*/*", "usr/share/games/redeclipse/data/*/*/*"]),
    ("cube2-data", ["usr/share/games/cube2/packages/*/*", "usr/share/games/cube2/packages/*/*/*"]),
    # TORCS's tracks: photographed asphalt, grass, trees, crowds, buildings, billboards (SGI .rgb files).
    ("torcs-data", ["usr/share/games/torcs/tracks/*/*/*", "usr/share/games/torcs/data/textures/*"]),
    # 0 A.D.'s terrain textures (photo-based ground, rock, grass) and skies, from its 3 GB data archive.
    ("0ad-data", ["pk3/art/textures/terrain/types/*/*", "pk3/art/textures/skies/*/*"], ("art/textures/terrain/", "art/textures/skies/")),
    # 0 A.D.'s unit and building skins: painted, not photographed, so they only fill the catalog to 5,000+
    # (`make_benchmark` copies photographs only); counterfeiters' targets are photos, a catalog holds anything.
    ("0ad-data", ["pk3/art/textures/skins/*/*", "pk3/art/textures/skins/*/*/*"], ("art/textures/skins/",), "skins"),
]
PAINTED = {"0ad-data/skins"}
EXCLUDED = ("mate-backgrounds", "lomiri-wallpapers", "tuxpaint-stamps-default")

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".tga", ".rgb", ".dds")
MIN_SIDE = 256  # smaller files are icons and thumbnails
# Texture maps that are not pictures: normal, specular, gloss, height, masks ...
NOT_PICTURES = re.compile(r"(_n|_nm|_norm|normal|_spec|specular|_gloss|_bump|_height|_disp|_ao|_rough|_mask|gloss|lightmap|_s|_g)\.[a-z]+$", re.I)
MAX_OUTPUT_SIDE = 1000  # references are saved at most this large, like catalog photos
HELD_OUT_EVERY = 5  # one source photo in five is held out
WHITE_EVERY = 4  # one catalog photo in four becomes product shots on white
NEIGHBOUR_EVERY = 8  # one tile in eight of a catalog photo is left out (hard negative)


def digest(text: str) -> int:
    """A stable number from a string (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def fetch(package: str, debs: Path, unpacked: Path, members: tuple[str, ...] = ("",)) -> tuple[Path, str]:
    """Downloads and unpacks a package (no install). Returns the folder and the package's version."""
    assert not package.startswith(EXCLUDED), package
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
    deb = found[-1]
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True)
    target = unpacked / deb.stem
    if not target.exists():
        unpacked.mkdir(parents=True, exist_ok=True)  # dpkg-deb -x creates the target, not its parents
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    archives = sorted(target.rglob("*.pk3")) + sorted(target.rglob("*.zip"))
    for path in archives:  # game data archives (zip): textures inside; only the `members` wanted
        with zipfile.ZipFile(path) as archive:
            wanted = [m for m in archive.namelist() if m.startswith(members) and not (target / "pk3" / m).exists()]
            archive.extractall(target / "pk3", wanted)
    return target, version.stdout.strip()


def licences(root: Path) -> list[tuple[list[str], str]]:
    """The `Files:` patterns and `License:` of each stanza of a machine-readable debian/copyright, in order."""
    stanzas, files, licence = [], None, None  # free-form files (no stanzas) are handled by the caller
    found = sorted(root.glob("usr/share/doc/*/copyright"))
    text = found[0].read_text(errors="replace") if found else ""
    for line in text.splitlines() + [""]:
        if line.startswith("Files:"):
            files = line.split(":", 1)[1].split()
        elif line.startswith(" ") and files is not None and licence is None and not line.strip().startswith("Copyright"):
            pass
        elif line.startswith("License:") and files is not None:
            licence = line.split(":", 1)[1].strip()
        elif not line.strip():
            if files and licence:
                stanzas.append((files, licence))
            files, licence = None, None
    return stanzas


def licence_of(stanzas: list[tuple[list[str], str]], installed: str) -> str:
    """The licence of the last stanza whose pattern matches the file (DEP-5: the last match wins). Patterns name
    source-tree paths, files are installed paths, so a pattern matches any installed path ending in it."""
    result = "see debian/copyright"
    if not stanzas:
        return "GPL-2+ (debian/copyright, free-form)"
    for patterns, licence in stanzas:
        for pattern in patterns:
            if pattern == "*" or fnmatch.fnmatch(installed, pattern) or fnmatch.fnmatch(installed, "*/" + pattern):
                result = licence
    return result


def texture(grey: np.ndarray) -> float:
    """Share of pixels on a visible edge: near 0 for skies, gradients and flat renders, 0.1-0.5 for photos."""
    gx = np.abs(np.diff(grey, axis=1))[:-1, :]
    gy = np.abs(np.diff(grey, axis=0))[:, :-1]
    return float(((gx + gy) > 24).mean())


def looks_like_photo(img: Image.Image) -> bool:
    """Photographs have many colours and texture; drawings, screenshots and diagrams have few colours."""
    small = img.convert("RGB").resize((256, max(1, 256 * img.height // img.width)))
    arr = np.asarray(small)
    quantised = (arr[..., 0] >> 3).astype(np.int32) << 10 | (arr[..., 1] >> 3).astype(np.int32) << 5 | arr[..., 2] >> 3
    colours = len(np.unique(quantised))
    grey = np.asarray(small.convert("L"), dtype=np.int16)
    chroma = np.abs(arr.astype(np.int16) - grey[..., None]).mean()
    # Normal maps are a lilac wash (blue high, red and green near mid-grey).
    normal_map = arr[..., 2].mean() > 180 and abs(arr[..., 0].mean() - 128) < 40 and abs(arr[..., 1].mean() - 128) < 40
    enough_colours = colours >= 250 or (chroma < 4 and len(np.unique(grey)) >= 120)  # colour, or a grey photo
    return enough_colours and not normal_map and texture(grey) >= 0.02


def dhash(img: Image.Image) -> np.ndarray:
    """A 256-bit difference hash of the grey photo: near-equal for the same picture in another size, format,
    colour or quality. Game packages share texture sets (Nexuiz and Red Eclipse both ship `trak5`), and a picture
    twice in the pool would make ground truth wrong, so near-duplicates are kept once."""
    grey = np.asarray(img.convert("L").resize((17, 16), Image.BILINEAR), dtype=np.int16)
    return np.packbits((grey[:, 1:] > grey[:, :-1]).ravel())


def useful_tile(tile: Image.Image) -> bool:
    """A tile worth a reference: not a patch of sky or gradient that no method (nor a seller) would use."""
    grey = np.asarray(tile.convert("L").resize((128, 128)), dtype=np.int16)
    return grey.std() >= 18 and texture(grey) >= 0.04


def shrink(img: Image.Image, side: int = MAX_OUTPUT_SIDE) -> Image.Image:
    scale = side / max(img.size)
    if scale >= 1:
        return img
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)


def on_white(tile: Image.Image, side: int = 800) -> Image.Image:
    """A product-style shot: the tile's central square inside an ellipse, on a white square canvas (as
    `knockoff::edits::product_on_white` does)."""
    inner = side * 7 // 10
    crop = min(tile.size)
    square = tile.crop(((tile.width - crop) // 2, (tile.height - crop) // 2, (tile.width + crop) // 2,
                        (tile.height + crop) // 2)).resize((inner, inner), Image.LANCZOS)
    yy, xx = np.mgrid[0:inner, 0:inner].astype(np.float32) + 0.5
    r = inner / 2
    mask = ((xx - r) ** 2 + ((yy - r) / 0.8) ** 2) <= r * r
    out = Image.new("RGB", (side, side), "white")
    out.paste(square, ((side - inner) // 2, (side - inner) // 2), Image.fromarray((mask * 255).astype(np.uint8)))
    return out


def candidates(root: Path, patterns: list[str]) -> list[Path]:
    files = set()
    for pattern in patterns:
        for path in root.glob(pattern):
            rel = str(path.relative_to(root))
            if (
                path.is_file()
                and path.suffix.lower() in PHOTO_EXTENSIONS
                and not fnmatch.fnmatch(rel, "*_dark*")
                and not NOT_PICTURES.search(path.name)
            ):
                files.add(path)
    return sorted(files)


def source_key(package: str, rel: str) -> str:
    """Files that are one photo in several sizes (Plasma's contents/images/WxH.*) share a key."""
    if package == "plasma-workspace-wallpapers":
        return f"{package}/{rel.split('/')[3]}"
    return f"{package}/{rel}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="target/benchmark", type=Path)
    parser.add_argument("--tile", default=480, type=int, help="smallest tile side in source pixels (default 480)")
    args = parser.parse_args()
    out: Path = args.out
    rows = []

    def save(img: Image.Image, rel: str, role: str, meta: dict) -> None:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        shrink(img).save(path, quality=92)
        rows.append({"path": rel, "role": role, **meta})

    seen = np.zeros((0, 32), np.uint8)  # hashes of the photos kept so far, all packages
    duplicates = 0
    for package, patterns, *options in SOURCES:
        members, label = (options + [("",), ""])[:2] if options else (("",), "")
        entry = f"{package}/{label}" if label else package
        # A package done before (with every package before it unchanged) is read back, not redone: adding a
        # package at the end of SOURCES costs only that package.
        done = out / "done" / f"{entry.replace('/', '-')}.json"
        if done.exists():
            state = json.loads(done.read_text())
            if state["before"] == len(seen):
                rows.extend(state["rows"])
                seen = np.vstack([seen, np.array(state["hashes"], np.uint8).reshape(-1, 32)])
                duplicates += state["duplicates"]
                print(f"{package}: {state['photos']} photos (done before)", file=sys.stderr)
                continue
        before, first_row, before_duplicates = len(seen), len(rows), duplicates
        root, version = fetch(package, out / "debs", out / "x", members)
        stanzas = licences(root)
        # One file per source photo: the largest of its sizes.
        best: dict[str, tuple[int, Path]] = {}
        for path in candidates(root, patterns):
            try:
                with Image.open(path) as img:
                    w, h = img.size
            except Exception:
                continue
            if min(w, h) < MIN_SIDE:
                continue
            key = source_key(package, str(path.relative_to(root)))
            if key not in best or w * h > best[key][0]:
                best[key] = (w * h, path)
        kept = 0
        for key in sorted(best):
            path = best[key][1]
            try:
                with Image.open(path) as img:
                    img.load()
                    cut_out = img.mode in ("RGBA", "LA", "P") and "transparency" in img.info or img.mode in ("RGBA", "LA")
                    rgba = img.convert("RGBA")
                    photo = Image.new("RGB", img.size, "white")
                    photo.paste(rgba, (0, 0), rgba)  # transparency flattened onto white, as knockoff decodes it
            except Exception as e:  # a broken file in a package is skipped, not fatal
                print(f"skip {path}: {e}", file=sys.stderr)
                continue
            if not looks_like_photo(photo):
                continue
            h = dhash(photo)
            if len(seen) and np.unpackbits(seen ^ h, axis=1).sum(axis=1).min() <= 24:
                duplicates += 1
                continue
            seen = np.vstack([seen, h])
            kept += 1
            stem = re.sub(r"[^A-Za-z0-9._-]", "_", key.split("/", 1)[1].rsplit(".", 1)[0])
            original = str(path.relative_to(root))
            meta = {"package": package, "version": version, "original": original,
                    "licence": licence_of(stanzas, original), "source": key,
                    "kind": "painted" if entry in PAINTED else "photo"}
            held_out = digest(key) % HELD_OUT_EVERY == 0
            # Cut-outs are already product shots on white: one reference each, never tiled nor re-framed.
            white = not held_out and not cut_out and digest("white:" + key) % WHITE_EVERY == 0
            if held_out and not cut_out:
                save(photo, f"heldout/photos/{package}/{stem}.jpg", "background", meta)
            cols, rows_n = max(1, photo.width // args.tile), max(1, photo.height // args.tile)
            if cut_out:
                cols, rows_n = 1, 1
            tw, th = photo.width // cols, photo.height // rows_n
            for r in range(rows_n):
                for c in range(cols):
                    tile = photo.crop((c * tw, r * th, (c + 1) * tw, (r + 1) * th))
                    if not cut_out and not useful_tile(tile):
                        continue
                    name = f"{package}/{stem}-r{r}c{c}"
                    if held_out:
                        save(tile, f"heldout/tiles/{name}.jpg", "heldout", meta)
                    elif cols * rows_n > 1 and digest(f"neighbour:{name}") % NEIGHBOUR_EVERY == 0:
                        save(tile, f"heldout/neighbours/{name}.jpg", "neighbour", meta)
                    elif white:
                        save(on_white(tile), f"catalog/{name}-white.jpg", "catalog", meta)
                    else:
                        save(tile, f"catalog/{name}.jpg", "catalog", meta)
        print(f"{package} {version}: {kept} photos", file=sys.stderr)
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps({"before": before, "rows": rows[first_row:], "hashes": seen[before:].tolist(),
                                    "duplicates": duplicates - before_duplicates, "photos": kept}))

    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["path", "role", "package", "version", "original", "licence", "source", "kind"])
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["path"]))
    counts = {}
    for row in rows:
        counts[row["role"]] = counts.get(row["role"], 0) + 1
    print(f"wrote {out / 'manifest.csv'}: {counts}; {duplicates} near-duplicate photos left out", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
