"""Publishing index builds atomically, loading them safely, rolling back."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from search.builds import BuildStore, Manifest
from search.errors import (
    IncompatibleIndex,
    IndexNotReady,
    PublishBusy,
    StaleBuild,
    UnknownBuild,
)
from search.index import VectorIndex
from search.ondisk import SCRATCH_PREFIX, scratch_dir


def tiny_index(seed: int) -> VectorIndex:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((100, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex.train(vectors, factory="IVF2,Flat")
    index.add(vectors, np.arange(100, dtype=np.int64) + seed * 1000)
    return index


def manifest(store: BuildStore, index: VectorIndex) -> Manifest:
    return Manifest(
        build_id=store.new_build_id(),
        backbone="model-a",
        backbone_name="model",
        dim=8,
        metric="inner_product",
        factory=index.factory,
        nlist=index.nlist,
        nprobe=2,
        ntotal=index.ntotal,
        trained_size=100,
        recall_at_10=1.0,
        catalog_revision=1,
        created_at="2026-11-29T12:00:00",
        derived_from=None,
    )


def publish(store: BuildStore, seed: int) -> str:
    index = tiny_index(seed)
    return store.publish(index, manifest(store, index), parent=store.current_id()).build_id


def test_nothing_published_is_not_ready(tmp_path: Path) -> None:
    with pytest.raises(IndexNotReady, match="facet build"):
        BuildStore(tmp_path).load_current()


def test_publish_then_load(tmp_path: Path) -> None:
    store = BuildStore(tmp_path)
    build_id = publish(store, 1)
    loaded = store.load_current(backbone="model-a", dim=8)
    assert store.current_id() == build_id == loaded.manifest.build_id
    assert loaded.index.ntotal == 100 and loaded.index.nprobe == 2
    assert loaded.index.ids()[0] == 1000


def test_a_manifest_from_another_backbone_or_dimension_is_refused(tmp_path: Path) -> None:
    store = BuildStore(tmp_path)
    publish(store, 1)
    with pytest.raises(IncompatibleIndex, match="built with model-a, not model-b"):
        store.load_current(backbone="model-b")
    with pytest.raises(IncompatibleIndex, match="dimension 8, not 16"):
        store.load_current(dim=16)


def test_a_crash_before_the_switch_leaves_the_previous_build_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BuildStore(tmp_path)
    first = publish(store, 1)
    real_replace = os.replace

    def crash_on_pointer(source: str | Path, target: str | Path) -> None:
        if Path(target).name == "CURRENT":
            raise OSError("killed")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash_on_pointer)
    with pytest.raises(OSError, match="killed"):
        publish(store, 2)
    monkeypatch.undo()
    assert store.current_id() == first
    assert store.load_current().index.ids()[0] == 1000


def test_a_half_written_build_is_ignored_and_cleaned_up(tmp_path: Path) -> None:
    store = BuildStore(tmp_path)
    first = publish(store, 1)
    staging = store.builds / ".staging-20990101T000000000000Z"
    staging.mkdir()
    (staging / "index.faiss").write_bytes(b"half an index")
    assert store.build_ids() == [first]
    assert store.load_current().manifest.build_id == first
    publish(store, 2)
    assert not staging.exists()


def test_a_corrupt_current_build_is_not_ready(tmp_path: Path) -> None:
    store = BuildStore(tmp_path)
    build_id = publish(store, 1)
    (store.builds / build_id / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexNotReady, match="unreadable"):
        store.load_current()


def test_rollback_goes_back_one_build_at_a_time(tmp_path: Path) -> None:
    store = BuildStore(tmp_path, keep=3)
    ids = [publish(store, seed) for seed in (1, 2, 3, 4)]
    assert store.build_ids() == ids[1:]  # the oldest was pruned
    assert store.rollback() == (ids[3], ids[2])
    assert store.load_current().index.ids()[0] == 3000
    assert store.rollback() == (ids[2], ids[1])
    with pytest.raises(IndexNotReady, match="oldest build"):
        store.rollback()


def test_a_kept_build_loads_by_id_and_others_are_unknown(tmp_path: Path) -> None:
    store = BuildStore(tmp_path, keep=2)
    ids = [publish(store, seed) for seed in (1, 2, 3)]
    assert store.previous_id() == ids[1]
    assert store.load(ids[1]).index.ids()[0] == 2000  # not the live one
    assert store.current_id() == ids[2]
    for unknown in (ids[0], "../builds/" + ids[1], "nonsense"):  # pruned, outside, never made
        with pytest.raises(UnknownBuild, match="no index build"):
            store.load(unknown)
    store.rollback()
    assert store.previous_id() is None


def test_a_publisher_whose_parent_is_no_longer_current_is_refused(tmp_path: Path) -> None:
    store = BuildStore(tmp_path)
    first = publish(store, 1)
    second = publish(store, 2)
    index = tiny_index(3)
    with pytest.raises(StaleBuild, match=f"from {first} to {second}"):
        store.publish(index, manifest(store, index), parent=first)
    assert store.current_id() == second
    assert not list(store.builds.glob(".staging-*"))


def test_pruning_spares_the_staging_folder_of_a_live_process(tmp_path: Path) -> None:
    store = BuildStore(tmp_path)
    publish(store, 1)
    alive = store.builds / f".staging-{os.getpid()}-abcd"
    alive.mkdir()
    dead = store.builds / ".staging-999999999-abcd"
    dead.mkdir()
    publish(store, 2)
    assert alive.exists() and not dead.exists()


def test_pruning_spares_the_scratch_folder_of_a_live_process(tmp_path: Path) -> None:
    store = BuildStore(tmp_path)
    publish(store, 1)
    alive = scratch_dir(store.builds)  # on-disk lists being written, or served
    dead = store.builds / f"{SCRATCH_PREFIX}999999999-abcd"
    dead.mkdir()
    publish(store, 2)
    assert alive.exists() and not dead.exists() and len(store.build_ids()) == 2


def test_concurrent_publishers_take_turns_and_every_build_is_whole(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def publisher(seed: int) -> None:
        store = BuildStore(tmp_path, keep=50)  # one store per thread, like separate processes
        try:
            for round_ in range(5):
                with store.locked():
                    index = tiny_index(seed * 10 + round_)
                    store.publish(index, manifest(store, index), parent=store.current_id())
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=publisher, args=(seed,)) for seed in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = BuildStore(tmp_path, keep=50)
    assert not errors
    assert len(store.build_ids()) == 15
    for build_id in store.build_ids():
        assert store.manifest(build_id).build_id == build_id
    assert store.load_current().index.ntotal == 100
    assert not list(store.builds.glob(".*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_a_publisher_waits_for_the_lock_at_most_its_timeout(tmp_path: Path) -> None:
    holder = BuildStore(tmp_path)
    publish(holder, 1)
    done = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with holder.locked():
            done.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    done.wait(5)
    try:
        with pytest.raises(PublishBusy), BuildStore(tmp_path).locked(timeout_s=0.1):
            pass
    finally:
        release.set()
        thread.join()
