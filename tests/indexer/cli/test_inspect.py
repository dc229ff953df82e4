"""`facet inspect` end to end on the sample catalogue and on a folder of generated products."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.conftest import REPO, facet
from tests.search.inspection.synthetic import product_png

APPLE = REPO / "scripts" / "sample_catalog" / "images" / "Granny-Smith.jpg"


@pytest.fixture
def home(built_home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(built_home, copy)
    return copy


def damaged(source: Path, target: Path) -> Path:
    """The photo with a dark scratch and a blotch planted on it."""
    image = Image.open(source).convert("RGB")
    draw = ImageDraw.Draw(image)
    width, height = image.size
    draw.line((width * 0.3, height * 0.35, width * 0.7, height * 0.55), fill=(20, 20, 20), width=5)
    draw.ellipse((width * 0.55, height * 0.6, width * 0.7, height * 0.75), fill=(40, 40, 200))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    target.write_bytes(buffer.getvalue())
    return target


def test_a_category_reference_flags_a_damaged_photo(home: Path, tmp_path: Path) -> None:
    bad = damaged(APPLE, tmp_path / "bad.png")
    report = tmp_path / "report"
    result = facet(
        home, "inspect", "--reference", "Apple", str(APPLE), str(bad), "--json",
        "--report", str(report),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["reference"]["label"] == "category:Apple"
    assert answer["reference"]["photos"] == 5 and not answer["reference"]["reused"]
    verdicts = {row["photo"]: row["verdict"] for row in answer["results"]}
    assert verdicts == {"Granny-Smith.jpg": "ok", "bad.png": "suspect"}
    assert (report / "report.html").is_file() and len(list((report / "heatmaps").iterdir())) == 2
    assert "bad.png" in (report / "report.html").read_text()
    again = facet(home, "inspect", "--reference", "category:Apple", str(APPLE))
    assert again.exit_code == 0 and "stored bank reused" in again.output


def test_a_folder_reference(home: Path, tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    for seed in range(5):
        (good / f"good-{seed}.png").write_bytes(product_png(seed))
    (tmp_path / "scratched.png").write_bytes(product_png(50, scratch=True))
    (tmp_path / "clean.png").write_bytes(product_png(51))
    result = facet(
        home, "inspect", "--reference", str(good),
        str(tmp_path / "clean.png"), str(tmp_path / "scratched.png"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "5 good photos, bank built and stored" in lines[0]
    assert lines[1].split()[0] == "ok" and lines[1].split()[2] == "clean.png"
    assert lines[2].split()[0] == "suspect" and lines[2].split()[2] == "scratched.png"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("No-Such-Thing", "no folder, active product or category"),
        ("sku:No-Such-Sku", "no active product 'No-Such-Sku'"),
        ("Granny-Smith", "sku:Granny-Smith: 1 readable good photo(s), inspection needs at least 3"),
    ],
)
def test_bad_references_are_one_line_errors(home: Path, reference: str, message: str) -> None:
    result = facet(home, "inspect", "--reference", reference, str(APPLE))
    assert result.exit_code == 1
    assert result.output.startswith("facet: error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unreadable_photos_are_one_line_errors(home: Path, tmp_path: Path) -> None:
    missing = facet(home, "inspect", "--reference", "Apple", str(tmp_path / "none.jpg"))
    assert missing.exit_code == 1 and "none.jpg: cannot read photo" in missing.output
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a photo")
    result = facet(home, "inspect", "--reference", "Apple", str(junk))
    assert result.exit_code == 1 and result.output.startswith("facet: error: junk.jpg:")
    assert len(result.output.strip().splitlines()) == 1
