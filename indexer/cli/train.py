"""`facet train`: fine-tune the backbone on the catalogue's labels."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

import typer

from indexer.cli.common import (
    Context,
    DeviceOption,
    JsonOption,
    app,
    fail,
    open_store,
    reports_errors,
)
from search.config import Precision


@app.command()
@reports_errors
def train(
    ctx: typer.Context,
    labels: Annotated[
        str,
        typer.Option(
            help="Comma-separated label fields: sku, category, material, style, price or "
            "attributes."
        ),
    ],
    name: Annotated[
        str, typer.Option(help="The model's name, for `facet build --model`.")
    ] = "finetuned",
    extra_photos: Annotated[
        Path | None,
        typer.Option(help="CSV of extra labelled photos: image (relative to it) and sku or label."),
    ] = None,
    backbone: Annotated[str | None, typer.Option(help="Pretrained backbone to start from.")] = None,
    epochs: Annotated[int, typer.Option(min=0, help="Fine-tuning epochs (after the heads').")] = 20,
    head_epochs: Annotated[int, typer.Option(min=0, help="Epochs training the heads alone.")] = 2,
    batch_size: Annotated[int, typer.Option(min=2)] = 32,
    min_images: Annotated[int, typer.Option(min=1, help="Fewest images a class may have.")] = 2,
    seed: Annotated[int, typer.Option()] = 1338,
    precision: Annotated[Precision, typer.Option()] = Precision.AUTO,
    metric_label: Annotated[
        str,
        typer.Option(
            help="The label trained with a proxy (metric-learning) head, for retrieval: "
            "auto (sku, when trained), a label, or none (linear heads only)."
        ),
    ] = "auto",
    temperature: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="The proxy head's softmax temperature.")
    ] = 0.1,
    catalogue_repeats: Annotated[
        int, typer.Option(min=1, help="Times each catalogue image is shown per epoch.")
    ] = 8,
    device: DeviceOption = None,
    regression: Annotated[
        str,
        typer.Option(
            help="Labels trained with a regression head: auto (price and attributes whose "
            "values are all numbers), none, or comma-separated fields of --labels."
        ),
    ] = "auto",
    regression_loss: Annotated[
        Literal["l1", "l2"],
        typer.Option(help="The regression heads' loss, on standardised values."),
    ] = "l1",
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune the backbone with one head per label: a classifier, or a regression head for a
    numeric field."""
    from indexer.training.data import collect_examples, vocabularies
    from indexer.training.loop import EpochResult, TrainOptions, train_model
    from indexer.training.targets import as_numbers, numeric_fields
    from search.backbones import BACKBONES, load_backbone
    from search.devices import resolve_device

    context: Context = ctx.obj
    settings = context.on_device(device)
    fields = [field.strip() for field in labels.split(",") if field.strip()]
    if not fields:
        raise fail("--labels: give at least one label field")
    if name in BACKBONES or "/" in name:
        raise fail(f"--name {name!r}: choose a name that is not a registry backbone or a path")
    with open_store(settings) as engine:
        examples = collect_examples(engine, fields, extra_photos)
    numeric = numeric_fields(examples, fields, regression)
    examples = as_numbers(examples, numeric)
    classified = [field for field in fields if field not in numeric]
    classes = vocabularies(examples, classified, min_images=min_images)
    start = load_backbone(
        backbone or settings.embed.backbone,
        weights=settings.embed.weights,
        models_dir=settings.models_dir,
    )
    if metric_label == "auto":
        metric_label = "sku" if "sku" in classified else "none"
    if metric_label != "none" and metric_label not in fields:
        raise fail(f"--metric-label {metric_label}: not one of --labels (or auto, none)")
    if metric_label in numeric:
        raise fail(f"--metric-label {metric_label}: a numeric field has a regression head")
    options = TrainOptions(
        epochs=epochs,
        head_epochs=head_epochs,
        batch_size=batch_size,
        seed=seed,
        precision=precision,
        metric_label=None if metric_label == "none" else metric_label,
        temperature=temperature,
        catalogue_repeats=catalogue_repeats,
        device=resolve_device(settings.embed.device),
        regression_loss=regression_loss,
    )

    def show(result: EpochResult) -> None:
        if not as_json:
            scores = [f"val loss {result.val_loss:.3f}"]
            if result.val_accuracy:
                accuracy = ", ".join(f"{k} {v:.3f}" for k, v in result.val_accuracy.items())
                scores.append(f"val accuracy {accuracy}")
            scores += [
                f"val {k} MAE {v['mae']:.4g} R^2 {v['r2']:.3f}"
                for k, v in result.val_regression.items()
            ]
            typer.echo(
                f"epoch {result.epoch:>2} ({result.phase}): train loss {result.train_loss:.3f}, "
                f"{', '.join(scores)} [{result.seconds:.0f} s]"
            )

    if not as_json:
        sizes = [f"{k} {len(v)} classes" for k, v in classes.items()]
        sizes += [f"{k} regression" for k in numeric]
        typer.echo(
            f"training {name} from {start.name} on {len(examples):,} images ({', '.join(sizes)})"
        )
    report = train_model(
        start,
        examples,
        classes,
        numeric=numeric,
        name=name,
        out_dir=settings.models_dir / name,
        options=options,
        resume=resume,
        on_epoch=show,
        progress=context.show_progress() and not as_json,
    )
    if as_json:
        typer.echo(json.dumps(asdict(report)))
        return
    typer.echo(
        f"model {name}: best epoch {report.best_epoch}, {report.minutes:.1f} minutes; "
        f"`facet build --model {name}` re-embeds the catalogue with it"
    )
