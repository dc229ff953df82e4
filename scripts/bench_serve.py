"""Benchmark serving a large catalogue: filtered searches, similar items and the service's RSS.

    python scripts/bench_serve.py --products 1000000 [--baseline] [--requests 100] [--json]

Writes a synthetic catalogue straight into a product store in a temporary FACET_HOME
(scripts/serve/catalogue.py: 100 categories, prices, stock, a `size` attribute, one image and one
clustered random vector of the default backbone's dimension per product), builds the default
index for it with `facet build`'s index step, starts the service (uvicorn, a separate process)
and times, per scenario, `--requests` searches with one pre-uploaded photo: from the response's
own timings (search + products: not the photo's embedding) and end to end. Scenarios: no filter,
a narrow filter (a category: 1% of the products), a broad one (in stock: 50%), a price range
(100-199.99: 10%), an attribute (size: 5%), and similar items of random products. With
--baseline, the same again with the filters asked of the database per query
(FACET_SEARCH__FILTERS=database, the path before the in-memory filters), keys prefixed
`baseline_`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from indexer.build.index_step import IndexOptions, build_index  # noqa: E402
from migrations.runner import upgrade_database  # noqa: E402
from scripts.serve.catalogue import write_catalogue  # noqa: E402
from scripts.serve.recall import filtered_recall  # noqa: E402
from scripts.serve.server import start_server  # noqa: E402
from search.backbones import load_backbone  # noqa: E402
from search.builds import BuildStore  # noqa: E402
from search.db import make_engine  # noqa: E402
from search.filter_params import Filters  # noqa: E402

PHOTO = REPO / "scripts" / "sample_catalog" / "queries" / "Banana.jpg"
# The same filters as objects, for the recall check.
FILTER_OBJECTS = {
    "unfiltered": Filters(),
    "narrow": Filters(category="category-007"),
    "broad": Filters(in_stock=True),
    "price": Filters(min_price=100, max_price=199.99),
    "attr": Filters(attributes={"size": "size-07"}),
}
FILTERS = {
    "unfiltered": "",
    "narrow": "category=category-007",
    "broad": "in_stock=true",
    "price": "min_price=100&max_price=199.99",
    "attr": "attr=size=size-07",
}


def make_home(home: Path, products: int) -> dict[str, float]:
    backbone = load_backbone("efficientnet_lite0")
    engine = make_engine(f"sqlite:///{home / 'facet.db'}")
    upgrade_database(engine)
    started = time.perf_counter()
    write_catalogue(
        engine, products=products, dim=backbone.dim, backbone_id=backbone.identity, image=PHOTO
    )
    written = time.perf_counter() - started
    report = build_index(
        engine,
        BuildStore(home / "indexes"),
        backbone_id=backbone.identity,
        backbone_name=backbone.name,
        options=IndexOptions(),
    )
    engine.dispose()
    print(
        f"catalogue of {products:,} written in {written:.0f} s; index {report.factory}, "
        f"nprobe {report.nprobe}, recall@10 {report.recall_at_10}, built in {report.seconds:.0f} s"
    )
    return {"write_s": written, "build_s": report.seconds}


def warm(path: Path) -> None:
    """Read the database file once, so both paths are timed with it in the page cache."""
    with path.open("rb") as handle:
        while handle.read(64 * 2**20):
            pass


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(client: httpx.Client, send: object, requests: int) -> dict[str, float]:
    """p50 / p99 of the service's own search + products time and of the whole request."""
    assert callable(send)
    for _ in range(5):
        send(client)
    own, whole = [], []
    split: list[tuple[float, float]] = []
    for _ in range(requests):
        started = time.perf_counter()
        response = send(client)
        whole.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        timings = response.json()["timings"]
        own.append(timings["search_ms"] + timings["products_ms"])
        split.append((timings["search_ms"], timings["products_ms"]))
    return {
        "p50": float(np.percentile(own, 50)),
        "p99": float(np.percentile(own, 99)),
        "e2e_p50": float(np.percentile(whole, 50)),
        "e2e_p99": float(np.percentile(whole, 99)),
        "search_p50": float(np.percentile([s for s, _ in split], 50)),
        "products_p50": float(np.percentile([p for _, p in split], 50)),
    }


def measure(home: Path, filters: str, products: int, requests: int) -> dict[str, float]:
    server, url = start_server(
        home, {"FACET_SEARCH__FILTERS": filters}, name="bench_serve", ready_s=900
    )
    photo = PHOTO.read_bytes()
    rng = np.random.default_rng(7)
    rows: dict[str, dict[str, float]] = {}
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            for name, query in FILTERS.items():
                rows[name] = timed(
                    client,
                    lambda c, q=query: c.post(
                        f"/v1/search?{q}", files={"image": ("q.jpg", photo, "image/jpeg")}
                    ),
                    requests,
                )
            skus = [f"P{int(i):07d}" for i in rng.integers(1, products + 1, size=requests + 5)]
            order = iter(skus)
            rows["similar"] = timed(
                client, lambda c: c.get(f"/v1/products/{next(order)}/similar?k=10"), requests
            )
        rss = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"filters from {filters}: service RSS {rss:,.0f} MB")
    print(
        f"{'scenario':<12}{'p50 ms':>9}{'p99 ms':>9}{'search':>9}{'products':>9}"
        f"{'e2e p50':>9}{'e2e p99':>9}"
    )
    for name, row in rows.items():
        print(
            f"{name:<12}{row['p50']:>9.2f}{row['p99']:>9.2f}{row['search_p50']:>9.2f}"
            f"{row['products_p50']:>9.2f}{row['e2e_p50']:>9.1f}{row['e2e_p99']:>9.1f}"
        )
    keys = {f"search_ms_p50_{name}": rows[name]["p50"] for name in FILTERS}
    keys |= {f"search_ms_p99_{name}": rows[name]["p99"] for name in FILTERS}
    keys |= {f"e2e_ms_p50_{name}": rows[name]["e2e_p50"] for name in FILTERS}
    keys |= {"similar_ms_p50": rows["similar"]["p50"], "similar_ms_p99": rows["similar"]["p99"]}
    keys |= {"service_rss_mb": rss}
    return {key: round(value, 2) for key, value in keys.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100, help="requests per scenario")
    parser.add_argument("--baseline", action="store_true", help="also time the database path")
    parser.add_argument(
        "--recall-queries", type=int, default=20, help="queries for filtered recall (0: none)"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    parser.add_argument(
        "--home", type=Path, help="keep the catalogue here (reused when it is already there)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facet-bench-serve-") as tmp:
        home = args.home or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        figures: dict[str, float] = {"products": args.products}
        if not (home / "indexes" / "CURRENT").is_file():
            figures |= make_home(home, args.products)
        warm(home / "facet.db")
        figures |= measure(home, "memory", args.products, args.requests)
        if args.baseline:
            before = measure(home, "database", args.products, args.requests)
            figures |= {f"baseline_{key}": value for key, value in before.items()}
        if args.recall_queries:
            recalls = filtered_recall(
                home, FILTER_OBJECTS, products=args.products, queries=args.recall_queries
            )
            print("recall@10 against every list searched:", recalls)
            figures |= {f"recall_at_10_{name}": round(r, 3) for name, r in recalls.items()}
    filtered = [figures[f"search_ms_p50_{name}"] for name in FILTERS if name != "unfiltered"]
    figures["worst_filtered_over_unfiltered"] = round(
        max(filtered) / max(figures["search_ms_p50_unfiltered"], 1e-9), 2
    )
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
