"""Where images are embedded: the device setting, its resolution and every command's `--device`.

The CPU paths run everywhere; the CUDA ones run where a CUDA GPU exists and are skipped
elsewhere (there is none on the development machines: the closing notes say so).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from search.backbones import load_backbone
from search.config import EmbedSettings, Settings
from search.devices import DeviceUnavailable, resolve_device
from search.embed import Embedder, Precision
from search.serving import EmbedderOptions
from tests.conftest import SAMPLE_CATALOG
from tests.conftest import facet as run_facet

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def test_auto_is_the_cpu_without_a_gpu_and_cuda_with_one() -> None:
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "CUDA", "cuda:"])
def test_unknown_device_names_are_refused(name: str) -> None:
    with pytest.raises(DeviceUnavailable, match="use auto, cpu, cuda or cuda:N"):
        resolve_device(name)
    with pytest.raises(ValidationError):
        EmbedSettings(device=name)


@no_gpu
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_is_refused_where_there_is_none(name: str) -> None:
    with pytest.raises(DeviceUnavailable, match="no CUDA GPU is available here"):
        resolve_device(name)


def test_batches_and_decoders_are_sized_for_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    auto = EmbedSettings()
    assert (auto.batch_for("cpu"), auto.batch_for("cuda:1")) == (32, 256)
    assert (auto.decode_workers_for("cpu"), auto.decode_workers_for("cuda")) == (4, 16)
    fixed = EmbedSettings(batch_size=64, decode_workers=3)
    assert (fixed.batch_for("cuda"), fixed.decode_workers_for("cuda")) == (64, 3)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert (auto.decode_workers_for("cpu"), auto.decode_workers_for("cuda")) == (2, 2)


def test_the_service_embeds_on_the_configured_device() -> None:
    options = EmbedderOptions.from_settings(Settings().with_device("cpu"))
    assert (options.device, options.batch_size) == ("cpu", 32)
    with pytest.raises(ValueError, match="device 'tpu': use auto, cpu, cuda or cuda:N"):
        Settings().with_device("tpu")


def test_an_explicit_cpu_embedder_gives_the_default_vectors() -> None:
    backbone = load_backbone("efficientnet_lite0", pretrained=False)
    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(3)]
    default = Embedder(backbone, precision=Precision.FP32).embed_arrays(arrays)
    on_cpu = Embedder(backbone, precision=Precision.FP32, device="cpu").embed_arrays(arrays)
    np.testing.assert_array_equal(default, on_cpu)


@needs_gpu
def test_cuda_vectors_match_the_cpu_ones() -> None:
    backbone = load_backbone("efficientnet_lite0", pretrained=False)
    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(40)]
    cpu = Embedder(backbone, precision=Precision.FP32).embed_arrays(arrays)
    cuda = Embedder(backbone, precision=Precision.FP32, device="cuda", batch_size=16)
    assert cuda.precision is Precision.FP32 and cuda.device.type == "cuda"
    cosines = (cpu * cuda.embed_arrays(arrays)).sum(axis=1)
    assert cosines.min() >= 0.9999
    bf16 = Embedder(backbone, device="cuda")  # auto: bf16 on any GPU since Ampere
    assert ((cpu * bf16.embed_arrays(arrays)).sum(axis=1)).min() >= 0.99


def facet(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = run_facet(home, *args, env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", [["build"], ["evaluate", "queries.csv"], ["search", "x.jpg"]])
def test_a_bad_device_option_is_one_line(tmp_path: Path, command: list[str]) -> None:
    code, _, err = facet(tmp_path, *command, "--device", "tpu")
    assert code == 1
    assert err.strip() == "facet: error: device 'tpu': use auto, cpu, cuda or cuda:N"


def test_a_bad_device_setting_is_one_line(tmp_path: Path) -> None:
    code, _, err = facet(tmp_path, "build", env={"FACET_EMBED__DEVICE": "tpu"})
    assert code == 1 and err.startswith("facet: error: setting FACET_EMBED__DEVICE: ")
    assert len(err.strip().splitlines()) == 1


@no_gpu
def test_cuda_where_there_is_none_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    assert facet(tmp_path, "ingest", str(SAMPLE_CATALOG))[0] == 0
    code, _, err = facet(tmp_path, "build", "--device", "cuda")
    assert code == 1 and err.strip() == "facet: error: device cuda: no CUDA GPU is available here"
    assert not (tmp_path / "indexes").exists() or not any((tmp_path / "indexes").iterdir())


def test_build_on_the_cpu_names_its_device(tmp_path: Path) -> None:
    assert facet(tmp_path, "ingest", str(SAMPLE_CATALOG))[0] == 0
    code, out, err = facet(tmp_path, "build", "--device", "cpu", "--random-weights", "--json")
    assert code == 0, err
    assert '"device": "cpu"' in out


@no_gpu
@pytest.mark.slow  # a second Python process, torch imported
def test_facet_serve_refuses_a_missing_gpu_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api", "--home", str(tmp_path), "--device", "cuda"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "facet-serve: error: device cuda: no CUDA GPU is available here"
