#!/usr/bin/env python3
"""Regenerates testdata/ from scikit-image's bundled sample photos (pip install scikit-image pillow).

Run from the repository root: python3 testdata/make_testdata.py
The outputs are committed; this script records exactly how they were made. Seeded where random.
"""
import io, os, random, struct, zlib
from PIL import Image, ImageDraw, ImageFont, ImageOps, ImageEnhance
import skimage

SRC = os.path.join(os.path.dirname(skimage.__file__), "data")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)))
random.seed(20261128)


def src(name):
    return Image.open(os.path.join(SRC, name))


def save(img, rel, **kw):
    path = os.path.join(OUT, rel)
    img.save(path, **kw)
    print(rel, img.size, os.path.getsize(path))


# --- Authentic references -------------------------------------------------------------------------------------
refs = {
    "astronaut": src("astronaut.png").convert("RGB"),
    "chelsea": src("chelsea.png").convert("RGB"),
    "coffee": src("coffee.png").convert("RGB"),
    "coins": src("coins.png").convert("L"),
    "rocket": src("rocket.jpg").convert("RGB"),
}
for name, img in refs.items():
    save(img, f"refs/{name}.jpg", quality=92)
# A product cut-out on a transparent background, as catalogs ship them.
horse = src("horse.png").convert("RGBA")
save(horse, "refs/horse.png")

