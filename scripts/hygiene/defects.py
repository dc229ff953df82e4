"""Defect inspection on the Grocery photos: image AUROC, pixel AUROC and time per photo.

Per product class (the first `limit` classes in a spread over all 81, default 12): the
reference is the class's train photos (a bank built and calibrated like `facet inspect`'s);
the test photos are up to 12 held-out test photos of the class, each clean and with one planted
defect (scratch, blotch, cut-out or colour spot, 1-5% of the area, seeded; see
defect_planting.py). Test photos are squashed to the model's input size first, so the planted
masks and the heatmaps share one grid.

    python scripts/hygiene/defects.py [--dataset DIR] [--limit N] [--json]

Keys: defect_auroc (mean over classes of the clean-versus-defective image AUROC),
defect_auroc_plain_max (the same with PatchCore's plain largest patch distance as the score,
FACET_INSPECT__CONTEXT_CELLS=0, on the same banks), defect_pixel_auroc (heatmaps of the
defective photos against their masks, pooled),
defect_ms_per_photo (scoring a photo, the heatmap included, bank ready), and at the calibrated
threshold defect_recall (defective photos called suspect) and defect_false_alarms (clean ones
called suspect), defect_bank_s (seconds to build one class's bank, mean).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from scripts.hygiene.defect_planting import KINDS, plant  # noqa: E402
from search.backbones import load_backbone  # noqa: E402
from search.inspect_config import InspectSettings  # noqa: E402
from search.inspection.inspector import Inspector, Verdict  # noqa: E402
from search.inspection.references import Photo, Reference  # noqa: E402
from search.inspection.scoring import image_scores  # noqa: E402

DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "grocery"
DEFAULT_CLASSES = 12
TEST_PHOTOS = 12
SEED = 1338


def measure(dataset: Path, workdir: Path, limit: int | None) -> dict[str, float]:
    """Run the defect benchmark; `limit` is the number of product classes (None: 12)."""
    train, test = _split(dataset, "train.txt"), _split(dataset, "test.txt")
    classes = sorted(set(train) & set(test))
    count = min(limit or DEFAULT_CLASSES, len(classes))
    chosen = [classes[round(i * len(classes) / count)] for i in range(count)]
    inspector = Inspector(
        load_backbone("efficientnet_lite0"), InspectSettings(), workdir / "inspection",
        max_pixels=50_000_000,
    )  # fmt: skip
    size = inspector.extractor.input_size
    rng = np.random.default_rng(SEED)
    class_aurocs, plain_aurocs, bank_seconds, score_seconds = [], [], [], 0.0
    pixel_scores, pixel_labels = [], []
    verdicts: dict[str, list[bool]] = {"clean": [], "defective": []}
    scored = 0
    for label in chosen:
        reference = Reference(
            f"grocery:{label}", [Photo(path.name, path.read_bytes()) for path in train[label]]
        )
        started = time.perf_counter()
        ready = inspector.bank(reference)
        bank_seconds.append(time.perf_counter() - started)
        photos, masks = [], []
        for number, path in enumerate(test[label][:TEST_PHOTOS]):
            square = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            damaged, mask = plant(square, KINDS[number % len(KINDS)], rng)
            photos += [
                Photo(f"clean-{number}", _png(square)),
                Photo(f"bad-{number}", _png(damaged)),
            ]
            masks.append(mask)
        started = time.perf_counter()
        distances = inspector.patch_distances(ready, photos)
        results = inspector.judge(ready, photos, distances)  # what `inspect` does
        score_seconds += time.perf_counter() - started
        scored += len(photos)
        clean, bad = results[0::2], results[1::2]
        labels = [0] * len(clean) + [1] * len(bad)
        class_aurocs.append(auroc([r.score for r in clean] + [r.score for r in bad], labels))
        plain = image_scores(distances, ready.bank.grid, 0)  # PatchCore's score, to compare
        plain_aurocs.append(auroc(np.concatenate([plain[0::2], plain[1::2]]), labels))
        verdicts["clean"] += [r.verdict is Verdict.SUSPECT for r in clean]
        verdicts["defective"] += [r.verdict is Verdict.SUSPECT for r in bad]
        for result, mask in zip(bad, masks, strict=True):
            pixel_scores.append(result.heatmap[::2, ::2].ravel())  # every 4th pixel is plenty
            pixel_labels.append(mask[::2, ::2].ravel())
    return {
        "defect_auroc": round(float(np.mean(class_aurocs)), 4),
        "defect_auroc_plain_max": round(float(np.mean(plain_aurocs)), 4),
        "defect_pixel_auroc": round(
            auroc(np.concatenate(pixel_scores), np.concatenate(pixel_labels)), 4
        ),
        "defect_ms_per_photo": round(1000 * score_seconds / max(scored, 1), 1),
        "defect_recall": round(float(np.mean(verdicts["defective"])), 4),
        "defect_false_alarms": round(float(np.mean(verdicts["clean"])), 4),
        "defect_bank_s": round(float(np.mean(bank_seconds)), 2),
        "defect_classes": float(count),
        "defect_worst_class_auroc": round(float(np.min(class_aurocs)), 4),
    }


def auroc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    values = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(labels).astype(bool)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2 + 1
    ranks[order] = np.repeat(average, counts)
    hits, misses = int(positive.sum()), int((~positive).sum())
    if not hits or not misses:
        return float("nan")
    return float((ranks[positive].sum() - hits * (hits + 1) / 2) / (hits * misses))


def _split(dataset: Path, name: str) -> dict[str, list[Path]]:
    """The photos of a split by fine class id, in file order."""
    photos: dict[str, list[Path]] = defaultdict(list)
    with (dataset / name).open(encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if row:
                photos[row[1].strip()].append(dataset / row[0].strip())
    return photos


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--limit", type=int, default=None, help="product classes (default 12)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        figures = measure(arguments.dataset, Path(workdir), arguments.limit)
    if arguments.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:<28} {value}")


if __name__ == "__main__":
    main()
