"""The image loader hands results on as they complete: one slow image never stalls the rest."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from PIL import Image

from indexer.build.fetch import FetchError, ImageFetcher
from indexer.build.loader import Failed, ImageJob, ImageLoader, Loaded
from search.preprocess import Preprocessing


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


class SlowFirst(ImageFetcher):
    """`slow` waits until every other image has been handed on (or 10 s, against a hang)."""

    def __init__(self, others: int, cache_dir: Path) -> None:
        super().__init__(cache_dir=cache_dir)
        self.others = others
        self.handed_on: list[int] = []
        self.released = threading.Event()

    def fetch(self, uri: str) -> bytes:
        if uri == "slow":
            self.released.wait(timeout=10)
        if uri == "broken":
            raise FetchError("missing", "no such file")
        return png()

    def record(self, image_id: int) -> None:
        self.handed_on.append(image_id)
        if len(self.handed_on) == self.others:
            self.released.set()


def test_results_come_as_they_complete(tmp_path: Path) -> None:
    jobs = [ImageJob(1, "slow", None)] + [ImageJob(i, "fast", None) for i in range(2, 6)]
    jobs.append(ImageJob(6, "broken", None))
    fetcher = SlowFirst(len(jobs) - 1, tmp_path)
    loader = ImageLoader(fetcher, Preprocessing(16, (0.5,) * 3, (0.5,) * 3), max_pixels=10**6)
    results = []
    for result in loader.load(jobs, window=4):
        fetcher.record(result.job.image_id)
        results.append(result)
    fetcher.close()
    # The slow image comes last, after everything behind it, instead of holding it all up.
    assert fetcher.handed_on[-1] == 1
    assert sorted(fetcher.handed_on) == [1, 2, 3, 4, 5, 6]
    assert sum(isinstance(result, Loaded) for result in results) == 5
    assert [result.job.image_id for result in results if isinstance(result, Failed)] == [6]
