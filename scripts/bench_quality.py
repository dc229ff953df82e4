"""Benchmark transfer learning on the Grocery Store Dataset: photo -> catalogue item.

    python scripts/bench_quality.py --dataset DIR [--epochs 20] [--head-epochs 2] [--json]

Catalogue: the 81 iconic images (sku = fine class, category = coarse class). Training photos:
the train split, labelled by sku. Queries: the test split. In one run: Recall@1/5/10 and mAP@10
(exact search) for the off-the-shelf backbone and for the fine-tuned one, the fine-tuned heads'
fine- and coarse-class accuracy on the test photos, and the training time. Every step is the
`facet` command a user would run, in a temporary FACET_HOME. Needs the dataset (not shipped):
--dataset DIR, the folder holding its classes.csv, train.txt and test.txt.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from search.backbones import load_backbone  # noqa: E402
from search.decoding import decode_image  # noqa: E402

# Where the development machines keep the dataset; --dataset overrides it.
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "grocery"


def facet(home: Path, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "indexer", "--home", str(home), "--quiet", *args, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"bench_quality: facet {args[0]} failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def split(
    dataset: Path, name: str, fine_to_sku: dict[int, str], limit: int | None
) -> list[tuple[Path, str]]:
    rows = []
    with (dataset / f"{name}.txt").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                path, fine, _ = (part.strip() for part in line.split(","))
                rows.append((dataset / path, fine_to_sku[int(fine)]))
    if limit:
        rows = rows[:: max(1, len(rows) // limit)]
    return rows


def write_pairs(path: Path, rows: list[tuple[Path, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "sku"])
        writer.writerows((str(image), sku) for image, sku in rows)
    return path


def head_accuracy(
    home: Path, model: str, rows: list[tuple[Path, str]], category: dict[str, str]
) -> dict[str, float]:
    backbone = load_backbone(model, models_dir=home / "models")
    assert backbone.heads is not None
    prep = backbone.preprocessing
    right = {"sku": 0, "category": 0}
    for start in range(0, len(rows), 32):
        chunk = rows[start : start + 32]
        arrays = [
            prep.prepare(decode_image(path, draft_size=prep.decode_size)) for path, _ in chunk
        ]
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            features = backbone.model(prep.to_batch(arrays)).float()
            predictions = {
                label: backbone.heads[label](features).argmax(dim=1).tolist() for label in right
            }
        for label, predicted in predictions.items():
            classes = backbone.vocabularies[label]
            for (_, sku), index in zip(chunk, predicted, strict=True):
                truth = sku if label == "sku" else category[sku]
                right[label] += classes[index] == truth
    return {label: count / len(rows) for label, count in right.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Grocery dataset")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--head-epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="use about N photos per split")
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    dataset: Path = args.dataset
    if not dataset.is_dir():
        sys.exit(f"bench_quality: needs the Grocery Store Dataset (--dataset), not at {dataset}")

    with (dataset / "classes.csv").open(encoding="utf-8") as handle:
        classes = list(csv.DictReader(handle))
    fine_to_sku = {int(c["Class ID (int)"]): c["Class Name (str)"] for c in classes}
    category = {c["Class Name (str)"]: c["Coarse Class Name (str)"] for c in classes}
    with tempfile.TemporaryDirectory(prefix="facet-bench-quality-") as tmp:
        home = Path(tmp) / "home"
        dump = Path(tmp) / "catalog.csv"
        with dump.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sku", "title", "category", "images"])
            for c in classes:
                image = dataset / c["Iconic Image Path (str)"].lstrip("/")
                writer.writerow(
                    [
                        c["Class Name (str)"],
                        c["Class Name (str)"],
                        c["Coarse Class Name (str)"],
                        str(image),
                    ]
                )
        test = split(dataset, "test", fine_to_sku, args.limit)
        queries = write_pairs(Path(tmp) / "test.csv", test)
        extra = write_pairs(
            Path(tmp) / "train.csv", split(dataset, "train", fine_to_sku, args.limit)
        )

        facet(home, "ingest", str(dump))
        facet(home, "build")
        baseline = facet(home, "evaluate", str(queries), "--exact")
        started = time.perf_counter()
        train_args = ["--labels", "sku,category", "--extra-photos", str(extra)]
        train_args += ["--name", "grocery", "--epochs", str(args.epochs)]
        facet(home, "train", *train_args, "--head-epochs", str(args.head_epochs))
        train_minutes = (time.perf_counter() - started) / 60
        facet(home, "build", "--model", "grocery")
        tuned = facet(home, "evaluate", str(queries), "--exact")
        accuracy = head_accuracy(home, "grocery", test, category)

    figures = {
        "queries": tuned["queries"],
        "baseline_recall_at_1": baseline["recall_at_1"],
        "baseline_recall_at_5": baseline["recall_at_5"],
        "baseline_map_at_10": baseline["map_at_10"],
        "finetuned_recall_at_1": tuned["recall_at_1"],
        "finetuned_recall_at_5": tuned["recall_at_5"],
        "finetuned_recall_at_10": tuned["recall_at_10"],
        "finetuned_map_at_10": tuned["map_at_10"],
        "fine_accuracy": round(accuracy["sku"], 4),
        "coarse_accuracy": round(accuracy["category"], 4),
        "train_minutes": round(train_minutes, 1),
    }
    print(f"{figures['queries']} Grocery test photos against 81 catalogue images, exact search")
    print(f"{'':<22}{'R@1':>8}{'R@5':>8}{'R@10':>8}{'mAP@10':>9}")
    print(
        f"{'off the shelf':<22}{baseline['recall_at_1']:>8.3f}{baseline['recall_at_5']:>8.3f}"
        f"{baseline['recall_at_10']:>8.3f}{baseline['map_at_10']:>9.3f}"
    )
    print(
        f"{'fine-tuned':<22}{tuned['recall_at_1']:>8.3f}{tuned['recall_at_5']:>8.3f}"
        f"{tuned['recall_at_10']:>8.3f}{tuned['map_at_10']:>9.3f}"
    )
    print(
        f"heads: fine-class accuracy {figures['fine_accuracy']:.3f}, "
        f"coarse-class accuracy {figures['coarse_accuracy']:.3f}"
    )
    print(f"training: {figures['train_minutes']} minutes")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
