"""Small generated photos for the hygiene tests: distinct scenes, and copies of them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance


def scene(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like picture: soft colour noise under random shapes, different for each seed."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
    image = Image.fromarray(noise).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
        w, h = rng.integers(10, 80, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((int(x), int(y), int(x + w), int(y + h)), fill=colour)
    return image


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def resized(image: Image.Image, scale: float = 0.4) -> Image.Image:
    size = (round(image.width * scale), round(image.height * scale))
    return image.resize(size, Image.Resampling.BILINEAR)


def cropped(image: Image.Image) -> Image.Image:
    """10% off the left, 5% off the bottom."""
    return image.crop((image.width // 10, 0, image.width, image.height * 19 // 20))


def bordered(image: Image.Image) -> Image.Image:
    framed = Image.new("RGB", (image.width + 16, image.height + 16), "white")
    framed.paste(image, (8, 8))
    return framed


def watermarked(image: Image.Image) -> Image.Image:
    copy = image.copy()
    ImageDraw.Draw(copy).text((20, image.height * 3 // 4), "SAMPLE (c) shop", fill="white")
    return copy


def reused(image: Image.Image, scale: float = 0.4) -> Image.Image:
    """The same picture as another shop would list it: every change at once."""
    return jpeg(bordered(watermarked(cropped(resized(image, scale)))), 60)


def recoloured(image: Image.Image) -> Image.Image:
    return ImageEnhance.Color(image).enhance(1.15)
