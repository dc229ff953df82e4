"""Numeric labels: which fields train a regression head, their standardisation, each head's loss
and the validation scores of regression heads (mean absolute error and R^2).

A field is numeric when every labelled value is a finite number: a price, a stone's weight in
carats, a size. Its head learns the standardised value (mean 0, deviation 1 over the training
examples) with an L1 or L2 loss, summed with the classifiers' cross-entropy.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from indexer.training.data import CLASS_COLUMNS, Example, TrainingDataError
from search.finetuned import RegressionHead, Standardisation

RegressionLoss = Literal["l1", "l2"]
MISSING_CLASS = -100  # a missing class label: cross-entropy ignores it
# A missing number is NaN in a batch's targets: the regression loss leaves it out.


def parse_number(value: str | float) -> float | None:
    """The finite number a label value spells, or None ("12.5" -> 12.5; "large", "nan" -> None)."""
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def numeric_fields(examples: list[Example], fields: list[str], requested: str) -> list[str]:
    """The label fields trained with a regression head.

    Args:
        examples: the labelled images, values as text.
        fields: the --labels fields.
        requested: "auto" (price and every attribute whose labelled values are all finite
            numbers; sku, category, material and style are always classes), "none", or a
            comma-separated list of fields from `fields`.

    Raises:
        TrainingDataError: a requested field not among `fields` or with a value that is not a
            number; a numeric field whose values are all the same.
    """
    if requested.strip() == "none":
        return []
    if requested.strip() == "auto":
        candidates = [name for name in fields if name not in CLASS_COLUMNS]
        chosen = [name for name in candidates if _first_non_number(examples, name) is None]
    else:
        chosen = [name.strip() for name in requested.split(",") if name.strip()]
        for name in chosen:
            if name not in fields:
                raise TrainingDataError(f"--regression {name}: not one of --labels")
            bad = _first_non_number(examples, name)
            if bad is not None:
                raise TrainingDataError(f"--regression {name}: {bad!r} is not a finite number")
    for name in chosen:
        values = {parse_number(e.labels[name]) for e in examples if name in e.labels}
        if len(values) < 2:
            raise TrainingDataError(
                f"label {name!r} has {len(values)} distinct value(s); a regression needs values "
                "that differ"
            )
    return chosen


def _first_non_number(examples: list[Example], name: str) -> str | float | None:
    for example in examples:
        value = example.labels.get(name)
        if value is not None and parse_number(value) is None:
            return value
    return None


def as_numbers(examples: list[Example], fields: list[str]) -> list[Example]:
    """The examples with the values of the numeric `fields` as floats (each parses: they come
    from `numeric_fields`)."""
    if not fields:
        return examples
    converted = []
    for example in examples:
        labels = {
            name: float(value) if name in fields else value
            for name, value in example.labels.items()
        }
        converted.append(replace(example, labels=labels))
    return converted


def fit_standardisation(examples: list[Example], name: str) -> Standardisation:
    """The mean and (population) standard deviation of a numeric field over `examples`."""
    values = np.array([e.labels[name] for e in examples if name in e.labels], dtype=np.float64)
    if values.size == 0:
        return Standardisation(0.0, 1.0)
    std = float(values.std())
    # A split can leave one distinct value among the training examples: deviation 1 then keeps
    # the targets finite (they are all 0) instead of dividing by zero.
    return Standardisation(float(values.mean()), std if std > 0 else 1.0)


class HeadLosses:
    """A batch's loss: each head's, summed. Cross-entropy (with label smoothing) for classifiers;
    L1 or L2 between standardised predictions and targets for regression heads. Missing labels
    (MISSING_CLASS, NaN) are left out."""

    def __init__(self, *, label_smoothing: float, regression: RegressionLoss) -> None:
        self.classification = nn.CrossEntropyLoss(
            label_smoothing=label_smoothing, ignore_index=MISSING_CLASS
        )
        # L1 (the default) is less swayed by a few extreme values, such as an outlying price.
        self.regression: nn.Module = nn.L1Loss() if regression == "l1" else nn.MSELoss()

    def total(
        self, heads: nn.ModuleDict, features: torch.Tensor, targets: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        total = features.new_zeros((), dtype=torch.float32)
        for label, head in heads.items():
            wanted = targets[label]
            if isinstance(head, RegressionHead):
                known = ~torch.isnan(wanted)
                if known.any():
                    predicted = head(features.float())[known]
                    truth = head.scale.standardise(wanted[known].float())
                    total = total + self.regression(predicted, truth)
            elif (wanted >= 0).any():
                total = total + self.classification(head(features.float()), wanted)
        return total


def mean_absolute_error(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    return float(np.mean(np.abs(np.asarray(predicted) - np.asarray(truth))))


def r_squared(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """1 - residual / total sum of squares: 1 for perfect predictions, 0 for always predicting
    the mean, negative for worse. With constant truths, 1 if predicted exactly, else 0."""
    wanted = np.asarray(truth, dtype=np.float64)
    residual = float(np.sum((wanted - np.asarray(predicted, dtype=np.float64)) ** 2))
    spread = float(np.sum((wanted - wanted.mean()) ** 2))
    if spread == 0:
        return 1.0 if residual == 0 else 0.0
    return 1 - residual / spread


class RegressionTally:
    """The held-out predictions and truths of each regression head, in the field's units,
    gathered over the validation batches."""

    def __init__(self) -> None:
        self.predicted: dict[str, list[npt.NDArray[np.float64]]] = defaultdict(list)
        self.truth: dict[str, list[npt.NDArray[np.float64]]] = defaultdict(list)

    def add(
        self, heads: nn.ModuleDict, features: torch.Tensor, targets: dict[str, torch.Tensor]
    ) -> None:
        for label, head in heads.items():
            if isinstance(head, RegressionHead):
                wanted = targets[label]
                known = ~torch.isnan(wanted)
                # In float32 even under bf16 autocast: bf16 keeps 3 significant digits, which
                # would blur the error of a price in the hundreds by a unit or two.
                with torch.autocast(features.device.type, enabled=False):
                    predicted = head.predict(features.float()).detach()[known]
                self.predicted[label].append(predicted.double().cpu().numpy())
                self.truth[label].append(wanted[known].double().cpu().numpy())

    def scores(self) -> dict[str, dict[str, float]]:
        """Field -> {"mae": in units (4 significant digits), "r2"}; a field without a held-out
        value is left out."""
        result = {}
        for label, parts in self.predicted.items():
            predicted, truth = np.concatenate(parts), np.concatenate(self.truth[label])
            if truth.size:
                result[label] = {
                    "mae": float(f"{mean_absolute_error(predicted, truth):.4g}"),
                    "r2": round(r_squared(predicted, truth), 4),
                }
        return result
