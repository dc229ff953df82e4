"""`facet evaluate`: retrieval quality of the live index build, or of two builds compared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from indexer.cli.common import Context, DeviceOption, JsonOption, app, open_store, reports_errors
from indexer.cli.search import open_build

if TYPE_CHECKING:
    from indexer.evaluation.compare import Comparison
    from search.config import Settings

# `--against previous`: the build before the live one, the usual baseline after `facet build`.
PREVIOUS = "previous"
FIGURES = (
    "recall_at_1",
    "recall_at_5",
    "recall_at_10",
    "map_at_10",
    "mrr",
    "label_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
)


@app.command()
@reports_errors
def evaluate(
    ctx: typer.Context,
    queries: Annotated[Path, typer.Argument(help="CSV: image (relative to it) and sku, or label.")],
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Results per query.")] = 10,
    label_field: Annotated[
        str | None,
        typer.Option(
            help="Relevant = same value of this field: category, material, style or an attribute."
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write report.json and report.html into this folder.")
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Probe every list: model quality without ANN loss.")
    ] = False,
    against: Annotated[
        str | None,
        typer.Option(
            metavar="BUILD",
            help="Also evaluate this kept build (an id from `facet builds`, or 'previous') and "
            "compare it with the live one.",
        ),
    ] = None,
    device: DeviceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Measure retrieval quality: Recall@1/5/10, mAP@10, MRR, per-class P/R/F1 (and label
    accuracy); with --against, on two builds and per query what changed at rank 1."""
    from indexer.evaluation.compare import compare_builds
    from indexer.evaluation.evaluate import evaluate as run_evaluation
    from indexer.evaluation.queries import read_queries
    from indexer.evaluation.report import write_comparison_report, write_report

    context: Context = ctx.obj
    settings = context.on_device(device)
    parsed = read_queries(queries, label_field)
    max_pixels = settings.embed.max_image_pixels
    with open_store(settings) as engine:
        # Both builds are opened before either is searched: a wrong id fails at once.
        current = open_build(settings, engine)
        other = open_build(settings, engine, _resolve(settings, against)) if against else None
        if other is None:
            result = run_evaluation(
                engine,
                current,
                parsed,
                k=k,
                label_field=label_field,
                exact=exact,
                max_pixels=max_pixels,
            )
            if report is not None:
                write_report(result, report, engine)
            summary = result.summary()
        else:
            comparison = compare_builds(
                engine,
                current,
                other,
                parsed,
                k=k,
                label_field=label_field,
                exact=exact,
                max_pixels=max_pixels,
            )
            if report is not None:
                write_comparison_report(comparison, report, engine)
            summary = comparison.summary()
    if as_json:
        typer.echo(json.dumps(summary))
    elif other is None:
        _print_one(summary)
    else:
        _print_two(comparison)
    if report is not None and not as_json:
        typer.echo(f"report: {report / 'report.html'}")


def _resolve(settings: Settings, build_id: str) -> str:
    """The build id `--against` names.

    Raises:
        UnknownBuild: 'previous' with no kept build before the live one.
    """
    if build_id != PREVIOUS:
        return build_id
    from search.backends import build_store
    from search.errors import UnknownBuild

    previous = build_store(settings).previous_id()
    if previous is None:
        raise UnknownBuild("no build before the live one is kept: nothing to compare with")
    return previous


def _print_one(summary: dict[str, Any]) -> None:
    exact = ", exact" if summary["exact"] else ""
    typer.echo(f"{summary['queries']} queries ({summary['mode']}{exact}) on {summary['build_id']}")
    for name in FIGURES:
        if summary[name] is not None:
            typer.echo(f"  {name:<16} {summary[name]:.4f}")
    typer.echo(
        f"  latency ms       p50 {summary['latency_p50_ms']}, p95 {summary['latency_p95_ms']}, "
        f"p99 {summary['latency_p99_ms']}"
    )


def _print_two(comparison: Comparison) -> None:
    now, before = comparison.current.summary(), comparison.against.summary()
    exact = ", exact" if now["exact"] else ""
    typer.echo(f"{now['queries']} queries ({now['mode']}{exact})")
    rows: list[tuple[str, str, str]] = [
        ("", "current", "against"),
        ("build", now["build_id"], before["build_id"]),
    ]
    rows += [
        (name, f"{now[name]:.4f}", f"{before[name]:.4f}")
        for name in FIGURES
        if now[name] is not None
    ]
    rows.append(("latency p50 ms", str(now["latency_p50_ms"]), str(before["latency_p50_ms"])))
    width = max(len(cell) for row in rows for cell in row[1:])
    for name, mine, theirs in rows:
        typer.echo(f"  {name:<16} {mine:>{width}}  {theirs:>{width}}")
    typer.echo(
        f"at rank 1: {comparison.count('improved')} improved, "
        f"{comparison.count('worsened')} worsened (right on the current build only / on the "
        "other only)"
    )
