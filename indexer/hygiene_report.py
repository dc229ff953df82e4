"""The HTML reports of `facet quality` and `facet duplicates`: one self-contained page each."""

from __future__ import annotations

import html
from pathlib import Path

from indexer.evaluation.report_html import thumbnail_uri
from search.duplicates import DuplicateReport
from search.durable import write_durably
from search.quality_list import Flagged

STYLE = (
    "<style>body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:.4em;"
    "width:150px;vertical-align:top;font-size:12px}img{max-width:140px;max-height:140px}"
    ".fail{color:#b00}.warn{color:#a60}</style>"
)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{STYLE}</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _figure(uri: str, caption: str, css: str = "") -> str:
    return (
        f'<figure class="{css}"><img src="{thumbnail_uri(uri)}" alt="">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def write_quality_report(folder: Path, worst: dict[str, list[Flagged]], counts: str) -> Path:
    """`folder/quality.html`: the worst images of each reason, as thumbnails."""
    sections = [f"<p>{html.escape(counts)}</p>"]
    for reason, items in worst.items():
        figures = "".join(
            _figure(
                item.uri,
                f"{html.escape(item.sku)} #{item.image_id}<br><b class='{item.verdict}'>"
                f"{item.verdict}</b>: {html.escape(', '.join(item.reasons))}",
                item.verdict,
            )
            for item in items
        )
        sections.append(f"<h2>{html.escape(reason)} ({len(items)})</h2>{figures}")
    return _write(folder / "quality.html", _page("Photo quality", "".join(sections)))


def write_duplicates_report(folder: Path, report: DuplicateReport) -> Path:
    """`folder/duplicates.html`: each cluster with its SKUs and titles."""
    sections = [
        f"<p>{len(report.clusters)} clusters, {report.pairs} pairs of different products "
        f"matching &ge; {report.threshold}</p>"
    ]
    for number, cluster in enumerate(report.clusters, start=1):
        figures = "".join(
            _figure(m.uri, f"{html.escape(m.sku)}<br>{html.escape(m.title or '')}")
            for m in cluster.members
        )
        sections.append(
            f"<h2>cluster {number}: {len(cluster.members)} images "
            f"(match &ge; {cluster.min_match:.3f})</h2>{figures}"
        )
    if report.within_product:
        rows = "".join(
            f"<li>{html.escape(sku)}: images {', '.join(map(str, ids))}</li>"
            for sku, ids in report.within_product
        )
        sections.append(f"<h2>the same image twice within one product</h2><ul>{rows}</ul>")
    return _write(folder / "duplicates.html", _page("Near-duplicate photos", "".join(sections)))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_durably(path, text)
    return path
