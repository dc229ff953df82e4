"""`facet ingest --full` on damaged dumps and mass deletions, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.cli import app

runner = CliRunner()


def facet(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--home", str(home), *args])
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("facet: error: ")
    return lines[0]


def catalog(path: Path, count: int, first: str | None = None) -> Path:
    lines = [f"P{i},Ring {i},10,p{i}.jpg\n" for i in range(count)]
    if first is not None:
        lines[1] = first
    path.write_text("sku,title,price,images\n" + "".join(lines), encoding="utf-8")
    return path


def products(home: Path) -> dict[str, int]:
    code, out, _ = facet(home, "status", "--json")
    assert code == 0
    result: dict[str, int] = json.loads(out)["products"]
    return result


def test_a_stray_quote_makes_full_delete_nothing_and_exit_non_zero(tmp_path: Path) -> None:
    code, _, _ = facet(tmp_path, "ingest", str(catalog(tmp_path / "1.csv", 1000)))
    assert code == 0
    typo = catalog(tmp_path / "2.csv", 1000, first='A,"Ring 12 inch,10,x.jpg\n')

    code, out, err = facet(tmp_path, "ingest", "--full", "--json", str(typo))

    assert code == 1
    line = one_error_line(err)
    assert "--full: nothing deleted" in line and "line 3" in line
    report = json.loads(out)
    assert report["deleted"] == 0 and report["committed"] is True
    assert "line 3" in report["full_delete_skipped"] and report["damaged"]
    assert products(tmp_path) == {"active": 1000, "deleted": 0}


def test_a_damaged_dump_without_full_keeps_its_rows_and_exits_non_zero(tmp_path: Path) -> None:
    dump = catalog(tmp_path / "1.csv", 5, first='P1,"Ring,10,x.jpg\n')
    code, out, err = facet(tmp_path, "ingest", str(dump))
    assert code == 1
    assert "damaged dump" in one_error_line(err)
    assert "line 3" in out
    assert products(tmp_path) == {"active": 1, "deleted": 0}


def test_full_refuses_a_mass_deletion_unless_max_delete_allows_it(tmp_path: Path) -> None:
    facet(tmp_path, "ingest", str(catalog(tmp_path / "1.csv", 10)))
    smaller = catalog(tmp_path / "2.csv", 7)

    code, out, err = facet(tmp_path, "ingest", "--full", str(smaller))
    assert code == 1 and out == ""
    line = one_error_line(err)
    assert "would delete 3 of 10 active products (30.0%)" in line
    assert "--max-delete 30" in line
    assert products(tmp_path) == {"active": 10, "deleted": 0}

    code, _, err = facet(tmp_path, "ingest", "--full", "--max-delete", "29.9", str(smaller))
    assert code == 1 and "over the 29.9% limit" in err

    code, out, _ = facet(tmp_path, "ingest", "--full", "--max-delete", "30", "--json", str(smaller))
    assert code == 0 and json.loads(out)["deleted"] == 3
    assert products(tmp_path) == {"active": 7, "deleted": 3}


def test_the_delete_limit_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    facet(tmp_path, "ingest", str(catalog(tmp_path / "1.csv", 4)))
    monkeypatch.setenv("FACET_INGEST__MAX_DELETE_PCT", "50")
    code, out, _ = facet(
        tmp_path, "ingest", "--full", "--json", str(catalog(tmp_path / "2.csv", 2))
    )
    assert code == 0 and json.loads(out)["deleted"] == 2


def test_max_delete_must_be_a_percentage(tmp_path: Path) -> None:
    code, _, _ = facet(tmp_path, "ingest", "--full", "--max-delete", "101", "x.csv")
    assert code == 2
