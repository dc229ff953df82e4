"""Decoding images the same way for the catalogue and for uploads: oriented, RGB, size-checked."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from search.errors import ImageDecodeError

# Pillow's own default bomb threshold is ~89 megapixels; Facet's is a setting, checked first.
DEFAULT_MAX_PIXELS = 50_000_000
WHITE = (255, 255, 255)


def decode_image(
    source: bytes | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, draft_size: int | None = None
) -> Image.Image:
    """Decode an image file into an upright 8-bit RGB image (see `decode_image_with_size`)."""
    image, _, _ = decode_image_with_size(source, max_pixels=max_pixels, draft_size=draft_size)
    return image


def decode_image_with_size(
    source: bytes | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, draft_size: int | None = None
) -> tuple[Image.Image, int, int]:
    """Decode an image file into an upright 8-bit RGB image, and give its stored size.

    Args:
        source: the encoded bytes, or a path to them.
        max_pixels: larger images are refused before their pixels are decoded.
        draft_size: the caller only needs at least this many pixels on the shorter side; JPEGs
            are then decoded at a reduced scale (a power of two), which is several times faster.

    Returns:
        The image in mode RGB, rotated by its EXIF orientation, transparency composited on white
        (smaller than stored when `draft_size` allowed it), and the stored width and height.

    Raises:
        ImageDecodeError: empty, not an image, truncated or corrupt, or more than `max_pixels`.
            Its `reason` is one of "empty", "not-an-image", "too-large", "corrupt".
    """
    data = source.read_bytes() if isinstance(source, Path) else source
    if not data:
        raise ImageDecodeError("empty", "zero-byte file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            width, height = opened.size
            if width * height > max_pixels:
                raise ImageDecodeError(
                    "too-large", f"{width}x{height} is more than {max_pixels:,} pixels"
                )
            if draft_size is not None and opened.format == "JPEG":
                # Keeps both sides >= draft_size (never less than the model needs).
                opened.draft("RGB", (draft_size, draft_size))
            opened.load()
            return to_rgb(ImageOps.exif_transpose(opened)), width, height
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError("not-an-image", "not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageDecodeError("too-large", str(error)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageDecodeError("corrupt", f"cannot decode image: {error}") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparent pixels become white, 16-bit is scaled down."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # Pillow's convert() clips 16-bit values at 255 instead of scaling them.
        array = np.asarray(image, dtype=np.float64)
        sixteen_bit = image.mode.startswith("I;16") or array.max(initial=0) > 255
        top = 65535.0 if sixteen_bit else 255.0
        grey = np.clip(array * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    # CMYK, YCbCr, LAB, HSV, L, 1 and P without transparency: Pillow converts these well.
    return image.convert("RGB")
