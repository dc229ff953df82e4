"""What the API serves from: the product store and the live index, opened once per process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from search.backends import build_store
from search.builds import Manifest
from search.config import Settings
from search.errors import FacetError
from search.retune import RetunePolicy
from search.serving import EmbedderOptions, LiveIndex, Snapshot
from search.thumbnails import ThumbnailCache, thumbnail_dir

T = TypeVar("T")
log = logging.getLogger(__name__)

# The routes' name for a snapshot: what one request works with from start to end.
Live = Snapshot


class Service:
    """The settings, the database engine and the live index of one app instance."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.store = build_store(settings, engine)
        self.index = LiveIndex(
            self.store,
            engine,
            ranking=settings.ranking,
            embedder=EmbedderOptions.from_settings(settings),
            # Milvus filters inside its collection: a filter table would be read and never used.
            filters_in_memory=settings.search.filters == "memory"
            and settings.index.backend == "faiss",
            filter_check_s=settings.search.filter_check_s,
            follow_s=settings.api.follow_builds_s,
            retune=RetunePolicy(
                share=settings.index.retune_share,
                target=settings.index.target_recall,
                queries=settings.index.tune_queries,
            ),
        )
        self.thumbnails = ThumbnailCache(
            thumbnail_dir(settings.home), max_bytes=settings.api.thumbnail_cache_mb * 2**20
        )

    def live(self) -> Snapshot:
        """The current snapshot (raises IndexNotReady before an index is loaded)."""
        return self.index.current()

    @property
    def loaded(self) -> bool:
        return self.index.loaded

    def reload(self) -> Manifest:
        return self.index.reload()

    def try_load(self) -> None:
        """Load the live index at start-up, then publish any change that was committed but not
        published (a server killed between the two): verify is clean again without a repair."""
        self.index.try_load()
        if not self.index.loaded:
            return
        try:
            self.write(lambda _live: None)
        except (FacetError, SQLAlchemyError) as error:
            log.warning("could not publish pending changes at start-up: %s", error)

    def write(self, change: Callable[[Snapshot], T], *, skus: Collection[str] = ()) -> T:
        """Apply an admin change (to the products `skus`) to the store and publish it (see
        `LiveIndex.write`)."""
        timeout = self.settings.api.write_timeout_s
        result, _ = self.index.write(change, lock_timeout_s=timeout, skus=skus)
        return result
