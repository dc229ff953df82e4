"""The pieces of report.html: thumbnails, rankings, figures, per-class and confusion tables."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from pathlib import Path

from PIL import Image
from sqlalchemy import Engine, select

from indexer.evaluation.evaluate import EvaluationReport, QueryOutcome
from indexer.evaluation.metrics import ClassScores
from search.decoding import decode_image
from search.errors import ImageDecodeError
from search.files import file_path, is_url
from search.models import ProductImage

THUMBNAIL = 112
# A confusion matrix with more predicted classes than this is unreadable as a grid (SKU mode:
# one class per product); the most frequent confusions are listed instead.
MAX_MATRIX_CLASSES = 30
MAX_CONFUSIONS_LISTED = 50


class Thumbnails:
    """Small JPEGs as data URIs, so the report is one file; each image is read once."""

    def __init__(self, engine: Engine, outcomes: Iterable[QueryOutcome]) -> None:
        image_ids = {result["image_id"] for o in outcomes for result in o.results}
        self.uris: dict[int, str] = {}
        if image_ids:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(ProductImage.id, ProductImage.uri).where(ProductImage.id.in_(image_ids))
                ).all()
            self.uris = {image_id: uri for image_id, uri in rows}
        self._made: dict[str, str] = {}

    def of_result(self, image_id: int) -> str:
        return self._of(self.uris.get(image_id, ""))

    def of_photo(self, path: str) -> str:
        return self._of(Path(path).as_uri())

    def _of(self, uri: str) -> str:
        if uri not in self._made:
            self._made[uri] = thumbnail_uri(uri)
        return self._made[uri]


def thumbnail_uri(uri: str) -> str:
    """A small JPEG of a local image as a data URI, for self-contained HTML reports; remote
    images stay links, unreadable ones are "" (the page shows no picture)."""
    if not uri:
        return ""
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


def query_cell(outcome: QueryOutcome, thumbnails: Thumbnails, note: str = "") -> str:
    """The query photo with what it should find (and `note`, e.g. how it changed)."""
    note = f"<br>{html.escape(note)}" if note else ""
    return (
        f'<td><figure><img src="{thumbnails.of_photo(outcome.image)}" alt=""><figcaption>'
        f"{html.escape(outcome.expected)}{note}</figcaption></figure></td>"
    )


def ranking_cell(outcome: QueryOutcome, thumbnails: Thumbnails, heading: str = "") -> str:
    """The results best first, relevant ones outlined, and where the first relevant one is."""
    cells = []
    for rank, result in enumerate(outcome.results, start=1):
        mark = "right" if result["relevant"] else "wrong"
        cells.append(
            f'<figure class="{mark}"><img src="{thumbnails.of_result(result["image_id"])}" alt="">'
            f"<figcaption>{rank}. {html.escape(result['sku'])}<br>"
            f"{result['score']:.3f}</figcaption></figure>"
        )
    found = f"rank {outcome.rank}" if outcome.rank else "not found"
    title = f"<p>{html.escape(heading)}{': ' if heading else ''}{found}</p>"
    return f'<td class="results">{title}{"".join(cells)}</td>'


def figures(report: EvaluationReport) -> str:
    """The summary's single figures as a list (per-class ones have their own table)."""
    items = [
        f"<li>{html.escape(key)}: {html.escape(str(value))}</li>"
        for key, value in report.summary().items()
        if not isinstance(value, dict)
    ]
    return f"<ul>{''.join(items)}</ul>"


def figures_side_by_side(current: EvaluationReport, against: EvaluationReport) -> str:
    """Both builds' single figures in one table, with the difference where it is a number."""
    theirs = against.summary()
    rows = []
    for key, value in current.summary().items():
        other = theirs.get(key)
        if isinstance(value, dict):
            continue
        difference = ""
        numbers = (int, float)
        if isinstance(value, numbers) and isinstance(other, numbers) and type(value) is not bool:
            difference = f"{round(value - other, 4):+g}"
        rows.append(
            f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(value))}</td>"
            f"<td>{html.escape(str(other))}</td><td>{difference}</td></tr>"
        )
    head = "<tr><th></th><th>current</th><th>against</th><th>difference</th></tr>"
    return f'<table class="figures">{head}{"".join(rows)}</table>'


