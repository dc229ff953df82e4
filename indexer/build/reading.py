"""How catalogue images are read, as plain values: what a fetcher and a loader are built from.

A Ray worker cannot be handed the driver's fetcher (it holds an HTTP client), so both engines
build theirs from these options, on whichever machine reads the images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexer.build.fetch import ImageFetcher
from indexer.build.loader import ImageLoader
from search.preprocess import Preprocessing
from search.quality_config import QualitySettings


@dataclass(frozen=True)
class ReadOptions:
    """The fetcher's limits and cache, the loader's threads and the decoder's pixel limit."""

    cache_dir: Path
    max_pixels: int
    timeout_s: float = 20.0
    deadline_s: float = 60.0
    retries: int = 3
    backoff_s: float = 0.5
    max_bytes: int = 20 * 2**20
    allow_private_addresses: bool = True
    fetch_workers: int = 8
    decode_workers: int = 2
    # Leave plain JPEGs encoded for the embedding device (FACET_EMBED__JPEG_DECODER=device).
    device_jpegs: bool = False
    # Check each decoded photo's quality with these limits (None: no checks).
    quality: QualitySettings | None = None

    def fetcher(self) -> ImageFetcher:
        """A new fetcher (close it, or use it as a context manager)."""
        return ImageFetcher(
            cache_dir=self.cache_dir,
            timeout_s=self.timeout_s,
            deadline_s=self.deadline_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
            max_bytes=self.max_bytes,
            allow_private_addresses=self.allow_private_addresses,
        )

    def loader(
        self,
        fetcher: ImageFetcher,
        preprocessing: Preprocessing,
        *,
        decode_workers: int | None = None,
    ) -> ImageLoader:
        """A loader reading through `fetcher`; `decode_workers` overrides the option's."""
        return ImageLoader(
            fetcher,
            preprocessing,
            max_pixels=self.max_pixels,
            fetch_workers=self.fetch_workers,
            decode_workers=decode_workers or self.decode_workers,
            device_jpegs=self.device_jpegs,
            quality=self.quality,
        )
