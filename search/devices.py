"""Which torch device a command runs on."""

from __future__ import annotations

import torch

from search.errors import FacetError


class DeviceUnavailable(FacetError):
    """The asked-for device does not exist here."""


def resolve_device(name: str) -> str:
    """`auto` -> `cuda` where a CUDA GPU is present, else `cpu`; other names are checked.

    Raises:
        DeviceUnavailable: an unknown name, or CUDA asked for where there is none.
    """
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise DeviceUnavailable(f"device {name}: no CUDA GPU is available here")
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise DeviceUnavailable(f"device {name}: this machine has {count} CUDA GPU(s)")
        return name
    raise DeviceUnavailable(f"device {name!r}: use auto, cpu, cuda or cuda:N")
