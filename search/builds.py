"""Published index builds: each in its own folder with a manifest; `CURRENT` names the live one."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from search.db import utcnow
from search.errors import IncompatibleIndex, IndexNotReady
from search.index import VectorIndex

INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
POINTER_FILE = "CURRENT"


@dataclass(frozen=True)
class Manifest:
    """What a build holds and how it was made."""

    build_id: str
    backbone: str  # backbone identity: name plus weights hash
    backbone_name: str
    dim: int
    metric: str
    factory: str
    nlist: int
    nprobe: int
    ntotal: int
    trained_size: int  # vectors the lists were trained for
    recall_at_10: float  # measured at nprobe against exact search
    catalog_revision: int | None
    created_at: str  # ISO 8601, UTC
    derived_from: str | None  # the build this one updated incrementally, if any


@dataclass
class LoadedBuild:
    manifest: Manifest
    index: VectorIndex


class BuildStore:
    """The folder of index builds under FACET_HOME. Publishing is atomic: a crash at any moment
    leaves the previous build current and loadable."""

    def __init__(self, root: Path, *, keep: int = 3) -> None:
        self.root = root
        self.builds = root / "builds"
        self.keep = max(keep, 2)

    def new_build_id(self) -> str:
        return utcnow().strftime("%Y%m%dT%H%M%S%fZ")

    def publish(self, index: VectorIndex, manifest: Manifest) -> Path:
        """Write the build, make it current, then prune old builds."""
        self.builds.mkdir(parents=True, exist_ok=True)
        staging = self.builds / f".staging-{manifest.build_id}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        index.save(str(staging / INDEX_FILE))
        _write_durably(staging / MANIFEST_FILE, json.dumps(asdict(manifest), indent=2))
        _fsync_path(staging / INDEX_FILE)
        final = self.builds / manifest.build_id
        os.replace(staging, final)  # a build folder exists whole or not at all
        self._point_to(manifest.build_id)
        self._prune()
        return final

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
            return Manifest(**json.loads(path.read_text(encoding="utf-8")))
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
            index = VectorIndex.load(
                str(path),
                factory=manifest.factory,
                trained_size=manifest.trained_size,
                nprobe=manifest.nprobe,
            )
        except RuntimeError as error:
            raise IndexNotReady(f"index build {build_id} is unreadable: {error}") from None
        if index.dim != manifest.dim:
            raise IncompatibleIndex(
                f"index {build_id}: file has dimension {index.dim}, manifest says {manifest.dim}"
            )
        return LoadedBuild(manifest, index)

    def rollback(self) -> tuple[str, str]:
        """Make the build before the current one current; returns (from, to)."""
        current = self.current_id()
        builds = self.build_ids()
        if current is None or current not in builds:
            raise IndexNotReady("no current index to roll back from")
        position = builds.index(current)
        if position == 0:
            raise IndexNotReady(f"{current} is the oldest build kept: nothing to roll back to")
        previous = builds[position - 1]
        self._point_to(previous)
        return current, previous

    def _point_to(self, build_id: str) -> None:
        _write_durably(self.root / POINTER_FILE, build_id + "\n")

    def _prune(self) -> None:
        current = self.current_id()
        builds = self.build_ids()
        for build_id in builds[: max(0, len(builds) - self.keep)]:
            if build_id != current:
                shutil.rmtree(self.builds / build_id, ignore_errors=True)
        for stray in self.builds.glob(".staging-*"):
            if stray.is_dir():
                shutil.rmtree(stray, ignore_errors=True)


def _write_durably(path: Path, text: str) -> None:
    """Write a small file atomically: to a temporary name, fsync, then rename over the target."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_path(path.parent)


def _fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
