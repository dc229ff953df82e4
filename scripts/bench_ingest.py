"""Benchmark `facet ingest`: generate a dump, ingest it, re-ingest it unchanged, then with every
price changed; print rows/s and memory.

    python scripts/bench_ingest.py                  # 1,000,000 rows, CSV, SQLite under a temp home
    python scripts/bench_ingest.py --rows 100000 --format jsonl --json
    python scripts/bench_ingest.py --db-url postgresql+psycopg://user@host/db --json

Each ingest runs as its own `facet` process, the way a user runs it; peak memory is that process's
maximum resident set size. `--db-url` must name an empty (or not yet migrated) database.
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


def make_row(i: int, rng: random.Random, price_factor: float = 1.0) -> dict[str, Any]:
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
        "price": f"{rng.uniform(20, 5000) * price_factor:.2f}",
        "currency": "EUR",
        "in_stock": rng.choice(["true", "false"]),
        "images": [f"images/{i % 1000:03d}/{i}_{k}.jpg" for k in range(n_images)],
        "stone": rng.choice(STONES),
        "ring_size": str(rng.randint(44, 66)) if category == "ring" else "",
    }


def write_dump(path: Path, rows: int, fmt: str, price_factor: float = 1.0) -> None:
    rng = random.Random(1338)
    with path.open("w", encoding="utf-8", newline="") as handle:
        if fmt == "csv":
            fields = list(make_row(0, random.Random(0)))
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            for i in range(rows):
                row = make_row(i, rng, price_factor)
                row["images"] = "|".join(row["images"])
                writer.writerow(row)
        else:
            for i in range(rows):
                handle.write(json.dumps(make_row(i, rng, price_factor)) + "\n")


def run_ingest(dump: Path, home: Path, db_url: str | None) -> tuple[float, dict[str, Any]]:
    command = [sys.executable, "-m", "indexer", "--home", str(home), "--quiet"]
    env = {**os.environ, **({"FACET_DB__URL": db_url} if db_url else {})}
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "ingest", str(dump), "--json"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
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
    parser.add_argument(
        "--db-url", help="an empty product database (default: SQLite in a temporary folder)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="facet-bench-ingest-") as tmp:
        dump = Path(tmp) / f"catalog.{args.format}"
        write_dump(dump, args.rows, args.format)
        home = Path(tmp) / "home"
        first_s, first = run_ingest(dump, home, args.db_url)
        again_s, again = run_ingest(dump, home, args.db_url)
        write_dump(dump, args.rows, args.format, price_factor=1.1)
        update_s, updated = run_ingest(dump, home, args.db_url)
        # ru_maxrss of children is the largest of the ingest processes, in KiB on Linux.
        peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        dump_mb = os.path.getsize(dump) / 2**20
        db_mb = database_mb(args.db_url, home)

    if (first["inserted"], again["unchanged"], updated["updated"]) != (args.rows,) * 3:
        sys.exit(f"bench_ingest: unexpected counts: {first} / {again} / {updated}")
    figures = {
        "rows": args.rows,
        "format": args.format,
        "database": args.db_url.split(":", 1)[0].split("+")[0] if args.db_url else "sqlite",
        "rows_per_s": round(args.rows / first_s),
        "seconds": round(first_s, 1),
        "reingest_rows_per_s": round(args.rows / again_s),
        "reingest_seconds": round(again_s, 1),
        "update_rows_per_s": round(args.rows / update_s),
        "update_seconds": round(update_s, 1),
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
    print(f"{'every price changed (s)':<28}{update_s:>14.1f}")
    print(f"{'updates (rows/s)':<28}{figures['update_rows_per_s']:>14,}")
    print(f"{'peak RSS (MB)':<28}{peak_rss_mb:>14.1f}")
    print(f"{'database size (MB)':<28}{db_mb:>14.1f}")
    if args.json:
        print(json.dumps(figures))


def database_mb(db_url: str | None, home: Path) -> float:
    """The product database's size on disk."""
    if db_url is None:
        return os.path.getsize(home / "facet.db") / 2**20
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sqlalchemy import text

    from search.db import make_engine

    engine = make_engine(db_url)
    with engine.connect() as connection:
        size = connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return float(size) / 2**20


if __name__ == "__main__":
    main()
