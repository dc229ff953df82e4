"""Published index builds: each in its own folder with a manifest; `CURRENT` names the live one.

Every process that publishes (`facet build`, `facet rollback`, the API's admin writes) takes one
file lock under the builds folder, and states the build it worked from: CURRENT moves only from
that parent (compare-and-swap), so no publisher silently throws another's build away.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from filelock import FileLock, Timeout

from search.build_folders import STAGING_PREFIX, dead_owner
from search.db import utcnow
from search.durable import fsync_path, write_durably
from search.errors import IncompatibleIndex, IndexNotReady, PublishBusy, StaleBuild, UnknownBuild
from search.index import VectorIndex, descriptor_path
from search.manifest import ExternalIndexes as ExternalIndexes
from search.manifest import Manifest as Manifest
from search.ondisk import LISTS_FILE
from search.ondisk_index import OnDiskIndex

INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
POINTER_FILE = "CURRENT"
LOCK_FILE = ".publish.lock"


@dataclass
class LoadedBuild:
    manifest: Manifest
    index: VectorIndex


class BuildStore:
    """The folder of index builds under FACET_HOME. Publishing is atomic: a crash at any moment
    leaves the previous build current and loadable."""

    def __init__(
        self,
        root: Path,
        *,
        keep: int = 3,
        lock_timeout_s: float = 600.0,
        external: ExternalIndexes | None = None,
    ) -> None:
        """`external`: where the configured backend's builds live, if not in FACET_HOME."""
        self.root = root
        self.external = external
        self.builds = root / "builds"
        self.keep = max(keep, 2)
        self.lock_timeout_s = lock_timeout_s
        # Re-entrant within a thread, exclusive between threads and processes (flock).
        self._lock = FileLock(self.builds / LOCK_FILE)

    @contextmanager
    def locked(self, timeout_s: float | None = None) -> Iterator[None]:
        """Hold the publish lock (shared by every process on this FACET_HOME).

        Raises:
            PublishBusy: another publisher held it for longer than `timeout_s`.
        """
        self.builds.mkdir(parents=True, exist_ok=True)
        wait = self.lock_timeout_s if timeout_s is None else timeout_s
        try:
            self._lock.acquire(timeout=wait)
        except Timeout:
            raise PublishBusy(
                f"another process is publishing an index (waited {wait:g} s); try again"
            ) from None
        try:
            yield
        finally:
            self._lock.release()

    def new_build_id(self) -> str:
        """A build id later than every published one (ids sort in publishing order)."""
        build_id = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        existing = self.build_ids()
        if existing and build_id <= existing[-1]:
            # The clock went back, or two builds in one microsecond: still sort after the newest.
            build_id = existing[-1] + "-1"
        return build_id

    def publish(self, index: VectorIndex, manifest: Manifest, *, parent: str | None) -> Manifest:
        """Write a build and make it current, if CURRENT is still `parent`; prune old builds.

        Takes the publish lock (re-entrant: the caller may hold it already, see `locked`). The
        index is written before the lock is taken; the build id is assigned under it.

        Args:
            index: the vectors to publish.
            manifest: what they are; its `build_id` is replaced.
            parent: the build the caller started from (None: there was none). A publisher that
                replaces whatever is current (a full retrain) passes `self.current_id()` read
                under the lock.

        Returns:
            The manifest as published.

        Raises:
            StaleBuild: CURRENT is no longer `parent`.
        """
        self.builds.mkdir(parents=True, exist_ok=True)
        staging = self.builds / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()
        try:
            index.save(str(staging / INDEX_FILE))
            index_file = staging / INDEX_FILE
            for written in (index_file, descriptor_path(str(index_file)), staging / LISTS_FILE):
                if written.exists():
                    fsync_path(written)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        with self.locked():
            return self._publish_staged(staging, manifest, parent=parent)

    def _publish_staged(self, staging: Path, manifest: Manifest, *, parent: str | None) -> Manifest:
        try:
            current = self.current_id()
            if current != parent:
                raise StaleBuild(
                    f"the live index changed from {parent or 'none'} to {current} while this "
                    "one was being made"
                )
            manifest = replace(manifest, build_id=self.new_build_id())
            write_durably(staging / MANIFEST_FILE, json.dumps(asdict(manifest), indent=2))
            final = self.builds / manifest.build_id
            os.replace(staging, final)  # a build folder exists whole or not at all
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_path(self.builds)
        self._point_to(manifest.build_id)
        self._prune()
        return manifest

    def current_id(self) -> str | None:
        try:
            build_id = (self.root / POINTER_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return build_id or None

    def build_ids(self) -> list[str]:
        """Published builds, oldest first."""
        if not self.builds.is_dir():
            return []
        return sorted(
            p.name for p in self.builds.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def manifest(self, build_id: str) -> Manifest:
        path = self.builds / build_id / MANIFEST_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {field.name for field in fields(Manifest)}
            return Manifest(**{key: value for key, value in data.items() if key in known})
        except (OSError, ValueError, TypeError) as error:
            raise IndexNotReady(f"index build {build_id} is unreadable: {error}") from None

    def load_current(self, *, backbone: str | None = None, dim: int | None = None) -> LoadedBuild:
        """Load the live build, checking it against the backbone in use.

        Raises:
            IndexNotReady: nothing published yet, or the build is unreadable.
            IncompatibleIndex: built from another backbone identity or dimension.
        """
        build_id = self.current_id()
        if build_id is None:
            raise IndexNotReady("no index has been built yet: run `facet build`")
        return self.load(build_id, backbone=backbone, dim=dim)

    def load(
        self, build_id: str, *, backbone: str | None = None, dim: int | None = None
    ) -> LoadedBuild:
        """Load a kept build, live or not (to compare it with the live one, say).

        Raises:
            UnknownBuild: no kept build has this id.
            IndexNotReady: the build is unreadable.
            IncompatibleIndex: built from another backbone identity or dimension.
        """
        kept = self.build_ids()
        if build_id not in kept:  # also keeps a "../x" id inside the builds folder
            raise UnknownBuild(
                f"no index build {build_id!r}: kept builds are {', '.join(kept) or 'none'}"
            )
        manifest = self.manifest(build_id)
        if backbone is not None and manifest.backbone != backbone:
            raise IncompatibleIndex(
                f"index {build_id} was built with {manifest.backbone}, not {backbone}: "
                "run `facet build` with this backbone, or use the index's"
            )
        if dim is not None and manifest.dim != dim:
            raise IncompatibleIndex(f"index {build_id} has dimension {manifest.dim}, not {dim}")
        path = self.builds / build_id / INDEX_FILE
        try:
            loader = OnDiskIndex.load if manifest.lists == "disk" else VectorIndex.load
            if manifest.backend != "faiss":
                index = self._external(manifest).load(manifest)
            else:
                index = loader(
                    str(path),
                    factory=manifest.factory,
                    trained_size=manifest.trained_size,
                    nprobe=manifest.nprobe,
                )
        except (RuntimeError, OSError, ValueError, KeyError) as error:
            raise IndexNotReady(f"index build {build_id} is unreadable: {error}") from None
        if index.dim != manifest.dim:
            raise IncompatibleIndex(
                f"index {build_id}: file has dimension {index.dim}, manifest says {manifest.dim}"
            )
        return LoadedBuild(manifest, index)

    def _external(self, manifest: Manifest) -> ExternalIndexes:
        if self.external is None or self.external.name != manifest.backend:
            raise IncompatibleIndex(
                f"index {manifest.build_id} lives in {manifest.backend}: set "
                f"FACET_INDEX__BACKEND={manifest.backend} to use it"
            )
        return self.external

    def previous_id(self) -> str | None:
        """The build published before the current one (what `rollback` goes back to), if kept.

        Builds that share the current one's collection (updates of a Milvus collection, made in
        place) are passed over: going back to them would change nothing.
        """
        current = self.current_id()
        builds = self.build_ids()
        if current is None or current not in builds:
            return None
        collection = self.manifest(current).collection
        for build_id in reversed(builds[: builds.index(current)]):
            if not collection or self.manifest(build_id).collection != collection:
                return build_id
        return None

    def rollback(self) -> tuple[str, str]:
        """Make the build before the current one current; returns (from, to)."""
        with self.locked():
            current, previous = self.current_id(), self.previous_id()
            if current is None or current not in self.build_ids():
                raise IndexNotReady("no current index to roll back from")
            if previous is None:
                raise IndexNotReady(f"{current} is the oldest build kept: nothing to roll back to")
            self._point_to(previous)
            return current, previous

    def _point_to(self, build_id: str) -> None:
        write_durably(self.root / POINTER_FILE, build_id + "\n")
        if self.external is not None:
            # After CURRENT, which is what Facet reads: a crash in between leaves the alias
            # behind, which the next publish (or `facet verify --repair`) moves on.
            self.external.point_to(self.manifest(build_id))

    def _prune(self) -> None:
        current = self.current_id()
        builds = self.build_ids()
        gone = [b for b in builds[: max(0, len(builds) - self.keep)] if b != current]
        dropped = [self.manifest(b) for b in gone] if self.external is not None else []
        for build_id in gone:
            shutil.rmtree(self.builds / build_id, ignore_errors=True)
        if self.external is not None:
            kept = [self.manifest(b) for b in builds if b not in gone]
            self.external.drop(dropped, kept)
        for stray in self.builds.iterdir():
            # Only the leftovers of dead processes: a live one may be writing its build now, or
            # reading from a scratch folder (search.ondisk).
            if stray.is_dir() and dead_owner(stray.name):
                shutil.rmtree(stray, ignore_errors=True)
