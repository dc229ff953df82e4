"""Retrieval quality on the Grocery Store Dataset (photo -> catalogue item), one ablation row per
technique, then fine-tuning.

    python scripts/bench_quality.py [--dataset DIR] [--epochs 20] [--head-epochs 2]
                                    [--train-backbone NAME] [--skip-training] [--only TEXT]
                                    [--limit N] [--json]

Catalogue: the 81 packshots (sku = fine class, category = coarse class). Queries: the 2,485 test
photos, exact search (`facet evaluate --exact`). Training photos (the train split): labelled for
`facet train`, unlabelled as `--query-photos` for domain centring. Each row is the `facet build`
and `facet evaluate` a user would run, in one temporary FACET_HOME, with the row's settings as
FACET_ variables; its query ms is evaluate's p50 (embedding + search, in one process). A second
home holds a multi-image catalogue (each product's packshot plus 3 training photos) for the
product-score rows. With --json the last line holds baseline_recall_at_1, offshelf_recall_at_1
(the best row without training), finetuned_recall_at_1/_at_5, finetuned_map_at_10,
train_minutes, query_ms_p50 (the default settings' row) and the ablation table. A row whose
`facet` command fails is reported with its error, and the run goes on. Needs the
dataset (not shipped): --dataset DIR, the folder holding classes.csv, train.txt and test.txt.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.quality.dataset import Files, write_files  # noqa: E402
from scripts.quality.heads import head_accuracy  # noqa: E402
from scripts.quality.steps import FacetFailed, Row, Runner, facet  # noqa: E402

DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "grocery"
LITE0, LITE1, LITE2 = (f"efficientnet_lite{n}" for n in range(3))
DEFAULT_ROW = "lite0, raw vectors (the default without query photos)"

OFF_THE_SHELF = [
    Row(DEFAULT_ROW, LITE0),
    Row("lite0 + domain centring (the default with query photos)", LITE0, centring=True),
    Row("lite0 + GeM pooling, raw vectors", f"{LITE0}+gem"),
    Row("lite1, raw vectors", LITE1),
    Row("lite1 + domain centring", LITE1, centring=True),
    Row("lite2 + domain centring", LITE2, centring=True),
    Row("lite1 + GeM pooling + domain centring", f"{LITE1}+gem", centring=True),
    Row("lite1 + centring + PCA-whitening", LITE1, True, {"FACET_INDEX__WHITENING": "whiten"}),
    Row("lite1 + centring + PCA to 64 dims", LITE1, True, {"FACET_INDEX__DIMENSIONS": "64"}),
    Row("lite1 + centring + alpha-QE (3)", LITE1, True, {"FACET_SEARCH__QUERY_EXPANSION": "3"}),
    Row("lite1 + centring + views 1,1f", LITE1, True, {"FACET_EMBED__QUERY_VIEWS": "1,1f"}),
    Row("lite1 + centring + views 1,1.4", LITE1, True, {"FACET_EMBED__QUERY_VIEWS": "1,1.4"}),
    Row("lite1 + centring + views crop", LITE1, True, {"FACET_EMBED__QUERY_VIEWS": "crop"}),
    Row("lite1 + centring + views 1,crop", LITE1, True, {"FACET_EMBED__QUERY_VIEWS": "1,crop"}),
    Row(
        "lite1 + centring + views 1,1f,1.4",
        LITE1,
        True,
        {"FACET_EMBED__QUERY_VIEWS": "1,1f,1.4"},
    ),
    Row(
        "lite1 + centring + views 1,1f,1.4 + PCA to 64 dims",
        LITE1,
        True,
        {"FACET_EMBED__QUERY_VIEWS": "1,1f,1.4", "FACET_INDEX__DIMENSIONS": "64"},
    ),
    *(
        Row(
            f"lite1+gem + centring + PCA to 64 dims{label}",
            f"{LITE1}+gem",
            True,
            {
                "FACET_INDEX__DIMENSIONS": "64",
                **({"FACET_EMBED__QUERY_VIEWS": views} if views else {}),
            },
        )
        for label, views in (
            ("", ""),
            (" + views 1,crop", "1,crop"),
            (" + views 1,1f,1.4", "1,1f,1.4"),
        )
    ),
]
PRODUCT_SCORES = [
    Row(f"multi-image products, score = {how}", LITE1, True, {"FACET_SEARCH__PRODUCT_SCORE": how})
    for how in ("best", "mean", "top2")
]


def fine_tuned_rows(model: str) -> list[Row]:
    return [
        Row("fine-tuned", model, trained=True),
        Row("fine-tuned + domain centring", model, centring=True, trained=True),
        Row(
            "fine-tuned + views 1,1f",
            model,
            trained=True,
            env={"FACET_EMBED__QUERY_VIEWS": "1,1f"},
        ),
        Row(
            "fine-tuned + alpha-QE (3)",
            model,
            trained=True,
            env={"FACET_SEARCH__QUERY_EXPANSION": "3"},
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Grocery dataset")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--head-epochs", type=int, default=2)
    parser.add_argument("--train-backbone", default=LITE0, help="backbone to fine-tune")
    parser.add_argument("--skip-training", action="store_true", help="off-the-shelf rows only")
    parser.add_argument("--only", default="", help="only rows whose name contains this")
    parser.add_argument("--limit", type=int, default=None, help="use about N photos per split")
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    if not args.dataset.is_dir():
        sys.exit(
            f"bench_quality: needs the Grocery Store Dataset (--dataset), not at {args.dataset}"
        )

    rows: list[dict[str, Any]] = []
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="facet-bench-quality-") as tmp:
        files = write_files(args.dataset, Path(tmp), args.limit)
        home, multi = Path(tmp) / "home", Path(tmp) / "multi"
        facet(home, "ingest", str(files.catalogue))
        facet(multi, "ingest", str(files.multi))
        runner = Runner(home, files.queries, files.train)
        rows += [report(runner.run(row)) for row in OFF_THE_SHELF if args.only in row.name]
        multi_runner = Runner(multi, files.queries, files.train)
        rows += [report(multi_runner.run(row)) for row in PRODUCT_SCORES if args.only in row.name]
        if not args.skip_training:
            tuned, trained = fine_tune(home, runner, files, args)
            rows += tuned
            figures.update(trained)
    by_name = {row["name"]: row for row in rows}
    measured = [row for row in rows if "error" not in row]
    untrained = [row for row in measured if not row["name"].startswith(("fine-tuned", "multi"))]
    if untrained:
        best = max(untrained, key=lambda row: row["recall_at_1"])
        figures["baseline_recall_at_1"] = untrained[0]["recall_at_1"]
        figures["offshelf_recall_at_1"] = best["recall_at_1"]
        figures["offshelf_settings"] = best["name"]
    if DEFAULT_ROW in by_name:
        figures["query_ms_p50"] = by_name[DEFAULT_ROW]["query_ms_p50"]
    figures["queries"] = len(files.test)
    figures["ablation"] = rows
    if args.json:
        print(json.dumps(figures))


def fine_tune(
    home: Path, runner: Runner, files: Files, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """`facet train` with the defaults, then the fine-tuned rows; the summary figures."""
    started = time.perf_counter()
    try:
        facet(
            home, "train", "--labels", "sku,category", "--extra-photos", str(files.train),
            "--name", "grocery", "--backbone", args.train_backbone, "--epochs",
            str(args.epochs), "--head-epochs", str(args.head_epochs),
        )  # fmt: skip
    except FacetFailed as error:
        print(f"training failed: {error}", flush=True)
        return [], {}
    figures: dict[str, Any] = {"train_minutes": round((time.perf_counter() - started) / 60, 1)}
    print(f"training: {figures['train_minutes']} minutes", flush=True)
    tuned = [report(runner.run(row)) for row in fine_tuned_rows("grocery")]
    if "error" not in tuned[0]:
        figures.update(
            finetuned_recall_at_1=tuned[0]["recall_at_1"],
            finetuned_recall_at_5=tuned[0]["recall_at_5"],
            finetuned_map_at_10=tuned[0]["map_at_10"],
        )
    figures.update(head_accuracy(home, "grocery", files.test, files.category))
    return tuned, figures


def report(row: dict[str, Any]) -> dict[str, Any]:
    if "error" in row:
        print(f"{row['name']:<58}failed: {row['error']}", flush=True)
        return row
    print(
        f"{row['name']:<58}{row['recall_at_1']:>7.3f}{row['recall_at_5']:>7.3f}"
        f"{row['map_at_10']:>8.3f}{row['query_ms_p50']:>9.1f} ms",
        flush=True,
    )
    return row


if __name__ == "__main__":
    main()
