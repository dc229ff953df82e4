"""The live index: the published build, its searcher and the embedder of its backbone.

One place opens a build for querying (the CLI's `facet search`/`similar`/`evaluate` and the API
both come here), checks that the local weights are the ones the build was made with, and applies
single-product changes: under the publish lock, on top of whatever is current, published as a
new build.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from search.backbones import load_backbone
from search.backends import make_searcher, sync_products
from search.build_follower import BuildFollower
from search.builds import BuildStore, LoadedBuild, Manifest
from search.config import Precision, Settings
from search.db import utcnow
from search.devices import resolve_device
from search.embed import Embedder
from search.errors import IncompatibleIndex, IndexNotReady
from search.index import VectorIndex
from search.index_sync import sync_index
from search.live_filters import LiveFilters
from search.ranking import Ranking
from search.reads import catalog_revision
from search.retune import RetunePolicy, Retuner, Tuning
from search.searcher import Searcher
from search.views import parse_views

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    """One consistent view: an index build, its searcher and the embedder of its backbone."""

    manifest: Manifest
    searcher: Searcher
    embedder: Embedder


@dataclass(frozen=True)
class EmbedderOptions:
    """How to make a build's query embedder on this machine."""

    weights: Path | None = None
    models_dir: Path | None = None
    precision: Precision = Precision.AUTO
    batch_size: int = 32
    device: str = "cpu"  # resolved (search.devices.resolve_device)

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbedderOptions:
        """This machine's embedder settings, the device resolved.

        Raises:
            DeviceUnavailable: the configured device does not exist here.
        """
        embed = settings.embed
        device = resolve_device(embed.device)
        return cls(
            weights=embed.weights,
            models_dir=settings.models_dir,
            precision=Precision(embed.precision),
            batch_size=embed.batch_for(device),
            device=device,
        )


def embedder_for(manifest: Manifest, options: EmbedderOptions) -> Embedder:
    """The embedder of the backbone a build was made with.

    Raises:
        IncompatibleIndex: this machine's weights for that backbone are not the build's.
    """
    backbone = load_backbone(
        manifest.backbone_name, weights=options.weights, models_dir=options.models_dir
    )
    if backbone.identity != manifest.backbone:
        raise IncompatibleIndex(
            f"index {manifest.build_id} was built with {manifest.backbone}; this machine's "
            f"{backbone.name} weights are {backbone.identity}"
        )
    return Embedder(
        backbone,
        precision=options.precision,
        batch_size=options.batch_size,
        views=parse_views(manifest.query_views),  # the build's, whatever the settings say now
        device=options.device,
    )


def open_searcher(
    store: BuildStore, engine: Engine, *, ranking: Ranking, build_id: str | None = None
) -> tuple[LoadedBuild, Searcher]:
    """A build (the live one unless `build_id` names another kept one) and a searcher over it
    (no embedder: for look-alikes of stored vectors)."""
    build = store.load_current() if build_id is None else store.load(build_id)
    searcher = make_searcher(
        engine, build.index, backbone_id=build.manifest.backbone, ranking=ranking
    )
    return build, searcher


def open_snapshot(
    store: BuildStore,
    engine: Engine,
    *,
    ranking: Ranking,
    embedder: EmbedderOptions,
    build_id: str | None = None,
) -> Snapshot:
    """A build (the live one unless `build_id` names another kept one), its searcher and the
    embedder of its own backbone."""
    build, searcher = open_searcher(store, engine, ranking=ranking, build_id=build_id)
    return Snapshot(build.manifest, searcher, embedder_for(build.manifest, embedder))


