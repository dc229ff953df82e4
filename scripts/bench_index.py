"""Benchmark the vector index: exact search versus tuned IVF versus compressed IVF with re-ranking.

    python scripts/bench_index.py                       # 1,000,000 x 1280 (needs ~16 GB RAM)
    python scripts/bench_index.py --n 100000 --dim 1280 --json
    python scripts/bench_index.py --vectors real.npy    # your own (n, d) float32 embeddings
    python scripts/bench_index.py --sharded 4 --n 2000000 --dim 768 --json
    python scripts/bench_index.py --sharded 4 --n 200000 --dim 768 --store --json

With --sharded N it measures streaming builds instead: a single build against a sharded one with
lists on disk, their peak memory and a memory-mapped server (scripts/index_bench/sharded.py says
exactly what); the catalogue is then never in memory. --store puts the vectors in a SQLite
product store first and measures `facet build`'s whole index step over it.

Synthetic vectors behave like image embeddings: product clusters of very different sizes, a low
intrinsic dimension (variation along 64 directions) and unit length. Everything is measured in one
run: build (train + add) time, index memory, single-query single-thread latency, batched
throughput (all threads) and recall@10 against exact search; the IVF indexes are built and tuned
exactly as `facet build` does (search/index.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from search.faiss_api import faiss  # noqa: E402
from search.index import VectorIndex, choose_nlist  # noqa: E402
from search.neighbours import exact_neighbours, recall_at_k  # noqa: E402

K = 10


def clustered_vectors(n: int, dim: int, seed: int = 1338) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clusters = max(1, n // 500)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    basis = rng.standard_normal((64, dim), dtype=np.float32) / 8.0
    # Zipf-like cluster sizes: a few huge categories, many small ones.
    weights = 1.0 / np.arange(1, clusters + 1) ** 0.8
    assignment = rng.choice(clusters, n, p=weights / weights.sum())
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        latent = rng.standard_normal((stop - start, 64), dtype=np.float32)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32) * 0.05
        block = centres[assignment[start:stop]] + latent @ basis + noise
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def index_bytes(index: VectorIndex) -> int:
    """Memory of the index's data: codes, ids, centroids and the id map."""
    ivf = index.ivf
    assert ivf is not None
    return int(index.ntotal * (ivf.code_size + 8 + 16) + ivf.nlist * index.dim * 4)


