"""Choose the preprocessing by measurement: centre crop versus squash, on photo -> catalogue search.

    python scripts/bench_preprocess.py --dataset DIR [--backbone efficientnet_lite0] [--limit N]

Catalogue: the Grocery Store Dataset's 81 iconic images (not shipped: --dataset DIR, the folder
holding its classes.csv and test.txt).
Queries: its test photos. Exact cosine search; a query is right when its product ranks first
(Recall@1) or among the first 5 (Recall@5). Both modes use the same backbone and precision.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from search.backbones import load_backbone  # noqa: E402
from search.decoding import decode_image  # noqa: E402
from search.embed import Embedder  # noqa: E402
from search.preprocess import ResizeMode  # noqa: E402

# Where the development machines keep the dataset; --dataset overrides it.
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "grocery"


def load_dataset(
    dataset: Path, limit: int | None
) -> tuple[list[Path], list[int], list[Path], list[int]]:
    with (dataset / "classes.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    catalog = [dataset / row["Iconic Image Path (str)"].lstrip("/") for row in rows]
    catalog_ids = [int(row["Class ID (int)"]) for row in rows]
    queries, query_ids = [], []
    with (dataset / "test.txt").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                path, fine, _ = (part.strip() for part in line.split(","))
                queries.append(dataset / path)
                query_ids.append(int(fine))
    if limit:
        step = max(1, len(queries) // limit)
        queries, query_ids = queries[::step][:limit], query_ids[::step][:limit]
    return catalog, catalog_ids, queries, query_ids


def embed(embedder: Embedder, paths: list[Path]) -> np.ndarray:
    size = embedder.preprocessing.decode_size
    arrays = [embedder.preprocessing.prepare(decode_image(p, draft_size=size)) for p in paths]
    return embedder.embed_arrays(arrays)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Grocery dataset")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--limit", type=int, default=None, help="use about N test photos")
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    if not args.dataset.is_dir():
        sys.exit(
            f"bench_preprocess: needs the Grocery Store Dataset (--dataset), not at {args.dataset}"
        )

    catalog, catalog_ids, queries, query_ids = load_dataset(args.dataset, args.limit)
    embedder = Embedder(load_backbone(args.backbone))
    base = embedder.preprocessing
    expected = np.array(query_ids)
    figures: dict[str, object] = {"backbone": args.backbone, "queries": len(queries)}
    print(f"{len(queries)} Grocery test photos against {len(catalog)} catalogue images")
    print(f"{'resize':<10}{'Recall@1':>10}{'Recall@5':>10}")
    for mode in (ResizeMode.CROP, ResizeMode.SQUASH):
        embedder.preprocessing = replace(base, resize=mode)
        scores = embed(embedder, queries) @ embed(embedder, catalog).T
        ranked = np.array(catalog_ids)[np.argsort(-scores, axis=1)]
        recall_1 = float((ranked[:, 0] == expected).mean())
        recall_5 = float((ranked[:, :5] == expected[:, None]).any(axis=1).mean())
        figures[f"recall_at_1_{mode.value}"] = round(recall_1, 4)
        figures[f"recall_at_5_{mode.value}"] = round(recall_5, 4)
        print(f"{mode.value:<10}{recall_1:>10.3f}{recall_5:>10.3f}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
