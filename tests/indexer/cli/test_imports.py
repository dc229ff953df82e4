"""The command line stays light: heavy engines load only in the commands that use them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_csv

HEAVY = ("torch", "timm", "faiss", "torchvision")


def heavy_modules_after(argv: list[str]) -> str:
    """Run `facet ARGV` in a fresh interpreter; the heavy modules it loaded, as printed."""
    code = (
        "import sys\n"
        "from indexer.cli import app\n"
        f"try:\n    app({argv!r})\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("argv", [["--help"], ["ingest", "--help"], ["status", "--help"]])
def test_the_cli_imports_no_model_or_index_engine(argv: list[str]) -> None:
    assert heavy_modules_after(argv) == "[]"


def test_an_ingest_loads_no_model_or_index_engine(tmp_path: Path) -> None:
    dump = write_csv(tmp_path / "d.csv", [{"sku": "A", "title": "Ring", "images": "a.jpg"}])
    assert heavy_modules_after(["--home", str(tmp_path / "home"), "ingest", str(dump)]) == "[]"
