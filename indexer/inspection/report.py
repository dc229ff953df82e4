"""`facet inspect --report DIR`: report.json, report.html and one heatmap overlay PNG per photo."""

from __future__ import annotations

import base64
import html
import io
import json
import os
import secrets
from pathlib import Path
from typing import Any

from PIL import Image

from search.decoding import decode_image
from search.durable import fsync_path, write_durably
from search.inspection.heatmap import overlay_png
from search.inspection.inspector import Inspection, ReadyBank
from search.inspection.references import Photo

THUMBNAIL = 256
STYLE = """body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{padding:.4em .8em;border-bottom:1px solid #ddd;vertical-align:middle;text-align:left}
img{max-width:256px;max-height:256px}.suspect{color:#b00;font-weight:bold}.ok{color:#070}"""


def summary(ready: ReadyBank, results: list[Inspection]) -> dict[str, Any]:
    """The command's JSON answer (also report.json)."""
    return {
        "reference": {
            "label": ready.label,
            "photos": ready.photos,
            "reused": ready.reused,
            "model": ready.bank.model,
            "bank_patches": int(ready.bank.patches.shape[0]),
            "threshold": ready.bank.threshold,
            "calibration_scores": ready.bank.calibration.scores,
        },
        "results": [
            {
                "photo": result.name,
                "score": result.score,
                "threshold": result.threshold,
                "verdict": str(result.verdict),
                "peak": {"x": round(result.peak[0], 4), "y": round(result.peak[1], 4)},
            }
            for result in results
        ],
    }


def write_report(
    folder: Path, ready: ReadyBank, photos: list[Photo], results: list[Inspection]
) -> None:
    """Write the report into `folder` (created); every file is written atomically."""
    heatmaps = folder / "heatmaps"
    heatmaps.mkdir(parents=True, exist_ok=True)
    rows = []
    # Most anomalous first: the photos someone has to look at.
    order = sorted(range(len(results)), key=lambda i: -results[i].score)
    for rank, index in enumerate(order, start=1):
        photo, result = photos[index], results[index]
        picture = decode_image(photo.data, draft_size=THUMBNAIL)
        overlay = f"heatmaps/{rank:03d}.png"
        _write_bytes(folder / overlay, overlay_png(picture, result.heatmap, result.threshold))
        rows.append(
            f"<tr><td>{rank}</td><td><img src='{_jpeg_uri(picture)}' alt=''></td>"
            f"<td><img src='{overlay}' alt='heatmap'></td><td>{html.escape(result.name)}</td>"
            f"<td>{result.score:.3f}</td><td class='{result.verdict}'>{result.verdict}</td></tr>"
        )
    data = summary(ready, results)
    reference = data["reference"]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Facet inspection</title>"
        f"<style>{STYLE}</style></head><body><h1>Inspection against "
        f"{html.escape(ready.label)}</h1><p>{reference['photos']} good photos, model "
        f"{html.escape(ready.bank.model)}, threshold {ready.bank.threshold:.3f} (a photo scoring "
        "above it is suspect). Hot colours: patches far from every good patch.</p>"
        "<table><tr><th>#</th><th>photo</th><th>heatmap</th><th>name</th><th>score</th>"
        f"<th>verdict</th></tr>{''.join(rows)}</table></body></html>"
    )
    write_durably(folder / "report.json", json.dumps(data, indent=1))
    write_durably(folder / "report.html", page)


def _jpeg_uri(picture: Image.Image) -> str:
    small = picture.copy()
    small.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _write_bytes(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_path(path.parent)
