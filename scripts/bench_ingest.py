"""Benchmark `facet ingest`: generate a dump, ingest it, re-ingest it; print rows/s and memory.

    python scripts/bench_ingest.py                  # 1,000,000 rows, CSV
    python scripts/bench_ingest.py --rows 100000 --format jsonl --json

Each ingest runs as its own `facet` process, the way a user runs it; peak memory is that process's
maximum resident set size.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CATEGORIES = ["ring", "necklace", "bracelet", "earrings", "pendant", "brooch", "watch", "anklet"]
MATERIALS = ["gold", "white gold", "rose gold", "silver", "platinum", "titanium", "steel"]
STYLES = ["solitaire", "vintage", "minimalist", "halo", "eternity", "statement", "classic"]
STONES = ["diamond", "sapphire", "ruby", "emerald", "pearl", "none"]


def make_row(i: int, rng: random.Random) -> dict[str, Any]:
    category = rng.choice(CATEGORIES)
    material = rng.choice(MATERIALS)
    n_images = rng.randint(1, 3)
    return {
        "sku": f"SKU-{i:08d}",
        "title": f"{material.title()} {category} no. {i}",
        "description": f"A {rng.choice(STYLES)} {material} {category} with {rng.choice(STONES)}.",
        "category": category,
        "material": material,
        "style": rng.choice(STYLES),
        "price": f"{rng.uniform(20, 5000):.2f}",
        "currency": "EUR",
        "in_stock": rng.choice(["true", "false"]),
        "images": [f"images/{i % 1000:03d}/{i}_{k}.jpg" for k in range(n_images)],
        "stone": rng.choice(STONES),
        "ring_size": str(rng.randint(44, 66)) if category == "ring" else "",
    }


def write_dump(path: Path, rows: int, fmt: str) -> None:
    rng = random.Random(1338)
    with path.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            fields = list(make_row(0, rng))
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            for i in range(rows):
                row = make_row(i, rng)
                row["images"] = "|".join(row["images"])
                writer.writerow(row)
        else:
            for i in range(rows):
                handle.write(json.dumps(make_row(i, rng)) + "\n")


def run_ingest(dump: Path, home: Path) -> tuple[float, dict[str, Any]]:
    command = [sys.executable, "-m", "indexer", "--home", str(home), "--quiet"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "ingest", str(dump), "--json"], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench_ingest: facet ingest failed: {done.stderr.strip()}")
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="facet-bench-ingest-") as tmp:
        dump = Path(tmp) / f"catalog.{args.format}"
        write_dump(dump, args.rows, args.format)
        home = Path(tmp) / "home"
        first_s, first = run_ingest(dump, home)
        again_s, again = run_ingest(dump, home)
        # ru_maxrss of children is the largest of the two ingest processes, in KiB on Linux.
        peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        dump_mb = os.path.getsize(dump) / 2**20
        db_mb = os.path.getsize(home / "facet.db") / 2**20

    if first["inserted"] != args.rows or again["unchanged"] != args.rows:
        sys.exit(f"bench_ingest: unexpected counts: {first} / {again}")
    figures = {
        "rows": args.rows,
        "format": args.format,
        "rows_per_s": round(args.rows / first_s),
        "seconds": round(first_s, 1),
        "reingest_rows_per_s": round(args.rows / again_s),
        "reingest_seconds": round(again_s, 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "dump_mb": round(dump_mb, 1),
        "db_mb": round(db_mb, 1),
    }
    print(f"{'measure':<28}{'value':>14}")
    print(f"{'rows':<28}{args.rows:>14,}")
    print(f"{'dump size (MB)':<28}{dump_mb:>14.1f}")
    print(f"{'first ingest (s)':<28}{first_s:>14.1f}")
    print(f"{'first ingest (rows/s)':<28}{figures['rows_per_s']:>14,}")
    print(f"{'re-ingest, unchanged (s)':<28}{again_s:>14.1f}")
    print(f"{'re-ingest (rows/s)':<28}{figures['reingest_rows_per_s']:>14,}")
    print(f"{'peak RSS (MB)':<28}{peak_rss_mb:>14.1f}")
    print(f"{'database size (MB)':<28}{db_mb:>14.1f}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
