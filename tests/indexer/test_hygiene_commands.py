"""`facet build`'s hygiene line, `facet quality`, `facet duplicates` and `facet status` end to end,
on generated photos with a blurred, a blank and a tiny one, a picture reused under another SKU and
one listed twice by its product: each found, the clean photos not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import facet
from tests.hygiene_catalog import PLANTED_QUALITY, build_hygiene_catalog


@pytest.fixture(scope="module")
def hygiene_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The catalogue built once: (its home, the build's output)."""
    return build_hygiene_catalog(tmp_path_factory.mktemp("hygiene"))


def run_json(home: Path, *args: str) -> dict[str, object]:
    result = facet(home, *args, "--json")
    assert result.exit_code == 0, result.output
    parsed: dict[str, object] = json.loads(result.output.strip().splitlines()[-1])
    return parsed


def test_build_prints_the_hygiene_summary_and_where_to_look(hygiene_home: tuple[Path, str]) -> None:
    _, output = hygiene_home
    summary = next(line for line in output.splitlines() if "failed quality" in line)
    assert summary.startswith("3 images failed quality:")
    for reason in ("blurred", "blank", "small"):
        assert reason in summary
    assert "1 near-duplicate pair" in summary
    assert "facet quality [--report DIR], facet duplicates [--report DIR]" in output


def test_quality_lists_the_planted_problems_only(
    hygiene_home: tuple[Path, str], tmp_path: Path
) -> None:
    home, _ = hygiene_home
    found = run_json(home, "quality", "--report", str(tmp_path / "report"))
    by_reason = found["by_reason"]
    assert isinstance(by_reason, dict)
    flagged = {item["sku"]: reason for reason, items in by_reason.items() for item in items}
    assert flagged == PLANTED_QUALITY
    assert found["fail"] == 3
    page = (tmp_path / "report" / "quality.html").read_text()
    assert found["report"] == str(tmp_path / "report" / "quality.html")
    for sku in PLANTED_QUALITY:
        assert sku in page
    assert "P2" not in page
    text = facet(home, "quality").output
    assert "photo quality: 3 failed" in text and "BLUR" in text and "P3" not in text


def test_duplicates_finds_the_reused_picture_only(
    hygiene_home: tuple[Path, str], tmp_path: Path
) -> None:
    home, _ = hygiene_home
    found = run_json(home, "duplicates", "--report", str(tmp_path / "report"))
    clusters = found["clusters"]
    assert isinstance(clusters, list)
    assert [cluster["skus"] for cluster in clusters] == [["COPY1", "P1"]]
    assert clusters[0]["min_match"] >= found["threshold"]
    assert found["pairs"] == 1 and found["unreadable"] == 0
    within = found["within_product"]
    assert isinstance(within, list) and [entry["sku"] for entry in within] == ["TWICE"]
    assert len(within[0]["image_ids"]) == 2
    page = (tmp_path / "report" / "duplicates.html").read_text()
    assert "COPY1" in page and "title of P1" in page and "TWICE" in page and "P2" not in page
    assert page.count("data:image/jpeg;base64,") == 2  # the pictures themselves, inline
    text = facet(home, "duplicates").output
    assert "1 clusters" in text and "COPY1, P1" in text and "same image twice in TWICE" in text


def test_a_strict_threshold_reports_nothing_and_a_bad_one_is_refused(
    hygiene_home: tuple[Path, str],
) -> None:
    home, _ = hygiene_home
    assert run_json(home, "duplicates", "--threshold", "1")["clusters"] == []
    refused = facet(home, "duplicates", "--threshold", "1.5")
    assert refused.exit_code == 1
    assert "facet: error: --threshold 1.5" in refused.output


def test_status_counts_the_verdicts(hygiene_home: tuple[Path, str]) -> None:
    home, _ = hygiene_home
    assert run_json(home, "status")["quality"] == {"ok": 8, "warn": 0, "fail": 3, "excluded": 0}
    assert (
        "quality    8 ok, 0 warn, 3 fail (0 kept out of the index" in facet(home, "status").output
    )


def test_a_large_catalogues_build_leaves_the_duplicate_count_to_facet_duplicates(
    hygiene_home: tuple[Path, str], tmp_path: Path
) -> None:
    # Counting decodes candidate photos again: above the limit the build does not.
    home = tmp_path / "home"
    shutil.copytree(hygiene_home[0], home)
    limit = {"FACET_QUALITY__BUILD_DUPLICATES_MAX_IMAGES": "1"}
    result = facet(home, "build", "--rebuild", "--json", env=limit)
    assert result.exit_code == 0, result.output
    quality = json.loads(result.output.strip().splitlines()[-1])["quality"]
    assert quality["near_duplicate_pairs"] is None
