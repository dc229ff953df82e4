"""`facet migrate-store`: a SQLite installation moved to PostgreSQL keeps working as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import SAMPLE_CATALOG, facet, write_csv
from tests.postgres_server import PostgresServer

QUERIES = SAMPLE_CATALOG.parent / "queries"


def ok(home: Path, *args: str, url: str | None = None) -> str:
    result = facet(home, *args, env={"FACET_DB__URL": url} if url else None)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_sqlite_store_moves_to_postgresql(
    built_home: Path, postgres: PostgresServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(built_home, home)
    target = postgres.new_database(migrated=False)
    before = json.loads(ok(home, "status", "--json"))
    found_before = json.loads(ok(home, "search", str(QUERIES / "Lime.jpg"), "--json"))

    copied = json.loads(ok(home, "migrate-store", "--to", target, "--json"))
    assert copied["rows"]["products"] == 81 and copied["rows"]["embeddings"] == 81

    # Same catalogue, same revisions, and the published index is in line with the copy.
    assert json.loads(ok(home, "status", "--json", url=target)) == before
    assert json.loads(ok(home, "verify", "--json", url=target))["ok"] is True
    found_after = json.loads(ok(home, "search", str(QUERIES / "Lime.jpg"), "--json", url=target))
    assert found_after == found_before

    # New rows get new ids (the sequences moved past the copied ones).
    dump = write_csv(
        tmp_path / "new.csv",
        [{"sku": "New-Lime", "title": "New lime", "images": str(QUERIES / "Lime.jpg")}],
    )
    assert json.loads(ok(home, "ingest", str(dump), "--json", url=target))["inserted"] == 1


def test_migrate_store_refuses_a_target_that_holds_a_catalogue(
    built_home: Path, postgres: PostgresServer
) -> None:
    target = postgres.new_database()
    ok(built_home, "migrate-store", "--to", target)
    again = facet(built_home, "migrate-store", "--to", target)
    assert again.exit_code == 1
    (line,) = again.stderr.strip().splitlines()
    assert line.startswith("facet: error: the target database already has rows in ")
    assert line.endswith(": migrate-store only copies into an empty store")
