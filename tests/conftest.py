"""Shared fixtures: settings, and migrated product stores (SQLite and a real PostgreSQL)."""

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
from tests.postgres_server import PostgresServer

# The product stores every store test runs against.
STORES = ["sqlite", "postgresql"]

REPO = Path(__file__).resolve().parent.parent
SAMPLE_CATALOG = REPO / "scripts" / "sample_catalog" / "catalog.csv"

# The fast part (`-m "not slow"`) is the quick check while working: everything on SQLite and
# FAISS in this process. The same tests on PostgreSQL and Milvus Lite, the browser tests and
# the crash and fuzz suites also count as slow: the full suite (CI) runs them, never skips them.
FULL_SUITE_ENGINES = {"postgresql", "milvus"}
FULL_SUITE_FILES = ("tests/api/test_page.py", "tests/api/test_milvus", "tests/reliability/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        engines = set(callspec.id.split("-")) if callspec is not None else set()
        uses_postgres = "postgres" in getattr(item, "fixturenames", ())
        if (
            engines & FULL_SUITE_ENGINES
            or uses_postgres
            or item.nodeid.startswith(FULL_SUITE_FILES)
        ):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole session (started on first use)."""
    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated product database: a SQLite file, then a database on a real PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'facet.db'}"
        engine = make_engine(url)
        upgrade_database(engine)
        engine.dispose()
        return url
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture(params=STORES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A product database that does not exist yet (SQLite) or is empty (PostgreSQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new' / 'facet.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database(migrated=False)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The store's engine, on each database Facet supports (created by the migrations)."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store_settings(settings: Settings, database_url: str) -> Settings:
    """Settings whose product database is each supported store in turn."""
    return settings.model_copy(update={"db": DbSettings(url=database_url)})


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample catalogue ingested and built under a home on SQLite, once (copy it to write)."""
    home = tmp_path_factory.mktemp("built-home")
    for step in (["ingest", str(SAMPLE_CATALOG)], ["build"]):
        result = facet(home, *step)
        assert result.exit_code == 0, result.output
    return home


def facet(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run `facet --home HOME ARGS...` as a user would (in-process); checks nothing.

    Tests of other packages (the API's, the fault suite's) set up their data through this, the
    command line, rather than by importing the indexer's internals.
    """
    return CliRunner().invoke(facet_app, ["--home", str(home), *args], env=env)


def store_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `facet` use the same product database and index backend as
    `settings`."""
    database = {"FACET_DB__URL": settings.db.url} if settings.db.url else {}
    return {**database, "FACET_INDEX__BACKEND": settings.index.backend}


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


__all__ = ["DbSettings", "REPO", "SAMPLE_CATALOG", "facet", "store_env", "write_csv", "write_jsonl"]
