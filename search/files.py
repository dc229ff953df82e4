"""Local image files named by `file://` URIs, and reading them safely."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit

from search.errors import UnsafeImageFile

# Pseudo-filesystems whose "files" are not images: reading them can hang, leak or never end.
PSEUDO_ROOTS = ("/proc", "/sys", "/dev")


def is_url(uri: str) -> bool:
    """Whether an image reference is an http(s) URL (schemes compare case-insensitively)."""
    return urlsplit(uri).scheme.lower() in ("http", "https")


def file_path(uri: str) -> Path:
    """The local path of a `file://` URI.

    Raises:
        ValueError: the URI has another scheme (e.g. `HTTP://host/etc/passwd` is not a file).
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ("file", ""):
        raise ValueError(f"not a local file: {uri!r}")
    return Path(unquote(parts.path))


def download_cache_path(cache_dir: Path, url: str) -> Path:
    """Where the download cache keeps the bytes of an http(s) image (keyed by its URL)."""
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()
    return cache_dir / key[:2] / key


def file_signature(uri: str) -> str:
    """Size and modification time of a local image: if they are unchanged, so is the file."""
    try:
        status = file_path(uri).stat()
    except (OSError, ValueError):
        return "missing"
    return f"{status.st_size}:{status.st_mtime_ns}"


def read_regular_file(path: Path, *, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, without ever blocking on it.

    FIFOs, devices, sockets and files of pseudo-filesystems (`/proc`, `/sys`, `/dev`) are
    refused before they are read; the file is opened non-blocking, so a FIFO swapped in after
    the check cannot hang the reader, and checked again once open.

    Raises:
        OSError: the file is missing or unreadable.
        UnsafeImageFile: not a regular file ("not-a-file") or over `max_bytes` ("too-large").
    """
    real = os.path.realpath(path)
    if any(real == root or real.startswith(root + "/") for root in PSEUDO_ROOTS):
        raise UnsafeImageFile("not-a-file", f"{path}: not an image file ({real})")
    _check(path, os.stat(real), max_bytes)
    descriptor = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as handle:
        opened = os.fstat(handle.fileno())
        _check(path, opened, max_bytes)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeImageFile("too-large", f"{path}: more than {max_bytes} bytes")
    return data


def _check(path: Path, status: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise UnsafeImageFile("not-a-file", f"{path}: not a regular file")
    if status.st_size > max_bytes:
        raise UnsafeImageFile("too-large", f"{path}: {status.st_size} bytes, limit {max_bytes}")
