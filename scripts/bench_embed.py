"""Benchmark catalogue embedding: a naive loop, the model alone, and Facet's pipeline.

    python scripts/bench_embed.py            # 300 images of about 1000x1000, local engine
    python scripts/bench_embed.py --n 200 --engine ray --device cpu --json

(a) naive: one image at a time, PIL decode at full size, torchvision transforms, fp32 model.
(b) forward only: the model alone on the images already decoded and prepared, at the pipeline's
    batch size and precision: what the pipeline could reach if reading cost nothing (the mean of
    a measurement before the pipeline's run and one after).
(c) pipeline: `facet build`'s embedding step (`--engine local`: threaded reads with JPEG draft
    decoding, batches, channels_last, bf16 where the CPU has it; `--engine ray`: the same on a
    local Ray cluster, reading and embedding actors) on the same images, through a real product
    store; once as `facet build` runs by default, once with --compile.
images/s is the steady rate, from the first committed batch to the last: it leaves out the
start-up (startup_s: until the first batch is committed; Ray's actors starting and loading the
model). The model is compiled once before the compiled runs (compile_s, not timed); they load
it from the compile cache.
pipeline_efficiency = images_per_s / forward_only_images_per_s.
The naive vectors are the fp32 reference; the pipeline's are compared to them by cosine.
Source photos: the Grocery Store Dataset's test photos if --dataset DIR (not shipped) has them,
else the sample catalogue's images.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from indexer.build.backbone_source import BackboneSource  # noqa: E402
from indexer.build.engines import EngineName, embed_with  # noqa: E402
from indexer.cli.build import read_options  # noqa: E402
from indexer.ingest.upsert import ingest_dump  # noqa: E402
from migrations.runner import upgrade_database  # noqa: E402
from scripts.embedding.baselines import forward_only, make_embedder, naive  # noqa: E402
from scripts.embedding.images import make_images  # noqa: E402
from search.config import Settings  # noqa: E402
from search.db import make_engine  # noqa: E402
from search.embed import Embedder, Precision  # noqa: E402
from search.vectors import load_vectors  # noqa: E402

# Where the development machines keep the Grocery Store Dataset; --dataset overrides it.
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "grocery"


@dataclass
class Run:
    images_per_s: float  # the steady rate, from the first committed batch to the last
    startup_s: float  # until the first batch was committed: model load, Ray actors starting
    vectors: np.ndarray
    label: str


class Clock:
    """The progress callbacks' times: when the first batch was committed, and the last."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: tuple[float, int] | None = None  # (time, images done by then)
        self.last = self.started
        self.done = 0

    def __call__(self, count: int) -> None:
        self.last = time.perf_counter()
        self.done += count
        if self.first is None:
            self.first = (self.last, self.done)

    def run(self, vectors: np.ndarray, label: str) -> Run:
        first_at, first_done = self.first or (self.started, 0)
        if self.last <= first_at:  # one batch: no steady part to measure
            first_at, first_done = self.started, 0
        rate = (self.done - first_done) / (self.last - first_at)
        return Run(rate, first_at - self.started, vectors, label)


def pipeline(
    paths: list[Path],
    embedder: Embedder,
    home: Path,
    *,
    engine_name: EngineName,
    device: str,
    compile_cache: Path | None,
) -> Run:
    """Embed `paths` through a new product store, as `facet build` would."""
    settings = Settings(home=home)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    dump = home / "catalog.jsonl"
    with dump.open("w") as out:
        for index, path in enumerate(paths):
            out.write(json.dumps({"sku": f"P{index:05d}", "images": [str(path)]}) + "\n")
    ingest_dump(engine, dump)
    read = read_options(settings, device)  # what `facet build` reads with
    clock = Clock()
    report = embed_with(
        engine_name,
        engine,
        embedder,
        source=BackboneSource(embedder.backbone.name),
        read=read,
        ray_device="cuda" if device.startswith("cuda") else device,
        compile_min_images=None if compile_cache is None else 0,
        compile_cache=compile_cache,
        on_progress=clock,
    )
    if report.embedded != len(paths):
        sys.exit(f"bench_embed: pipeline embedded {report.embedded} of {len(paths)}")
    _, vectors = load_vectors(engine, embedder.backbone.identity)  # image ids follow paths
    engine.dispose()
    return clock.run(vectors, str(embedder.precision) + (", compiled" if compile_cache else ""))