class LiveIndex:
    """Holds the live snapshot for a long-running process.

    `reload` swaps in the current build; requests that already took the old snapshot finish on
    it. `write` applies a change of the product store and publishes it.
    """

    def __init__(
        self,
        store: BuildStore,
        engine: Engine,
        *,
        ranking: Ranking,
        embedder: EmbedderOptions,
        filters_in_memory: bool = False,
        filter_check_s: float = 1.0,
        retune: RetunePolicy | None = None,
        follow_s: float = 0.0,
    ) -> None:
        """`follow_s`: how often to look for a build another process published (0: never;
        search.build_follower)."""
        self.store = store
        self.engine = engine
        self.ranking = ranking
        self.embedder_options = embedder
        self.filters_in_memory = filters_in_memory
        self.filter_check_s = filter_check_s
        self.filters: LiveFilters | None = None
        self.retuner = Retuner(retune or RetunePolicy())
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self.follower = BuildFollower(store, self.reload, every_s=follow_s)

    def current(self) -> Snapshot:
        """The live snapshot.

        Raises:
            IndexNotReady: no index was loaded (none built yet, or it failed to load).
        """
        snapshot = self._snapshot
        self.follower.check(snapshot.manifest.build_id if snapshot is not None else None)
        if snapshot is None:
            raise IndexNotReady("no index is loaded: run `facet build`, then reload")
        return snapshot

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    def reload(self) -> Manifest:
        """Load the current published build (and its backbone, if it changed) and swap it in."""
        with self._lock:
            return self._reload()

    def _reload(self) -> Manifest:
        build = self.store.load_current()
        previous = self._snapshot
        if previous is not None and previous.manifest.backbone == build.manifest.backbone:
            embedder = previous.embedder
        else:
            embedder = embedder_for(build.manifest, self.embedder_options)
        if self.filters_in_memory:
            # A new build may make other images searchable: the table is read whole again.
            if self.filters is None:
                self.filters = LiveFilters(self.engine, check_every_s=self.filter_check_s)
            else:
                self.filters.reload()
        searcher = self._searcher(build.index, build.manifest)
        self._snapshot = Snapshot(build.manifest, searcher, embedder)
        self.retuner.loaded(build.manifest.nprobe, build.manifest.recall_at_10)
        log.info("serving index %s", build.manifest.build_id)
        return build.manifest

    def write(
        self,
        change: Callable[[Snapshot], T],
        *,
        lock_timeout_s: float,
        skus: Collection[str] = (),
    ) -> tuple[T, Manifest]:
        """Apply a change to the product store and make it searchable, durably.

        Under the publish lock: the snapshot is first brought up to the current build (another
        process may have published), `change` runs with it (and commits), then a copy of the
        index learns every stored change since its revision (this one, and any earlier one
        whose publishing failed) and is published as a new build and swapped in.

        Args:
            change: writes the store; gets the snapshot whose embedder it must use.
            lock_timeout_s: how long to wait for another publisher.
            skus: the products `change` writes, read again into the filter table.

        Raises:
            PublishBusy: another process held the publish lock too long.
        """
        with self._lock, self.store.locked(lock_timeout_s):
            if self._snapshot is None or self.store.current_id() != (
                self._snapshot.manifest.build_id
            ):
                self._reload()
            live = self.current()
            result = change(live)
            if self.filters is not None:
                self.filters.products_changed(skus)
            # A collection holding product fields (Milvus) takes the changed ones now.
            sync_products(live.searcher.index, skus)
            index, delta = sync_index(
                self.engine,
                live.searcher.index,
                backbone_id=live.manifest.backbone,
                since=live.manifest.vector_revision,
                copy=True,  # requests in flight go on searching the live index
            )
            if delta.empty:
                return result, live.manifest
            with self.engine.connect() as connection:
                catalog = catalog_revision(connection)
            manifest = self.store.publish(
                index,
                replace(
                    live.manifest,
                    build_id="",
                    ntotal=index.ntotal,
                    catalog_revision=catalog,
                    created_at=utcnow().isoformat(),
                    derived_from=live.manifest.build_id,
                    vector_revision=delta.revision,
                    **self._tuned(),
                ),
                parent=live.manifest.build_id,
            )
            if index.on_disk:  # serve the published files, not the scratch ones behind them
                index = self.store.load(manifest.build_id).index
            searcher = self._searcher(index, manifest)
            self._snapshot = Snapshot(manifest, searcher, live.embedder)
            self.retuner.note(delta.added + delta.removed, index, searcher.lookup, self._apply)
            return result, manifest

    def _tuned(self) -> dict[str, Any]:
        """The nprobe and recall a re-tune measured, for the next published build."""
        tuning = self.retuner.tuning
        if tuning is None or not tuning.queries:
            return {}
        return {"nprobe": tuning.nprobe, "recall_at_10": tuning.recall_at_10}

    def _apply(self, tuning: Tuning) -> None:
        """A re-tune finished: the live index (perhaps newer than the one tuned) takes it."""
        snapshot = self._snapshot
        if snapshot is not None:
            snapshot.searcher.index.nprobe = tuning.nprobe

    def _searcher(self, index: VectorIndex, manifest: Manifest) -> Searcher:
        return make_searcher(
            self.engine,
            index,
            backbone_id=manifest.backbone,
            ranking=self.ranking,
            filters=self.filters,
        )

    def try_load(self) -> None:
        """Load at start-up; without an index the service still starts and answers 503."""
        try:
            self.reload()
        except (IndexNotReady, IncompatibleIndex) as error:
            log.warning("starting without an index: %s", error)
