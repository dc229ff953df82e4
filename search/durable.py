"""Files that survive a crash: written whole under a temporary name, fsynced, then renamed."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_durably(path: Path, text: str) -> None:
    """Write a small file atomically: to a temporary name, fsync, then rename over the target."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
