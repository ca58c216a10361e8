"""Small deterministic PNG and JPEG images for the grown test apps (Pillow; no timestamps, no
metadata): a gradient with a few shapes, so that each image is a real photo-like or icon-like
file that a WebP converter and a browser both accept. Not a tool: imported by asok_app.py and
django_site.py."""

from __future__ import annotations

import io
import random


def image(kind: str, size: tuple[int, int], seed: int) -> bytes:
    """`kind` is "png" (RGBA, rounded mask) or "jpeg" (RGB)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    w, h = size
    c1 = tuple(rng.randrange(256) for _ in range(3))
    c2 = tuple(rng.randrange(256) for _ in range(3))
    mask = Image.linear_gradient("L").resize((w, h))
    img = Image.composite(Image.new("RGB", (w, h), c1), Image.new("RGB", (w, h), c2), mask)
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randint(w // 8 + 1, w // 2 + 2), y0 + rng.randint(h // 8 + 1, h // 2 + 2)
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=fill)
    buf = io.BytesIO()
    if kind == "jpeg":
        img.save(buf, "JPEG", quality=85)
    else:
        img = img.convert("RGBA")
        alpha = Image.new("L", (w, h), 0)
        ImageDraw.Draw(alpha).rounded_rectangle([0, 0, w - 1, h - 1], radius=max(2, w // 6), fill=255)
        img.putalpha(alpha)
        img.save(buf, "PNG", optimize=False)
    return buf.getvalue()
