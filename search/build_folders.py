"""Leftover folders of dead processes under the builds folder: staging and scratch folders."""

from __future__ import annotations

import os

from search.ondisk import SCRATCH_PREFIX

STAGING_PREFIX = ".staging-"


def dead_owner(name: str) -> bool:
    """Whether `name` is a staging or scratch folder of a process that is gone."""
    owner = _owner_pid(name)
    return owner is not None and not _alive(owner)


def _owner_pid(name: str) -> int | None:
    """The process a staging or scratch folder belongs to (None: not such a folder)."""
    for prefix in (STAGING_PREFIX, SCRATCH_PREFIX):
        if name.startswith(prefix):
            try:
                return int(name.removeprefix(prefix).split("-")[0])
            except ValueError:
                return 0
    return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
