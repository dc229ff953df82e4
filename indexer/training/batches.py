"""Training batches: the catalogue's examples as augmented, labelled tensors."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from indexer.training.data import Example
from indexer.training.targets import MISSING_CLASS
from search.backbones import Backbone
from search.decoding import decode_image


class LoaderOptions(Protocol):
    """What the batches need of the training options."""

    @property
    def seed(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def workers(self) -> int: ...
    @property
    def validation_fraction(self) -> float: ...
    @property
    def device(self) -> str: ...


class ImageDataset(Dataset[tuple[torch.Tensor, dict[str, int | float]]]):
    """Decoded, augmented (training) or plainly prepared (validation) images with their label
    indices and the values of their numeric fields; -100 marks a missing class label and NaN a
    missing number, which the losses ignore."""

    def __init__(
        self,
        examples: list[Example],
        vocab: dict[str, dict[str, int]],
        backbone: Backbone,
        train: bool,
        numeric: Sequence[str] = (),
    ) -> None:
        self.examples = examples
        self.vocab = vocab
        self.numeric = numeric
        self.prep = backbone.preprocessing
        size = self.prep.input_size
        normalise = v2.Normalize(list(self.prep.mean), list(self.prep.std))
        self.augment = v2.Compose(
            [
                v2.RandomResizedCrop(size, scale=(0.5, 1.0), antialias=True),
                v2.RandomHorizontalFlip(),
                v2.RandomApply([v2.RandomAffine(degrees=15, translate=(0.05, 0.05))], p=0.5),
                v2.ColorJitter(0.2, 0.2, 0.2, 0.02),
                v2.ToImage(),
                v2.ToDtype(torch.float32, scale=True),
                normalise,
            ]
        )
        self.plain = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), normalise])
        self.train = train

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, int | float]]:
        example = self.examples[index]
        image = decode_image(example.path, draft_size=self.prep.decode_size)
        if self.train:
            pixels = self.augment(image)
        else:
            # prepare() returns a read-only view of Pillow's buffer; torch wants to own a
            # writable array (it warns otherwise), so the validation path gets a copy.
            pixels = self.plain(np.array(self.prep.prepare(image)))
        targets: dict[str, int | float] = {
            name: classes.get(str(example.labels.get(name, "")), MISSING_CLASS)
            for name, classes in self.vocab.items()
        }
        for name in self.numeric:
            value = example.labels.get(name)
            targets[name] = value if isinstance(value, float) else math.nan
        return pixels, targets


def split_examples(
    examples: list[Example], options: LoaderOptions
) -> tuple[list[Example], list[Example]]:
    """(training, validation): a seeded shuffle, `validation_fraction` held out.

    When there are extra photos, only photos are held out: a product often has one catalogue
    image, and a model that never saw it cannot learn where that product's photos belong.
    """
    rng = random.Random(options.seed)
    shuffled = examples[:]
    rng.shuffle(shuffled)
    photos = [e for e in shuffled if not e.catalogue]
    pool = photos if photos else shuffled
    count = max(1, int(len(shuffled) * options.validation_fraction))
    held = {id(e) for e in pool[:count]}
    return [e for e in shuffled if id(e) not in held], pool[:count]


def repeat_catalogue(examples: list[Example], repeats: int) -> list[Example]:
    """The examples with each catalogue image `repeats` times, when there are photos too."""
    packshots = [e for e in examples if e.catalogue]
    if len(packshots) == len(examples):
        return examples
    return examples + packshots * (repeats - 1)


def make_loader(
    examples: list[Example],
    vocab: dict[str, dict[str, int]],
    backbone: Backbone,
    options: LoaderOptions,
    *,
    shuffle: bool,
    numeric: Sequence[str] = (),
) -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(options.seed)
    return DataLoader(
        ImageDataset(examples, vocab, backbone, train=shuffle, numeric=numeric),
        batch_size=options.batch_size,
        shuffle=shuffle,
        num_workers=options.workers,
        generator=generator,
        persistent_workers=options.workers > 0,
        pin_memory=options.device.startswith("cuda"),  # lets copies to the GPU overlap compute
    )
