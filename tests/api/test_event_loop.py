"""No route touches the database on the event loop thread (it would stall every request)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from tests.conftest import SAMPLE_CATALOG

QUERIES = SAMPLE_CATALOG.parent / "queries"


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_database_reads_run_in_worker_threads(client: TestClient) -> None:
    engine = client.app.state.service.engine  # type: ignore[attr-defined]
    offenders: list[str] = []

    def checkout(*_args: Any) -> None:
        if on_event_loop():
            offenders.append(current)

    event.listen(engine, "checkout", checkout)
    photo = {"image": ("b.jpg", (QUERIES / "Banana.jpg").read_bytes(), "image/jpeg")}
    requests: list[tuple[str, str, Any]] = [
        ("GET", "/v1/images/1", None),
        ("GET", "/v1/products/Banana", None),
        ("GET", "/v1/products/Banana/similar?category=Apple", None),
        ("GET", "/v1/facets", None),
        ("GET", "/v1/ready", None),
        ("POST", "/v1/search?category=Apple", photo),
        ("POST", "/v1/classify", photo),
    ]
    try:
        for method, path, files in requests:
            current = path
            assert client.request(method, path, files=files).status_code == 200, path
    finally:
        event.remove(engine, "checkout", checkout)
    assert offenders == []
