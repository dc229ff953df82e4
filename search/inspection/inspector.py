"""Defect inspection end to end: reference photos -> stored bank -> verdicts and heatmaps."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from search.backbones import Backbone, load_backbone
from search.config import Settings
from search.errors import ImageDecodeError, InvalidReference
from search.inspect_config import InspectSettings
from search.inspection.bank import MemoryBank, build_bank, recipe_of
from search.inspection.heatmap import heatmap, peak
from search.inspection.patches import PatchExtractor
from search.inspection.references import Photo, Reference
from search.inspection.scoring import PatchSearch, image_scores
from search.inspection.storage import bank_folder, load_bank, save_bank

log = logging.getLogger(__name__)


class Verdict(StrEnum):
    OK = "ok"
    SUSPECT = "suspect"  # more anomalous than any good photo was, held out, times the margin


@dataclass(frozen=True)
class Inspection:
    """One photo's judgement: its score, the threshold, the verdict and where it looks wrong."""

    name: str
    score: float
    threshold: float
    verdict: Verdict
    heatmap: npt.NDArray[np.float32]  # (input size, input size) patch distances, smoothed
    peak: tuple[float, float]  # the hottest point, as fractions (x, y) of width and height


@dataclass(frozen=True)
class ReadyBank:
    """A reference's bank, ready to score photos, and whether it was read from disk."""

    label: str
    bank: MemoryBank
    photos: int
    reused: bool
    search: PatchSearch

    @property
    def held_out(self) -> dict[str, float]:
        """Each good photo's (by digest) score against a bank built without it."""
        scores = self.bank.calibration.scores
        return dict(zip(self.bank.references, scores, strict=True))


class Inspector:
    """Builds, stores and reuses reference banks under `root`, and judges photos against them.

    Thread-safe: concurrent requests for the same reference build its bank once.
    """

    def __init__(
        self, backbone: Backbone, settings: InspectSettings, root: Path, *, max_pixels: int
    ) -> None:
        self.extractor = PatchExtractor(backbone)
        self.settings = settings
        self.root = root
        self.max_pixels = max_pixels
        self.grid = self.extractor.grid()
        self._lock = threading.Lock()

    def bank(self, reference: Reference) -> ReadyBank:
        """The reference's stored bank when its photos, model and settings are unchanged; else
        a new one, built and stored.

        Raises:
            InvalidReference: fewer good photos than FACET_INSPECT__MIN_REFERENCES, or one that
                cannot be decoded (a folder's).
        """
        photos = _distinct(reference.photos)
        minimum = self.settings.min_references
        if len(photos) < minimum:
            raise InvalidReference(
                f"{reference.label}: {len(photos)} readable good photo(s), inspection needs at "
                f"least {minimum} (FACET_INSPECT__MIN_REFERENCES)"
            )
        photos = sorted(photos, key=lambda photo: photo.digest)[: self.settings.max_references]
        digests = tuple(photo.digest for photo in photos)
        folder = bank_folder(self.root, reference.label)
        recipe = recipe_of(self.settings)
        model = self.extractor.identity
        with self._lock:
            stored = load_bank(folder, model=model, references=digests, recipe=recipe)
            if stored is not None:
                return ReadyBank(
                    reference.label, stored, len(photos), True, PatchSearch(stored.patches)
                )
            log.info(
                "building the inspection bank of %s from %d photos", reference.label, len(photos)
            )
            try:
                patches = self.extractor.extract([self._prepare(photo) for photo in photos])
            except ImageDecodeError as error:
                raise InvalidReference(f"{reference.label}: a reference photo: {error}") from None
            bank = build_bank(
                patches, grid=self.grid, model=model, references=digests, settings=self.settings
            )
            save_bank(folder, bank)
        return ReadyBank(reference.label, bank, len(photos), False, PatchSearch(bank.patches))

    def inspect(
        self, ready: ReadyBank, photos: list[Photo], *, formats: Collection[str] | None = None
    ) -> list[Inspection]:
        """Score photos against a bank; `formats` limits what they may be (uploads).

        Raises:
            ImageDecodeError: a photo cannot be decoded (its name is in the message).
        """
        return self.judge(ready, photos, self.patch_distances(ready, photos, formats=formats))

    def patch_distances(
        self, ready: ReadyBank, photos: list[Photo], *, formats: Collection[str] | None = None
    ) -> npt.NDArray[np.float32]:
        """Each photo's patches' distances to their nearest good patches: (photos, patches).

        Raises:
            ImageDecodeError: a photo cannot be decoded (its name is in the message).
        """
        arrays = []
        for photo in photos:
            try:
                arrays.append(self._prepare(photo, formats))
            except ImageDecodeError as error:
                raise ImageDecodeError(error.reason, f"{photo.name}: {error}") from None
        return ready.search.distances(self.extractor.extract(arrays))

    def judge(
        self, ready: ReadyBank, photos: list[Photo], distances: npt.NDArray[np.float32]
    ) -> list[Inspection]:
        """The photos' scores, verdicts and heatmaps from their `patch_distances`."""
        scores = image_scores(distances, ready.bank.grid, self.settings.context_cells)
        threshold = ready.bank.threshold
        # One of the good photos themselves gets the score it had held out, as calibrated:
        # against a bank holding its own patches, the coreset's picks sit at distance 0 beside
        # the patches it dropped, a pattern no other photo has.
        held_out = ready.held_out
        results = []
        for photo, patch_distances, score in zip(photos, distances, scores, strict=True):
            score = held_out.get(photo.digest, score)
            heat = heatmap(patch_distances, ready.bank.grid, self.extractor.input_size)
            verdict = Verdict.SUSPECT if score > threshold else Verdict.OK
            results.append(
                Inspection(photo.name, round(float(score), 6), threshold, verdict, heat, peak(heat))
            )
        return results

    def _prepare(
        self, photo: Photo, formats: Collection[str] | None = None
    ) -> npt.NDArray[np.uint8]:
        preprocessing = self.extractor.preprocessing
        return preprocessing.load(photo.data, max_pixels=self.max_pixels, formats=formats).pixels


def _distinct(photos: list[Photo]) -> list[Photo]:
    """One of each photo: the same bytes listed twice are one reference, not two."""
    seen: dict[str, Photo] = {}
    for photo in photos:
        seen.setdefault(photo.digest, photo)
    return list(seen.values())


def open_inspector(settings: Settings) -> Inspector:
    """An inspector with the configured backbone (FACET_EMBED__BACKBONE, __WEIGHTS), storing its
    banks under FACET_HOME/inspection.

    Raises:
        BackboneUnavailable: the backbone cannot be built or has no middle feature maps.
    """
    backbone = load_backbone(
        settings.embed.backbone, weights=settings.embed.weights, models_dir=settings.models_dir
    )
    return Inspector(
        backbone,
        settings.inspect,
        settings.home / "inspection",
        max_pixels=settings.embed.max_image_pixels,
    )
