"""Stored image vectors: one row per (backbone identity, image), float32 bytes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, select

from search.errors import IndexNotReady
from search.models import Embedding
from search.neighbours import FloatArray, IdArray


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


class StoreLookup:
    """Full vectors by image id from the product store, for re-ranking compressed results."""

    def __init__(self, engine: Engine, backbone_id: str) -> None:
        self.engine = engine
        self.backbone_id = backbone_id

    def __call__(self, ids: IdArray) -> FloatArray:
        stored_ids, vectors = load_vectors(self.engine, self.backbone_id, [int(i) for i in ids])
        order = np.searchsorted(stored_ids, ids)
        if not len(stored_ids) or not np.array_equal(
            stored_ids[np.minimum(order, len(stored_ids) - 1)], ids
        ):
            raise IndexNotReady(
                "the index holds images without stored vectors: run `facet verify --repair`"
            )
        found: FloatArray = vectors[order]
        return found