def per_query_ms(search: object, queries: np.ndarray, repeat: int) -> float:
    faiss.omp_set_num_threads(1)
    timings = []
    for query in queries[:repeat]:
        started = time.perf_counter()
        search(query[None, :])  # type: ignore[operator]
        timings.append(time.perf_counter() - started)
    faiss.omp_set_num_threads(0)
    return float(np.median(timings) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--vectors", type=Path, help=".npy of (n, d) float32 unit vectors")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    parser.add_argument("--sharded", type=int, help="streaming builds: N shards versus one")
    parser.add_argument("--chunk-mb", type=int, default=64, help="(--sharded) MiB read at once")
    parser.add_argument("--factory", help="(--sharded) FAISS factory (default: as facet build)")
    parser.add_argument("--memory-budget-mb", type=int, default=4096, help="(--sharded)")
    parser.add_argument("--workdir", type=Path, help="(--sharded) where the index files go")
    parser.add_argument("--store", action="store_true", help="(--sharded) via a SQLite store")
    args = parser.parse_args()
    if args.sharded:
        from scripts.index_bench.sharded import run

        figures = run(args)
        print(json.dumps(figures) if args.json else figures)
        return
    threads = faiss.omp_get_max_threads()

    if args.vectors:
        vectors = np.load(args.vectors).astype(np.float32)
    else:
        vectors = clustered_vectors(args.n, args.dim)
    n, dim = vectors.shape
    ids = np.arange(n, dtype=np.int64) * 2 + 1  # image ids are not positions
    rng = np.random.default_rng(7)
    sample = np.sort(rng.choice(n, args.queries, replace=False))
    queries = vectors[sample] + rng.standard_normal((args.queries, dim), dtype=np.float32) * 0.01
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    tune_q, test_q = queries[: args.queries // 2], queries[args.queries // 2 :]

    started = time.perf_counter()
    truth = exact_neighbours(queries, vectors, ids, K)
    exact_batch_s = time.perf_counter() - started
    tune_truth, test_truth = truth[: args.queries // 2], truth[args.queries // 2 :]

    def lookup(wanted: np.ndarray) -> np.ndarray:
        return vectors[(wanted - 1) // 2]

    nlist = choose_nlist(n)
    results = {}
    for label, factory in (("ivf", f"IVF{nlist},Flat"), ("compressed", f"IVF{nlist},SQ6")):
        started = time.perf_counter()
        index = VectorIndex.train(vectors, factory=factory)
        train_s = time.perf_counter() - started
        index.add(vectors, ids)
        build_s = time.perf_counter() - started
        nprobe, _ = index.tune_nprobe(tune_q, tune_truth, target=args.target, lookup=lookup)
        found = index.search(test_q, K, lookup=lookup).ids
        started = time.perf_counter()
        index.search(test_q, K, lookup=lookup)
        batch_s = time.perf_counter() - started
        results[label] = {
            "factory": factory,
            "train_s": train_s,
            "build_s": build_s,
            "nprobe": nprobe,
            "recall": recall_at_k(found, test_truth),
            "latency_ms": per_query_ms(
                lambda q, i=index: i.search(q, K, lookup=lookup), test_q, 200
            ),
            "qps_batch": len(test_q) / batch_s,
            "bytes": index_bytes(index),
            "index": index,
        }

    exact_ms = per_query_ms(
        lambda q: faiss.knn(q, vectors, K, metric=faiss.METRIC_INNER_PRODUCT), test_q, 10
    )
    flat_bytes = n * (dim * 4 + 8)

    # Similar items for one product, as Searcher.similar does it: the mean of its stored vectors
    # (products here are 3 consecutive images) searched once, results collapsed to products,
    # the product itself left out. Single thread; the SQLite reads around it are not included.
    ivf = results["ivf"]["index"]
    assert isinstance(ivf, VectorIndex)
    faiss.omp_set_num_threads(1)
    timings = []
    for product in rng.choice(n // 3, 300, replace=False):
        started = time.perf_counter()
        mean = vectors[product * 3 : product * 3 + 3].mean(axis=0)
        hits = ivf.search((mean / np.linalg.norm(mean))[None, :], K * 4)
        valid = hits.ids[0] >= 0
        products = (hits.ids[0][valid] - 1) // 2 // 3
        best = list(dict.fromkeys(products[np.argsort(-hits.scores[0][valid])].tolist()))
        _ = [p for p in best if p != product][:K]
        timings.append(time.perf_counter() - started)
    faiss.omp_set_num_threads(0)
    similar_p50_ms = float(np.median(timings[20:]) * 1000)  # the first ones warm the caches

    ivf_r, comp_r = results["ivf"], results["compressed"]
    figures = {
        "n": n,
        "dim": dim,
        "threads": threads,
        "nlist": nlist,
        "recall_at_10": round(float(ivf_r["recall"]), 4),
        "speedup": round(exact_ms / float(ivf_r["latency_ms"]), 1),
        "nprobe": ivf_r["nprobe"],
        "build_s": round(float(ivf_r["build_s"]), 1),
        "train_s": round(float(ivf_r["train_s"]), 1),
        "exact_ms": round(exact_ms, 2),
        "ivf_ms": round(float(ivf_r["latency_ms"]), 3),
        "exact_batch_qps": round(len(queries) / exact_batch_s, 1),
        "ivf_batch_qps": round(float(ivf_r["qps_batch"]), 1),
        "compressed_recall_at_10": round(float(comp_r["recall"]), 4),
        "compressed_nprobe": comp_r["nprobe"],
        "compressed_ms": round(float(comp_r["latency_ms"]), 3),
        "compressed_build_s": round(float(comp_r["build_s"]), 1),
        "compressed_memory_ratio": round(int(comp_r["bytes"]) / int(ivf_r["bytes"]), 3),
        "flat_mb": round(flat_bytes / 2**20),
        "ivf_mb": round(int(ivf_r["bytes"]) / 2**20),
        "compressed_mb": round(int(comp_r["bytes"]) / 2**20),
        "similar_p50_ms": round(similar_p50_ms, 3),
    }
    print(f"{n:,} vectors x {dim}, {args.queries} queries, {threads} threads, nlist {nlist}")
    print(
        f"{'':<26}{'build s':>9}{'MB':>8}{'nprobe':>8}{'recall@10':>11}{'1-query ms':>12}"
        f"{'batch q/s':>11}"
    )
    print(
        f"{'exact (faiss.knn)':<26}{'-':>9}{figures['flat_mb']:>8}{'-':>8}{1.0:>11}"
        f"{figures['exact_ms']:>12}{figures['exact_batch_qps']:>11}"
    )
    for label, row, mb in (
        ("IVF, Flat", ivf_r, "ivf_mb"),
        ("IVF, SQ6 + re-rank", comp_r, "compressed_mb"),
    ):
        print(
            f"{label:<26}{row['build_s']:>9.1f}{figures[mb]:>8}{row['nprobe']:>8}"
            f"{row['recall']:>11.4f}{row['latency_ms']:>12.3f}{row['qps_batch']:>11.1f}"
        )
    print(f"single-query speedup, IVF over exact: {figures['speedup']}x")
    print(f"compressed memory / IVF-Flat memory: {figures['compressed_memory_ratio']}")
    print(f"similar items for one product (index part), p50: {figures['similar_p50_ms']} ms")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
