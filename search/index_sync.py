"""Bringing an index in line with the stored vectors: the one way any change reaches an index.

`facet build` (after embedding), `facet verify --repair` and the API's admin writes all apply
changes the same way: the index learns every change of the stored vectors since the revision it
was built at (`search.revisions`), reading ids and only the vectors it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, select

from search.filters import searchable_images
from search.index import FloatArray, IdArray, VectorIndex
from search.models import Embedding, ProductImage
from search.revisions import vector_revision
from search.vectors import from_blob

# SQLite allows 32,766 bound parameters; stay well below.
ID_CHUNK = 10_000


@dataclass(frozen=True)
class Delta:
    """What one synchronisation did to an index."""

    added: int
    removed: int
    revision: int  # the index now holds every stored vector up to this revision

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed)


def current_embeddings(backbone_id: str, *columns: Any) -> Any:
    """Embeddings of searchable images for `backbone_id`, computed from their current content."""
    return (
        select(*columns)
        .join(ProductImage, ProductImage.id == Embedding.image_id)
        .where(Embedding.model == backbone_id, Embedding.content_hash == ProductImage.content_hash)
        .where(Embedding.image_id.in_(searchable_images().scalar_subquery()))
    )


def catalog_ids(connection: Connection, backbone_id: str) -> IdArray:
    """Ids of the images that should be searchable with `backbone_id`, ascending."""
    query = current_embeddings(backbone_id, Embedding.image_id).order_by(Embedding.image_id)
    return np.asarray(connection.execute(query).scalars().all(), dtype=np.int64)


def changed_since(connection: Connection, backbone_id: str, revision: int | None) -> IdArray:
    """Image ids whose vector for `backbone_id` was stored after `revision` (None: all of them)."""
    query = select(Embedding.image_id).where(Embedding.model == backbone_id)
    if revision is not None:
        query = query.where(Embedding.revision > revision)
    return np.asarray(connection.execute(query).scalars().all(), dtype=np.int64)


def stored_dimensions(connection: Connection, backbone_id: str) -> set[int]:
    """The dimensions of the searchable vectors (one, unless something is badly wrong)."""
    query = current_embeddings(backbone_id, func.length(Embedding.vector)).distinct()
    return {int(length) // 4 for length in connection.execute(query).scalars()}


def catalog_vectors(engine: Engine, backbone_id: str) -> tuple[IdArray, FloatArray, int]:
    """Every searchable vector for `backbone_id`, read in one transaction.

    Returns:
        (image ids ascending, (n, dim) float32 vectors, the vector revision they are as of).
    """
    query = current_embeddings(backbone_id, Embedding.image_id, Embedding.vector).order_by(
        Embedding.image_id
    )
    with engine.connect() as connection, connection.begin():
        revision = vector_revision(connection)
        rows = connection.execute(query).all()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    if not rows:
        return ids, np.zeros((0, 0), dtype=np.float32), revision
    return ids, np.stack([from_blob(row[1]) for row in rows]), revision


def vector_chunks(
    engine: Engine, backbone_id: str, *, after: int = -1, until: int | None = None, rows: int
) -> Iterator[tuple[IdArray, FloatArray]]:
    """The searchable vectors with `after` < image id <= `until`, by ascending id, `rows` at once.

    Keyset pagination, each chunk in a short read transaction of its own: a build never holds
    a snapshot open for minutes (SQLite's WAL could not be checkpointed meanwhile), and it stays
    consistent anyway, because it records the vector revision it read before the first chunk and
    `sync_index` re-applies everything stored after that before publishing.

    Yields:
        (image ids (m,) int64 ascending, (m, dim) float32 vectors), m <= rows.
    """
    # Joins, not `current_embeddings`' IN (searchable images): SQLite would list every
    # searchable image again for each chunk (quadratic: 5 s against 1 s over 400k rows).
    searchable = (
        searchable_images()
        .with_only_columns(Embedding.image_id, Embedding.vector)
        .join(Embedding, Embedding.image_id == ProductImage.id)
        .where(Embedding.model == backbone_id, Embedding.content_hash == ProductImage.content_hash)
    )
    while True:
        query = searchable.where(Embedding.image_id > after)
        if until is not None:
            query = query.where(Embedding.image_id <= until)
        with engine.connect() as connection:
            batch = connection.execute(query.order_by(Embedding.image_id).limit(rows)).all()
        if not batch:
            return
        ids = np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch))
        blobs = bytearray().join(row[1] for row in batch)
        del batch  # one copy of the chunk at a time
        yield (
            ids,
            np.frombuffer(blobs, dtype="<f4").astype(np.float32, copy=False).reshape(len(ids), -1),
        )
        if len(ids) < rows:
            return
        after = int(ids[-1])


def vectors_of(
    connection: Connection, backbone_id: str, ids: IdArray, *, missing: float | None = None
) -> FloatArray:
    """The stored vectors of these image ids, in the order given.

    Args:
        connection: the product store.
        backbone_id: whose vectors.
        ids: which images.
        missing: the value filling the vector of an id without one; None: raise KeyError.
    """
    out: FloatArray | None = None
    for start in range(0, len(ids), ID_CHUNK):
        chunk = [int(i) for i in ids[start : start + ID_CHUNK]]
        query = select(Embedding.image_id, Embedding.vector).where(
            Embedding.model == backbone_id, Embedding.image_id.in_(chunk)
        )
        found: dict[int, bytes] = {image_id: blob for image_id, blob in connection.execute(query)}
        if out is None and found:
            dim = len(next(iter(found.values()))) // 4
            # Rows of earlier chunks can only have been missing ones (else it would exist).
            out = np.full((len(ids), dim), missing or 0.0, dtype=np.float32)
        if out is None:
            if missing is None:
                raise KeyError(chunk[0])
            continue
        for row, image_id in enumerate(chunk, start=start):
            blob = found.get(image_id)
            if blob is None and missing is None:
                raise KeyError(image_id)
            out[row] = missing if blob is None else from_blob(blob)
    if out is None:
        return np.zeros((len(ids), 0), dtype=np.float32)
    return out


def apply_changes(
    index: VectorIndex,
    wanted: IdArray,
    changed: IdArray,
    vectors_for: Callable[[IdArray], FloatArray],
    *,
    copy: bool = False,
) -> tuple[VectorIndex, int, int]:
    """Make the index hold exactly the `wanted` ids, re-adding `changed` ones.

    Args:
        index: the index as it is.
        wanted: the ids it should hold.
        changed: ids whose stored vector changed (re-added where present and wanted).
        vectors_for: the vectors of ids to add, in the order given.
        copy: change a copy of `index`, made only if there is something to change (a live
            index stays untouched, and nothing is copied for nothing).

    Returns:
        (the changed index: `index` itself unless copied, added count, removed count).
    """
    present = index.ids()
    gone = np.setdiff1d(present, wanted)
    stale = np.intersect1d(np.intersect1d(changed, present), wanted)
    new = np.union1d(np.setdiff1d(wanted, present), stale)
    remove = np.union1d(gone, stale)
    if not len(new) and not len(remove):
        return index, 0, 0
    target, removed = index.changed(remove, new, vectors_for, copy=copy)
    return target, int(len(new)), removed


def sync_index(
    engine: Engine, index: VectorIndex, *, backbone_id: str, since: int | None, copy: bool = False
) -> tuple[VectorIndex, Delta]:
    """Apply to `index` every change of `backbone_id`'s stored vectors after `since`.

    Args:
        engine: the product store.
        index: an index holding the searchable vectors as of revision `since`.
        backbone_id: the backbone identity whose vectors the index holds.
        since: the revision the index is at (None: unknown, so every vector is re-added).
        copy: as `apply_changes`: leave `index` as it is and change a copy, if anything changed.

    Returns:
        (the synchronised index: `index` itself unless copied, what changed).
    """
    with engine.connect() as connection, connection.begin():
        revision = vector_revision(connection)
        wanted = catalog_ids(connection, backbone_id)
        changed = changed_since(connection, backbone_id, since)
        synced, added, removed = apply_changes(
            index,
            wanted,
            changed,
            lambda ids: vectors_of(connection, backbone_id, ids),
            copy=copy,
        )
    return synced, Delta(added, removed, revision)
