"""Photo quality checks: each planted problem on small generated images is found; clean ones
(a textured photo, a packshot on white) are `ok`."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw, ImageFilter

from search.photo_quality import (
    BRIGHT_LEVEL,
    Reason,
    Verdict,
    check_photo,
    colour_clipped,
    grey_levels,
    percentile_of_levels,
)
from search.quality_config import QualitySettings

LIMITS = QualitySettings()
SIZE = 224


def photo(seed: int = 0) -> Image.Image:
    """A busy, well exposed scene: random rectangles and ellipses in mid-tones."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (SIZE, SIZE), (120, 110, 100))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y = rng.integers(0, SIZE, 2)
        w, h = rng.integers(8, 60, 2)
        colour = tuple(int(c) for c in rng.integers(30, 220, 3))
        shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
        shape((int(x), int(y), int(x + w), int(y + h)), fill=colour)
    return image


def packshot() -> Image.Image:
    """A product on a white background."""
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((70, 40, 150, 190), fill=(40, 90, 160), outline=(10, 10, 10), width=3)
    draw.text((80, 100), "BRAND", fill=(250, 250, 250))
    return image


def pixels(image: Image.Image) -> npt.NDArray[np.uint8]:
    return np.asarray(image.convert("RGB").resize((SIZE, SIZE)), dtype=np.uint8)


def check(image: Image.Image, width: int = 800, height: int = 800) -> tuple[Verdict, set[str]]:
    result = check_photo(pixels(image), width, height, LIMITS)
    return result.judgement.verdict, {reason.value for reason in result.judgement.reasons}


@pytest.mark.parametrize("make", [photo, packshot])
def test_clean_images_are_ok(make: object) -> None:
    assert check(make()) == (Verdict.OK, set())  # type: ignore[operator]


def test_blur_fails() -> None:
    verdict, reasons = check(photo().filter(ImageFilter.GaussianBlur(6)))
    assert verdict is Verdict.FAIL and Reason.BLURRED in reasons


def test_blank_fails_as_blank_not_blurred() -> None:
    assert check(Image.new("RGB", (SIZE, SIZE), (200, 30, 30))) == (Verdict.FAIL, {"blank"})


def test_small_images_warn_then_fail() -> None:
    assert check(photo(), 150, 150) == (Verdict.WARN, {"small"})
    assert check(photo(), 64, 90) == (Verdict.FAIL, {"small"})


def test_underexposed_fails() -> None:
    dark = Image.eval(photo(), lambda level: level // 4)
    verdict, reasons = check(dark)
    assert verdict is Verdict.FAIL and Reason.UNDEREXPOSED in reasons


def test_overexposed_warns() -> None:
    burnt = Image.eval(photo(), lambda level: min(255, level * 3))
    verdict, reasons = check(burnt)
    assert verdict is Verdict.WARN and Reason.OVEREXPOSED in reasons


def test_extreme_aspect_ratio_warns() -> None:
    assert check(photo(), 2000, 300) == (Verdict.WARN, {"aspect"})


def test_limits_are_settings() -> None:
    strict = QualitySettings(warn_min_side=1000)
    assert check_photo(pixels(photo()), 800, 800, strict).judgement.verdict is Verdict.WARN


def test_the_fast_measurements_equal_the_plain_numpy_ones() -> None:
    # The checks run on every decoded image, so they avoid sorting and strided reductions;
    # the values must stay exactly what the limits were chosen on.
    rng = np.random.default_rng(1338)
    for _ in range(50):
        pixels = (rng.random((224, 224, 3)) ** rng.uniform(0.2, 3) * 255).astype(np.uint8)
        levels = grey_levels(pixels)
        assert percentile_of_levels(levels, 95) == pytest.approx(
            float(np.percentile(levels.astype(np.float32), 95)), abs=1e-4
        )
        sample = pixels[::2, ::2]
        top, bottom = sample.max(axis=2), sample.min(axis=2)
        expected = float(np.mean((top >= BRIGHT_LEVEL) & (bottom < 200)))
        assert colour_clipped(pixels) == pytest.approx(expected, abs=1e-12)
