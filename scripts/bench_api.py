"""Benchmark the HTTP service under load, with micro-batching on and off, in one run.

    python scripts/bench_api.py [--dataset DIR] [--requests 200] [--json]

Builds the sample catalogue's index in a temporary FACET_HOME, starts uvicorn on 127.0.0.1 (a
separate process, as in production), uploads real shopper photos (the Grocery Store Dataset's test
photos if --dataset DIR (not shipped) has them, else the sample catalogue's queries) at
concurrency 1, 4 and 16, and prints latency percentiles, requests/s and errors, for both server
configurations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.serve.server import start_server  # noqa: E402

# Where the development machines keep the Grocery Store Dataset; --dataset overrides it.
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "grocery"
SAMPLE = REPO / "scripts" / "sample_catalog"
CONCURRENCY = (1, 4, 16)


def photos(dataset: Path, limit: int = 200) -> list[bytes]:
    test = dataset / "test"
    paths = sorted(test.rglob("*.jpg"))[:: max(1, 2485 // limit)] if test.is_dir() else []
    paths = paths or sorted((SAMPLE / "queries").glob("*.jpg"))
    return [path.read_bytes() for path in paths[:limit]]


def build_index(home: Path, backend: str) -> None:
    facet = [sys.executable, "-m", "indexer", "--home", str(home), "--quiet"]
    env = {**os.environ, "FACET_INDEX__BACKEND": backend}
    for step in (["ingest", str(SAMPLE / "catalog.csv")], ["build"]):
        subprocess.run([*facet, *step], check=True, capture_output=True, env=env)


async def load(url: str, images: list[bytes], concurrency: int, total: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for index in counter:
            files = {"image": ("photo.jpg", images[index % len(images)], "image/jpeg")}
            started = time.perf_counter()
            try:
                response = await client.post(f"{url}/v1/search", files=files, data={"k": "10"})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await worker_warmup(client, url, images[0])
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "rps": total / seconds,
        "errors": errors,
    }


async def worker_warmup(client: httpx.AsyncClient, url: str, image: bytes) -> None:
    for _ in range(3):
        await client.post(f"{url}/v1/search", files={"image": ("w.jpg", image, "image/jpeg")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Grocery dataset")
    parser.add_argument("--requests", type=int, default=200, help="requests per concurrency")
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    parser.add_argument(
        "--backend",
        choices=("faiss", "milvus"),
        default="faiss",
        help="vector index (milvus: Milvus Lite in the temporary home)",
    )
    args = parser.parse_args()
    images = photos(args.dataset)
    rows: dict[tuple[bool, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="facet-bench-api-") as tmp:
        home = Path(tmp)
        build_index(home, args.backend)
        for batched in (True, False):
            settings = {
                "FACET_API__MICRO_BATCHING": str(batched),
                "FACET_INDEX__BACKEND": args.backend,
            }
            server, url = start_server(home, settings, name="bench_api")
            try:
                for concurrency in CONCURRENCY:
                    rows[(batched, concurrency)] = asyncio.run(
                        load(url, images, concurrency, args.requests)
                    )
            finally:
                server.terminate()
                server.wait(timeout=30)
    print(
        f"{args.requests} searches per row, {len(images)} distinct photos, sample catalogue, "
        f"{args.backend} index"
    )
    print(
        f"{'micro-batching':<16}{'clients':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'req/s':>8}{'errors':>8}"
    )
    for (batched, concurrency), row in rows.items():
        print(
            f"{'on' if batched else 'off':<16}{concurrency:>8}{row['p50_ms']:>9.1f}"
            f"{row['p95_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['rps']:>8.1f}{row['errors']:>8}"
        )
    figures = {
        "backend": args.backend,
        "p50_ms_c1": round(rows[(True, 1)]["p50_ms"], 1),
        "p99_ms_c1": round(rows[(True, 1)]["p99_ms"], 1),
        "rps_c16_batched": round(rows[(True, 16)]["rps"], 1),
        "rps_c16_unbatched": round(rows[(False, 16)]["rps"], 1),
        "errors": int(sum(row["errors"] for row in rows.values())),
    }
    ratio = figures["rps_c16_batched"] / max(figures["rps_c16_unbatched"], 1e-9)
    print(f"throughput at 16 clients, batched over unbatched: {ratio:.2f}x")
    if args.json:
        print(json.dumps({**figures, "batched_over_unbatched_c16": round(ratio, 2)}))


if __name__ == "__main__":
    main()
