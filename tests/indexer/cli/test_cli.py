"""The `facet` command line as a user runs it: exit codes, one-line errors, reports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from indexer.cli import app
from migrations.runner import head_revision
from search.db import make_engine
from search.models import ProductImage
from tests.conftest import SAMPLE_CATALOG, write_csv

runner = CliRunner()


def facet(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--home", str(home), *args])
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, stderr: str, fragment: str) -> None:
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("facet: error: ") and fragment in lines[0]


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "status", "db"):
        assert command in result.stdout


def test_ingest_the_sample_catalog(tmp_path: Path) -> None:
    code, out, _ = facet(tmp_path, "ingest", str(SAMPLE_CATALOG))
    assert code == 0, out
    assert re.search(r"inserted +81\n", out) and re.search(r"rejected +0\n", out)

    code, out, _ = facet(tmp_path, "status", "--json")
    stats = json.loads(out)
    assert stats["products"] == {"active": 81, "deleted": 0}
    assert stats["images"] == {"pending": 81} and stats["revision"] == 1

    engine = make_engine(f"sqlite:///{tmp_path / 'facet.db'}")
    with Session(engine) as session:
        uris = session.scalars(select(ProductImage.uri)).all()
    engine.dispose()
    assert all(Path(unquote(urlsplit(uri).path)).is_file() for uri in uris)

    code, out, _ = facet(tmp_path, "ingest", "--json", str(SAMPLE_CATALOG))
    report = json.loads(out)
    assert code == 0 and report["unchanged"] == 81 and report["inserted"] == 0


def test_home_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACET_HOME", str(tmp_path / "env-home"))
    result = runner.invoke(app, ["ingest", str(SAMPLE_CATALOG)])
    assert result.exit_code == 0
    assert (tmp_path / "env-home" / "facet.db").is_file()


def test_missing_dump_is_a_one_line_error(tmp_path: Path) -> None:
    code, _, err = facet(tmp_path, "ingest", str(tmp_path / "nope.csv"))
    assert_one_line_error(code, err, "No such file")


def test_unknown_format_is_a_one_line_error(tmp_path: Path) -> None:
    dump = tmp_path / "catalog.xml"
    dump.write_text("<catalog/>")
    code, _, err = facet(tmp_path, "ingest", str(dump))
    assert_one_line_error(code, err, "unknown dump format")


def test_strict_rejection_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    dump = write_csv(tmp_path / "c.csv", [{"sku": "A", "price": "1"}, {"sku": "B", "price": "x"}])
    code, out, err = facet(tmp_path, "ingest", "--strict", str(dump))
    assert_one_line_error(code, err, "--strict: 1 row(s) rejected, nothing was written")
    assert "line 3 (sku 'B'): unparseable price 'x'" in out
    code, out, _ = facet(tmp_path, "status", "--json")
    assert json.loads(out)["products"] == {"active": 0, "deleted": 0}


def test_rejected_rows_without_strict_exit_zero_and_go_to_the_rejects_file(
    tmp_path: Path,
) -> None:
    dump = write_csv(tmp_path / "c.csv", [{"sku": "A", "price": "1"}, {"sku": "", "price": "2"}])
    rejects = tmp_path / "rejects.jsonl"
    code, out, _ = facet(tmp_path, "ingest", "--rejects", str(rejects), "--json", str(dump))
    assert code == 0
    assert json.loads(out)["rejected"] == 1
    assert json.loads(rejects.read_text()) == {"line": 3, "reason": "missing sku", "sku": None}


def test_full_deletes_absent_products(tmp_path: Path) -> None:
    facet(tmp_path, "ingest", str(write_csv(tmp_path / "1.csv", [{"sku": "A"}, {"sku": "B"}])))
    dump = write_csv(tmp_path / "2.csv", [{"sku": "A"}])
    # Half the catalogue goes: over the default 10% limit, so the run must allow it.
    code, out, _ = facet(tmp_path, "ingest", "--full", "--max-delete", "50", "--json", str(dump))
    assert code == 0 and json.loads(out)["deleted"] == 1
    code, out, _ = facet(tmp_path, "status", "--json")
    assert json.loads(out)["products"] == {"active": 1, "deleted": 1}


def test_a_broken_database_is_a_one_line_error(tmp_path: Path) -> None:
    tmp_path.joinpath("facet.db").write_bytes(b"this is not a database" * 100)
    code, _, err = facet(tmp_path, "status")
    assert_one_line_error(code, err, "database:")


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    head = head_revision()
    code, out, _ = facet(tmp_path, "db", "upgrade")
    assert code == 0 and f"upgraded from empty to {head}" in out
    code, out, _ = facet(tmp_path, "db", "upgrade")
    assert code == 0 and f"already at {head}" in out
    code, out, _ = facet(tmp_path, "db", "current")
    assert code == 0 and f"database at {head}; newest migration {head}" in out


def test_a_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = {"FACET_INDEX__TARGET_RECALL": "5"}
    result = runner.invoke(app, ["--home", str(tmp_path), "status"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("facet: error: setting FACET_INDEX__TARGET_RECALL: ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        # psycopg's message spans two lines ("Is the server running on that host...").
        (
            "postgresql+psycopg://facet@127.0.0.1:1/facet",
            ["database: OperationalError: (psycopg.OperationalError)"],
        ),
        ("mysql://facet@localhost/facet", ["setting FACET_DB__URL: ", "'mysql' is not supported"]),
    ],
)
def test_a_database_that_cannot_be_used_is_a_one_line_error(
    url: str, fragments: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACET_DB__URL", url)
    code, _, err = facet(tmp_path, "status")
    for fragment in fragments:
        assert_one_line_error(code, err, fragment)
