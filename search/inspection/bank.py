"""Memory banks of good patches, and the threshold calibrated on the good photos themselves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from search.inspect_config import InspectSettings
from search.inspection.coreset import greedy_coreset
from search.inspection.scoring import PatchSearch, image_scores


@dataclass(frozen=True)
class Calibration:
    """The good photos' held-out scores and the threshold drawn from them."""

    scores: list[float]
    threshold: float


@dataclass(frozen=True)
class MemoryBank:
    """The patches of a reference's good photos and what is needed to judge a new photo.

    `model` is the backbone identity the patches came from and `references` the sorted SHA-256
    digests of the photos: a bank is valid only for exactly these (see `storage`).
    """

    patches: npt.NDArray[np.float32]  # (bank patches, dim)
    calibration: Calibration
    grid: tuple[int, int]
    model: str
    references: tuple[str, ...]
    recipe: str  # the settings that shaped the bank (see `recipe_of`)

    @property
    def threshold(self) -> float:
        return self.calibration.threshold


def recipe_of(settings: InspectSettings) -> str:
    """The settings a stored bank must have been built with to be reused."""
    return (
        f"coreset={settings.coreset_ratio};max={settings.max_bank_patches};"
        f"folds={settings.calibration_folds};q={settings.threshold_quantile};"
        f"margin={settings.threshold_margin};context={settings.context_cells}"
    )


def subsample(
    photo_patches: npt.NDArray[np.float32], settings: InspectSettings
) -> npt.NDArray[np.float32]:
    """The coreset of some photos' patches: (photos, patches, dim) -> (bank patches, dim)."""
    flat = photo_patches.reshape(-1, photo_patches.shape[-1])
    size = min(max(1, round(settings.coreset_ratio * flat.shape[0])), settings.max_bank_patches)
    return np.ascontiguousarray(flat[greedy_coreset(flat, size)])


def calibrate(
    photo_patches: npt.NDArray[np.float32], grid: tuple[int, int], settings: InspectSettings
) -> Calibration:
    """Score each good photo against a bank built without it (k-fold), and set the threshold.

    A good photo scored against a bank that holds its own patches would score near zero; held
    out, it scores like a new good photo. Folds hold out a fifth (by default) at a time, so
    each score comes from a bank of slightly fewer photos than the real one: the threshold errs
    towards calling photos `ok`.
    """
    count = photo_patches.shape[0]
    folds = min(settings.calibration_folds, count)
    scores = np.zeros(count, dtype=np.float32)
    for fold in range(folds):
        held_out = np.arange(count) % folds == fold
        search = PatchSearch(subsample(photo_patches[~held_out], settings))
        distances = search.distances(photo_patches[held_out])
        scores[held_out] = image_scores(distances, grid, settings.context_cells)
    quantile = float(np.quantile(scores, settings.threshold_quantile))
    threshold = quantile * settings.threshold_margin
    return Calibration([round(float(score), 6) for score in scores], round(threshold, 6))


def build_bank(
    photo_patches: npt.NDArray[np.float32],
    *,
    grid: tuple[int, int],
    model: str,
    references: tuple[str, ...],
    settings: InspectSettings,
) -> MemoryBank:
    """The memory bank of good photos' patches (photos, patches, dim), calibrated."""
    return MemoryBank(
        patches=subsample(photo_patches, settings),
        calibration=calibrate(photo_patches, grid, settings),
        grid=grid,
        model=model,
        references=references,
        recipe=recipe_of(settings),
    )
