"""The command line stays light: heavy engines load only in the commands that use them."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
