"""`bench_index.py --sharded N --store`: the same synthetic vectors in a real SQLite product
store, indexed by `facet build`'s own index step (`build_index`), once in one process and once
in N shards whose workers read the store themselves.

    python -m scripts.index_bench.store STEP '{"n": ..., "dim": ..., "work": ...}'

Steps: `fill` (write n products, images and embeddings rows), `build` (one `build_index` with
the given shard count into its own FACET_HOME). Each prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from indexer.build.index_step import IndexOptions, build_index
from migrations.runner import upgrade_database
from scripts.index_bench.memory import own_memory_mb
from scripts.index_bench.synthetic import SyntheticSource
from search.builds import BuildStore
from search.db import make_engine

MODEL = "bench-synthetic"
ROWS = 20_000  # per insert batch


def fill(args: dict[str, Any]) -> dict[str, Any]:
    path = Path(args["work"]) / "facet.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()
    source = SyntheticSource(args["n"], args["dim"])
    now = "2026-01-01 00:00:00"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("UPDATE counters SET value = 1 WHERE name = 'vectors'")
    for ids, vectors in source.chunks(after=-1, until=None, rows=ROWS):
        products = [(int(i) // 2 + 1, f"S{int(i)}", "x", now, now) for i in ids]
        db.executemany(
            "INSERT INTO products (id, sku, content_hash, created_at, updated_at, attributes,"
            " in_stock) VALUES (?, ?, ?, ?, ?, '{}', 1)",
            products,
        )
        db.executemany(
            "INSERT INTO product_images (id, product_id, position, uri, content_hash, status,"
            " created_at, updated_at) VALUES (?, ?, 0, ?, ?, 'ready', ?, ?)",
            (
                (int(i), int(i) // 2 + 1, f"file:///{int(i)}.jpg", f"h{int(i)}", now, now)
                for i in ids
            ),
        )
        db.executemany(
            "INSERT INTO embeddings (model, image_id, content_hash, vector, created_at, revision)"
            " VALUES (?, ?, ?, ?, ?, 1)",
            (
                (MODEL, int(i), f"h{int(i)}", vector.astype("<f4").tobytes(), now)
                for i, vector in zip(ids, vectors, strict=True)
            ),
        )
        db.commit()
    db.close()
    return {"db_mb": path.stat().st_size / 2**20}


def build(args: dict[str, Any]) -> dict[str, Any]:
    work = Path(args["work"])
    engine = make_engine(f"sqlite:///{work / 'facet.db'}")
    store = BuildStore(work / f"home-{args['shards']}" / "indexes")
    options = IndexOptions(
        factory=args["factory"],
        chunk_bytes=args["chunk_mb"] * 2**20,
        shards=args["shards"],
        target_recall=args["target"],
    )
    report = build_index(engine, store, backbone_id=MODEL, backbone_name="bench", options=options)
    return {key: value for key, value in report.to_dict().items() if key != "build_id"}


if __name__ == "__main__":
    started = time.perf_counter()
    result = {"fill": fill, "build": build}[sys.argv[1]](json.loads(sys.argv[2]))
    result["seconds"] = time.perf_counter() - started
    result["memory"] = own_memory_mb()
    result["children_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(result))
