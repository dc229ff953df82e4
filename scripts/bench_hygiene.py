"""Benchmark catalogue hygiene on the Grocery Store Dataset: defects, photo quality, duplicates.

    python scripts/bench_hygiene.py [--dataset DIR] [--limit N] [--json]
    python scripts/bench_hygiene.py --only defects,quality,duplicates

Each part plants known problems in real photos (seeded) and measures how many Facet finds:
- defects (`facet inspect`'s PatchCore): per class, reference = its train photos, test = held-out
  photos clean and with planted scratches, blotches, cut-outs and colour spots:
  defect_auroc, defect_pixel_auroc, defect_ms_per_photo;
- photo quality (measured by `facet build`): blur, down-scaling, over- and under-exposure and
  near-blank images planted in 10% of the photos: quality_precision, quality_recall, and
  quality_overhead (build images/s lost to the checks);
- duplicates (`facet duplicates`): 10% of the photos copied under new SKUs after re-encoding,
  resizing, cropping, a watermark or a border: dup_precision, dup_recall.
The last line with --json is one JSON object with every key.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "grocery"
PARTS = ("defects", "quality", "duplicates")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Grocery dataset")
    parser.add_argument(
        "--limit", type=int, default=None, help="photos per part (classes for defects)"
    )
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts to run")
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    if not (args.dataset / "classes.csv").is_file():
        sys.exit(f"bench_hygiene: no Grocery Store Dataset at {args.dataset} (--dataset DIR)")
    parts = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        sys.exit(f"bench_hygiene: unknown part {unknown[0]!r}: use {', '.join(PARTS)}")

    figures: dict[str, float] = {}
    for part in parts:
        module = __import__(f"scripts.hygiene.{part}", fromlist=["measure"])
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"facet-bench-{part}-") as workdir:
            limit = args.limit or getattr(module, "DEFAULT_LIMIT", None)
            measured = module.measure(args.dataset, Path(workdir), limit)
        figures.update(measured)
        print(f"{part} ({time.perf_counter() - started:.0f} s)")
        for key, value in measured.items():
            print(f"  {key:<24}{value:>12.4f}")
    if args.json:
        print(json.dumps({key: round(value, 4) for key, value in figures.items()}))


if __name__ == "__main__":
    main()