@contextlib.contextmanager
def cluster(engine_name: EngineName) -> Iterator[None]:
    """One local Ray cluster for both Ray runs (its start is not part of either)."""
    if engine_name != "ray":
        yield
        return
    import ray.data

    from indexer.build.ray_engine import ray_cluster

    with ray_cluster(None):
        # Work starts once every actor is up: otherwise the readers read ahead while the model
        # loads, and the "steady" part would measure the model alone, not the pipeline.
        ray.data.DataContext.get_current().wait_for_min_actors_s = 600
        yield


def peak_rss_mb() -> float:
    """This process's peak RSS plus its largest finished descendant's (Ray's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + children) / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Grocery dataset")
    parser.add_argument("--n", type=int, default=300, help="number of images")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--precision", choices=[p.value for p in Precision], default="auto")
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()

    batch_size = Settings().embed.batch_for(args.device)
    with tempfile.TemporaryDirectory(prefix="facet-bench-embed-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        paths = make_images(folder, args.n, args.dataset)
        naive_s, reference = naive(paths, args.backbone)
        embedder = make_embedder(
            BackboneSource(args.backbone).load(),
            precision=Precision(args.precision),
            batch_size=batch_size,
            device=args.device,
        )
        max_pixels = Settings().embed.max_image_pixels
        forward_s = [forward_only(paths, embedder, max_pixels=max_pixels)]
        runs = {}
        with cluster(args.engine):
            runs[False] = pipeline(
                paths,
                embedder,
                Path(tmp) / "eager",
                engine_name=args.engine,
                device=args.device,
                compile_cache=None,
            )
            # Measured again after the run: this machine's speed drifts (shared cores).
            forward_s.append(forward_only(paths, embedder, max_pixels=max_pixels))
            # Compiled here first, not timed: the runs then load the compiled graph from the
            # cache (the local engine's embedder is this one; Ray's actors share the cache).
            cache = Path(tmp) / "compile-cache"
            compile_s = embedder.compile(cache)
            runs[True] = pipeline(
                paths,
                embedder,
                Path(tmp) / "compiled",
                engine_name=args.engine,
                device=args.device,
                compile_cache=cache,
            )

    def figures_of(run: Run) -> dict[str, float]:
        cosines = (reference * run.vectors).sum(axis=1)
        return {
            "images_per_s": round(run.images_per_s, 1),
            "speedup": round(run.images_per_s * naive_s / args.n, 2),
            "startup_s": round(run.startup_s, 1),
            "min_cosine": round(float(cosines.min()), 5),
            "mean_cosine": round(float(cosines.mean()), 5),
        }

    default, compiled = figures_of(runs[False]), figures_of(runs[True])
    forward_rate = args.n / (sum(forward_s) / len(forward_s))
    figures = {
        "n": args.n,
        "backbone": args.backbone,
        "engine": args.engine,
        "device": args.device,
        "precision": runs[False].label,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "naive_images_per_s": round(args.n / naive_s, 1),
        "forward_only_images_per_s": round(forward_rate, 1),
        **default,
        "pipeline_efficiency": round(runs[False].images_per_s / forward_rate, 3),
        **{f"compiled_{key}": value for key, value in compiled.items()},
        "compile_s": round(compile_s, 1),
        "peak_rss_mb": peak_rss_mb(),
    }
    print(
        f"{args.n} images of ~1000x1000, {args.backbone}, engine {args.engine} on {args.device}, "
        f"{figures['threads']} threads"
    )
    print(f"{'':<36}{'images/s':>10}{'speedup':>9}{'start s':>9}{'min cos':>10}{'mean cos':>10}")
    print(f"{'naive (fp32, one at a time)':<36}{figures['naive_images_per_s']:>10}{1.0:>9}")
    print(f"{'forward only (' + runs[False].label + ')':<36}{round(forward_rate, 1):>10}")
    for label, row in ((runs[False].label, default), (runs[True].label, compiled)):
        print(
            f"{'pipeline (' + label + ')':<36}{row['images_per_s']:>10}{row['speedup']:>9}"
            f"{row['startup_s']:>9}{row['min_cosine']:>10}{row['mean_cosine']:>10}"
        )
    print(f"pipeline efficiency (pipeline / forward only): {figures['pipeline_efficiency']}")
    print(f"peak RSS (this process + its largest finished child): {figures['peak_rss_mb']} MB")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
