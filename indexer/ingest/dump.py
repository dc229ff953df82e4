"""Reading catalogue dump files: CSV or JSONL, plain or gzip, streamed record by record."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, cast

from search.errors import DumpError


class DumpFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


SUFFIXES = {
    ".csv": (DumpFormat.CSV, False),
    ".csv.gz": (DumpFormat.CSV, True),
    ".jsonl": (DumpFormat.JSONL, False),
    ".jsonl.gz": (DumpFormat.JSONL, True),
}


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record of the dump before validation: its fields, or why it could not even be parsed."""

    line: int
    fields: dict[str, Any] | None
    error: str | None = None


def detect_format(path: Path) -> tuple[DumpFormat, bool]:
    """The dump's format and whether it is gzip-compressed, from its file name."""
    name = path.name.lower()
    for suffix, kind in SUFFIXES.items():
        if name.endswith(suffix):
            return kind
    known = ", ".join(SUFFIXES)
    raise DumpError(f"{path}: unknown dump format (expected one of {known})")


class DumpReader:
    """Iterates a dump's records and tells how far into the file it has read.

    Use as a context manager; iterate it once.
    """

    def __init__(self, path: Path, *, known_columns: frozenset[str] = frozenset({"sku"})) -> None:
        """Open a dump.

        Args:
            path: the dump file; its name gives the format.
            known_columns: lower-case names of the columns the caller understands. CSV headers
                match them whatever their case, and are handed back in lower case.
        """
        self.path = path
        self.known_columns = known_columns | {"sku"}
        self.format, self.compressed = detect_format(path)
        try:
            self._raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 (closed in close())
        except IsADirectoryError:
            raise DumpError(f"{path}: is a directory, not a dump file") from None
        except OSError as error:
            raise DumpError(f"{path}: cannot read dump: {error.strerror or error}") from None
        self.total_bytes = os.fstat(self._raw.fileno()).st_size

    def __enter__(self) -> DumpReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._raw.close()

    @property
    def bytes_read(self) -> int:
        """Bytes consumed from the file on disk (compressed bytes for gzip), for progress bars."""
        return self._raw.tell() if not self._raw.closed else self.total_bytes

    def __iter__(self) -> Iterator[RawRecord]:
        stream: IO[bytes] = self._raw
        if self.compressed:
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=self._raw))
        try:
            if self.format is DumpFormat.CSV:
                yield from _read_csv(stream, self.known_columns)
            else:
                yield from _read_jsonl(stream)
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            # A truncated or corrupt gzip stream, or a failing disk: the rest of the file is lost.
            raise DumpError(f"{self.path}: cannot read dump: {error}") from None


def _read_csv(stream: IO[bytes], known_columns: frozenset[str]) -> Iterator[RawRecord]:
    # surrogateescape keeps going past invalid UTF-8, so one bad row is rejected, not the file.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        raise DumpError(f"line 1: unreadable CSV header: {error}") from None
    columns = [_column_name(name, known_columns) for name in header]
    _check_header(columns)
    width = len(columns)
    last_line = reader.line_num
    while True:
        line = last_line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            last_line = reader.line_num
            yield RawRecord(line, None, f"malformed CSV: {error}")
            continue
        last_line = reader.line_num
        if not values or (len(values) == 1 and not values[0].strip()):
            continue  # blank line
        if len(values) != width:
            yield RawRecord(line, None, f"expected {width} fields, found {len(values)}")
            continue
        try:
            "".join(values).encode("utf-8")
        except UnicodeEncodeError:
            yield RawRecord(line, _partial_sku(columns, values), "invalid UTF-8")
            continue
        yield RawRecord(line, dict(zip(columns, values, strict=True)))


def _column_name(header: str, known_columns: frozenset[str]) -> str:
    name = header.strip()
    return name.lower() if name.lower() in known_columns else name


def _check_header(columns: list[str]) -> None:
    seen: set[str] = set()
    for name in columns:
        key = name.lower()
        if key in seen:
            raise DumpError(f"line 1: column {name!r} appears twice in the header")
        seen.add(key)
    if "sku" not in seen:
        raise DumpError("line 1: the header has no 'sku' column")


def _partial_sku(columns: list[str], values: list[str]) -> dict[str, Any] | None:
    """The SKU of a row that cannot be loaded, when readable, so the report can name it."""
    for name, value in zip(columns, values, strict=True):
        if name == "sku":
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return None
            return {"sku": value}
    return None


def _read_jsonl(stream: IO[bytes]) -> Iterator[RawRecord]:
    for line_number, raw in enumerate(stream, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError:
            yield RawRecord(line_number, None, "invalid UTF-8")
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            yield RawRecord(line_number, None, f"invalid JSON: {error.msg} at column {error.colno}")
            continue
        if not isinstance(value, dict):
            yield RawRecord(line_number, None, "not a JSON object")
            continue
        yield RawRecord(line_number, value)
