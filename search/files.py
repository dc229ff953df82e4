"""Local image files named by `file://` URIs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit


def file_path(uri: str) -> Path:
    """The local path of a `file://` URI."""
    return Path(unquote(urlsplit(uri).path))


def file_signature(uri: str) -> str:
    """Size and modification time of a local image: if they are unchanged, so is the file."""
    try:
        stat = file_path(uri).stat()
    except OSError:
        return "missing"
    return f"{stat.st_size}:{stat.st_mtime_ns}"
