"""Shared fixtures: settings and a migrated SQLite product store under tmp_path."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from indexer.cli import app as facet_app
from migrations.runner import upgrade_database
from search.config import DbSettings, Settings
from search.db import make_engine

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CATALOG = REPO / "scripts" / "sample_catalog" / "catalog.csv"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A real SQLite file, created by the migrations (never by create_all)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'facet.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


def facet(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run `facet --home HOME ARGS...` as a user would (in-process); checks nothing.

    Tests of other packages (the API's, the fault suite's) set up their data through this, the
    command line, rather than by importing the indexer's internals.
    """
    return CliRunner().invoke(facet_app, ["--home", str(home), *args], env=env)


def write_csv(path: Path, rows: Sequence[dict[str, Any]], *, compress: bool = False) -> Path:
    """Write rows as a CSV dump (header from the first row's keys)."""
    fields = list(rows[0])
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]], *, compress: bool = False) -> Path:
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


__all__ = ["DbSettings", "REPO", "SAMPLE_CATALOG", "facet", "write_csv", "write_jsonl"]
