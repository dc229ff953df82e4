"""The defect inspection settings (`FACET_INSPECT__...`): reference banks and their threshold.

Part of `search.config`'s `Settings`; kept free of torch, like the rest of the settings.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator


class InspectSettings(BaseModel):
    """How reference banks of good photos are built and how new photos are judged."""

    # Fewer good photos than this cannot describe "good" (nor calibrate a threshold).
    min_references: int = Field(default=3, ge=2)
    # More are sampled down to this many (by content hash: the same photos every time), which
    # bounds the bank's build time (the greedy coreset is quadratic in the photos).
    max_references: int = Field(default=40, ge=2)
    # Share of the good photos' patches kept in the memory bank (PatchCore keeps 1-10%).
    coreset_ratio: float = Field(default=0.1, gt=0, le=1)
    # Never more patches than this in a bank: the search cost per photo stays bounded.
    max_bank_patches: int = Field(default=20000, ge=100)
    # The threshold is this quantile of the good photos' held-out scores ...
    threshold_quantile: float = Field(default=1.0, gt=0, le=1)
    # ... times this margin: a photo scoring above it is `suspect`.
    threshold_margin: float = Field(default=1.1, gt=0)
    # Held-out folds of the calibration (each scored against a bank of the others).
    calibration_folds: int = Field(default=5, ge=2)
    # A photo's score is how far its worst place (3 x 3 patches) stands out from the patches
    # within this many grid cells around it (3: a 7 x 7 neighbourhood, a quarter of the width
    # on a 28 x 28 grid), so backgrounds no good photo showed stop counting; 0: PatchCore's
    # plain largest patch distance, for photos taken exactly like the good ones (a QC station).
    # 1 would compare a place with itself.
    context_cells: int = Field(default=3, ge=0, le=16)

    @field_validator("context_cells")
    @classmethod
    def _context_is_wider_than_a_place(cls, value: int) -> int:
        if value == 1:
            raise ValueError("must be 0 (off) or at least 2")
        return value
