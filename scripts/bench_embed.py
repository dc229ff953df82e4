"""Benchmark catalogue embedding: a naive loop versus Facet's pipeline, on catalogue-size JPEGs.

    python scripts/bench_embed.py            # 300 images of about 1000x1000
    python scripts/bench_embed.py --n 500 --backbone efficientnet_lite0 --json

(a) naive: one image at a time, PIL decode at full size, torchvision transforms, fp32 model.
(b) pipeline: `facet build`'s embedding step (threaded reads with JPEG draft decoding, batches,
    channels_last, bf16 where the CPU has it) on the same images, through a real product store;
    once as `facet build` runs by default, once with --compile.
The naive vectors are the fp32 reference; the pipeline's are compared to them by cosine.
Source photos: the Grocery Store Dataset's test photos if --dataset DIR (not shipped) has them,
else the sample catalogue's images; each is varied (flip, crop, tint) and saved as a ~1000x1000
JPEG.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision import transforms

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from indexer.build.embed_step import embed_catalog  # noqa: E402
from indexer.build.fetch import ImageFetcher  # noqa: E402
from indexer.build.loader import ImageLoader  # noqa: E402
from indexer.ingest.upsert import ingest_dump  # noqa: E402
from migrations.runner import upgrade_database  # noqa: E402
from search.backbones import load_backbone  # noqa: E402
from search.config import Settings  # noqa: E402
from search.db import make_engine  # noqa: E402
from search.embed import Embedder, Precision  # noqa: E402
from search.vectors import load_vectors  # noqa: E402

# Where the development machines keep the Grocery Store Dataset; --dataset overrides it.
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "grocery"
SAMPLE = REPO / "scripts" / "sample_catalog"


def source_photos(dataset: Path) -> list[Path]:
    if (dataset / "test").is_dir():
        return sorted((dataset / "test").rglob("*.jpg"))
    return sorted((SAMPLE / "images").glob("*.jpg")) + sorted((SAMPLE / "queries").glob("*.jpg"))


def make_images(folder: Path, count: int, dataset: Path) -> list[Path]:
    photos = source_photos(dataset)
    rng = np.random.default_rng(1338)
    paths = []
    for index in range(count):
        photo = Image.open(photos[(index * 7) % len(photos)]).convert("RGB")
        if index % 2:
            photo = ImageOps.mirror(photo)
        width, height = photo.size
        inset = int(rng.integers(0, max(1, min(width, height) // 10)))
        photo = photo.crop((inset, inset, width - inset, height - inset))
        size = (int(rng.integers(900, 1100)), int(rng.integers(900, 1100)))
        tint = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 255, size=3)))
        photo = Image.blend(photo.resize(size, Image.Resampling.BICUBIC), tint, 0.1)
        path = folder / f"{index:04d}.jpg"
        photo.save(path, quality=90)
        paths.append(path)
    return paths


def naive(paths: list[Path], backbone_name: str) -> tuple[float, np.ndarray]:
    backbone = load_backbone(backbone_name)
    prep = backbone.preprocessing
    transform = transforms.Compose(
        [
            transforms.Resize(prep.input_size),
            transforms.CenterCrop(prep.input_size),
            transforms.ToTensor(),
            transforms.Normalize(prep.mean, prep.std),
        ]
    )
    vectors = []
    with torch.inference_mode():
        backbone.model(torch.zeros(1, 3, prep.input_size, prep.input_size))  # warm-up
        started = time.perf_counter()
        for path in paths:
            image = Image.open(path).convert("RGB")
            features = backbone.model(transform(image).unsqueeze(0))
            vectors.append(torch.nn.functional.normalize(features, dim=1)[0].numpy())
        seconds = time.perf_counter() - started
    return seconds, np.stack(vectors)


def pipeline(
    paths: list[Path], backbone_name: str, home: Path, precision: Precision, compile_model: bool
) -> tuple[float, np.ndarray, str, float]:
    settings = Settings(home=home)
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    dump = home / "catalog.jsonl"
    with dump.open("w") as out:
        for index, path in enumerate(paths):
            out.write(json.dumps({"sku": f"P{index:05d}", "images": [str(path)]}) + "\n")
    ingest_dump(engine, dump)

    embedder = Embedder(
        load_backbone(backbone_name), precision=precision, batch_size=settings.embed.batch_size
    )
    # Compiled before the clock starts (the one-time cost is reported on its own), as the naive
    # model gets a warm-up pass.
    compile_s = embedder.compile(settings.compile_cache_dir) if compile_model else 0.0
    warm = np.zeros((embedder.preprocessing.input_size,) * 2 + (3,), dtype=np.uint8)
    embedder.embed_arrays([warm] * embedder.batch_size)
    with ImageFetcher(cache_dir=settings.image_cache_dir) as fetcher:
        loader = ImageLoader(
            fetcher,
            embedder.preprocessing,
            max_pixels=settings.embed.max_image_pixels,
            fetch_workers=settings.download.concurrency,
            decode_workers=settings.embed.decode_workers,
        )
        started = time.perf_counter()
        report = embed_catalog(engine, embedder, loader)
        seconds = time.perf_counter() - started
    if report.embedded != len(paths):
        sys.exit(f"bench_embed: pipeline embedded {report.embedded} of {len(paths)}")
    _, vectors = load_vectors(engine, embedder.backbone.identity)  # image ids follow paths
    engine.dispose()
    label = str(embedder.precision) + (", compiled" if embedder.compiled else "")
    return seconds, vectors, label, compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="Grocery dataset")
    parser.add_argument("--n", type=int, default=300, help="number of images")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--precision", choices=[p.value for p in Precision], default="auto")
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="facet-bench-embed-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        paths = make_images(folder, args.n, args.dataset)
        naive_s, reference = naive(paths, args.backbone)
        runs = {}
        for compiled in (False, True):
            runs[compiled] = pipeline(
                paths,
                args.backbone,
                Path(tmp) / f"home-{compiled}",
                Precision(args.precision),
                compiled,
            )

    def figures_of(seconds: float, vectors: np.ndarray) -> dict[str, float]:
        cosines = (reference * vectors).sum(axis=1)
        return {
            "images_per_s": round(args.n / seconds, 1),
            "speedup": round(naive_s / seconds, 2),
            "min_cosine": round(float(cosines.min()), 5),
            "mean_cosine": round(float(cosines.mean()), 5),
        }

    default = figures_of(runs[False][0], runs[False][1])
    compiled = figures_of(runs[True][0], runs[True][1])
    figures = {
        "n": args.n,
        "backbone": args.backbone,
        "precision": runs[False][2],
        "threads": torch.get_num_threads(),
        "naive_images_per_s": round(args.n / naive_s, 1),
        **default,
        **{f"compiled_{key}": value for key, value in compiled.items()},
        "compile_s": round(runs[True][3], 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(f"{args.n} images of ~1000x1000, {args.backbone}, {figures['threads']} threads")
    print(f"{'':<36}{'images/s':>10}{'speedup':>9}{'min cos':>10}{'mean cos':>10}")
    print(f"{'naive (fp32, one at a time)':<36}{figures['naive_images_per_s']:>10}{1.0:>9}")
    for label, row in (
        (f"pipeline ({runs[False][2]})", default),
        (f"pipeline ({runs[True][2]})", compiled),
    ):
        print(
            f"{label:<36}{row['images_per_s']:>10}{row['speedup']:>9}"
            f"{row['min_cosine']:>10}{row['mean_cosine']:>10}"
        )
    print(f"one-time compile, not timed: {figures['compile_s']} s")
    print(f"peak RSS: {figures['peak_rss_mb']} MB")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
