"""One ablation row: `facet build` with the row's settings, then `facet evaluate --exact`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    name: str
    backbone: str  # a registry backbone, or a trained model (then built with --model)
    centring: bool = False  # domain centring with the training photos as query photos
    env: dict[str, str] = field(default_factory=dict)
    trained: bool = False


class FacetFailed(Exception):
    """A `facet` command exited non-zero."""


def facet(home: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `facet ... --json` as a separate process.

    Raises:
        FacetFailed: it failed (the message is its last line on stderr).
    """
    command = [sys.executable, "-m", "indexer", "--home", str(home), "--quiet", *args, "--json"]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise FacetFailed(f"facet {args[0]} failed: {last}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Runner:
    """Builds and evaluates rows in one FACET_HOME (vectors are stored once per backbone)."""

    def __init__(self, home: Path, queries: Path, photos: Path) -> None:
        self.home, self.queries, self.photos = home, queries, photos
        self.learned: set[tuple[str, str]] = set()  # (backbone, views) with a photo mean

    def run(self, row: Row) -> dict[str, Any]:
        try:
            return self._run(row)
        except FacetFailed as error:
            return {"name": row.name, "error": str(error)}

    def _run(self, row: Row) -> dict[str, Any]:
        env = {"FACET_INDEX__CENTRING": "domain" if row.centring else "none", **row.env}
        args = ["build", "--model" if row.trained else "--backbone", row.backbone]
        views = row.env.get("FACET_EMBED__QUERY_VIEWS", "1")
        if row.centring and (row.backbone, views) not in self.learned:
            args += ["--query-photos", str(self.photos)]
            self.learned.add((row.backbone, views))
        facet(self.home, *args, env=env)
        result = facet(self.home, "evaluate", str(self.queries), "--exact", env=env)
        return {
            "name": row.name,
            "recall_at_1": result["recall_at_1"],
            "recall_at_5": result["recall_at_5"],
            "map_at_10": result["map_at_10"],
            "query_ms_p50": result["latency_p50_ms"],
        }
