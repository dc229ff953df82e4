"""Planted defects with their masks: scratches, dents/blotches, missing parts, colour spots.

Each covers 1-5% of the picture (a seeded choice), placed in its central 70% where the product
usually is; the mask marks exactly the pixels changed, for the pixel AUROC.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

KINDS = ("scratch", "blotch", "cutout", "spot")


def plant(
    image: Image.Image, kind: str, rng: np.random.Generator
) -> tuple[Image.Image, npt.NDArray[np.bool_]]:
    """A copy of an RGB image with one defect of `kind`, and its mask (True where changed)."""
    width, height = image.size
    area = rng.uniform(0.01, 0.05) * width * height
    centre = (rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height)
    mask_image = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(mask_image)
    if kind == "scratch":
        _scratch(draw, centre, area, rng, width)
    else:
        ratio = rng.uniform(0.5, 2.0)  # ellipse aspect
        radius_x = float(np.sqrt(area / (np.pi * ratio)))
        radius_y = radius_x * ratio
        x, y = centre
        draw.ellipse((x - radius_x, y - radius_y, x + radius_x, y + radius_y), fill=255)
    mask = np.asarray(mask_image) > 0
    pixels = np.asarray(image, dtype=np.float32).copy()
    if kind == "scratch":
        shade = rng.choice([25.0, 235.0])  # dark or bright stroke
        pixels[mask] = pixels[mask] * 0.2 + shade * 0.8
    elif kind == "blotch":
        # A dent or stain: the surface darkened (or browned) with soft edges.
        soft = np.asarray(mask_image.filter(ImageFilter.GaussianBlur(3)), dtype=np.float32) / 255
        tint = np.array([0.45, 0.35, 0.3]) if rng.random() < 0.5 else np.array([0.5, 0.5, 0.5])
        pixels = pixels * (1 - soft[..., None]) + pixels * tint * soft[..., None]
        mask = soft > 0.05
    elif kind == "cutout":
        # A missing piece: the background (a light grey-white) shows through.
        pixels[mask] = rng.uniform(225, 250)
    else:
        colour = rng.uniform(0, 255, 3)
        colour[rng.integers(3)] = rng.choice([0.0, 255.0])  # saturated, unlike most produce
        pixels[mask] = pixels[mask] * 0.2 + colour * 0.8
    planted = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    return planted, mask


def _scratch(
    draw: ImageDraw.ImageDraw,
    centre: tuple[float, float],
    area: float,
    rng: np.random.Generator,
    width: int,
) -> None:
    """A stroke of 2-4 segments whose length times thickness is about `area`."""
    thickness = int(rng.integers(3, 7))
    length = area / thickness
    segments = int(rng.integers(2, 5))
    x, y = centre
    angle = rng.uniform(0, 2 * np.pi)
    points = [(x, y)]
    for _ in range(segments):
        angle += rng.uniform(-0.6, 0.6)
        step = length / segments
        x = float(np.clip(x + step * np.cos(angle), 2, width - 3))
        y = float(np.clip(y + step * np.sin(angle), 2, width - 3))
        points.append((x, y))
    draw.line(points, fill=255, width=thickness, joint="curve")
