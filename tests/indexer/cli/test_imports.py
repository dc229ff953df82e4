"""The command line stays light: heavy engines load only in the commands that use them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_csv

HEAVY = ("torch", "timm", "faiss", "torchvision")


@pytest.mark.parametrize("argv", [["--help"], ["ingest", "--help"], ["status", "--help"]])
def test_the_cli_imports_no_model_or_index_engine(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from indexer.cli import app\n"
        f"try:\n    app({argv!r})\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_an_ingest_loads_no_model_or_index_engine(tmp_path: Path) -> None:
    dump = write_csv(tmp_path / "d.csv", [{"sku": "A", "title": "Ring", "images": "a.jpg"}])
    code = (
        "import sys\n"
        "from indexer.cli import app\n"
        f"try:\n    app(['--home', {str(tmp_path / 'home')!r}, 'ingest', {str(dump)!r}])\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