def per_class_table(builds: dict[str, EvaluationReport]) -> str:
    """Precision, recall, F1 and support per class, for one or more builds (titled by the keys;
    worst F1 first, by the first build), with the macro averages on top."""
    first = next(iter(builds.values()))
    classes = sorted(
        {name for report in builds.values() for name in report.per_class},
        key=lambda name: _sort_key(first.per_class.get(name), name),
    )
    head = ""
    if len(builds) > 1:  # one column group per build, under its name
        spans = "".join(f'<th colspan="3">{html.escape(title)}</th>' for title in builds)
        head = f"<tr><th></th><th></th>{spans}</tr>"
    head += "<tr><th>class</th><th>support</th>"
    head += "<th>precision</th><th>recall</th><th>F1</th>" * len(builds) + "</tr>"
    macro = "<tr><th>macro average</th><td></td>" + "".join(
        _score_cells(r.macro_precision, r.macro_recall, r.macro_f1) for r in builds.values()
    )
    rows = [macro + "</tr>"]
    for name in classes:
        # Support depends on the queries only, so it is the same in every build that has it.
        support = next(r.per_class[name].support for r in builds.values() if name in r.per_class)
        cells = "".join(
            _score_cells(*_scores(report.per_class.get(name))) for report in builds.values()
        )
        rows.append(f"<tr><th>{html.escape(name)}</th><td>{support}</td>{cells}</tr>")
    return f'<table class="classes">{head}{"".join(rows)}</table>'


def _sort_key(scores: ClassScores | None, name: str) -> tuple[bool, float, str]:
    if scores is None:
        return (True, 0.0, name)
    return (scores.support == 0, scores.f1, name)


def _scores(scores: ClassScores | None) -> tuple[float | None, float | None, float | None]:
    if scores is None:
        return (None, None, None)
    return (scores.precision, scores.recall, scores.f1)


def _score_cells(*values: float | None) -> str:
    return "".join(f"<td>{'' if v is None else f'{v:.3f}'}</td>" for v in values)


def confusion_table(confusion: dict[str, dict[str, int]]) -> str:
    """True class (rows) x predicted class (columns) counts, or, with too many predicted classes
    to draw, the most frequent mistakes."""
    predicted = sorted({name for row in confusion.values() for name in row})
    if len(predicted) > MAX_MATRIX_CLASSES:
        return _frequent_confusions(confusion)
    head = "<tr><th>true \\ predicted</th>" + "".join(
        f"<th>{html.escape(name)}</th>" for name in predicted
    )
    rows = [head + "</tr>"]
    for true_class in sorted(confusion):
        cells = []
        for name in predicted:
            count = confusion[true_class].get(name, 0)
            mark = ' class="diagonal"' if name == true_class and count else ""
            cells.append(f"<td{mark}>{count or ''}</td>")
        rows.append(f"<tr><th>{html.escape(true_class)}</th>{''.join(cells)}</tr>")
    return f'<table class="confusion">{"".join(rows)}</table>'


def _frequent_confusions(confusion: dict[str, dict[str, int]]) -> str:
    mistakes = sorted(
        (
            (count, true_class, predicted)
            for true_class, row in confusion.items()
            for predicted, count in row.items()
            if predicted != true_class
        ),
        key=lambda mistake: (-mistake[0], mistake[1], mistake[2]),
    )
    if not mistakes:
        return "<p>No query was given another class.</p>"
    items = "".join(
        f"<li>{html.escape(true_class)} taken for {html.escape(predicted)}: {count}</li>"
        for count, true_class, predicted in mistakes[:MAX_CONFUSIONS_LISTED]
    )
    more = len(mistakes) - MAX_CONFUSIONS_LISTED
    tail = f"<p>... and {more} more pairs (report.json has them all).</p>" if more > 0 else ""
    return f"<p>Most frequent confusions (true taken for predicted):</p><ol>{items}</ol>{tail}"


def page(title: str, body: str) -> str:
    return PAGE.format(title=html.escape(title), body=body)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; }}
table {{ border-collapse: collapse; margin-bottom: 1rem; }}
td, th {{ border-top: 1px solid #ddd; padding: 0.5rem; vertical-align: top; }}
.classes td, .confusion td, .figures td {{ text-align: right; padding: 0.2rem 0.5rem; }}
.classes th, .confusion th, .figures th {{ text-align: left; padding: 0.2rem 0.5rem; }}
.confusion .diagonal {{ background: #e3f1e4; }}
figure {{ display: inline-block; margin: 0 0.4rem 0 0; text-align: center; font-size: 0.75rem; }}
img {{ width: 112px; height: 112px; object-fit: contain; background: #f4f4f4; }}
.right img {{ outline: 4px solid #2e7d32; }}
.wrong img {{ outline: 1px solid #ccc; }}
.results p {{ margin: 0 0 0.3rem; font-size: 0.8rem; }}
</style></head><body>
<h1>{title}</h1>
{body}
</body></html>
"""
