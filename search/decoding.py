"""Decoding images the same way for the catalogue and for uploads: oriented, RGB, size-checked.

Memory stays proportional to the stored pixels, never more: the size is checked before any pixel
is decoded, JPEGs are decoded at a reduced scale, other formats are reduced right after decoding
(before any mode conversion), animated images give their first frame only, and 16-bit images
are scaled to 8 bits through a lookup table instead of floating-point copies.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from search.errors import ImageDecodeError

# Pillow's own default bomb threshold is ~89 megapixels; Facet's is a setting, checked first.
DEFAULT_MAX_PIXELS = 50_000_000
WHITE = (255, 255, 255)
# What uploads may be: sniffed from the bytes, whatever the declared type says.
UPLOAD_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF"})
# Signatures of the allowed formats and of other common images (named in the refusal).
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG2000"),
    (b"\xff\x4f\xff\x51", "JPEG2000"),
    (b"%PDF", "PDF"),
    (b"qoif", "QOI"),
    (b"DDS ", "DDS"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
)
PNM_MAGIC = tuple(f"P{digit}".encode() for digit in "123456")
# Rows converted at a time by to_grey: about this many pixels.
BAND_PIXELS = 1 << 18
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
# Modes Pillow's `Image.reduce` averages correctly (palettes and bilevel images are not).
REDUCIBLE_MODES = frozenset({"L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "I"})
# value * 255 // 65535 for every 16-bit value: scaled down like before, without float copies.
SCALE_16_TO_8 = (np.arange(65536, dtype=np.uint32) * 255 // 65535).astype(np.uint8)
# EXIF orientation -> the transpositions that make the image upright (as ImageOps does).
ORIENTATIONS: dict[int, tuple[Image.Transpose, ...]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def sniff_format(data: bytes) -> str | None:
    """The image format named by the file's first bytes (Pillow's format names), if known."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for signature, name in SIGNATURES:
        if data.startswith(signature):
            return name
    if data[:2] in PNM_MAGIC:
        return "PPM"
    return None


def decode_image(
    source: bytes | Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
    formats: Collection[str] | None = None,
) -> Image.Image:
    """Decode an image file into an upright 8-bit RGB image (see `decode_image_with_size`)."""
    image, _, _ = decode_image_with_size(
        source, max_pixels=max_pixels, draft_size=draft_size, formats=formats
    )
    return image


