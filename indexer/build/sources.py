"""Where an index build reads its vectors: the product store, a chunk at a time.

A source is picklable, so that shard workers in other processes (or on other machines) can
open it again themselves: the store source travels as its URL, not as an open engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from sqlalchemy import Engine

from search.db import make_engine
from search.index import FloatArray, IdArray
from search.index_sync import catalog_ids, vector_chunks, vectors_of
from search.revisions import vector_revision


class VectorSource(Protocol):
    """The catalogue's vectors, by id: what a build reads, and all it reads."""

    def catalogue(self) -> tuple[IdArray, int]:
        """(the ids that should be searchable, ascending; the vector revision they are as of)."""
        ...

    def vectors(self, ids: IdArray) -> FloatArray:
        """(len(ids), dim) vectors in the order given; zeros for an id whose vector went away
        since `catalogue` (the publish step's sync removes such ids anyway)."""
        ...

    def chunks(
        self, *, after: int, until: int | None, rows: int
    ) -> Iterator[tuple[IdArray, FloatArray]]:
        """The vectors with `after` < id <= `until` (None: no bound), ascending, `rows` at once."""
        ...


class StoreSource:
    """The searchable vectors of one backbone in the product store."""

    def __init__(self, url: str, backbone_id: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.backbone_id = backbone_id
        self._engine = engine

    @classmethod
    def of(cls, engine: Engine, backbone_id: str) -> StoreSource:
        return cls(engine.url.render_as_string(hide_password=False), backbone_id, engine=engine)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "backbone_id": self.backbone_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["backbone_id"])  # type: ignore[misc]

    def catalogue(self) -> tuple[IdArray, int]:
        with self.engine.connect() as connection, connection.begin():
            return catalog_ids(connection, self.backbone_id), vector_revision(connection)

    def vectors(self, ids: IdArray) -> FloatArray:
        with self.engine.connect() as connection:
            return vectors_of(connection, self.backbone_id, ids, missing=0.0)

    def chunks(
        self, *, after: int, until: int | None, rows: int
    ) -> Iterator[tuple[IdArray, FloatArray]]:
        return vector_chunks(self.engine, self.backbone_id, after=after, until=until, rows=rows)