# --- Listings: references altered the ways counterfeit sellers alter them -----------------------------------------
coffee, chelsea, astronaut, rocket, coins = (refs[k] for k in ["coffee", "chelsea", "astronaut", "rocket", "coins"])
save(ImageOps.mirror(coffee), "listings/coffee-mirrored.jpg", quality=85)
save(rocket, "listings/rocket-recompressed.jpg", quality=30)
save(chelsea.resize((300, 200), Image.LANCZOS), "listings/chelsea-resized.jpg", quality=85)
save(coffee, "listings/coffee.webp", quality=80)
save(ImageOps.grayscale(chelsea), "listings/chelsea-grey.png")
save(coins.rotate(90, expand=True), "listings/coins-rotated90.jpg", quality=90)
w, h = astronaut.size
save(astronaut.crop((int(w * 0.05), int(h * 0.05), int(w * 0.95), int(h * 0.95))), "listings/astronaut-crop10.jpg", quality=85)
save(coffee.crop((int(600 * 0.25), 0, 600, 400)), "listings/coffee-crop25.jpg", quality=85)
marked = astronaut.copy()
draw = ImageDraw.Draw(marked, "RGBA")
font = ImageFont.load_default(size=36)
draw.text((40, 440), "BEST PRICE  www.deals.example", font=font, fill=(255, 255, 255, 200))
save(marked, "listings/astronaut-watermark.jpg", quality=80)
save(ImageOps.expand(chelsea, border=40, fill="white"), "listings/chelsea-border.jpg", quality=85)
save(ImageEnhance.Brightness(rocket).enhance(1.3), "listings/rocket-brighter.jpg", quality=85)
hsv = coffee.convert("HSV")
hch, s, v = hsv.split()
hch = hch.point(lambda x: (x + 40) % 256)
save(Image.merge("HSV", (hch, s, v)).convert("RGB"), "listings/coffee-hue.jpg", quality=85)
white = Image.new("RGBA", horse.size, "white")
save(Image.alpha_composite(white, horse).convert("RGB"), "listings/horse-on-white.jpg", quality=90)
# Edits whole-image hashes cannot see, which local features find: a 2x2 collage, a copy pasted small onto another
# photo, a free rotation, a heavy crop of a mirrored copy.
brick, grass, gravel = (src(n).convert("RGB") for n in ["brick.png", "grass.png", "gravel.png"])
hw, hh = rocket.width // 2, rocket.height // 2
collage = Image.new("RGB", (2 * hw, 2 * hh), "white")
for i, img in enumerate([brick, rocket, grass, gravel]):
    collage.paste(img.resize((hw, hh), Image.LANCZOS), ((i % 2) * hw, (i // 2) * hh))
save(collage, "listings/rocket-collage.jpg", quality=85)
pasted = gravel.resize((640, 480), Image.LANCZOS)
pasted.paste(chelsea.resize((chelsea.width * 60 // 100, chelsea.height * 60 // 100), Image.LANCZOS), (250, 150))
save(pasted, "listings/chelsea-pasted.jpg", quality=85)
save(astronaut.rotate(10, resample=Image.BICUBIC, fillcolor="white"), "listings/astronaut-rotated10.jpg", quality=85)
w, h = coins.size
crop40 = coins.crop((int(w * 0.1), int(h * 0.2), int(w * 0.7), int(h * 0.8)))
save(ImageOps.mirror(crop40), "listings/coins-crop40-mirrored.jpg", quality=85)
# Unrelated photos, also scikit-image's: none of them is a reference.
save(src("camera.png").convert("RGB"), "listings/unrelated-camera.jpg", quality=85)
save(src("hubble_deep_field.jpg").convert("RGB").resize((500, 436), Image.LANCZOS), "listings/unrelated-hubble.jpg", quality=85)
save(src("ihc.png").convert("RGB"), "listings/unrelated-ihc.jpg", quality=85)
save(src("retina.jpg").convert("RGB").resize((500, 500), Image.LANCZOS), "listings/unrelated-retina.jpg", quality=85)

# --- Hostile files -------------------------------------------------------------------------------------------------
open(os.path.join(OUT, "bad/empty.jpg"), "wb").close()
good = io.BytesIO(); rocket.save(good, "JPEG", quality=90); good = good.getvalue()
open(os.path.join(OUT, "bad/truncated.jpg"), "wb").write(good[: len(good) * 2 // 5])
open(os.path.join(OUT, "bad/not-an-image.jpg"), "w").write("<html><body>404 Not Found</body></html>\n")


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


png = io.BytesIO(); chelsea.save(png, "PNG"); png = bytearray(png.getvalue())
idat = png.find(b"IDAT")
for i in range(idat + 200, idat + 260):  # scramble compressed data inside the first IDAT, CRC left stale
    png[i] ^= 0x5A
open(os.path.join(OUT, "bad/corrupt-chunk.png"), "wb").write(bytes(png))
# A PNG whose header claims 100000 x 100000 RGB pixels (30 GB decoded), with a tiny valid IDAT.
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
open(os.path.join(OUT, "bad/huge-dimensions.png"), "wb").write(bomb)
# A GIF with a header and logical screen but no image frame.
gif = b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0) + b";"
open(os.path.join(OUT, "bad/no-frames.gif"), "wb").write(gif)

# --- Large photos, for the reduced-scale decoding path and the benches ------------------------------------------
os.makedirs(os.path.join(OUT, "large"), exist_ok=True)
for name in ["retina.jpg", "hubble_deep_field.jpg"]:  # copied byte for byte: real camera/telescope JPEGs
    data = open(os.path.join(SRC, name), "rb").read()
    open(os.path.join(OUT, "large", name), "wb").write(data)
    print("large/" + name, len(data))
# A 1600x1200 catalog-style collage of the references at their native resolution (real photo detail, not an
# upscale), the size the decoding benches are specified at.
canvas = Image.new("RGB", (1600, 1200), "white")
for (x, y), name in zip([(0, 0), (512, 0), (1064, 0), (0, 600), (512, 600), (1064, 600)],
                        ["astronaut", "coffee", "rocket", "chelsea", "coins", "astronaut"]):
    img = refs[name].convert("RGB")
    canvas.paste(img.crop((0, 0, min(img.width, 536), min(img.height, 600))), (x, y))
save(canvas, "large/collage-1600x1200.jpg", quality=90)
save(canvas, "large/collage-1600x1200-progressive.jpg", quality=90, progressive=True)

# --- One photo in every format and pixel layout we decode --------------------------------------------------------
os.makedirs(os.path.join(OUT, "formats"), exist_ok=True)
small = chelsea.resize((240, 160), Image.LANCZOS)
save(small, "formats/chelsea.jpg", quality=92)
save(small, "formats/chelsea.gif")
save(small, "formats/chelsea.bmp")
save(small, "formats/chelsea.tiff")
save(small, "formats/chelsea.webp", lossless=True)
save(small.quantize(256), "formats/chelsea-palette.png")
save(small.convert("L"), "formats/chelsea-grey.jpg", quality=92)
save(small.convert("CMYK"), "formats/chelsea-cmyk.jpg", quality=92)
save(small, "formats/chelsea-progressive.jpg", quality=92, progressive=True)
rgba = small.convert("RGBA"); rgba.putalpha(Image.new("L", small.size, 255))
save(rgba, "formats/chelsea-alpha.png")
# Stored a quarter turn counter-clockwise, with EXIF orientation 6 ("rotate 90 clockwise to display").
exif = Image.Exif(); exif[0x0112] = 6
save(small.rotate(90, expand=True), "formats/chelsea-exif6.jpg", quality=92, exif=exif.tobytes())
# 16-bit RGB PNG, written by hand (Pillow writes 16-bit only for grey).
raw = b"".join(b"\0" + b"".join(struct.pack(">HHH", *(c * 257 for c in small.getpixel((x, y))))
                                 for x in range(small.width)) for y in range(small.height))
png16 = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", small.width, small.height, 16, 2, 0, 0, 0))
         + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
open(os.path.join(OUT, "formats/chelsea-16bit.png"), "wb").write(png16)
print("formats/chelsea-16bit.png", len(png16))

# --- Distractors for the accuracy benchmark: photos that copy no reference ------------------------------------
os.makedirs(os.path.join(OUT, "distractors"), exist_ok=True)
for name in ["brick.png", "grass.png", "gravel.png", "cell.png"]:
    save(src(name).convert("RGB"), "distractors/" + name.replace(".png", ".jpg"), quality=85)
