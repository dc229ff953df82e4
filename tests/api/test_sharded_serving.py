"""A sharded build of the sample catalogue: lists memory-mapped from disk, served, changed by
admin writes, checked by `facet verify`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from search.builds import BuildStore
from search.config import ApiSettings, Settings
from search.ondisk import LISTS_FILE
from search.ondisk_index import OnDiskIndex
from tests.api.test_admin import KEY, QUERIES, assert_consistent, photo, top, top_sku
from tests.conftest import facet


@pytest.fixture
def sharded_settings(built_home: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(built_home, home)
    result = facet(home, "build", "--shards", "2", "--rebuild", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["index"]["ntotal"] == 81
    return Settings(home=home, api=ApiSettings(api_key=SecretStr("s3cret")))


def mapped_lists() -> list[str]:
    return [line for line in Path("/proc/self/maps").read_text().splitlines() if LISTS_FILE in line]


def test_the_command_line_searches_and_verifies_a_sharded_build(sharded_settings: Settings) -> None:
    home = sharded_settings.home
    store = BuildStore(sharded_settings.index_dir)
    manifest = store.manifest(store.current_id() or "")
    assert manifest.lists == "disk" and (store.builds / manifest.build_id / LISTS_FILE).is_file()
    result = facet(home, "search", str(QUERIES / "Banana.jpg"), "--k", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["sku"] == "Banana"
    result = facet(home, "verify", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"]
    result = facet(home, "build", "--json")  # nothing changed: nothing to publish
    assert result.exit_code == 0 and json.loads(result.stdout)["index"]["build_id"] is None


def test_the_service_maps_the_lists_and_admin_writes_publish_new_on_disk_builds(
    sharded_settings: Settings,
) -> None:
    fields = {"title": "Banana bunch", "category": "Banana", "price": "1.5"}
    with TestClient(create_app(sharded_settings)) as client:
        live = client.app.state.service.index.current()  # type: ignore[attr-defined]
        assert isinstance(live.searcher.index, OnDiskIndex)
        assert any(" r--s " in line for line in mapped_lists())
        assert top_sku(client, "Banana.jpg") == "Banana"
        response = client.put(
            "/v1/products/NEW-1", headers=KEY, files=[("images", photo("Lime.jpg"))], data=fields
        )
        assert response.status_code == 201, response.text
        sku, score = top(client, "Lime.jpg")
        assert sku == "NEW-1" and score > 0.999
        assert client.delete("/v1/products/Banana", headers=KEY).status_code == 204
        assert top_sku(client, "Banana.jpg") != "Banana"
    assert_consistent(sharded_settings)
    store = BuildStore(sharded_settings.index_dir)
    manifest = store.manifest(store.current_id() or "")
    assert manifest.lists == "disk" and manifest.ntotal == 81 + 1 - 1
    assert not [path for path in store.builds.iterdir() if path.name.startswith(".scratch-")]

    with TestClient(create_app(sharded_settings)) as restarted:
        assert top_sku(restarted, "Lime.jpg") == "NEW-1"
        assert top_sku(restarted, "Banana.jpg") != "Banana"
