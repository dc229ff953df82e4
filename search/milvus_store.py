"""Milvus collections as the homes of published builds: created, pointed at by the alias, dropped.

`search.builds.BuildStore` keeps the manifests under FACET_HOME as for FAISS; a Milvus build's
manifest names its collection (`<prefix>_<stamp>`), and this store does the Milvus side of
publishing: the alias `<prefix>` follows CURRENT (moved under the publish lock, in one
`alter_alias`), and pruned builds' collections are dropped. Only this module imports pymilvus,
and only when the Milvus backend is configured.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from search.db import utcnow
from search.errors import BackendUnavailable, IndexNotReady
from search.milvus_index import MilvusIndex

if TYPE_CHECKING:
    from search.builds import Manifest

log = logging.getLogger(__name__)
# Long enough for any label a catalogue has (they are String(255) in the store).
TEXT_LENGTH = 1024


def milvus_client(uri: str, token: str | None) -> Any:
    """A pymilvus client: Milvus Lite for a .db file, else a server's.

    Raises:
        BackendUnavailable: pymilvus is not installed, or Milvus cannot be reached.
    """
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise BackendUnavailable(
            "FACET_INDEX__BACKEND=milvus needs pymilvus: pip install 'facet[milvus]'"
        ) from None
    # Milvus Lite cannot say the read timestamp a query iterator asks for; pymilvus warns on
    # every iterator (ids, fields) and falls back to the client's clock, which is right here.
    logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
    if "://" not in uri:
        # Milvus Lite creates its file, not the folder: a new FACET_HOME whose products live in
        # PostgreSQL has nothing that would have made it yet.
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        return MilvusClient(uri=uri, token=token or "")
    except Exception as error:  # pymilvus raises its own and gRPC's errors
        raise BackendUnavailable(f"Milvus at {uri}: {error}") from None


class MilvusStore:
    """The collections of one prefix, on one Milvus."""

    name = "milvus"

    def __init__(
        self, uri: str, *, token: str | None = None, prefix: str = "facet", engine: Engine | None
    ) -> None:
        self.uri = uri
        self.token = token
        self.prefix = prefix
        self.engine = engine

    @cached_property
    def client(self) -> Any:
        return milvus_client(self.uri, self.token)

    def create(self, *, dim: int, nlist: int, trained_size: int) -> MilvusIndex:
        """A new, empty collection for a build (index it with `seal` once filled)."""
        from pymilvus import DataType, MilvusClient

        name = f"{self.prefix}_{utcnow():%Y%m%dT%H%M%S%f}_{secrets.token_hex(2)}"
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("product_id", DataType.INT64)
        for label in ("category", "material", "style"):
            schema.add_field(label, DataType.VARCHAR, max_length=TEXT_LENGTH, nullable=True)
        schema.add_field("price", DataType.DOUBLE, nullable=True)
        schema.add_field("in_stock", DataType.BOOL, nullable=True)
        schema.add_field("attributes", DataType.JSON, nullable=True)
        # Strong: a search sees every write acknowledged before it (admin writes, builds).
        self.client.create_collection(name, schema=schema, consistency_level="Strong")
        return MilvusIndex(
            self.client, name, dim=dim, nlist=nlist, trained_size=trained_size, engine=self.engine
        )

    def load(self, manifest: Manifest) -> MilvusIndex:
        """The collection of a published build, loaded for searching.

        Raises:
            IndexNotReady: the collection is gone (dropped by hand, another Milvus).
        """
        if not self.client.has_collection(manifest.collection):
            raise IndexNotReady(
                f"index build {manifest.build_id}: Milvus collection {manifest.collection} "
                f"is missing at {self.uri}"
            )
        self.client.load_collection(manifest.collection)
        return MilvusIndex(
            self.client,
            manifest.collection,
            dim=manifest.dim,
            nlist=manifest.nlist,
            trained_size=manifest.trained_size,
            nprobe=manifest.nprobe,
            engine=self.engine,
        )

    def alias_target(self) -> str | None:
        """The collection the alias names (None: no alias yet)."""
        if self.prefix not in self.client.list_aliases().get("aliases", []):
            return None
        return str(self.client.describe_alias(self.prefix)["collection_name"])

    def point_to(self, manifest: Manifest) -> None:
        """Move the alias to a build's collection, in one step (a FAISS build: left alone)."""
        if manifest.backend != self.name:
            return
        target = self.alias_target()
        if target is None:
            self.client.create_alias(manifest.collection, self.prefix)
        elif target != manifest.collection:
            self.client.alter_alias(manifest.collection, self.prefix)

    def drop(self, gone: Collection[Manifest], kept: Collection[Manifest]) -> None:
        """Drop the collections of pruned builds that no kept build uses."""
        used = {manifest.collection for manifest in kept}
        for name in {m.collection for m in gone if m.backend == self.name} - used:
            if self.client.has_collection(name):
                self.client.drop_collection(name)
                log.info("dropped Milvus collection %s", name)

    def discard(self, index: MilvusIndex) -> None:
        """Drop the collection of a build that failed before publishing."""
        self.client.drop_collection(index.collection)
