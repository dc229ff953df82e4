"""What the API serves from: the product store, the live index and the embedder, loaded once."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import Engine

from search.backbones import load_backbone
from search.builds import BuildStore, Manifest
from search.config import Settings
from search.db import utcnow
from search.embed import Embedder, Precision
from search.errors import IncompatibleIndex, IndexNotReady
from search.index import VectorIndex
from search.searcher import Searcher
from search.vectors import from_blob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Live:
    """One consistent snapshot: an index build and the embedder of its backbone."""

    manifest: Manifest
    searcher: Searcher
    embedder: Embedder


class Service:
    """Holds the live snapshot; `reload` swaps in a new one without disturbing requests that
    already took the old one (they finish on it)."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.store = BuildStore(settings.index_dir, keep=settings.index.keep_builds)
        self._live: Live | None = None
        self._lock = threading.Lock()

    def live(self) -> Live:
        """The current snapshot.

        Raises:
            IndexNotReady: no index was loaded (none built yet, or it failed to load).
        """
        live = self._live
        if live is None:
            raise IndexNotReady("no index is loaded: run `facet build`, then reload")
        return live

    @property
    def loaded(self) -> bool:
        return self._live is not None

    def reload(self) -> Manifest:
        """Load the current published build (and its backbone, if it changed) and swap it in."""
        with self._lock:
            build = self.store.load_current()
            previous = self._live
            if previous is not None and previous.manifest.backbone == build.manifest.backbone:
                embedder = previous.embedder
            else:
                embedder = self._embedder(build.manifest)
            self._live = Live(build.manifest, self._searcher(build.index, build.manifest), embedder)
            log.info("serving index %s", build.manifest.build_id)
            return build.manifest

    def apply_change(
        self, added: dict[int, bytes], removed: list[int], *, catalog_revision: int | None
    ) -> Manifest:
        """Make an admin change searchable at once, and durable: a copy of the live index with
        the change is published as a new build, then swapped in. Requests in flight finish on
        the snapshot they started with."""
        with self._lock:
            live = self.live()
            index = live.searcher.index.copy()
            replaced = np.array(sorted({*removed, *added}), dtype=np.int64)
            index.remove(replaced)
            if added:
                ids = np.array(list(added), dtype=np.int64)
                index.add(np.stack([from_blob(blob) for blob in added.values()]), ids)
            manifest = replace(
                live.manifest,
                build_id=self.store.new_build_id(),
                ntotal=index.ntotal,
                catalog_revision=catalog_revision,
                created_at=utcnow().isoformat(),
                derived_from=live.manifest.build_id,
            )
            self.store.publish(index, manifest)
            self._live = Live(manifest, self._searcher(index, manifest), live.embedder)
            return manifest

    def _searcher(self, index: VectorIndex, manifest: Manifest) -> Searcher:
        rerank_factor = self.settings.index.rerank_factor
        return Searcher(self.engine, index, model=manifest.backbone, rerank_factor=rerank_factor)

    def try_load(self) -> None:
        """Load at start-up; without an index the service still starts and answers 503."""
        try:
            self.reload()
        except (IndexNotReady, IncompatibleIndex) as error:
            log.warning("starting without an index: %s", error)

    def _embedder(self, manifest: Manifest) -> Embedder:
        embed = self.settings.embed
        backbone = load_backbone(
            manifest.backbone_name, weights=embed.weights, models_dir=self.settings.models_dir
        )
        if backbone.identity != manifest.backbone:
            raise IncompatibleIndex(
                f"index {manifest.build_id} was built with {manifest.backbone}; the configured "
                f"{backbone.name} weights are {backbone.identity}"
            )
        return Embedder(backbone, precision=Precision(embed.precision), batch_size=embed.batch_size)
