"""Small generated "products" for inspection tests: a striped, noisy fruit on white, 128 px."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

SIZE = 128
# The planted scratch: a dark stroke across the product, centred at (65, 50) of 128.
SCRATCH = (50, 40, 80, 60)


def product_png(
    seed: int,
    *,
    scratch: bool = False,
    blotch: bool = False,
    missing: bool = False,
    table: bool = False,
) -> bytes:
    """A good product photo (its noise differs by seed), or one with a planted defect: a
    scratch, a blotch, or a missing quarter (the top right, white showing through). `table`:
    the same product photographed on a wooden table instead of white."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    if table:
        draw.rectangle((0, 0, SIZE, SIZE), fill=(120, 80, 50))
        for column in range(0, SIZE, 5):
            draw.line((column, 0, column + 12, SIZE), fill=(95, 60, 35), width=2)
    draw.ellipse((20, 20, 108, 108), fill=(200, 120, 40))
    for row in range(0, SIZE, 8):
        draw.line((20, row, 108, row), fill=(170, 100, 30), width=2)
    noisy = np.asarray(image).astype(np.int16) + rng.integers(-6, 7, (SIZE, SIZE, 3))
    image = Image.fromarray(noisy.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    if scratch:
        draw.line(SCRATCH, fill=(30, 30, 30), width=3)
    if blotch:
        draw.ellipse((30, 70, 46, 86), fill=(40, 160, 60))
    if missing:
        draw.pieslice((20, 20, 108, 108), -90, 0, fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
