"""Photo quality: cheap measurements of a decoded catalogue image, and the verdict on them.

Measured on the pixels `facet build` prepares for the model anyway (a fixed-size square), plus
the stored image's size, so the checks cost well under a millisecond per image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from search.quality_config import QualitySettings

# Sharpness is measured at this size whatever the backbone's input size, so one threshold holds.
GREY_SIZE = 224
# A channel at or above this level is burnt out.
BRIGHT_LEVEL = 247


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


class Reason(StrEnum):
    """Why a photo is not `ok`; the order is the order reports list them in."""

    BLANK = "blank"  # near-uniform: nothing to see
    BLURRED = "blurred"
    SMALL = "small"  # shorter side below the minimum
    OVEREXPOSED = "overexposed"
    UNDEREXPOSED = "underexposed"
    LOW_CONTRAST = "low-contrast"
    ASPECT = "aspect"  # extreme aspect ratio


@dataclass(frozen=True, slots=True)
class Measurements:
    """What one image measured; every check is judged from these alone."""

    shorter_side: int
    aspect: float
    sharpness: float  # variance of the Laplacian
    brightness: float  # mean grey level
    contrast: float  # standard deviation of the grey levels
    highlights: float  # 95th percentile grey level
    colour_clipped: float  # share of pixels with a channel burnt out but not white

    def to_dict(self) -> dict[str, Any]:
        return {key: round(value, 3) for key, value in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class PhotoCheck:
    """One photo's measurements and the verdict on them."""

    measurements: Measurements
    judgement: Judgement


def check_photo(
    pixels: npt.NDArray[np.uint8], width: int, height: int, limits: QualitySettings
) -> PhotoCheck:
    measured = measure(pixels, width, height)
    return PhotoCheck(measured, judge(measured, limits))


def grey_levels(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """An (H, W, 3) RGB image as GREY_SIZE square 8-bit grey levels (ITU-R 601 luma)."""
    grey = Image.fromarray(pixels).convert("L")
    if grey.size != (GREY_SIZE, GREY_SIZE):
        grey = grey.resize((GREY_SIZE, GREY_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(grey)


def percentile_of_levels(levels: npt.NDArray[np.uint8], q: float) -> float:
    """`np.percentile(levels, q)` (linear interpolation), from a histogram: the same value
    without sorting (a tenth of the time; the checks run on every image a build decodes)."""
    ranks = np.cumsum(np.bincount(levels.ravel(), minlength=256))
    position = q / 100 * (int(ranks[-1]) - 1)
    below = int(np.floor(position))
    above = min(below + 1, int(ranks[-1]) - 1)
    low = int(np.searchsorted(ranks, below, side="right"))
    high = int(np.searchsorted(ranks, above, side="right"))
    return low + (high - low) * (position - below)


def measure(pixels: npt.NDArray[np.uint8], width: int, height: int) -> Measurements:
    """Measure a prepared image (`pixels`, RGB) whose stored size is `width` x `height`."""
    levels = grey_levels(pixels)
    grey = levels.astype(np.float32)
    laplacian = (
        grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    )
    highlights = float(percentile_of_levels(levels, 95))
    shorter, longer = sorted((max(width, 1), max(height, 1)))
    return Measurements(
        shorter_side=shorter,
        aspect=longer / shorter,
        sharpness=float(laplacian.var()),
        brightness=float(grey.mean()),
        contrast=float(grey.std()),
        highlights=highlights,
        colour_clipped=colour_clipped(pixels),
    )


def colour_clipped(pixels: npt.NDArray[np.uint8]) -> float:
    """Share of pixels with a channel at the top of its range and another well below it.

    Over-exposure burns colours out a channel at a time (a red apple turns pink-white); the
    white background of a packshot is white in every channel, so it does not count.
    """
    sample = pixels[::2, ::2]
    # Channel by channel: max/min over the strided last axis took 17 times as long.
    red, green, blue = sample[..., 0], sample[..., 1], sample[..., 2]
    top = np.maximum(np.maximum(red, green), blue)
    bottom = np.minimum(np.minimum(red, green), blue)
    return float(np.count_nonzero((top >= BRIGHT_LEVEL) & (bottom < 200))) / top.size


def judge(measured: Measurements, limits: QualitySettings) -> Judgement:
    """The verdict on a measured image, and every reason for it."""
    fails: list[Reason] = []
    warns: list[Reason] = []
    blank = measured.contrast < limits.blank_contrast
    if blank:
        fails.append(Reason.BLANK)
    else:
        # A blank image has no edges either: it is blank, not blurred.
        if measured.sharpness < limits.fail_sharpness:
            fails.append(Reason.BLURRED)
        elif measured.sharpness < limits.warn_sharpness:
            warns.append(Reason.BLURRED)
        if measured.colour_clipped > limits.overexposed_share:
            warns.append(Reason.OVEREXPOSED)
        if measured.highlights < limits.underexposed_highlights:
            fails.append(Reason.UNDEREXPOSED)
        elif measured.contrast < limits.warn_contrast:
            warns.append(Reason.LOW_CONTRAST)
    if measured.shorter_side < limits.fail_min_side:
        fails.append(Reason.SMALL)
    elif measured.shorter_side < limits.warn_min_side:
        warns.append(Reason.SMALL)
    if measured.aspect > limits.max_aspect:
        warns.append(Reason.ASPECT)
    reasons = tuple(sorted({*fails, *warns}, key=list(Reason).index))
    if fails:
        return Judgement(Verdict.FAIL, reasons)
    return Judgement(Verdict.WARN if warns else Verdict.OK, reasons)
