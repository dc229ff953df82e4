"""find_duplicates on a built catalogue: the index proposes, the picture decides, and a photo
that cannot be read is counted, never reported."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from search.backends import build_store
from search.config import Settings
from search.db import make_engine
from search.duplicates import find_duplicates
from search.index import VectorIndex
from tests.hygiene_catalog import build_hygiene_catalog

Live = tuple[Engine, VectorIndex, str, Path]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home, _ = build_hygiene_catalog(tmp_path_factory.mktemp("duplicates"))
    settings = Settings(home=home)
    engine = make_engine(settings.database_url)
    current = build_store(settings, engine).load_current()
    yield engine, current.index, current.manifest.backbone, home
    engine.dispose()


def test_the_index_proposes_more_than_the_picture_confirms(live: Live) -> None:
    engine, index, backbone, _ = live
    found = find_duplicates(engine, index, backbone)
    assert [[member.sku for member in cluster.members] for cluster in found.clusters] == [
        ["COPY1", "P1"]
    ]
    # Every image has neighbours above the cosine floor: the picture match turned them down.
    assert found.candidates > found.pairs == 1
    assert found.within_product == [("TWICE", found.within_product[0][1])]
    assert found.to_dict()["clusters"][0]["skus"] == ["COPY1", "P1"]


def test_a_candidate_that_cannot_be_read_is_counted_not_reported(live: Live) -> None:
    engine, index, backbone, home = live
    copy = home.parent / "COPY1.jpg"
    kept = copy.read_bytes()
    copy.write_bytes(b"gone")
    try:
        found = find_duplicates(engine, index, backbone)
    finally:
        copy.write_bytes(kept)
    assert found.clusters == [] and found.unreadable == 1
