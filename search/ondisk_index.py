"""A vector index whose inverted lists stay on disk, memory-mapped read-only (search.ondisk).

The process that serves it holds the coarse centroids and maps the lists: its private memory
does not grow with the lists (the kernel pages them in as searches touch them, counted as
file-backed resident memory, and can drop them again). It is never changed in place: removing
and adding (`changed`) write a new lists file in a scratch folder beside the build, which
publishing then links into the new build.
"""

from __future__ import annotations

import os
import shutil
import weakref
from pathlib import Path
from typing import Any

from search.descriptors import DescriptorTransform
from search.faiss_api import faiss
from search.index import IdArray, VectorIndex, VectorLookup, descriptor_path
from search.ondisk import (
    LISTS_FILE,
    ArrayLists,
    FileLists,
    empty_twin,
    open_lists,
    scratch_dir,
    write_lists,
)


class _Files:
    """A lists file held open (reads go on working if the build is pruned meanwhile), and the
    scratch folder it was written in, if any: removed when the last index using it is gone."""

    def __init__(self, lists_path: Path, scratch: Path | None) -> None:
        self.fd = os.open(lists_path, os.O_RDONLY)
        self.scratch = scratch
        weakref.finalize(self, _release, self.fd, scratch)


def _release(fd: int, scratch: Path | None) -> None:
    os.close(fd)
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


class OnDiskIndex(VectorIndex):
    """A VectorIndex over a memory-mapped, read-only lists file."""

    def __init__(
        self,
        index: Any,
        factory: str,
        trained_size: int,
        transform: DescriptorTransform | None = None,
        *,
        path: Path,
        files: _Files | None = None,
        scratch: Path | None = None,
    ) -> None:
        super().__init__(index, factory, trained_size, transform)
        self.path = path  # its index file; LISTS_FILE is beside it
        self._files = files or _Files(path.parent / LISTS_FILE, scratch)

    @property
    def on_disk(self) -> bool:
        return True

    @property
    def lists_path(self) -> Path:
        return self.path.parent / LISTS_FILE

    @classmethod
    def load(cls, path: str, *, factory: str, trained_size: int, nprobe: int) -> OnDiskIndex:
        index_path = Path(path)
        beside = descriptor_path(path)
        transform = DescriptorTransform.load(beside) if beside.is_file() else None
        loaded = cls(open_lists(index_path), factory, trained_size, transform, path=index_path)
        loaded.nprobe = nprobe
        return loaded

    def add(self, vectors: Any, ids: IdArray, *, in_index_space: bool = False) -> None:
        raise TypeError("an on-disk index is never changed in place: use changed()")

    def remove(self, ids: IdArray) -> int:
        raise TypeError("an on-disk index is never changed in place: use changed()")

    def copy(self) -> OnDiskIndex:
        """Another handle on the same lists (which nobody changes): nothing is copied."""
        clone = OnDiskIndex(
            self.index,
            self.factory,
            self.trained_size,
            self.transform,
            path=self.path,
            files=self._files,
        )
        clone.nprobe = self.nprobe
        return clone

    def changed(
        self, remove: IdArray, add: IdArray, vectors_for: VectorLookup, *, copy: bool
    ) -> tuple[VectorIndex, int]:
        """A new on-disk index: these lists less `remove`, plus `add`.

        Writes a whole new lists file (the index's size in disk I/O, but only one list in
        memory at a time) in a scratch folder beside this index's folder; `copy` makes no
        difference, this index is never changed.
        """
        delta = VectorIndex(empty_twin(self.index), self.factory, self.trained_size, self.transform)
        if len(add):
            delta.add(vectors_for(add), add)
        assert delta.ivf is not None
        base = FileLists(_ondisk_lists(self.index), self._files.fd, drop=remove)
        folder = scratch_dir(self.path.parent.parent)
        try:
            twin = empty_twin(self.index)
            index_path = write_lists(
                twin, [base, ArrayLists(delta.ivf.invlists)], folder, index_file=self.path.name
            )
            updated = OnDiskIndex(
                open_lists(index_path),
                self.factory,
                self.trained_size,
                self.transform,
                path=index_path,
                scratch=folder,
            )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        updated.nprobe = self.nprobe
        return updated, base.dropped

    def save(self, path: str) -> None:
        """Write the index file to `path` and put the lists file beside it: a hard link (the
        lists never change, and publishing then costs no copy), or a copy across devices."""
        target = Path(path)
        super().save(path)
        lists = target.parent / LISTS_FILE
        if lists.exists() and lists.samefile(self.lists_path):
            return
        try:
            os.link(self.lists_path, lists)
        except OSError:
            shutil.copyfile(self.lists_path, lists)


def _ondisk_lists(index: Any) -> Any:
    return faiss.downcast_InvertedLists(faiss.extract_index_ivf(index).invlists)
