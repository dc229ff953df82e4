"""`facet evaluate` on the sample catalogue, its report, and its refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.cli import app
from tests.conftest import SAMPLE_CATALOG

runner = CliRunner()
QUERIES = SAMPLE_CATALOG.parent / "queries.csv"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("evaluate-home")
    assert runner.invoke(app, ["--home", str(path), "ingest", str(SAMPLE_CATALOG)]).exit_code == 0
    assert runner.invoke(app, ["--home", str(path), "build"]).exit_code == 0
    return path


def evaluate(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--home", str(home), "evaluate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_sku_mode_metrics_agree_with_the_rankings(home: Path, tmp_path: Path) -> None:
    code, out, err = evaluate(home, str(QUERIES), "--json", "--report", str(tmp_path / "r"))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["queries"] == 6 and summary["mode"] == "sku"
    assert 0 < summary["recall_at_1"] <= summary["recall_at_5"] <= summary["recall_at_10"] <= 1
    assert summary["label_accuracy"] is None

    report = json.loads((tmp_path / "r" / "report.json").read_text())
    ranks = [query["rank"] for query in report["queries"]]
    assert summary["mrr"] == pytest.approx(sum(1 / r for r in ranks if r) / 6, abs=1e-4)
    assert summary["recall_at_1"] == pytest.approx(sum(r == 1 for r in ranks) / 6, abs=1e-4)
    # With one right product per query, AP@10 is 1/rank: mAP@10 equals MRR within the top 10.
    assert summary["map_at_10"] == pytest.approx(
        sum(1 / r for r in ranks if r and r <= 10) / 6, abs=1e-4
    )
    assert set(summary) >= {"macro_precision", "macro_recall", "macro_f1", "build_id", "backbone"}
    assert "per_class" not in summary  # SKU mode: one class per product, only in report.json
    assert {query["predicted"] for query in report["queries"]} <= set(
        report["summary"]["per_class"]
    )
    page = (tmp_path / "r" / "report.html").read_text()
    assert page.count('<tr class="query">') == 6 and "data:image/jpeg;base64," in page
    assert page.count('class="right"') == sum(1 for r in ranks if r)
    assert '<table class="classes">' in page


def test_label_mode_reports_label_accuracy(home: Path) -> None:
    code, out, err = evaluate(home, str(QUERIES), "--label-field", "category", "--exact", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["mode"] == "label:category" and summary["exact"] is True
    assert 0 <= summary["label_accuracy"] <= 1
    assert summary["recall_at_1"] == summary["label_accuracy"]


def test_refusals_are_one_line_errors(home: Path, tmp_path: Path) -> None:
    shutil.copytree(SAMPLE_CATALOG.parent / "queries", tmp_path / "queries")
    cases = {
        "unknown.csv": ("image,sku\nqueries/Lime.jpg,NOT-A-SKU\n", "unknown sku"),
        "columns.csv": ("picture,sku\nqueries/Lime.jpg,Lime\n", "needs the columns image and sku"),
        "missing.csv": ("image,sku\nqueries/none.jpg,Lime\n", "no image file"),
        "empty.csv": ("image,sku\n", "no queries"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_text(content)
        code, _, err = evaluate(home, str(path))
        assert code == 1 and message in err and len(err.strip().splitlines()) == 1, (name, err)
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("image,label\nqueries/Lime.jpg,green\n")
    code, _, err = evaluate(home, str(labelled), "--label-field", "colour")
    assert code == 1 and "no active product has a 'colour'" in err
    code, _, err = evaluate(home, str(tmp_path / "absent.csv"))
    assert code == 1 and "cannot read queries" in err
    code, _, err = evaluate(home, str(QUERIES), "--against", "previous")
    assert code == 1 and "no build before the live one" in err