def decode_image_with_size(
    source: bytes | Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: int | None = None,
    formats: Collection[str] | None = None,
) -> tuple[Image.Image, int, int]:
    """Decode an image file into an upright 8-bit RGB image, and give its stored size.

    Args:
        source: the encoded bytes, or a path to them.
        max_pixels: larger images are refused before their pixels are decoded.
        draft_size: the caller only needs at least this many pixels on the shorter side; larger
            images are decoded (JPEG) or reduced right after decoding (others) by an integer
            factor that keeps the shorter side at least this long.
        formats: the only formats accepted (Pillow's names, e.g. `UPLOAD_FORMATS`), sniffed from
            the bytes; None accepts every format Pillow reads.

    Returns:
        The image in mode RGB (the first frame of an animation), rotated by its EXIF
        orientation, transparency composited on white (smaller than stored when `draft_size`
        allowed it), and the stored width and height.

    Raises:
        ImageDecodeError: empty, not an image, a format outside `formats`, truncated or corrupt,
            or more than `max_pixels`. Its `reason` is one of "empty", "not-an-image",
            "unsupported-format", "too-large", "corrupt".
    """
    data = source.read_bytes() if isinstance(source, Path) else source
    if not data:
        raise ImageDecodeError("empty", "zero-byte file")
    allowed = None
    if formats is not None:
        sniffed = sniff_format(data)
        if sniffed is None:
            raise ImageDecodeError("not-an-image", "not a recognised image format")
        if sniffed not in formats:
            raise ImageDecodeError(
                "unsupported-format", f"{sniffed} is not one of {', '.join(sorted(formats))}"
            )
        # Pillow may only parse the file as the format its bytes claim (no plugin guessing).
        allowed = [sniffed]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data), formats=allowed)
        width, height = opened.size
        if width * height > max_pixels:
            raise ImageDecodeError(
                "too-large", f"{width}x{height} is more than {max_pixels:,} pixels"
            )
        if draft_size is not None and opened.format == "JPEG":
            # Keeps both sides >= draft_size (never less than the model needs).
            opened.draft("RGB", (draft_size, draft_size))
        # Only the current (first) frame is decoded: animations are never walked.
        opened.load()
        orientation = _orientation(opened)
        image: Image.Image = opened
        if draft_size is not None:
            image = reduce_to(image, draft_size)
        return _upright(to_rgb(image), orientation), width, height
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError("not-an-image", "not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageDecodeError("too-large", str(error)) from None
    except MemoryError:
        raise ImageDecodeError("too-large", "not enough memory to decode the image") from None
    except Exception as error:  # noqa: BLE001 - corrupt files raise almost any type in Pillow
        raise ImageDecodeError("corrupt", f"cannot decode image: {error}") from None


def reduce_to(image: Image.Image, shorter_side: int) -> Image.Image:
    """Shrink by the largest integer factor that keeps the shorter side >= `shorter_side`.

    Box averaging, like JPEG's reduced-scale decoding; every later step (mode conversion,
    compositing, the model's resize) then works on the smaller image.
    """
    factor = min(image.size) // max(shorter_side, 1)
    if factor < 2:
        return image
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "F":
        image = to_grey(image)
    elif image.mode not in REDUCIBLE_MODES:
        # Palettes, bilevel and exotic modes: averaging needs real colours first.
        image = to_rgb(image) if "transparency" not in image.info else image.convert("RGBA")
    return image.reduce(factor)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparent pixels become white, 16-bit is scaled down."""
    if image.mode == "RGB":
        return image
    if image.mode in (*SIXTEEN_BIT_MODES, "I", "F"):
        return to_grey(image).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*WHITE, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    # CMYK, YCbCr, LAB, HSV, L, 1 and P without transparency: Pillow converts these well.
    return image.convert("RGB")


def to_grey(image: Image.Image) -> Image.Image:
    """An 8-bit grey ("L") image of a 16-bit, 32-bit integer or float one, scaled not clipped.

    Pillow's convert() clips values at 255 instead of scaling them. The values are converted in
    bands of rows into the 8-bit result, so besides it only one band is ever copied: 16-bit
    values through a lookup table, wider ones clipped and scaled in place.
    """
    if image.mode not in (*SIXTEEN_BIT_MODES, "I", "F"):
        return image.convert("L")
    if image.mode in SIXTEEN_BIT_MODES:
        top = 65535.0
    else:
        extrema = image.getextrema()
        highest = float(extrema[1]) if isinstance(extrema[1], int | float) else 0.0
        top = 65535.0 if not highest <= 255 else 255.0  # NaN counts as 16-bit too

    def scale(band: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
        if band.dtype.kind in "iu":
            # Integers: clipped to the range, then the table (16-bit) or as they are (8-bit).
            clipped: npt.NDArray[Any] = np.clip(band, 0, int(top))
            if top > 255:
                scaled: npt.NDArray[np.uint8] = SCALE_16_TO_8[clipped]
                return scaled
            return clipped.astype(np.uint8)
        # Floats: one band at a time, so the float64 copy stays small.
        values = np.nan_to_num(band.astype(np.float64), nan=0.0, posinf=top, neginf=0.0)
        return np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)

    width, height = image.size
    grey = np.empty((height, width), dtype=np.uint8)
    rows = max(1, BAND_PIXELS // max(width, 1))
    for first in range(0, height, rows):
        last = min(first + rows, height)
        grey[first:last] = scale(np.asarray(image.crop((0, first, width, last))))
    return Image.fromarray(grey)


def _orientation(image: Image.Image) -> int:
    # Read before reduction: reduced copies do not always keep the EXIF block.
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the orientation
        return 1
    return value if isinstance(value, int) else 1


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    for method in ORIENTATIONS.get(orientation, ()):
        image = image.transpose(method)
    return image
