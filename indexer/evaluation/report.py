"""`facet evaluate --report DIR`: report.json and a self-contained report.html to look at."""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import asdict
from pathlib import Path

from PIL import Image
from sqlalchemy import Engine, select

from indexer.evaluation.evaluate import EvaluationReport
from search.decoding import decode_image
from search.errors import ImageDecodeError
from search.files import file_path, is_url
from search.models import ProductImage

THUMBNAIL = 112


def write_report(report: EvaluationReport, folder: Path, engine: Engine) -> None:
    """Write report.json (every number and ranking) and report.html (worst queries first)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"summary": report.summary(), "queries": [asdict(o) for o in report.outcomes]}
    (folder / "report.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    uris = _image_uris(engine, {r["image_id"] for o in report.outcomes for r in o.results})
    thumbnails: dict[str, str] = {}

    def thumbnail(uri: str) -> str:
        if uri not in thumbnails:
            thumbnails[uri] = _thumbnail(uri)
        return thumbnails[uri]

    worst_first = sorted(report.outcomes, key=lambda o: -(o.rank or 10**9))
    rows = []
    for outcome in worst_first:
        cells = []
        for rank, result in enumerate(outcome.results, start=1):
            mark = "right" if result["relevant"] else "wrong"
            source = thumbnail(uris.get(result["image_id"], ""))
            cells.append(
                f'<figure class="{mark}"><img src="{source}" alt="">'
                f"<figcaption>{rank}. {html.escape(result['sku'])}<br>"
                f"{result['score']:.3f}</figcaption></figure>"
            )
        found = f"rank {outcome.rank}" if outcome.rank else "not found"
        query_source = thumbnail(Path(outcome.image).as_uri())
        rows.append(
            f'<tr><td><figure><img src="{query_source}" alt=""><figcaption>'
            f"{html.escape(outcome.expected)}<br>{found}</figcaption></figure></td>"
            f'<td class="results">{"".join(cells)}</td></tr>'
        )
    summary = report.summary()
    figures = "".join(
        f"<li>{html.escape(key)}: {html.escape(str(value))}</li>" for key, value in summary.items()
    )
    page = PAGE.format(figures=figures, rows="".join(rows))
    (folder / "report.html").write_text(page, encoding="utf-8")


def _image_uris(engine: Engine, image_ids: set[int]) -> dict[int, str]:
    if not image_ids:
        return {}
    with engine.connect() as connection:
        rows = connection.execute(
            select(ProductImage.id, ProductImage.uri).where(ProductImage.id.in_(image_ids))
        ).all()
    return {image_id: uri for image_id, uri in rows}


def _thumbnail(uri: str) -> str:
    """A small JPEG as a data URI, so the report is one file; remote images stay links."""
    if is_url(uri):
        return html.escape(uri)
    try:
        image: Image.Image = decode_image(file_path(uri), draft_size=THUMBNAIL)
    except (ImageDecodeError, OSError):
        return ""
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Facet evaluation</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; }}
table {{ border-collapse: collapse; }}
td {{ border-top: 1px solid #ddd; padding: 0.5rem; vertical-align: top; }}
figure {{ display: inline-block; margin: 0 0.4rem 0 0; text-align: center; font-size: 0.75rem; }}
img {{ width: 112px; height: 112px; object-fit: contain; background: #f4f4f4; }}
.right img {{ outline: 4px solid #2e7d32; }}
.wrong img {{ outline: 1px solid #ccc; }}
</style></head><body>
<h1>Facet evaluation</h1><ul>{figures}</ul>
<p>Each query photo, then its results best first; green = relevant. Worst queries first.</p>
<table>{rows}</table></body></html>
"""
