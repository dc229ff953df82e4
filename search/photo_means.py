"""Mean vectors of shopper-style photos, per model: what domain centring subtracts from queries.

Kept under FACET_HOME/photo-means/ by model identity (a fine-tuned model's photos describe only
that model's space), written by `facet build --query-photos` and by `facet train` (its extra
photos), read by every index build of that model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PhotoMean:
    vector: FloatArray  # (d,) the mean of the photos' raw (stored-style) vectors
    photos: int  # how many photos it averages
    source: str  # where they came from, for people

    @property
    def digest(self) -> str:
        """A short hash of the vector: builds record it, and retrain when it changes."""
        return hashlib.sha256(self.vector.astype(np.float32).tobytes()).hexdigest()[:12]


def photo_mean_key(backbone_id: str, query_views: str) -> str:
    """Photo means are per model and per query views (the photos are embedded as queries are)."""
    return backbone_id if query_views == "1" else f"{backbone_id}@views={query_views}"


def _paths(folder: Path, key: str) -> tuple[Path, Path]:
    return folder / f"{key}.npy", folder / f"{key}.json"


def save_photo_mean(folder: Path, key: str, mean: PhotoMean) -> None:
    """Write atomically: the vector, then its description (which makes it visible)."""
    folder.mkdir(parents=True, exist_ok=True)
    vector_path, meta_path = _paths(folder, key)
    partial = vector_path.with_name(f".{vector_path.name}.tmp")
    with partial.open("wb") as handle:
        np.save(handle, mean.vector.astype(np.float32))
    partial.replace(vector_path)
    meta = meta_path.with_name(f".{meta_path.name}.tmp")
    info = {"photos": mean.photos, "source": mean.source, "digest": mean.digest}
    meta.write_text(json.dumps(info), encoding="utf-8")
    meta.replace(meta_path)


def load_photo_mean(folder: Path, key: str) -> PhotoMean | None:
    """The model's photo mean, or None if no photos were given for it (or the files disagree)."""
    vector_path, meta_path = _paths(folder, key)
    try:
        info = json.loads(meta_path.read_text(encoding="utf-8"))
        vector = np.load(vector_path).astype(np.float32)
    except (OSError, ValueError):
        return None
    mean = PhotoMean(vector, int(info["photos"]), str(info["source"]))
    return mean if mean.digest == info.get("digest") else None


def mean_of(vectors: FloatArray, source: str) -> PhotoMean:
    """The photo mean of some photos' (L2-normalised) vectors."""
    return PhotoMean(np.asarray(vectors, dtype=np.float32).mean(axis=0), len(vectors), source)
