"""`facet evaluate --report DIR`: report.json and a self-contained report.html to look at."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from indexer.evaluation.compare import Comparison
from indexer.evaluation.evaluate import EvaluationReport
from indexer.evaluation.report_html import (
    Thumbnails,
    confusion_table,
    figures,
    figures_side_by_side,
    page,
    per_class_table,
    query_cell,
    ranking_cell,
)

CLASSES_NOTE = (
    "<p>The top result's {what} read as the query's predicted class. Macro averages are over "
    "the classes that have queries; a class only predicted has support 0.</p>"
)


def write_report(report: EvaluationReport, folder: Path, engine: Engine) -> None:
    """Write report.json (every number and ranking) and report.html (worst queries first)."""
    data = {"summary": report.details(), "queries": [asdict(o) for o in report.outcomes]}
    thumbnails = Thumbnails(engine, report.outcomes)
    rows = [
        f'<tr class="query">{query_cell(outcome, thumbnails)}'
        f"{ranking_cell(outcome, thumbnails)}</tr>"
        for outcome in sorted(report.outcomes, key=lambda o: -(o.rank or 10**9))
    ]
    body = (
        f"{figures(report)}{_classes_section({'': report})}"
        "<h2>Queries</h2><p>Each query photo, then its results best first; green = relevant. "
        f"Worst queries first.</p><table>{''.join(rows)}</table>"
    )
    _write(folder, data, page("Facet evaluation", body))


def write_comparison_report(comparison: Comparison, folder: Path, engine: Engine) -> None:
    """report.json with both builds' figures and rankings; report.html with both rankings of
    each query side by side, the queries that lost their right top result first."""
    current, against = comparison.current, comparison.against
    thumbnails = Thumbnails(engine, current.outcomes + against.outcomes)
    rows = [
        f'<tr class="query">{query_cell(query.current, thumbnails, query.change)}'
        f"{ranking_cell(query.current, thumbnails, f'current {current.build_id}')}"
        f"{ranking_cell(query.against, thumbnails, f'against {against.build_id}')}</tr>"
        for query in comparison.worst_changes_first()
    ]
    body = (
        f"<p>Current build {current.build_id} ({current.backbone}) against "
        f"{against.build_id} ({against.backbone}). At rank 1, of {current.queries} queries: "
        f"{comparison.count('improved')} improved, {comparison.count('worsened')} worsened.</p>"
        f"{figures_side_by_side(current, against)}"
        f"{_classes_section({'current': current, 'against': against})}"
        "<h2>Queries</h2><p>Each query photo, then its results on the current build and on the "
        "other one; green = relevant. Worst changes first.</p>"
        f"<table>{''.join(rows)}</table>"
    )
    _write(folder, comparison.details(), page("Facet evaluation: two builds", body))


def _classes_section(builds: dict[str, EvaluationReport]) -> str:
    """The per-class table of every build, then each build's confusion counts."""
    first = next(iter(builds.values()))
    what = "SKU" if first.mode == "sku" else first.mode.removeprefix("label:")
    confusions = "".join(
        f"<h3>Confusion{f' ({title})' if title else ''}</h3>{confusion_table(report.confusion)}"
        for title, report in builds.items()
    )
    return (
        f"<h2>Per class</h2>{CLASSES_NOTE.format(what=what)}{per_class_table(builds)}{confusions}"
    )


def _write(folder: Path, data: dict[str, Any], html_page: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    (folder / "report.html").write_text(html_page, encoding="utf-8")
