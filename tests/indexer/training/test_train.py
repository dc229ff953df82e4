"""`facet train` on a tiny synthetic labelled catalogue; the model reloads and classifies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from api.app import create_app
from indexer.cli import app
from search.backbones import load_backbone
from search.config import Settings
from search.embed import Embedder
from search.finetuned import ProxyHead
from tests.conftest import write_csv

runner = CliRunner()
COLOURS = {"ruby": (200, 30, 40), "emerald": (30, 170, 60), "sapphire": (40, 60, 200)}
PRICES = {"ruby": 300, "emerald": 200, "sapphire": 100}  # numeric labels that follow the colour


def picture(colour: tuple[int, int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.full((96, 96, 3), 235, dtype=np.uint8)
    top, left = rng.integers(5, 40, size=2)
    size = int(rng.integers(30, 50))
    shade = np.clip(np.array(colour) + rng.integers(-25, 25, size=3), 0, 255)
    pixels[top : top + size, left : left + size] = shade
    return Image.fromarray(pixels)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("train")
    rows = []
    for number, (stone, colour) in enumerate(COLOURS.items()):
        for index in range(12):
            name = f"{stone}-{index}.png"
            picture(colour, 100 * number + index).save(folder / name)
            rows.append(
                {
                    "sku": f"{stone}-{index}",
                    "category": stone,
                    "price": PRICES[stone] + 5 * index,
                    # An attribute; one product per stone has none (missing values are skipped).
                    "carats": "" if index == 11 else f"{0.5 * (number + 1) + 0.02 * index:.2f}",
                    "images": name,
                }
            )
    dump = write_csv(folder / "catalog.csv", rows)
    path = folder / "home"
    assert runner.invoke(app, ["--home", str(path), "ingest", str(dump)]).exit_code == 0
    assert runner.invoke(app, ["--home", str(path), "build"]).exit_code == 0
    return path


def train(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--home", str(home), "train", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow  # fine-tunes a real backbone
def test_training_beats_chance_and_the_model_reloads(home: Path, tmp_path: Path) -> None:
    code, out, err = train(
        home, "--labels", "category", "--name", "stones", "--epochs", "1", "--head-epochs", "6",
        "--batch-size", "4", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert len(report["epochs"]) == 7 and report["best_epoch"] >= 1
    assert (home / "models" / "stones" / "model.json").is_file()

    model = load_backbone("stones", models_dir=home / "models")
    assert model.heads is not None and model.vocabularies == {"category": sorted(COLOURS)}
    embedder = Embedder(model)
    truth = [stone for stone in COLOURS for _ in range(3)]
    held_out = [picture(COLOURS[stone], 900 + i) for i, stone in enumerate(truth)]
    probabilities = embedder.predict([model.preprocessing.prepare(p) for p in held_out])["category"]
    predicted = [model.vocabularies["category"][i] for i in probabilities.argmax(axis=1)]
    right = sum(p == t for p, t in zip(predicted, truth, strict=True))
    assert right >= 6, predicted  # of 9 new pictures; chance would get 3

    # The catalogue re-embeds with it, and the API classifies with its heads.
    result = runner.invoke(app, ["--home", str(home), "build", "--model", "stones", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["embedding"]["backbone"].startswith("stones-")
    held_out[0].save(tmp_path / "ruby.png")
    with TestClient(create_app(Settings(home=home))) as client:
        files = {"image": ("ruby.png", (tmp_path / "ruby.png").read_bytes(), "image/png")}
        body = client.post("/v1/classify", files=files).json()
    assert body["method"] == "heads"
    ranked = body["predictions"]["category"]
    assert [r["label"] for r in ranked][0] == predicted[0]  # the API agrees with the model
    assert sum(r["confidence"] for r in ranked) == pytest.approx(1.0, abs=1e-3)

    # verify checks against the live build's model, and a plain build keeps that model.
    verified = runner.invoke(app, ["--home", str(home), "verify", "--json"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["backbone"].startswith("stones-")
    rebuilt = runner.invoke(app, ["--home", str(home), "build", "--json"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "keeping stones" in rebuilt.stderr
    assert json.loads(rebuilt.stdout)["embedding"]["backbone"].startswith("stones-")
    repaired = runner.invoke(app, ["--home", str(home), "verify", "--repair", "--json"])
    assert repaired.exit_code == 0 and json.loads(repaired.stdout)["repaired"] is None


@pytest.mark.slow  # fine-tunes a real backbone
def test_numeric_fields_train_regression_heads_that_reload_and_answer(
    home: Path, tmp_path: Path
) -> None:
    code, out, err = train(
        home, "--labels", "category,price,carats", "--name", "priced", "--epochs", "1",
        "--head-epochs", "1", "--batch-size", "8", "--regression-loss", "l2", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert len(report["epochs"]) == 2
    for epoch in report["epochs"]:
        assert set(epoch["val_accuracy"]) == {"category"}
        assert set(epoch["val_regression"]) == {"price", "carats"}
        for scores in epoch["val_regression"].values():
            assert scores["mae"] >= 0 and scores["r2"] <= 1

    info = json.loads((home / "models" / "priced" / "model.json").read_text())
    assert info["vocabularies"] == {"category": sorted(COLOURS)}
    assert info["regression_loss"] == "l2" and set(info["regression"]) == {"price", "carats"}
    price = info["regression"]["price"]
    assert 100 < price["mean"] < 360 and price["std"] > 10  # of the training split's prices
    saved = next(e for e in report["epochs"] if e["epoch"] == info["metrics"]["epoch"])
    assert info["metrics"]["val_regression"] == saved["val_regression"]

    model = load_backbone("priced", models_dir=home / "models")
    pictures = [
        model.preprocessing.prepare(picture(COLOURS[s], 960 + i)) for i, s in enumerate(PRICES)
    ]
    answers = Embedder(model).predict_heads(pictures)
    assert set(answers.probabilities) == {"category"}
    assert answers.probabilities["category"].shape == (3, 3)
    assert set(answers.values) == {"price", "carats"} and answers.values["price"].shape == (3,)
    # In the field's units, not standardised (about 0): within 2 deviations of the mean price.
    assert np.all(np.abs(answers.values["price"] - price["mean"]) < 2 * price["std"])

    result = runner.invoke(app, ["--home", str(home), "build", "--model", "priced", "--json"])
    assert result.exit_code == 0, result.output
    photo = tmp_path / "ruby.png"
    picture(COLOURS["ruby"], 960).save(photo)
    with TestClient(create_app(Settings(home=home))) as client:
        files = {"image": ("ruby.png", photo.read_bytes(), "image/png")}
        body = client.post("/v1/classify", files=files).json()
    assert body["method"] == "heads" and set(body["predictions"]) == {"category"}
    assert set(body["regression"]) == {"price", "carats"}
    assert body["regression"]["price"]["value"] == pytest.approx(
        float(answers.values["price"][0]), abs=0.05 * price["std"]
    )  # the API agrees with the model (up to bf16 rounding where one side uses it)


@pytest.mark.slow  # fine-tunes a real backbone
def test_resume_continues_from_the_checkpoint(home: Path) -> None:
    args = ["--labels", "category", "--name", "resumed", "--batch-size", "8", "--json"]
    code, out, err = train(home, *args, "--epochs", "0", "--head-epochs", "1")
    assert code == 0, err
    code, out, err = train(home, *args, "--epochs", "1", "--head-epochs", "1", "--resume")
    assert code == 0, err
    assert [e["epoch"] for e in json.loads(out)["epochs"]] == [1, 2]


@pytest.mark.slow  # fine-tunes a real backbone
def test_a_metric_label_trains_a_proxy_head_that_reloads(home: Path) -> None:
    args = ["--labels", "category", "--metric-label", "category", "--name", "proxied"]
    code, out, err = train(home, *args, "--epochs", "1", "--head-epochs", "1", "--json")
    assert code == 0, err
    info = json.loads((home / "models" / "proxied" / "model.json").read_text())
    assert info["metric_label"] == "category" and info["temperature"] == 0.1
    model = load_backbone("proxied", models_dir=home / "models")
    assert model.heads is not None and isinstance(model.heads["category"], ProxyHead)
    pictures = [model.preprocessing.prepare(picture(COLOURS["ruby"], 950 + i)) for i in range(2)]
    probabilities = Embedder(model).predict(pictures)["category"]
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--labels", "material"], "no active product has a value for material"),
        (["--labels", "sku"], "fewer than 2 images"),
        (["--labels", ""], "at least one label field"),
        (["--labels", "category", "--name", "efficientnet_lite0"], "not a registry backbone"),
        (["--labels", "category", "--metric-label", "sku"], "not one of --labels"),
        (["--labels", "category", "--regression", "price"], "--regression price: not one of"),
        (["--labels", "price", "--metric-label", "price"], "numeric field has a regression head"),
        (["--labels", "price", "--regression", "none"], "fewer than 2 images"),  # price classes
        (["--labels", "category", "--device", "tpu"], "use auto, cpu, cuda or cuda:N"),
        pytest.param(
            ["--labels", "category", "--device", "cuda"],
            "no CUDA GPU is available here",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has one"),
        ),
    ],
)
def test_refusals(home: Path, args: list[str], message: str) -> None:
    code, _, err = train(home, *args)
    assert code == 1 and message in err


def test_a_field_named_in_regression_must_be_numeric(home: Path) -> None:
    code, _, err = train(home, "--labels", "category,carats", "--regression", "category,carats")
    assert code == 1
    assert err.startswith("facet: error: --regression category: '") and err.count("\n") == 1
    assert "is not a finite number" in err


def test_a_label_with_one_class_is_refused(tmp_path: Path) -> None:
    picture(COLOURS["ruby"], 1).save(tmp_path / "a.png")
    picture(COLOURS["ruby"], 2).save(tmp_path / "b.png")
    dump = write_csv(
        tmp_path / "c.csv",
        [
            {"sku": "A", "category": "ruby", "images": "a.png"},
            {"sku": "B", "category": "ruby", "images": "b.png"},
        ],
    )
    home = tmp_path / "home"
    for step in (["ingest", str(dump)], ["build"]):
        result = runner.invoke(app, ["--home", str(home), *step])
        assert result.exit_code == 0, result.output
    code, _, err = train(home, "--labels", "category")
    assert code == 1 and "1 class(es); 2 are needed" in err
