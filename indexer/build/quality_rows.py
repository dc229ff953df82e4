"""Writing photo quality checks to the product store (the `image_quality` table)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table

from search.db import upsert, utcnow
from search.models import ImageQuality
from search.photo_quality import PhotoCheck

QUALITY = cast(Table, ImageQuality.__table__)


def quality_row(image_id: int, content_hash: str, check: PhotoCheck) -> dict[str, Any]:
    """The `image_quality` row of one checked image; `excluded` is left as it was (false for a
    new row): the quality step sets it from the verdict and the setting."""
    judgement = check.judgement
    return {
        "image_id": image_id,
        "content_hash": content_hash,
        "verdict": judgement.verdict.value,
        "reasons": ",".join(reason.value for reason in judgement.reasons),
        "measurements": check.measurements.to_dict(),
        "measured_at": utcnow(),
    }


def write_quality(connection: Connection, engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace these rows (one statement for all of them)."""
    if not rows:
        return
    statement = upsert(QUALITY, engine)
    replaced = {name: statement.excluded[name] for name in rows[0] if name != "image_id"}
    connection.execute(
        statement.on_conflict_do_update(index_elements=[QUALITY.c.image_id], set_=replaced),
        list(rows),
    )
