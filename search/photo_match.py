"""Whether two photos are the same picture: the exact check behind near-duplicate detection.

The backbone's vectors find candidates, but they cannot tell a re-encoded copy from another photo
of the same shelf (copies scored 0.76-0.98 cosine, different photos up to 0.97). Here each photo
becomes a small grey thumbnail with its uniform border trimmed (a frame added or removed), and two
photos match by the best normalised correlation of one thumbnail against crops of the other (crops
of up to 12% on each axis, either way round), so re-encoding, resizing, small crops, borders,
colour changes and small watermarks keep a copy near 1 while different photos stay far below.
Thumbnails are made on the fly for the candidates only: a few milliseconds per image, and nothing
to store or migrate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageChops

from search.decoding import decode_image
from search.errors import ImageDecodeError
from search.files import download_cache_path, file_path, is_url

# The trimmed photo is resampled to BASE x BASE; crops of that are compared at SIDE x SIDE.
BASE = 64
SIDE = 24
# Crop fractions tried at each edge; an edge pair's total is at most the largest step.
STEPS = (0.0, 0.03, 0.06, 0.09, 0.12)
EDGE_PAIRS = tuple((near, far) for near in STEPS for far in STEPS if near + far <= STEPS[-1])
# Grey levels from the corner colour that still count as border (JPEG noise, soft frames).
BORDER_TOLERANCE = 24
# A border is trimmed only while the rest keeps at least this share of each side.
MIN_KEPT = 0.5
DRAFT_SIZE = 256


@dataclass(frozen=True)
class Fingerprint:
    """A photo's whole thumbnail and all its crops, each zero-mean and unit-length."""

    whole: npt.NDArray[np.float32]  # (SIDE * SIDE,)
    crops: npt.NDArray[np.float32]  # (len(EDGE_PAIRS) ** 2, SIDE * SIDE)


def fingerprint(image: Image.Image) -> Fingerprint:
    base = _trimmed(image.convert("L")).resize((BASE, BASE), Image.Resampling.BOX)
    grey = Image.fromarray(np.asarray(base, dtype=np.float32), mode="F")
    crops = [
        _unit(grey.resize((SIDE, SIDE), Image.Resampling.BILINEAR, box=_box(left, top, right, low)))
        for left, right in EDGE_PAIRS
        for top, low in EDGE_PAIRS
    ]
    whole = _unit(grey.resize((SIDE, SIDE), Image.Resampling.BILINEAR))
    return Fingerprint(whole, np.stack(crops))


def match(a: Fingerprint, b: Fingerprint) -> float:
    """The best correlation of one photo with a crop of the other, in [-1, 1]; 1: the same."""
    return max(float((a.crops @ b.whole).max()), float((b.crops @ a.whole).max()))


def read_fingerprint(uri: str, download_cache: Path | None = None) -> Fingerprint | None:
    """The fingerprint of a catalogue image: a local file, or a URL's bytes in the download
    cache (None: not readable here)."""
    try:
        if is_url(uri):
            if download_cache is None:
                return None
            path = download_cache_path(download_cache, uri)
        else:
            path = file_path(uri)
        return fingerprint(decode_image(path, draft_size=DRAFT_SIZE))
    except (ImageDecodeError, OSError, ValueError):
        return None


def _trimmed(grey: Image.Image) -> Image.Image:
    """`grey` without a uniform frame of its corner's colour (a border, or a packshot's white)."""
    corner = grey.getpixel((0, 0))
    plain = Image.new("L", grey.size, corner)
    differs = ImageChops.difference(grey, plain).point(
        lambda level: 255 if level > BORDER_TOLERANCE else 0
    )
    box = differs.getbbox()
    if box is None:
        return grey
    left, top, right, bottom = box
    if right - left < MIN_KEPT * grey.width or bottom - top < MIN_KEPT * grey.height:
        return grey
    return grey.crop(box)


def _box(left: float, top: float, right: float, low: float) -> tuple[float, float, float, float]:
    return (left * BASE, top * BASE, BASE - right * BASE, BASE - low * BASE)


def _unit(image: Image.Image) -> npt.NDArray[np.float32]:
    pixels = np.asarray(image, dtype=np.float32).ravel()
    centred: npt.NDArray[np.float32] = pixels - pixels.mean()
    norm = float(np.linalg.norm(centred))
    return centred / np.float32(norm) if norm > 0 else centred
