"""An app over a real SQLite store and a real index of the sample catalogue (built once)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from search.config import Settings
from tests.conftest import SAMPLE_CATALOG, facet


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("built-home")
    for step in (["ingest", str(SAMPLE_CATALOG)], ["build"]):
        result = facet(home, *step)
        assert result.exit_code == 0, result.output
    return home


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
