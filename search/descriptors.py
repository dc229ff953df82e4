"""How stored vectors become index vectors: centring per domain, and optional PCA-whitening.

Shopper photos and catalogue packshots are two domains: off the shelf, every photo resembles every
other photo (hands, shelves, daylight) more than it resembles its product's packshot. Subtracting
each domain's own mean vector removes that shared offset, so what is left is what the pictures
show (Grocery set, Lite1: Recall@1 0.32 -> 0.39; docs/index.md#descriptors). The catalogue's mean
comes from the catalogue itself; the photo mean from shopper-style photos (`facet build
--query-photos`, or a fine-tuned model's training photos), else the catalogue's mean is used for
both. Optionally a PCA learned on the centred catalogue rotates (and whitens, and shortens) the
vectors. Stored embeddings stay raw: a transform belongs to one index build, saved beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

# Whitening divides by the square root of each component's variance plus this share of the
# largest one, so components with almost no variance (noise) are not blown up.
WHITEN_REGULARISATION = 1e-2


class Whitening(StrEnum):
    NONE = "none"
    PCA = "pca"  # rotate onto the principal axes (changes nothing unless dimensions are cut)
    WHITEN = "whiten"  # and scale each axis to unit variance


@dataclass(frozen=True)
class DescriptorTransform:
    """A build's map from raw (stored) vectors to index vectors, for each domain."""

    catalogue_mean: FloatArray  # (d,)
    photo_mean: FloatArray  # (d,)
    projection: FloatArray | None = None  # (d_out, d), applied after centring
    photo_mean_source: str = "catalogue"  # where the photo mean came from, for people

    @property
    def in_dim(self) -> int:
        return int(self.catalogue_mean.shape[0])

    @property
    def out_dim(self) -> int:
        return self.in_dim if self.projection is None else int(self.projection.shape[0])

    def catalogue(self, vectors: FloatArray) -> FloatArray:
        """Index vectors of catalogue images (what the index holds; similar-item queries)."""
        return self._apply(vectors, self.catalogue_mean)

    def photos(self, vectors: FloatArray) -> FloatArray:
        """Index vectors of uploaded photos (search queries)."""
        return self._apply(vectors, self.photo_mean)

    def _apply(self, vectors: FloatArray, mean: FloatArray) -> FloatArray:
        centred = np.atleast_2d(np.asarray(vectors, dtype=np.float32)) - mean
        if self.projection is not None:
            centred = centred @ self.projection.T
        norms = np.linalg.norm(centred, axis=1, keepdims=True)
        # A vector equal to the mean has no direction left: it stays zero and matches nothing.
        out: FloatArray = (centred / np.maximum(norms, 1e-12)).astype(np.float32)
        return out

    def save(self, path: Path) -> None:
        arrays: dict[str, npt.NDArray[Any]] = {
            "catalogue_mean": self.catalogue_mean,
            "photo_mean": self.photo_mean,
            "source": np.array(self.photo_mean_source),
        }
        if self.projection is not None:
            arrays["projection"] = self.projection
        with path.open("wb") as handle:
            np.savez(handle, **cast(dict[str, Any], arrays))

    @classmethod
    def load(cls, path: Path) -> DescriptorTransform:
        with np.load(path) as data:
            projection = data["projection"] if "projection" in data else None
            return cls(
                data["catalogue_mean"].astype(np.float32),
                data["photo_mean"].astype(np.float32),
                None if projection is None else projection.astype(np.float32),
                str(data["source"]),
            )


def learn_transform(
    catalogue: FloatArray,
    *,
    photo_mean: FloatArray | None = None,
    photo_mean_source: str = "photos",
    whitening: Whitening = Whitening.NONE,
    dimensions: int | None = None,
) -> DescriptorTransform:
    """Learn a build's transform from its catalogue vectors (and a photo mean, if known).

    Args:
        catalogue: (n, d) raw catalogue vectors.
        photo_mean: (d,) mean raw vector of shopper-style photos; None: use the catalogue's.
        whitening: PCA rotation or whitening learned on the centred catalogue.
        dimensions: keep this many principal components (at most min(n, d)); None keeps all.
    """
    data = np.asarray(catalogue, dtype=np.float64)
    mean = data.mean(axis=0)
    projection = None
    if whitening is not Whitening.NONE or dimensions is not None:
        projection = principal_axes(data - mean, whiten=whitening is Whitening.WHITEN)
        if dimensions is not None:
            projection = projection[:dimensions]
    source = "catalogue" if photo_mean is None else photo_mean_source
    return DescriptorTransform(
        mean.astype(np.float32),
        (mean if photo_mean is None else photo_mean).astype(np.float32),
        None if projection is None else projection.astype(np.float32),
        source,
    )


def principal_axes(
    centred: npt.NDArray[np.float64],
    *,
    whiten: bool,
    regularisation: float = WHITEN_REGULARISATION,
) -> npt.NDArray[np.float64]:
    """(k, d) rows: the principal axes of centred data, largest variance first (k = min(n, d)),
    each divided by its standard deviation when whitening (regularised, see above)."""
    count = max(len(centred) - 1, 1)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    if not whiten:
        return axes
    variance = singular**2 / count
    scale = np.sqrt(variance + regularisation * variance.max())
    result: npt.NDArray[np.float64] = axes / scale[:, None]
    return result


@dataclass(frozen=True)
class DescriptorPlan:
    """What a full index build learns: the settings, and the photo mean if one is known.

    Its `signature` goes into the build's manifest, so a build whose settings or photo mean
    changed is retrained rather than updated under the old transform.
    """

    photo_mean: FloatArray | None = None
    photo_mean_digest: str = ""
    photo_mean_source: str = "photos"
    whitening: Whitening = Whitening.NONE
    dimensions: int | None = None
    query_views: str = "1"  # recorded in the manifest; part of the signature

    @property
    def active(self) -> bool:
        """Whether there is anything to do (centring needs a photo mean; PCA does not)."""
        changes = self.whitening is not Whitening.NONE or self.dimensions is not None
        return self.photo_mean is not None or changes

    @property
    def signature(self) -> str:
        views = "" if self.query_views == "1" else f";views={self.query_views}"
        if not self.active:
            return f"none{views}"
        photos = self.photo_mean_digest if self.photo_mean is not None else "catalogue"
        dims = "all" if self.dimensions is None else str(self.dimensions)
        return f"centred:photos={photos};whitening={self.whitening};dims={dims}{views}"

    def learn(self, catalogue: FloatArray) -> DescriptorTransform | None:
        if not self.active:
            return None
        dims = None if self.dimensions is None else min(self.dimensions, *catalogue.shape)
        return learn_transform(
            catalogue,
            photo_mean=self.photo_mean,
            photo_mean_source=self.photo_mean_source,
            whitening=self.whitening,
            dimensions=dims,
        )
