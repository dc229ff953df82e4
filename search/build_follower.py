"""Following the published build: a replica notices another process's publish and loads it.

Every replica of the service shares one build store (FACET_HOME on a shared folder). Whoever
publishes (`facet build`, `facet rollback`, an admin write through another replica) moves the
store's CURRENT pointer; each replica looks at it at most every `every_s` seconds, as requests
arrive, and reloads in a background thread while requests go on with the old snapshot. No
restart and no `POST /v1/admin/reload` needed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from search.builds import BuildStore

log = logging.getLogger(__name__)


class BuildFollower:
    """Calls `reload` (in a thread) when the store's current build is not the one served."""

    def __init__(self, store: BuildStore, reload: Callable[[], object], *, every_s: float) -> None:
        self.store = store
        self.reload = reload
        self.every_s = every_s
        self._checked = time.monotonic()
        self._reloading = threading.Lock()

    def check(self, serving: str | None) -> None:
        """Cheap unless `every_s` passed: then one small file read, and maybe a reload."""
        now = time.monotonic()
        if self.every_s <= 0 or now - self._checked < self.every_s:
            return
        self._checked = now
        current = self.store.current_id()
        if current is None or current == serving or not self._reloading.acquire(blocking=False):
            return
        threading.Thread(target=self._reload, name="follow-build", daemon=True).start()

    def _reload(self) -> None:
        try:
            self.reload()
        except Exception:  # the old snapshot keeps answering; the next check tries again
            log.exception("could not load the newly published build")
        finally:
            self._reloading.release()
