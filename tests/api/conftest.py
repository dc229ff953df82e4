"""An app over a real store (SQLite, or PostgreSQL) and a real index of the sample catalogue.

The sample catalogue is ingested and built once per store and session; each test works on a
copy (of the home folder, and of the PostgreSQL database).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from search.config import DbSettings, Settings
from tests.conftest import SAMPLE_CATALOG, STORES, facet
from tests.postgres_server import PostgresServer


@pytest.fixture(scope="session")
def built_postgres_home(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """The sample catalogue ingested into a PostgreSQL database and built: (home, its URL)."""
    home = tmp_path_factory.mktemp("built-pg-home")
    url = postgres.new_database()
    for step in (["ingest", str(SAMPLE_CATALOG)], ["build"]):
        result = facet(home, *step, env={"FACET_DB__URL": url})
        assert result.exit_code == 0, result.output
    return home, url


@pytest.fixture(params=STORES)
def store_api_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """A built copy of the sample catalogue on each supported product store in turn."""
    home = tmp_path / "home"
    if request.param == "sqlite":
        shutil.copytree(request.getfixturevalue("built_home"), home)
        return Settings(home=home)
    built, url = request.getfixturevalue("built_postgres_home")
    shutil.copytree(built, home)
    server: PostgresServer = request.getfixturevalue("postgres")
    return Settings(home=home, db=DbSettings(url=server.copy_database(url)))


@pytest.fixture
def api_settings(built_home: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(built_home, home)
    return Settings(home=home)


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture
def empty_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(home=tmp_path / "empty"))) as test_client:
        yield test_client
