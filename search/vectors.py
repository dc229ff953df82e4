"""Stored image vectors: one row per (backbone identity, image), float32 bytes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, select

from search.models import Embedding


def to_blob(vector: npt.NDArray[np.float32]) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> npt.NDArray[np.float32]:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32, copy=False)


def load_vectors(
    engine: Engine, backbone_id: str, image_ids: list[int] | None = None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The stored vectors of one backbone, by image id.

    Args:
        engine: the product store.
        backbone_id: backbone identity (`Backbone.identity`).
        image_ids: only these images; None for all.

    Returns:
        (ids (n,) int64 ascending, vectors (n, dim) float32).
    """
    query = select(Embedding.image_id, Embedding.vector).where(Embedding.model == backbone_id)
    if image_ids is not None:
        query = query.where(Embedding.image_id.in_(image_ids))
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(Embedding.image_id)).all()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    vectors = np.stack([from_blob(row[1]) for row in rows])
    return ids, vectors
