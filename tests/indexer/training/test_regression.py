"""Regression heads for numeric fields: which fields are numeric, standardisation, the losses and
the validation scores, on hand-made numbers."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from indexer.training.data import Example, TrainingDataError
from indexer.training.targets import (
    HeadLosses,
    RegressionLoss,
    RegressionTally,
    as_numbers,
    fit_standardisation,
    mean_absolute_error,
    numeric_fields,
    parse_number,
    r_squared,
)
from search.errors import BackboneUnavailable
from search.finetuned import (
    META_FILE,
    ModelInfo,
    RegressionHead,
    Standardisation,
    read_heads,
    read_model_info,
)


def labelled(*labels: dict[str, str | float]) -> list[Example]:
    return [Example(Path(f"{i}.jpg"), dict(values)) for i, values in enumerate(labels)]


def test_standardising_and_back_gives_the_values_again() -> None:
    scale = Standardisation(mean=250.0, std=40.0)
    values = torch.tensor([170.0, 250.0, 330.0])
    standardised = scale.standardise(values)
    assert torch.allclose(standardised, torch.tensor([-2.0, 0.0, 2.0]))
    assert torch.allclose(scale.to_units(standardised), values)


def test_the_standardisation_is_fitted_on_the_examples_values() -> None:
    examples = labelled({"carats": 1.0}, {"carats": 2.0}, {"carats": 3.0}, {"carats": 4.0}, {})
    scale = fit_standardisation(examples, "carats")
    assert scale.mean == 2.5 and scale.std == pytest.approx(math.sqrt(1.25))
    # One distinct value (a split can leave that): deviation 1 instead of a division by zero.
    assert fit_standardisation(labelled({"carats": 2.0}, {"carats": 2.0}), "carats").std == 1.0


def test_mean_absolute_error_and_r_squared_on_known_numbers() -> None:
    truth = [1.0, 2.0, 3.0, 4.0]
    assert mean_absolute_error([1.0, 2.0, 3.0, 5.0], truth) == 0.25
    assert r_squared([1.0, 2.0, 3.0, 5.0], truth) == pytest.approx(1 - 1 / 5)
    assert r_squared(truth, truth) == 1.0  # perfect
    assert r_squared([2.5] * 4, truth) == 0.0  # always the mean
    assert r_squared([4.0, 3.0, 2.0, 1.0], truth) == pytest.approx(-3.0)  # worse than the mean
    assert r_squared([3.0, 3.0], [3.0, 3.0]) == 1.0 and r_squared([2.0, 4.0], [3.0, 3.0]) == 0.0


def zero_head(scale: Standardisation) -> RegressionHead:
    """A regression head that always predicts the standardised value 0 (the mean)."""
    head = RegressionHead(dim=2, dropout=0.0, scale=scale)
    torch.nn.init.zeros_(head.linear.weight)
    torch.nn.init.zeros_(head.linear.bias)
    return head


@pytest.mark.parametrize(("loss", "expected"), [("l1", 1.5), ("l2", 2.5)])
def test_the_regression_loss_is_l1_or_l2_on_standardised_values(
    loss: RegressionLoss, expected: float
) -> None:
    heads = torch.nn.ModuleDict({"price": zero_head(Standardisation(mean=10.0, std=2.0))})
    losses = HeadLosses(label_smoothing=0.0, regression=loss)
    # 14 and 8 are +2 and -1 deviations from the mean; the missing value (NaN) is left out.
    targets = {"price": torch.tensor([14.0, 8.0, math.nan], dtype=torch.float64)}
    total = losses.total(heads, torch.ones(3, 2), targets)
    assert total.item() == pytest.approx(expected)  # |2|, |-1| -> 1.5; 2^2, 1^2 -> 2.5


def test_regression_and_classification_losses_add_up() -> None:
    classifier = torch.nn.Linear(2, 2)
    torch.nn.init.zeros_(classifier.weight)  # equal logits: the loss is log 2
    torch.nn.init.zeros_(classifier.bias)
    heads = torch.nn.ModuleDict(
        {"stone": classifier, "price": zero_head(Standardisation(mean=0.0, std=1.0))}
    )
    targets = {"stone": torch.tensor([0, -100]), "price": torch.tensor([3.0, math.nan])}
    total = HeadLosses(label_smoothing=0.0, regression="l1").total(heads, torch.ones(2, 2), targets)
    assert total.item() == pytest.approx(math.log(2) + 3.0)  # uniform over 2 classes, |0 - 3|


def test_validation_scores_are_in_the_fields_units() -> None:
    heads = torch.nn.ModuleDict({"price": zero_head(Standardisation(mean=10.0, std=2.0))})
    tally = RegressionTally()
    for batch in ([8.0, 12.0], [math.nan, 10.0]):
        targets = {"price": torch.tensor(batch, dtype=torch.float64)}
        tally.add(heads, torch.ones(len(batch), 2), targets)
    # Always 10 (the mean) against 8, 12, 10: errors 2, 2, 0; R^2 of the mean is 0.
    assert tally.scores() == {"price": {"mae": pytest.approx(4 / 3, abs=1e-3), "r2": 0.0}}


def test_numbers_are_finite_numbers_only() -> None:
    assert parse_number("12.5") == 12.5 and parse_number(" 7 ") == 7.0
    assert parse_number("1e3") == 1000.0 and parse_number(3.0) == 3.0
    for text in ("large", "", "nan", "inf", "-Infinity", "12 carats"):
        assert parse_number(text) is None, text


def catalogue() -> list[Example]:
    return labelled(
        {"sku": "1", "category": "10", "price": "9.5", "carats": "0.5", "cut": "oval"},
        {"sku": "2", "category": "20", "price": "12.0", "carats": "1.25", "cut": "round"},
        {"sku": "3", "category": "10", "price": "30.0", "cut": "round"},
    )


def test_auto_picks_the_price_and_numeric_attributes_never_the_class_columns() -> None:
    fields = ["sku", "category", "price", "carats", "cut"]
    assert numeric_fields(catalogue(), fields, "auto") == ["price", "carats"]
    assert numeric_fields(catalogue(), fields, "none") == []
    assert numeric_fields(catalogue(), fields, "category, carats") == ["category", "carats"]


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ("cut", "--regression cut: 'oval' is not a finite number"),
        ("weight", "--regression weight: not one of --labels"),
    ],
)
def test_a_requested_field_must_be_a_numeric_label(requested: str, message: str) -> None:
    with pytest.raises(TrainingDataError, match=message):
        numeric_fields(catalogue(), ["cut", "price"], requested)


def test_a_numeric_field_needs_values_that_differ() -> None:
    examples = labelled({"carats": "1"}, {"carats": "1.0"})
    with pytest.raises(TrainingDataError, match="1 distinct value"):
        numeric_fields(examples, ["carats"], "auto")


def test_numeric_values_become_floats_and_the_rest_stays_text() -> None:
    converted = as_numbers(catalogue(), ["price", "carats"])
    assert converted[0].labels == {
        "sku": "1",
        "category": "10",
        "price": 9.5,
        "carats": 0.5,
        "cut": "oval",
    }
    assert "carats" not in converted[2].labels  # still missing, not 0


def test_a_model_with_regression_heads_rebuilds_and_predicts_in_units() -> None:
    info = ModelInfo(
        name="m",
        base="efficientnet_lite0",
        vocabularies={"stone": ["a", "b"]},
        dropout=0.3,
        regression={"price": asdict(Standardisation(mean=10.0, std=2.0))},
    )
    heads = info.heads(2)
    assert isinstance(heads["price"], RegressionHead)
    price = heads["price"]
    assert isinstance(price, RegressionHead)
    torch.nn.init.zeros_(price.linear.weight)
    torch.nn.init.constant_(price.linear.bias, 1.5)  # +1.5 deviations
    heads.eval()
    probabilities, values = read_heads(heads, torch.ones(3, 2))
    assert set(probabilities) == {"stone"} and probabilities["stone"].shape == (3, 2)
    assert torch.allclose(values["price"], torch.full((3,), 13.0))


def test_a_model_json_from_before_regression_heads_still_loads(tmp_path: Path) -> None:
    older = {"name": "m", "base": "efficientnet_lite0", "vocabularies": {"a": ["x"]}, "dropout": 0}
    (tmp_path / META_FILE).write_text(json.dumps(older), encoding="utf-8")
    info = read_model_info(tmp_path)
    assert info.regression == {} and info.regression_loss == "l1"
    assert list(info.heads(4)) == ["a"]


def test_a_malformed_standardisation_makes_the_model_unreadable(tmp_path: Path) -> None:
    meta = {"name": "m", "base": "efficientnet_lite0", "vocabularies": {}, "dropout": 0.3}
    meta["regression"] = {"price": {"mean": 10.0}}  # no std
    (tmp_path / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(BackboneUnavailable, match="unreadable model.json"):
        read_model_info(tmp_path)
