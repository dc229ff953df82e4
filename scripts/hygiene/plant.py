"""Planted problems for the hygiene benchmarks: damaged copies of clean photos, seeded."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

Plant = Callable[[Image.Image, random.Random], Image.Image]


def blur(strength: float) -> Plant:
    """Gaussian blur with a radius of `strength` of the shorter side."""

    def plant(image: Image.Image, rng: random.Random) -> Image.Image:
        radius = strength * min(image.size) * rng.uniform(0.8, 1.2)
        return image.filter(ImageFilter.GaussianBlur(radius))

    return plant


def downscale(image: Image.Image, rng: random.Random) -> Image.Image:
    """Shorter side down to 64-160 px."""
    side = rng.randint(64, 160)
    scale = side / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def overexpose(image: Image.Image, rng: random.Random) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(rng.uniform(2.5, 3.5))


def underexpose(image: Image.Image, rng: random.Random) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(rng.uniform(0.12, 0.25))


def near_blank(image: Image.Image, rng: random.Random) -> Image.Image:
    """One flat colour with faint noise, the size of the photo (a failed export, a placeholder)."""
    colour = tuple(rng.randint(0, 255) for _ in range(3))
    flat = Image.new("RGB", image.size, colour)
    noise = Image.effect_noise(image.size, 3.0).convert("RGB")
    return Image.blend(flat, noise, 0.03)


QUALITY_PLANTS: dict[str, Plant] = {
    "blur-light": blur(0.012),
    "blur-strong": blur(0.03),
    "downscale": downscale,
    "overexposed": overexpose,
    "underexposed": underexpose,
    "blank": near_blank,
}


def jpeg_copy(image: Image.Image, rng: random.Random) -> Image.Image:
    """A near-duplicate: resized to 40-100%, cropped up to 10%, maybe a watermark or border,
    then re-encoded as JPEG at quality 50-90."""
    scale = rng.uniform(0.4, 1.0)
    copy = image.resize(
        (max(8, round(image.width * scale)), max(8, round(image.height * scale))),
        Image.Resampling.BILINEAR,
    )
    crop = rng.uniform(0.0, 0.1)
    left, top = rng.uniform(0, crop) * copy.width, rng.uniform(0, crop) * copy.height
    right = copy.width - (crop * copy.width - left)
    bottom = copy.height - (crop * copy.height - top)
    copy = copy.crop((round(left), round(top), round(right), round(bottom)))
    extra = rng.choice(["none", "watermark", "border", "colour"])
    if extra == "watermark":
        draw = ImageDraw.Draw(copy)
        x, y = rng.uniform(0.05, 0.5) * copy.width, rng.uniform(0.7, 0.85) * copy.height
        draw.text((x, y), "SAMPLE (c) shop", fill=(255, 255, 255))
    elif extra == "border":
        width = max(2, round(0.03 * min(copy.size)))
        framed = Image.new("RGB", (copy.width + 2 * width, copy.height + 2 * width), "white")
        framed.paste(copy, (width, width))
        copy = framed
    elif extra == "colour":
        copy = ImageEnhance.Color(copy).enhance(rng.uniform(0.85, 1.15))
    buffer = io.BytesIO()
    copy.save(buffer, "JPEG", quality=rng.randint(50, 90))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def save_jpeg(image: Image.Image, path: Path, quality: int = 92) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(path, "JPEG", quality=quality)
    return path
