"""One pass of training or validation, on the CPU or a CUDA device, and the proxies' start."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader

from indexer.training.batches import ImageDataset
from indexer.training.data import Example
from indexer.training.targets import HeadLosses, RegressionTally
from search.backbones import Backbone
from search.finetuned import ProxyHead, RegressionHead


def _to(
    device: torch.device, pixels: torch.Tensor, targets: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    batch = pixels.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    return batch, {k: v.to(device, non_blocking=True) for k, v in targets.items()}


def run_epoch(
    model: nn.Module,
    heads: nn.ModuleDict,
    loader: Any,
    head_losses: HeadLosses,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    *,
    device: torch.device,
    bf16: bool,
    train_backbone: bool,
) -> float:
    """Train for one epoch; returns the mean loss."""
    heads.train()
    losses = []
    for pixels, targets in loader:
        batch, wanted = _to(device, pixels, targets)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            if train_backbone:
                features = model(batch)
            else:
                with torch.no_grad():
                    features = model(batch)
            loss = head_losses.total(heads, features, wanted)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(float(loss.detach()))
        if hasattr(loader, "set_postfix"):
            loader.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    return float(np.mean(losses)) if losses else 0.0


def validate(
    model: nn.Module,
    heads: nn.ModuleDict,
    loader: DataLoader[Any],
    head_losses: HeadLosses,
    *,
    device: torch.device,
    bf16: bool,
) -> tuple[float, dict[str, float], dict[str, dict[str, float]]]:
    """The mean loss, each classifier's accuracy and each regression head's mean absolute error
    and R^2 (`RegressionTally.scores`) on the held-out examples."""
    heads.eval()
    classifiers = {k: h for k, h in heads.items() if not isinstance(h, RegressionHead)}
    losses, right, seen = [], dict.fromkeys(classifiers, 0), dict.fromkeys(classifiers, 0)
    regression = RegressionTally()
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for pixels, targets in loader:
            batch, wanted_all = _to(device, pixels, targets)
            features = model(batch)
            losses.append(float(head_losses.total(heads, features, wanted_all)))
            regression.add(heads, features, wanted_all)
            for label, head in classifiers.items():
                wanted = wanted_all[label]
                mask = wanted >= 0
                predicted = head(features.float()).argmax(dim=1)
                right[label] += int((predicted[mask] == wanted[mask]).sum())
                seen[label] += int(mask.sum())
    accuracy = {k: round(right[k] / seen[k], 4) if seen[k] else 0.0 for k in classifiers}
    return float(np.mean(losses)) if losses else 0.0, accuracy, regression.scores()


def start_proxies(
    head: ProxyHead,
    label: str,
    examples: list[Example],
    classes: dict[str, int],
    backbone: Backbone,
    *,
    device: torch.device,
    bf16: bool,
) -> int:
    """Start each class's proxy at the mean direction of its catalogue images' features.

    The proxies then begin where the catalogue already is, so training pulls the photos towards
    the packshots they must find instead of both towards random directions. Returns how many
    proxies were set (classes without a catalogue image keep their random start).
    """
    chosen = [e for e in examples if e.catalogue and e.labels.get(label) in classes]
    if not chosen:
        return 0
    vocab = {label: classes}
    loader = DataLoader(ImageDataset(chosen, vocab, backbone, train=False), batch_size=64)
    sums: dict[int, torch.Tensor] = defaultdict(lambda: torch.zeros(head.proxies.shape[1]))
    backbone.model.eval()
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for pixels, targets in loader:
            batch, _ = _to(device, pixels, {})
            features = functional.normalize(backbone.model(batch).float(), dim=1).cpu()
            for row, index in zip(features, targets[label].tolist(), strict=True):
                sums[index] += row
    with torch.no_grad():
        for index, total in sums.items():
            head.proxies[index] = functional.normalize(total, dim=0).to(head.proxies.device)
    return len(sums)
