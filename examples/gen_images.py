#!/usr/bin/env python3
"""Deterministically (re)generate the sample images of the ``shop`` example.

    python3 examples/gen_images.py            # writes examples/shop/src/partials/img/*

Needs Pillow (``pip install pillow``) -- only this generator does; the shop
app itself never imports it.  The output is byte-for-byte reproducible for a
given Pillow/libjpeg/zlib build: fixed RNG seed, no timestamps, no EXIF/ICC.
"""
import math
import os
import random
import sys

try:
    from PIL import Image, ImageDraw, ImageFilter
except ImportError:  # pragma: no cover
    sys.exit("gen_images.py needs Pillow: pip install pillow")

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "shop", "src", "partials", "img")
SEED = 20240501


def hero(path):
    """480x240 'photo': sky-to-sand gradient, a soft sun, hills, film grain."""
    w, h = 480, 240
    rng = random.Random(SEED)
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        t = y / (h - 1)
        for x in range(w):
            s = x / (w - 1)
            # warm sky at the top, cooler towards the horizon, slight diagonal tint
            r = 250 - 70 * t + 20 * s
            g = 190 - 40 * t + 25 * math.sin(s * math.pi)
            b = 120 + 100 * t - 30 * s
            # soft sun
            d = math.hypot(x - 360, y - 70)
            glow = max(0.0, 1.0 - d / 90.0) ** 2
            r += 60 * glow
            g += 50 * glow
            b += 20 * glow
            # two rolling hills
            hill1 = 170 + 18 * math.sin(x / 55.0) + 8 * math.sin(x / 17.0)
            hill2 = 200 + 12 * math.sin(x / 80.0 + 1.3)
            if y > hill1:
                k = min(1.0, (y - hill1) / 60.0)
                r, g, b = 70 + 40 * k, 110 - 20 * k, 60 - 10 * k
            if y > hill2:
                k = min(1.0, (y - hill2) / 40.0)
                r, g, b = 45 + 25 * k, 80 - 15 * k, 45
            n = rng.gauss(0, 6)
            px[x, y] = tuple(max(0, min(255, int(c + n))) for c in (r, g, b))
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    img.save(path, "JPEG", quality=85, optimize=True, progressive=False)


def logo(path):
    """128x128 RGBA: a kiln-ish rounded shape with a flame, transparent background.

    Drawn at 4x and downsampled with LANCZOS for antialiased (partially
    transparent) edges."""
    s = 4
    size = 128 * s
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((14 * s, 30 * s, 114 * s, 116 * s), radius=22 * s, fill=(178, 74, 38, 255))
    d.pieslice((14 * s, 6 * s, 114 * s, 90 * s), 180, 360, fill=(178, 74, 38, 255))
    d.ellipse((40 * s, 56 * s, 88 * s, 104 * s), fill=(40, 24, 20, 255))
    d.polygon([(64 * s, 60 * s), (78 * s, 86 * s), (70 * s, 100 * s), (58 * s, 100 * s),
               (50 * s, 86 * s)], fill=(255, 196, 60, 230))
    d.ellipse((58 * s, 84 * s, 70 * s, 98 * s), fill=(255, 240, 200, 200))
    img = img.resize((128, 128), Image.LANCZOS)
    img.save(path, "PNG", optimize=True)


def icon_cart(path):
    """32x32 RGBA shopping-cart glyph, antialiased, transparent background."""
    s = 8
    size = 32 * s
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    ink = (33, 37, 41, 255)
    d.line([(2 * s, 5 * s), (7 * s, 5 * s), (10 * s, 21 * s), (26 * s, 21 * s)], fill=ink, width=3 * s // 1, joint="curve")
    d.polygon([(8 * s, 8 * s), (29 * s, 8 * s), (27 * s, 17 * s), (10 * s, 17 * s)], fill=ink)
    d.ellipse((9 * s, 23 * s, 14 * s, 28 * s), fill=ink)
    d.ellipse((21 * s, 23 * s, 26 * s, 28 * s), fill=ink)
    img = img.resize((32, 32), Image.LANCZOS)
    img.save(path, "PNG", optimize=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, fn in (("hero.jpg", hero), ("logo.png", logo), ("icon-cart.png", icon_cart)):
        p = os.path.join(OUT, name)
        fn(p)
        print("wrote %s (%d bytes)" % (os.path.relpath(p), os.path.getsize(p)))


if __name__ == "__main__":
    main()
