"""On-disk lists: written list by list, memory-mapped read-only, changed by writing a new file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from search.faiss_api import faiss
from search.index import VectorIndex
from search.neighbours import TopK, exact_neighbours
from search.ondisk import LISTS_FILE, ArrayLists, PartFile, open_lists, write_lists, write_part
from search.ondisk_index import OnDiskIndex
from tests.search.test_index import embeddings

FACTORIES = ["IVF16,Flat", "IVF16,SQ6"]


def memory_index(factory: str, vectors: np.ndarray, ids: np.ndarray) -> VectorIndex:
    index = VectorIndex.train(vectors, factory=factory)
    index.add(vectors, ids)
    return index


def to_disk(index: VectorIndex, folder: Path) -> OnDiskIndex:
    """The same lists, spilled in two parts and written as an on-disk index."""
    assert index.ivf is not None
    half = VectorIndex(faiss.clone_index(index.index), index.factory, index.trained_size)
    ids = half.ids()
    half.remove(ids[len(ids) // 2 :])
    rest = VectorIndex(faiss.clone_index(index.index), index.factory, index.trained_size)
    rest.remove(ids[: len(ids) // 2])
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for number, piece in enumerate((half, rest)):
        assert piece.ivf is not None
        path = write_part(piece.ivf.invlists, folder / f"part-{number}")
        parts.append(PartFile(path, nlist=index.nlist, code_size=int(index.ivf.code_size)))
    twin = faiss.clone_index(index.index)
    twin.reset()
    path = write_lists(twin, parts, folder, index_file="index.faiss")
    for part in parts:
        part.close()
    return OnDiskIndex(open_lists(path), index.factory, index.trained_size, path=path)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    vectors = embeddings(3000)
    return vectors, np.arange(len(vectors), dtype=np.int64) * 3 + 1


@pytest.mark.parametrize("factory", FACTORIES)
def test_lists_written_from_parts_search_like_the_index_in_memory(
    factory: str, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    vectors, ids = data
    memory = memory_index(factory, vectors, ids)
    disk = to_disk(memory, tmp_path / "build")
    assert disk.on_disk and disk.ntotal == memory.ntotal
    np.testing.assert_array_equal(disk.ids(), memory.ids())
    queries = vectors[:40]
    for nprobe in (1, 4, 16):
        ours, theirs = (
            disk.search(queries, 10, nprobe=nprobe),
            memory.search(queries, 10, nprobe=nprobe),
        )
        np.testing.assert_array_equal(ours.ids, theirs.ids)
        np.testing.assert_allclose(ours.scores, theirs.scores, rtol=1e-6)
    np.testing.assert_allclose(disk.reconstruct(ids[:5]), memory.reconstruct(ids[:5]))
    mapped = [
        line for line in Path("/proc/self/maps").read_text().splitlines() if LISTS_FILE in line
    ]
    assert mapped and all(" r--s " in line for line in mapped)  # read-only, shared


def test_an_on_disk_index_is_never_changed_in_place(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    vectors, ids = data
    disk = to_disk(memory_index("IVF16,Flat", vectors, ids), tmp_path / "build")
    with pytest.raises(TypeError, match="never changed in place"):
        disk.add(vectors[:1], np.array([7], dtype=np.int64))
    with pytest.raises(TypeError, match="never changed in place"):
        disk.remove(ids[:1])
    assert disk.copy().ntotal == disk.ntotal


@pytest.mark.parametrize("factory", FACTORIES)
def test_changes_write_a_new_file_and_match_the_same_changes_in_memory(
    factory: str, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    vectors, ids = data
    memory = memory_index(factory, vectors[:2500], ids[:2500])
    disk = to_disk(memory, tmp_path / "builds" / "b1")
    before = disk.lists_path.read_bytes()
    remove = ids[::7][:300]
    add = ids[2500:]

    def lookup(wanted: np.ndarray) -> np.ndarray:
        found: np.ndarray = vectors[(wanted - 1) // 3]
        return found

    changed, removed = disk.changed(remove, add, lookup, copy=True)
    expected, removed_there = memory.changed(remove, add, lookup, copy=True)
    assert removed == removed_there == len(remove)
    assert changed.on_disk and changed.ntotal == expected.ntotal == 3000 - len(remove)
    np.testing.assert_array_equal(changed.ids(), expected.ids())
    queries = embeddings(30, seed=9)
    got, want = changed.search(queries, 10, nprobe=16), expected.search(queries, 10, nprobe=16)
    np.testing.assert_array_equal(np.sort(got.ids, axis=1), np.sort(want.ids, axis=1))
    assert disk.lists_path.read_bytes() == before and disk.ntotal == 2500  # untouched
    assert isinstance(changed, OnDiskIndex)
    scratch = changed.path.parent
    assert scratch.parent == tmp_path / "builds" and scratch.name.startswith(".scratch-")

    # Publishing links the file; the scratch folder goes with the last index using it.
    published = tmp_path / "builds" / "b2"
    published.mkdir()
    changed.save(str(published / "index.faiss"))
    assert os.path.samefile(published / LISTS_FILE, changed.lists_path)
    del changed
    assert not scratch.exists()
    reopened = OnDiskIndex.load(
        str(published / "index.faiss"), factory=factory, trained_size=2500, nprobe=16
    )
    np.testing.assert_array_equal(reopened.ids(), expected.ids())


def test_reads_go_on_when_the_build_folder_is_pruned(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    vectors, ids = data
    disk = to_disk(memory_index("IVF16,Flat", vectors, ids), tmp_path / "builds" / "old")
    for path in (tmp_path / "builds" / "old").iterdir():
        path.unlink()
    changed, removed = disk.changed(ids[:10], ids[:0], lambda wanted: vectors[:0], copy=True)
    assert removed == 10 and changed.ntotal == len(ids) - 10
    assert disk.search(vectors[:3], 1, nprobe=16).ids[:, 0].tolist() == ids[:3].tolist()


def test_array_lists_read_back_what_was_added(data: tuple[np.ndarray, np.ndarray]) -> None:
    vectors, ids = data
    memory = memory_index("IVF16,Flat", vectors[:500], ids[:500])
    assert memory.ivf is not None
    lists = ArrayLists(memory.ivf.invlists)
    found = np.concatenate([lists.entries(list_no)[1] for list_no in range(memory.nlist)])
    np.testing.assert_array_equal(np.sort(found), ids[:500])


def test_a_running_top_k_over_chunks_is_exact(data: tuple[np.ndarray, np.ndarray]) -> None:
    vectors, ids = data
    queries = embeddings(25, seed=5)
    truth = TopK(queries, 10)
    for start in range(0, len(ids), 170):
        truth.update(vectors[start : start + 170], ids[start : start + 170])
    np.testing.assert_array_equal(truth.ids, exact_neighbours(queries, vectors, ids, 10))
    few = TopK(queries, 10)
    few.update(vectors[:4], ids[:4])
    assert (few.ids[:, 4:] == -1).all() and set(few.ids[0, :4].tolist()) == set(ids[:4].tolist())
