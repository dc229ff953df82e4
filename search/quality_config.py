"""Photo quality settings (`FACET_QUALITY__...`): the limits of the checks in
`search.photo_quality`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class QualitySettings(BaseModel):
    """Thresholds of the photo checks (`FACET_QUALITY__...`); defaults measured on the Grocery
    Store photos (docs/configuration.md#photo-quality)."""

    # Shorter side in stored pixels: below `fail_min_side` fails, below `warn_min_side` warns.
    fail_min_side: int = Field(default=100, ge=1)
    warn_min_side: int = Field(default=180, ge=1)
    # Variance of the Laplacian of the 224 px grey copy: below these the photo is blurred.
    fail_sharpness: float = Field(default=8.0, ge=0)
    warn_sharpness: float = Field(default=20.0, ge=0)
    # Standard deviation of the grey levels: below `blank_contrast` the photo is blank.
    blank_contrast: float = Field(default=6.0, ge=0)
    warn_contrast: float = Field(default=20.0, ge=0)
    # Over-exposed (a warning: bright packshots come close): more than this share of pixels
    # have a colour burnt out. Under-exposed (a failure): even the brightest 5% are darker.
    overexposed_share: float = Field(default=0.1, ge=0, le=1)
    underexposed_highlights: float = Field(default=60.0, ge=0, le=255)
    # Longer side over shorter side beyond this warns.
    max_aspect: float = Field(default=4.0, ge=1)
    # Measure every decoded catalogue image (off: no checks, no verdicts; for benchmarks).
    checks: bool = True
    # Keep images whose verdict is `fail` out of the index (they are reported either way).
    exclude_failed: bool = False
    # `facet build` counts near-duplicate pairs only up to this many indexed images: counting
    # decodes candidate photos again (about 20 ms an image on 2 cores), too slow to run on every
    # build of a large catalogue; `facet duplicates` always runs.
    build_duplicates_max_images: int = Field(default=20_000, ge=0)
