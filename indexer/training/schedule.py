"""What trains when: the upper blocks the second phase thaws, and the learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn


def upper_blocks(model: nn.Module, count: int) -> list[nn.Module]:
    """The top `count` stages plus the final convolution: what the second phase trains."""
    blocks = getattr(model, "blocks", None) or getattr(model, "layer4", None)
    modules: list[nn.Module] = []
    if isinstance(blocks, nn.Sequential):
        modules += list(blocks)[-count:]
    for tail in ("conv_head", "bn2"):
        if isinstance(getattr(model, tail, None), nn.Module):
            modules.append(getattr(model, tail))
    return modules or [model]


def set_trainable(model: nn.Module, upper: list[nn.Module], *, fine_tune: bool) -> None:
    """Freeze everything; in the fine-tuning phase, thaw the upper blocks."""
    model.requires_grad_(False)
    model.eval()  # frozen batch-norm statistics: small batches would only add noise
    if fine_tune:
        for module in upper:
            module.requires_grad_(True)


def warmup_cosine(steps: int, warmup_fraction: float) -> Callable[[int], float]:
    """A LambdaLR factor: linear warm-up, then cosine annealing to zero."""
    warmup = max(1, int(steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, steps - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor
