"""`facet evaluate --against`: two builds made with different models, compared query by query.

The catalogue is built so that every ranking is known whatever the models see in the pictures:
a query that is a byte-for-byte copy of a catalogue image finds that image first (cosine 1).

- build 1 (ImageNet Lite0): products A, B, C.
- build 2 (a "permuted" model: Lite0 with its output features shuffled, so vectors of one model
  are meaningless to the other): A, B, C plus P and D, where D's image is a copy of A's query.

Queries: A's (a shifted copy of A's image), B's (a copy of B's image), P's (a copy of P's image).
On build 2, A's query finds D first (worsened); P's is found (improved; P is not in build 1).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from search.backbones import load_backbone
from search.finetuned import ModelInfo, save_model
from tests.conftest import facet, write_csv

COLOURS = {"A": (200, 30, 40), "B": (30, 170, 60), "C": (40, 60, 200), "P": (230, 200, 30)}
CATEGORIES = {"A": "red", "B": "green", "C": "blue", "P": "yellow", "D": "purple"}


def picture(colour: tuple[int, int, int], corner: int) -> Image.Image:
    pixels = np.full((128, 128, 3), 235, dtype=np.uint8)
    pixels[corner : corner + 60, corner : corner + 60] = colour
    pixels[corner + 20 : corner + 40, corner + 20 : corner + 40] = 255 - np.array(colour)
    return Image.fromarray(pixels)


def save_permuted_model(folder: Path) -> None:
    """Lite0 with its feature channels shuffled: the same distances, other vectors."""
    base = load_backbone("efficientnet_lite0")
    order = torch.randperm(base.dim, generator=torch.Generator().manual_seed(7))
    state = base.model.state_dict()
    for name in (
        "conv_head.weight",
        "bn2.weight",
        "bn2.bias",
        "bn2.running_mean",
        "bn2.running_var",
    ):
        state[name] = state[name][order].clone()
    base.model.load_state_dict(state)
    info = ModelInfo(name="permuted", base="efficientnet_lite0", vocabularies={}, dropout=0.0)
    save_model(folder / "permuted", info, base.model, nn.ModuleDict())


def catalogue(folder: Path, skus: list[str]) -> Path:
    rows = [{"sku": sku, "category": CATEGORIES[sku], "images": f"{sku}.png"} for sku in skus]
    return write_csv(folder / f"catalog-{len(skus)}.csv", rows)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compare")
    for sku, colour in COLOURS.items():
        picture(colour, 10).save(folder / f"{sku}.png")
    picture(COLOURS["A"], 50).save(folder / "query-A.png")
    shutil.copyfile(folder / "query-A.png", folder / "D.png")
    shutil.copyfile(folder / "B.png", folder / "query-B.png")
    shutil.copyfile(folder / "P.png", folder / "query-P.png")
    path = folder / "home"
    for args in (
        ("ingest", str(catalogue(folder, ["A", "B", "C"]))),
        ("build",),
        ("ingest", str(catalogue(folder, ["A", "B", "C", "P", "D"]))),
    ):
        result = facet(path, *args)
        assert result.exit_code == 0, result.output
    save_permuted_model(path / "models")
    result = facet(path, "build", "--model", "permuted")
    assert result.exit_code == 0, result.output
    write_csv(
        folder / "queries.csv",
        [
            {"image": f"query-{sku}.png", "sku": sku, "label": CATEGORIES[sku]}
            for sku in ("A", "B", "P")
        ],
    )
    return path


def queries(home: Path) -> str:
    return str(home.parent / "queries.csv")


def build_ids(home: Path) -> tuple[str, str]:
    """(the first build, the live one)."""
    result = facet(home, "builds", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    first, second = (build["build_id"] for build in listing["builds"])
    assert listing["current"] == second
    return first, second


def test_against_reports_both_builds_and_what_changed(home: Path, tmp_path: Path) -> None:
    first, second = build_ids(home)
    result = facet(
        home, "evaluate", queries(home), "--against", first, "--json", "--report", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    current, against = summary["current"], summary["against"]
    assert (current["build_id"], against["build_id"]) == (second, first)
    assert current["backbone"].startswith("permuted-")
    assert against["backbone"].startswith("efficientnet_lite0-")
    assert (summary["improved"], summary["worsened"]) == (1, 1)
    # Current: A second (behind D), B and P first. Against: A and B first, P not indexed.
    assert current["mrr"] == pytest.approx((1 / 2 + 1 + 1) / 3, abs=1e-4)
    assert against["mrr"] == pytest.approx((1 + 1 + 0) / 3, abs=1e-4)
    assert "per_class" not in current  # SKU mode keeps the line small

    report = json.loads((tmp_path / "report.json").read_text())
    ranks = {q["expected"]: (q["current"]["rank"], q["against"]["rank"]) for q in report["queries"]}
    assert ranks == {"A": (2, 1), "B": (1, 1), "P": (1, None)}
    changes = {q["expected"]: q["change"] for q in report["queries"]}
    assert changes == {"A": "worsened", "B": "same", "P": "improved"}
    assert report["current"]["per_class"]["A"]["recall"] == 0.0
    assert report["current"]["confusion"]["A"] == {"D": 1}

    page = (tmp_path / "report.html").read_text()
    rows = page.split('<tr class="query">')[1:]
    assert len(rows) == 3 and all(row.count('class="results"') == 2 for row in rows)
    assert "worsened" in rows[0] and "improved" in rows[-1]  # worst change first
    assert f"current {second}" in rows[0] and f"against {first}" in rows[0]
    assert rows[0].count('class="right"') == 2  # A: second on one build, first on the other


def test_against_previous_is_the_build_before_the_live_one(home: Path) -> None:
    first, _ = build_ids(home)
    by_name = facet(home, "evaluate", queries(home), "--against", "previous", "--json")
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.stdout)["against"]["build_id"] == first
    text = facet(home, "evaluate", queries(home), "--against", "previous")
    assert text.exit_code == 0, text.output
    assert "at rank 1: 1 improved, 1 worsened" in text.stdout


def test_label_mode_per_class_figures_and_confusion(home: Path) -> None:
    result = facet(home, "evaluate", queries(home), "--label-field", "category", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # A's query (red) is taken for D's purple; green and yellow are right.
    assert summary["confusion"] == {
        "red": {"purple": 1},
        "green": {"green": 1},
        "yellow": {"yellow": 1},
    }
    assert summary["per_class"]["red"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert summary["per_class"]["purple"]["support"] == 0
    assert summary["macro_f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["label_accuracy"] == pytest.approx(2 / 3, abs=1e-4)


def test_unknown_build_is_a_one_line_error(home: Path) -> None:
    result = facet(home, "evaluate", queries(home), "--against", "20000101T000000000000Z")
    assert result.exit_code == 1
    assert "no index build '20000101T000000000000Z'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
