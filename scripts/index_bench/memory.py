"""Resident memory of a process and all its descendants, sampled while it runs.

A sharded build is several processes at once, so what it needs of the machine's RAM is the sum
of their resident sets at the same moment, not the largest one: the sampler records the peak of
that sum (VmRSS: everything resident, libraries and mapped files included; RssAnon: private
memory only). Sampling every 50 ms can miss a spike shorter than that.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

PERIOD_S = 0.05


def _status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, VmHWM... of a process, in kB (empty if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            fields[name] = int(value.split()[0])
    return fields


def descendants(root: int) -> list[int]:
    """root and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


@dataclass
class TreeMemory:
    """Peaks of a process tree's summed memory, in MiB, sampled on a thread."""

    root: int
    peak_rss_mb: float = 0.0
    peak_anon_mb: float = 0.0
    peak_processes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> TreeMemory:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            statuses = [_status(pid) for pid in descendants(self.root)]
            statuses = [status for status in statuses if status]
            rss = sum(status.get("VmRSS", 0) for status in statuses) / 1024
            anon = sum(status.get("RssAnon", 0) for status in statuses) / 1024
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            self.peak_anon_mb = max(self.peak_anon_mb, anon)
            self.peak_processes = max(self.peak_processes, len(statuses))
            self._stop.wait(PERIOD_S)


def own_memory_mb() -> dict[str, float]:
    """This process's memory now and at its peak (VmHWM), in MiB."""
    status = _status(os.getpid())
    return {
        name: round(status.get(key, 0) / 1024, 1)
        for name, key in (
            ("rss_mb", "VmRSS"),
            ("anon_mb", "RssAnon"),
            ("file_mb", "RssFile"),
            ("peak_mb", "VmHWM"),
        )
    }
