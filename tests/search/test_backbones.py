"""The backbone registry: real offline weights, identities, and clear refusals."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image

from search.backbones import BACKBONES, Backbone, load_backbone
from search.errors import BackboneUnavailable


@pytest.fixture(scope="module")
def lite0() -> Backbone:
    return load_backbone("efficientnet_lite0")


def test_the_registry_names_every_backbone() -> None:
    assert set(BACKBONES) == {
        "efficientnet_lite0",
        "efficientnet_lite1",
        "efficientnet_lite2",
        "resnet50",
        "resnet18",
    }


def test_lite0_weights_are_real_imagenet_weights(lite0: Backbone) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    image = Image.fromarray(skimage_data.coffee())
    batch = lite0.preprocessing.to_batch([lite0.preprocessing.prepare(image)])
    assert lite0.classifier is not None
    with torch.inference_mode():
        probabilities = lite0.classifier(lite0.model(batch)).softmax(dim=1)
    assert probabilities.argmax().item() == 967  # espresso
    assert probabilities.max().item() > 0.5


def test_lite0_describes_itself(lite0: Backbone) -> None:
    assert lite0.dim == 1280
    assert lite0.preprocessing.input_size == 224
    assert lite0.preprocessing.mean == lite0.preprocessing.std == (0.5, 0.5, 0.5)
    assert lite0.identity.startswith("efficientnet_lite0-")
    assert load_backbone("efficientnet_lite0").identity == lite0.identity


def test_random_weights_only_when_asked_and_with_another_identity(lite0: Backbone) -> None:
    random = load_backbone("efficientnet_lite0", pretrained=False)
    assert random.identity != lite0.identity
    assert load_backbone("efficientnet_lite0", pretrained=False).identity == random.identity


def test_lite_weights_from_a_local_file_in_timm_layout(lite0: Backbone, tmp_path: Path) -> None:
    assert lite0.classifier is not None
    state = {**lite0.model.state_dict()}
    state.update({f"classifier.{k}": v for k, v in lite0.classifier.state_dict().items()})
    path = tmp_path / "lite0.pth"
    torch.save(state, path)
    assert load_backbone("efficientnet_lite0", weights=path).identity == lite0.identity


def test_weights_of_another_network_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"layer.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(BackboneUnavailable, match="not its weights"):
        load_backbone("efficientnet_lite0", weights=path)
    with pytest.raises(BackboneUnavailable, match="does not exist"):
        load_backbone("efficientnet_lite0", weights=tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(BackboneUnavailable, match="cannot load weights"):
        load_backbone("resnet18", weights=tmp_path / "junk.pth")


def test_unknown_backbone_is_refused() -> None:
    with pytest.raises(BackboneUnavailable, match="unknown backbone 'vgg16'"):
        load_backbone("vgg16")


def test_resnet_from_a_local_weights_file(tmp_path: Path) -> None:
    from torchvision.models import resnet18

    path = tmp_path / "resnet18.pth"
    torch.save(resnet18(weights=None).state_dict(), path)
    backbone = load_backbone("resnet18", weights=path)
    assert backbone.dim == 512 and backbone.identity.startswith("resnet18-")
    image = Image.fromarray(np.full((50, 80, 3), 128, dtype=np.uint8))
    batch = backbone.preprocessing.to_batch([backbone.preprocessing.prepare(image)])
    with torch.inference_mode():
        assert backbone.model(batch).shape == (1, 512)


def test_resnet_without_internet_or_file_names_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.models import ResNet50_Weights

    def offline(self: object, *args: object, **kwargs: object) -> None:
        raise URLError("Name or service not known")

    monkeypatch.setattr(type(ResNet50_Weights.DEFAULT), "get_state_dict", offline)
    with pytest.raises(BackboneUnavailable) as raised:
        load_backbone("resnet50")
    message = str(raised.value)
    assert "could not be downloaded" in message and "--weights FILE" in message
    assert "download.pytorch.org" in message
