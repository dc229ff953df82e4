"""The app factory and its health endpoint, through the real lifespan."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from indexer.ingest import ingest_dump
from search.config import Settings
from search.db import make_engine
from tests.conftest import SAMPLE_CATALOG


def test_health_reports_the_catalogue(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        empty = client.get("/v1/health")
        assert empty.status_code == 200
        assert empty.json()["products"] == {"active": 0, "deleted": 0}

        engine = make_engine(settings.database_url)
        ingest_dump(engine, SAMPLE_CATALOG)
        engine.dispose()

        body = client.get("/v1/health").json()
    assert body["status"] == "ok" and body["products"]["active"] == 81 and body["revision"] == 1
    assert Path(settings.home, "facet.db").is_file()
