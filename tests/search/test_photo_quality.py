"""Photo quality checks: each planted problem on small generated images is found; clean ones
(a textured photo, a packshot on white) are `ok`."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageDraw, ImageFilter

from search.photo_quality import Reason, Verdict, check_photo
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
