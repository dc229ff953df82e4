"""Reference banks on disk: FACET_HOME/inspection/<key>/{patches.npy, bank.json}.

Written atomically: the patches first (temporary name, fsync, rename), then bank.json, which
names the patches' SHA-256. A crash between the two leaves a bank.json that does not match its
patches, which reads as no bank: it is rebuilt, never used half-written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
from pathlib import Path

import numpy as np

from search.durable import fsync_path, write_durably
from search.inspection.bank import Calibration, MemoryBank

PATCHES = "patches.npy"
META = "bank.json"


def bank_folder(root: Path, reference: str) -> Path:
    """The folder of a reference's bank: readable, and unique by a hash of the full name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", reference)[:60].strip("-.")
    digest = hashlib.sha256(reference.encode("utf-8")).hexdigest()[:12]
    return root / f"{slug}-{digest}"


def save_bank(folder: Path, bank: MemoryBank) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, bank.patches, allow_pickle=False)
    data = buffer.getvalue()
    temporary = folder / f".{PATCHES}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, folder / PATCHES)
    fsync_path(folder)
    meta = {
        "model": bank.model,
        "references": list(bank.references),
        "recipe": bank.recipe,
        "grid": list(bank.grid),
        "threshold": bank.calibration.threshold,
        "calibration_scores": bank.calibration.scores,
        "patches_sha256": hashlib.sha256(data).hexdigest(),
    }
    write_durably(folder / META, json.dumps(meta, indent=1))


def load_bank(
    folder: Path, *, model: str, references: tuple[str, ...], recipe: str
) -> MemoryBank | None:
    """The stored bank if it was built from exactly these photos, model and settings, else None."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        if (meta["model"], tuple(meta["references"]), meta["recipe"]) != (
            model,
            references,
            recipe,
        ):
            return None
        data = (folder / PATCHES).read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["patches_sha256"]:
            return None
        patches = np.load(io.BytesIO(data), allow_pickle=False)
        calibration = Calibration(
            [float(score) for score in meta["calibration_scores"]], float(meta["threshold"])
        )
        rows, columns = meta["grid"]
        return MemoryBank(
            patches, calibration, (int(rows), int(columns)), model, references, recipe
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
