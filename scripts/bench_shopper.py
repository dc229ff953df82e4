"""Benchmark shopper search on the Grocery Store Dataset: words, words with photos, when there is
no match, and how fast each answers.

    python scripts/bench_shopper.py [--dataset DIR] [--limit N] [--json]

The 81 products (one packshot each) are ingested and built in a temporary FACET_HOME; every test
photo (or every n-th, --limit) is searched. Keys of the JSON line:
- image_recall_at_1: share of photos whose top product is theirs;
- no_match_threshold: the highest top score below which at least 85% of top products were wrong
  (what FACET_SEARCH__CONFIDENT_SCORE defaults to), with no_match_rate (share of answers below it)
  and no_match_precision (share of those that were indeed wrong), also at the configured default;
- text_recall_at_5: share of the 81 products found in the top 5 by their own name as words
  ("granny smith", "oatly oat milk"), and text_type_recall_at_5 by their type and a colour or
  flavour word from their name ("apple golden", "juice orange");
- hybrid_recall_at_1 against image_recall_at_1: each test photo searched with a one-word hint of
  its product's type (the coarse class: "apple", "milk", "juice"), fused by reciprocal rank;
- search_ms_per_photo: mean in-process time per photo search, embedding included (photos embedded
  in batches of 32); text_p50_ms, hybrid_p50_ms (vector and word search and fusion, the photo
  already embedded) and recommend_p50_ms (best_score, two liked and one disliked product):
  median in-process latencies.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.quality.dataset import write_files  # noqa: E402
from scripts.shopper.no_match import (  # noqa: E402
    choose_threshold,
    embed_photos,
    no_match_figures,
    top_scores,
)

DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "grocery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Grocery dataset")
    parser.add_argument("--limit", type=int, default=None, help="test photos (default: all)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    if not (args.dataset / "classes.csv").is_file():
        sys.exit(f"bench_shopper: no Grocery Store Dataset at {args.dataset} (--dataset DIR)")

    from typer.testing import CliRunner

    from indexer.cli import app
    from search.backends import build_store
    from search.config import Settings
    from search.db import make_engine
    from search.hybrid import DEPTH, fuse
    from search.recommend import Examples, Strategy, recommend
    from search.serving import EmbedderOptions, open_snapshot
    from search.text_search import keyword_search

    with tempfile.TemporaryDirectory(prefix="facet-bench-shopper-") as tmp:
        files = write_files(args.dataset, Path(tmp), args.limit)
        home = Path(tmp) / "home"
        for step in (["ingest", str(files.catalogue)], ["build"]):
            result = CliRunner().invoke(app, ["--home", str(home), "--quiet", *step])
            if result.exit_code != 0:
                sys.exit(f"bench_shopper: facet {step[0]} failed: {result.output.strip()}")
        settings = Settings(home=home)
        engine = make_engine(settings.database_url)
        snapshot = open_snapshot(
            build_store(settings, engine),
            engine,
            ranking=settings.ranking,
            embedder=EmbedderOptions.from_settings(settings),
        )
        started = time.perf_counter()
        vectors = embed_photos(snapshot, settings, [path for path, _ in files.test])
        truth = [sku for _, sku in files.test]
        top = top_scores(snapshot.searcher, vectors, truth)
        search_ms = (time.perf_counter() - started) * 1000 / max(len(files.test), 1)

        def words_found(query: str, sku: str, k: int) -> bool:
            return sku in [hit.sku for hit in keyword_search(engine, query, k=k)]

        names = {sku: sku.replace("-", " ").lower() for sku in files.category}
        text_recall = np.mean([words_found(names[sku], sku, 5) for sku in names])
        typed = {sku: f"{files.category[sku].lower()} {names[sku].split()[0]}" for sku in names}
        type_recall = np.mean([words_found(typed[sku], sku, 5) for sku in typed])
        text_ms = []
        for sku in names:
            began = time.perf_counter()
            keyword_search(engine, typed[sku], k=10)
            text_ms.append((time.perf_counter() - began) * 1000)

        hybrid_right, hybrid_ms = [], []
        for vector, sku in zip(vectors, truth, strict=True):
            began = time.perf_counter()
            image_hits = snapshot.searcher.search(vector, k=10 * DEPTH)
            word_hits = keyword_search(engine, files.category[sku].lower(), k=10 * DEPTH)
            fused = fuse(image_hits, word_hits, k=10)
            hybrid_ms.append((time.perf_counter() - began) * 1000)
            hybrid_right.append(bool(fused) and fused[0].sku == sku)

        skus = sorted(files.category)
        rng = random.Random(1338)
        latencies = []
        for _ in range(100):
            liked_a, liked_b, disliked = rng.sample(skus, 3)
            examples = Examples(positive=(liked_a, liked_b), negative=(disliked,))
            began = time.perf_counter()
            recommend(snapshot.searcher, examples, strategy=Strategy.BEST_SCORE, k=10)
            latencies.append((time.perf_counter() - began) * 1000)
        engine.dispose()

    threshold = choose_threshold(top)
    figures = {
        "photos": float(len(top.scores)),
        "image_recall_at_1": float(top.right.mean()),
        "hybrid_recall_at_1": float(np.mean(hybrid_right)),
        "text_recall_at_5": float(text_recall),
        "text_type_recall_at_5": float(type_recall),
        **no_match_figures(top, threshold),
        "configured_threshold": settings.search.confident_score,
        **{
            f"configured_{key}": value
            for key, value in no_match_figures(top, settings.search.confident_score).items()
            if key != "no_match_threshold"
        },
        # Batches of 32 photos embedded together: the per-photo mean, embedding included.
        "search_ms_per_photo": search_ms,
        "text_p50_ms": float(np.median(text_ms)),
        "hybrid_p50_ms": float(np.median(hybrid_ms)),
        "recommend_p50_ms": float(np.median(latencies)),
    }
    for key, value in figures.items():
        print(f"{key:<36}{value:>12.4f}")
    if args.json:
        print(json.dumps({key: round(value, 4) for key, value in figures.items()}))


if __name__ == "__main__":
    main()
