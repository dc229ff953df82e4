"""Forward-pass throughput of every registered backbone on this machine.

    python scripts/bench_backbones.py [--batch 32] [--seconds 5] [--json]

Random weights (speed does not depend on them, and ResNet weights may not be downloadable);
batches of prepared input, channels_last, eager, in fp32 and in bf16 autocast. Each backbone
and precision is measured in turn, in one run, so the ratios between them are what to read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from search.backbones import BACKBONES, load_backbone  # noqa: E402
from search.embed import Embedder, Precision  # noqa: E402


def throughput(embedder: Embedder, batch: int, seconds: float) -> float:
    size = embedder.preprocessing.input_size
    import numpy as np

    arrays = [np.full((size, size, 3), 127, dtype=np.uint8)] * batch
    embedder.embed_arrays(arrays)  # warm-up
    started, done = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        embedder.embed_arrays(arrays)
        done += batch
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()

    figures: dict[str, dict[str, float | int]] = {}
    print(f"batch {args.batch}, {torch.get_num_threads()} threads, images/s")
    print(f"{'backbone':<22}{'input':>6}{'dim':>6}{'fp32':>8}{'bf16':>8}")
    for name in BACKBONES:
        backbone = load_backbone(name, pretrained=False)
        row: dict[str, float | int] = {
            "input": backbone.preprocessing.input_size,
            "dim": backbone.dim,
        }
        for precision in (Precision.FP32, Precision.BF16):
            embedder = Embedder(backbone, precision=precision, batch_size=args.batch)
            row[precision.value] = round(throughput(embedder, args.batch, args.seconds), 1)
        figures[name] = row
        print(f"{name:<22}{row['input']:>6}{row['dim']:>6}{row['fp32']:>8}{row['bf16']:>8}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
