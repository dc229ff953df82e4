"""How much of the exact filtered top-10 the service's filtered searches find.

The reference is the database path searching every list (an exact search over the allowed
images for selective filters, every list otherwise, re-ranked with full vectors); the served
path is the in-memory table's bitmap with the tuned nprobe raised by 1/share.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from search.builds import BuildStore
from search.db import make_engine
from search.filter_params import Filters
from search.live_filters import LiveFilters
from search.searcher import Searcher
from search.vectors import load_vectors


def filtered_recall(
    home: Path, scenarios: dict[str, Filters], *, products: int, queries: int, seed: int = 11
) -> dict[str, float]:
    """Recall@10 (products) per scenario, over `queries` catalogue vectors as queries."""
    engine = make_engine(f"sqlite:///{home / 'facet.db'}")
    build = BuildStore(home / "indexes").load_current()
    backbone = build.manifest.backbone
    served = Searcher(engine, build.index, backbone_id=backbone, filters=LiveFilters(engine))
    reference = Searcher(engine, build.index, backbone_id=backbone)
    rng = np.random.default_rng(seed)
    ids = [int(i) for i in rng.choice(np.arange(1, products + 1), queries, replace=False)]
    _, vectors = load_vectors(engine, backbone, ids)
    recalls = {}
    for name, filters in scenarios.items():
        found = []
        for vector in vectors:
            got = {hit.sku for hit in served.search(vector, k=10, filters=filters)}
            truth = reference.search(vector, k=10, filters=filters, nprobe=build.index.nlist)
            found.append(len(got & {hit.sku for hit in truth}) / max(len(truth), 1))
        recalls[name] = float(np.mean(found))
    engine.dispose()
    return recalls
