"""`facet train`: fine-tune a pretrained backbone on the catalogue's own labels.

The seed's method: the pretrained CNN with one head per label (dropout + dense softmax layer),
cross-entropy (a numeric field gets a regression head and an L1 or L2 loss: `targets.py`), AdamW
(Adam with decoupled L2 weight decay), augmentation (crops and zoom, flips, rotations, shifts,
colour), first the heads alone on a frozen backbone, then the upper blocks too at a lower
learning rate under a warmed-up cosine schedule, a validation split with early stopping, a
checkpoint every epoch.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from indexer.training.batches import make_loader, repeat_catalogue, split_examples
from indexer.training.data import Example
from indexer.training.schedule import set_trainable, upper_blocks, warmup_cosine
from indexer.training.steps import run_epoch, start_proxies, validate
from indexer.training.targets import HeadLosses, RegressionLoss, fit_standardisation
from search.backbones import Backbone
from search.db import utcnow
from search.embed import Precision, resolve_precision
from search.finetuned import ModelInfo, ProxyHead, build_heads, save_model

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 20  # after the heads-only epochs
    head_epochs: int = 2
    batch_size: int = 32
    head_lr: float = 1e-3
    backbone_lr: float = 2e-4
    weight_decay: float = 1e-4
    dropout: float = 0.3
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.1
    validation_fraction: float = 0.1
    patience: int = 3
    unfrozen_blocks: int = 3  # top stages of the backbone trained in the second phase
    seed: int = 1338
    precision: Precision = Precision.AUTO
    workers: int = 1
    # Metric learning: the SKU label (when trained) gets a proxy head (normalised softmax at
    # this temperature) whose proxies start at the catalogue images' features.
    # Measured on the Grocery set (81 packshots, 2,640 photos; docs/fine-tuning.md): 0.1 gave
    # Recall@1 0.86 where 0.05 gave 0.71; starting the proxies at the packshots and showing
    # each packshot 8 times per epoch helped a little more.
    metric_label: str | None = "sku"
    temperature: float = 0.1
    proxy_start: bool = True
    # Each catalogue image appears this many times per epoch when there are extra photos too:
    # one packshot per product among thousands of photos is otherwise rarely seen.
    catalogue_repeats: int = 8
    device: str = "cpu"
    regression_loss: RegressionLoss = "l1"  # of the numeric fields' heads, on standardised values


@dataclass
class EpochResult:
    epoch: int
    phase: str
    train_loss: float
    val_loss: float
    val_accuracy: dict[str, float]
    seconds: float
    # Numeric field -> {"mae": in the field's units, "r2"}; absent from older checkpoints.
    val_regression: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class TrainReport:
    name: str
    examples: int
    validation: int
    epochs: list[EpochResult] = field(default_factory=list)
    best_epoch: int = 0
    minutes: float = 0.0


def train_model(
    backbone: Backbone,
    examples: list[Example],
    vocabularies: dict[str, list[str]],
    *,
    numeric: Sequence[str] = (),
    name: str,
    out_dir: Path,
    options: TrainOptions,
    resume: bool = False,
    on_epoch: Callable[[EpochResult], None] | None = None,
    progress: bool = False,
) -> TrainReport:
    """Fine-tune `backbone` with one head per label; write the best epoch as model `name`.

    Args:
        backbone: the pretrained starting point (its weights are changed in place).
        examples: labelled images.
        vocabularies: the classes of each classified label (from `data.vocabularies`).
        numeric: the numeric fields, each trained with a regression head (values are floats:
            `targets.as_numbers`).
        name: the model's name in the registry.
        out_dir: the model's folder (FACET_HOME/models/<name>).
        options: hyper-parameters.
        resume: continue from the folder's last checkpoint.
        on_epoch: called after every epoch.
        progress: show a progress bar over each epoch's batches, with the running loss.
    """
    started = time.perf_counter()
    _seed(options.seed)
    vocab = {
        label: {c: i for i, c in enumerate(classes)} for label, classes in vocabularies.items()
    }
    train, validation = split_examples(examples, options)
    packshots = [e for e in train if e.catalogue]
    scales = {label: fit_standardisation(train, label) for label in numeric}
    train = repeat_catalogue(train, options.catalogue_repeats)
    device = torch.device(options.device)
    bf16 = device.type == "cuda" or resolve_precision(options.precision) is Precision.BF16
    metric_label = options.metric_label if options.metric_label in vocabularies else None
    model = backbone.model.to(device)
    heads = build_heads(
        backbone.dim,
        vocabularies,
        options.dropout,
        metric_label=metric_label,
        temperature=options.temperature,
        regression=scales,
    ).to(device)
    if metric_label is not None and options.proxy_start and not resume:
        head = heads[metric_label]
        assert isinstance(head, ProxyHead)
        classes = vocab[metric_label]
        start_proxies(head, metric_label, packshots, classes, backbone, device=device, bf16=bf16)
    loaders = (
        make_loader(train, vocab, backbone, options, shuffle=True, numeric=numeric),
        make_loader(validation, vocab, backbone, options, shuffle=False, numeric=numeric),
    )
    total_epochs = options.head_epochs + options.epochs
    upper = upper_blocks(model, options.unfrozen_blocks)
    optimizer = torch.optim.AdamW(
        [
            {"params": heads.parameters(), "lr": options.head_lr},
            {"params": [p for m in upper for p in m.parameters()], "lr": options.backbone_lr},
        ],
        weight_decay=options.weight_decay,
    )
    steps = len(loaders[0]) * max(options.epochs, 1)
    # The schedule starts with the fine-tuning phase: the heads-only epochs run at full rate.
    scheduler: torch.optim.lr_scheduler.LambdaLR | None = None

    def start_schedule() -> torch.optim.lr_scheduler.LambdaLR:
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_cosine(steps, options.warmup_fraction)
        )

    report = TrainReport(name, len(train), len(validation))
    best_loss, start_epoch, stale = math.inf, 1, 0
    checkpoint = out_dir / CHECKPOINT
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        heads.load_state_dict(state["heads"])
        optimizer.load_state_dict(state["optimizer"])
        if state["scheduler"] is not None:
            scheduler = start_schedule()
            scheduler.load_state_dict(state["scheduler"])
        best_loss, start_epoch, stale = state["best_loss"], state["epoch"] + 1, state["stale"]
        report.epochs = [EpochResult(**e) for e in state["epochs"]]
        report.best_epoch = state["best_epoch"]
    head_losses = HeadLosses(
        label_smoothing=options.label_smoothing, regression=options.regression_loss
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for epoch in range(start_epoch, total_epochs + 1):
        clock = time.perf_counter()
        phase = "heads" if epoch <= options.head_epochs else "fine-tune"
        set_trainable(model, upper, fine_tune=phase == "fine-tune")
        if phase == "fine-tune" and scheduler is None:
            scheduler = start_schedule()
        batches = tqdm(
            loaders[0],
            desc=f"epoch {epoch} ({phase})",
            unit="batch",
            leave=False,
            disable=not progress,
        )
        train_loss = run_epoch(
            model,
            heads,
            batches,
            head_losses,
            optimizer,
            scheduler,
            device=device,
            bf16=bf16,
            train_backbone=phase == "fine-tune",
        )
        val_loss, accuracy, scores = validate(
            model, heads, loaders[1], head_losses, device=device, bf16=bf16
        )
        seconds = time.perf_counter() - clock
        result = EpochResult(epoch, phase, train_loss, val_loss, accuracy, seconds, scores)
        report.epochs.append(result)
        if val_loss < best_loss:
            best_loss, stale, report.best_epoch = val_loss, 0, epoch
            info = ModelInfo(
                name=name,
                base=backbone.name,
                vocabularies=vocabularies,
                dropout=options.dropout,
                metric_label=metric_label,
                temperature=options.temperature,
                preprocessing=asdict(backbone.preprocessing),
                metrics={
                    "epoch": epoch,
                    "val_loss": val_loss,
                    "val_accuracy": accuracy,
                    "val_regression": scores,
                },
                created_at=utcnow().isoformat(),
                regression={label: asdict(scale) for label, scale in scales.items()},
                regression_loss=options.regression_loss,
            )
            save_model(out_dir, info, model, heads)
        else:
            stale += 1
        torch.save(
            {
                "model": model.state_dict(),
                "heads": heads.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "epoch": epoch,
                "best_loss": best_loss,
                "best_epoch": report.best_epoch,
                "stale": stale,
                "epochs": [e.__dict__ for e in report.epochs],
            },
            checkpoint,
        )
        if on_epoch is not None:
            on_epoch(result)
        if phase == "fine-tune" and stale >= options.patience:
            log.info("early stop after epoch %d", epoch)
            break
    report.minutes = (time.perf_counter() - started) / 60
    return report


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
