"""A throwaway catalogue of Grocery photos for the hygiene benchmarks: write it, build it."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def grocery_photos(dataset: Path, limit: int | None, seed: int = 0) -> list[tuple[Path, str]]:
    """(photo, class name) from the train split, shuffled with `seed`, at most `limit`."""
    rows = []
    for line in (dataset / "train.txt").read_text().splitlines():
        if line.strip():
            path = line.split(",")[0].strip()
            rows.append((dataset / path, Path(path).parent.name))
    random.Random(seed).shuffle(rows)
    return rows[:limit] if limit else rows


def write_catalog(folder: Path, products: list[tuple[str, str, Path]]) -> Path:
    """catalog.csv of (sku, title, image path) rows."""
    dump = folder / "catalog.csv"
    with dump.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["sku", "title", "images"])
        for sku, title, image in products:
            out.writerow([sku, title, str(image)])
    return dump


def facet(home: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `facet --home HOME ARGS --json` and return its JSON."""
    command = [sys.executable, "-c", "from indexer.cli import main; main()", "--home", str(home)]
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    result = subprocess.run(
        [*command, *args, "--json"], capture_output=True, text=True, env=environment, check=False
    )
    if result.returncode:
        raise RuntimeError(f"facet {' '.join(args)}: {result.stderr.strip()}")
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed
