"""A stand-alone publisher for the crash tests: publishes tiny index builds in a loop.

    python -m tests.reliability.publisher INDEX_DIR COUNT SEED

Prints `published N` after each publish, so a test can kill it between or during publishes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from search.builds import BuildStore, Manifest
from search.index import VectorIndex

DIM = 8


def tiny_index(seed: int, size: int = 100) -> VectorIndex:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((size, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex.train(vectors, factory="IVF2,Flat")
    index.add(vectors, np.arange(size, dtype=np.int64) + seed * 1000)
    return index


def publish_one(store: BuildStore, seed: int) -> str:
    index = tiny_index(seed)
    manifest = Manifest(
        build_id=store.new_build_id(),
        backbone="model-a",
        backbone_name="model",
        dim=DIM,
        metric="inner_product",
        factory=index.factory,
        nlist=index.nlist,
        nprobe=2,
        ntotal=index.ntotal,
        trained_size=index.ntotal,
        recall_at_10=1.0,
        catalog_revision=seed,
        created_at="2026-11-29T12:00:00",
        derived_from=None,
    )
    with store.locked():
        return store.publish(index, manifest, parent=store.current_id()).build_id


def main() -> None:
    root, count, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    store = BuildStore(root)
    for number in range(count):
        publish_one(store, seed * 10_000 + number)
        print(f"published {number + 1}", flush=True)


if __name__ == "__main__":
    main()
