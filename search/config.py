"""Settings: every knob Facet has, from `FACET_...` environment variables or a `.env` file.

Only entry points (the CLI, the app factory) build a `Settings()`; everything else takes
explicit arguments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from search.db import backend_name
from search.embed_config import EmbedSettings as EmbedSettings
from search.embed_config import Precision as Precision
from search.http_config import HttpSettings
from search.inspect_config import InspectSettings
from search.milvus_config import MilvusSettings, unsupported
from search.quality_config import QualitySettings
from search.ranking import ProductScore, Ranking


class DbSettings(BaseModel):
    """The product database."""

    # None means `sqlite:///<home>/facet.db`, for one machine. Several replicas share one
    # PostgreSQL: `postgresql+psycopg://user:password@host/db` (docs/deployment.md).
    url: str | None = None
    # How long a command's writer waits for another writer's lock (an ingest holds it for the
    # whole dump) before failing with a one-line error. The API's admin writes use
    # api.write_timeout_s instead.
    busy_timeout_s: float = Field(default=300.0, gt=0)

    @field_validator("url")
    @classmethod
    def _supported(cls, url: str | None) -> str | None:
        if url is not None:
            backend_name(url)  # raises UnsupportedDatabase, a ValueError: a setting error
        return url


class IngestSettings(BaseModel):
    """Catalogue dump ingestion."""

    # Rows per database round trip: large enough to amortise statement overhead,
    # small enough that SQLite's parameter limit and memory stay comfortable.
    batch_size: int = Field(default=2000, ge=1, le=5000)
    # How many rejected rows the summary lists (all of them go to --rejects FILE).
    max_reported_rejections: int = Field(default=10, ge=0)
    # `ingest --full` writes nothing when it would soft-delete more than this percentage of the
    # active products (a truncated export, the wrong file); `--max-delete PCT` overrides it.
    max_delete_pct: float = Field(default=10.0, ge=0, le=100)
    # The longest CSV field. A longer one is taken for damage (a stray quote swallowing the
    # file): reading stops there and `--full` deletes nothing.
    max_field_chars: int = Field(default=16 * 2**20, ge=1024)


class DownloadSettings(BaseModel):
    """Fetching catalogue images from http(s) URLs."""

    concurrency: int = Field(default=8, ge=1, le=256)
    timeout_s: float = Field(default=20.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10)
    # First retry waits this long, each next one twice as long.
    backoff_s: float = Field(default=0.5, ge=0)
    # Also the size limit of local image files.
    max_bytes: int = Field(default=20 * 2**20, ge=1)
    # One URL's whole download, all tries and redirects together: a server trickling bytes
    # (each within timeout_s) is cut off here.
    deadline_s: float = Field(default=60.0, gt=0)
    # Whether URLs may resolve to loopback, private or link-local addresses (checked at every
    # redirect). True keeps local tests and intranet catalogues working; set it to false in
    # production when dumps come from outside, so a dump cannot reach internal services.
    allow_private_addresses: bool = True


class IndexSettings(BaseModel):
    """The vector index."""

    # Where the vectors live: FAISS files under FACET_HOME, or Milvus collections
    # (FACET_MILVUS__..., docs/index.md#milvus-backend).
    backend: Literal["faiss", "milvus"] = "faiss"
    # An explicit FAISS factory string (e.g. "IVF1024,Flat") instead of the automatic choice.
    factory: str | None = None
    # Over this much memory for full vectors, the index stores compressed ones (SQ6, re-ranked).
    memory_budget_mb: int = Field(default=4096, ge=1)
    # nprobe is tuned after each build to reach this recall@10 against exact search.
    target_recall: float = Field(default=0.95, gt=0, le=1)
    # Sample queries for that measurement.
    tune_queries: int = Field(default=500, ge=10)
    # The service re-measures and re-tunes nprobe in the background once admin writes have
    # added or removed more than this share of the served index's vectors since the last tune.
    retune_share: float = Field(default=0.1, ge=0)
    # Candidates re-ranked with full vectors per result, for compressed indexes.
    rerank_factor: int = Field(default=10, ge=1)
    # Retrain instead of updating when the catalogue outgrew the trained size this many times...
    retrain_growth: float = Field(default=2.0, gt=1)
    # ...or when the lists are this unbalanced (FAISS imbalance factor; 1.0 is even).
    max_imbalance: float = Field(default=3.0, gt=1)
    # Vectors a build reads at once, in MiB: with the training sample, this bounds the memory
    # a build needs beyond the index itself (docs/index.md#memory).
    chunk_mb: int = Field(default=64, ge=1)
    # 1: build in one process, lists in memory. N > 1: N shard jobs add in parallel (up to one
    # process a core) and the lists go to a file the service memory-maps (docs/index.md#shards).
    shards: int = Field(default=1, ge=1)
    # Published builds kept for `facet rollback`.
    keep_builds: int = Field(default=3, ge=2)
    # Descriptors (docs/index.md#descriptors). "domain": where a photo mean is known for the
    # model (`facet build --query-photos`, `facet train`), queries lose it and catalogue vectors
    # lose the catalogue's mean (Grocery, Lite1: Recall@1 0.318 -> 0.389); "none": raw vectors.
    centring: Literal["domain", "none"] = "domain"
    # PCA learned on the centred catalogue at each full build: "pca" rotates, "whiten" also
    # scales the axes to unit variance (it hurt here: 0.389 -> 0.310); with `dimensions`, only
    # that many components are kept, which also shrinks the index.
    whitening: Literal["none", "pca", "whiten"] = "none"
    dimensions: int | None = Field(default=None, ge=2)

    @model_validator(mode="after")
    def _backend_can_build(self) -> IndexSettings:
        if self.backend == "milvus":
            # Centring needs a photo mean, known only at build time (checked there).
            reshaped = self.whitening != "none" or self.dimensions is not None
            why = unsupported(
                shards=self.shards, factory=self.factory, descriptor="pca" if reshaped else "none"
            )
            if why:
                raise ValueError(why)
        return self


class SearchSettings(BaseModel):
    """How hits become results (search/ranking.py, docs/index.md#ranking)."""

    # alpha-QE: search again with the query plus its n nearest index vectors weighted by
    # similarity**alpha; 0 turns it off (it doubles the search, not the embedding).
    query_expansion: int = Field(default=0, ge=0, le=50)
    expansion_alpha: float = Field(default=3.0, ge=0, le=20)
    # A product with several images: its best image's score, the mean over its images, or the
    # mean of its two best.
    product_score: Literal["best", "mean", "top2"] = "best"
    # Where the service answers filters: "memory" (a table of the products' filterable fields
    # per image, read at load and kept current; search/filter_table.py) or "database" (one SQL
    # query per filtered search, as the command line does).
    filters: Literal["memory", "database"] = "memory"
    # A search whose best result scores below this says "no confident match" (the results are
    # still the nearest products). Chosen on the Grocery test photos with the default backbone:
    # the highest score below which the top result was wrong at least 85 times in 100
    # (scripts/bench_shopper.py, docs/benchmarks.md#no-confident-match).
    confident_score: float = Field(default=0.36, ge=-1, le=1)
    # How often the service looks for a re-ingested catalogue, or products changed through
    # another replica, to read its filter table again.
    filter_check_s: float = Field(default=1.0, gt=0)


class ApiSettings(HttpSettings):
    """The HTTP service (CORS, gzip and thumbnails in search/http_config.py)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # How often the service looks for a build published by another process (`facet build`,
    # a rollback, another replica's admin write) and loads it; 0 turns it off (then only
    # POST /v1/admin/reload or a restart loads it). search/build_follower.py.
    follow_builds_s: float = Field(default=2.0, ge=0)
    # Uploads larger than this are refused with 413; reading stops at the limit.
    max_upload_bytes: int = Field(default=10 * 2**20, ge=1)
    max_k: int = Field(default=100, ge=1)
    # Admin writes wait at most this long for another writer (the database's write lock, the
    # index publish lock) before answering 503 with Retry-After.
    write_timeout_s: float = Field(default=10.0, gt=0)
    # Uploads to /v1/search and /v1/classify with more pixels are refused (422) before their
    # pixels are decoded: queries need far fewer pixels than catalogue images (embed setting).
    max_query_pixels: int = Field(default=16_000_000, ge=1)
    # Uploads decoded at the same time; each may hold about 250 MB at the query pixel limit, so
    # the default is the core count capped at 4 (the model, not decoding, is the bottleneck).
    # More wait for a slot, and those waiting count towards queue_max with the embedding queue.
    decode_concurrency: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1), ge=1, le=256
    )
    # Guards the admin endpoints (X-API-Key header); without it they answer 403.
    api_key: SecretStr | None = None
    # Concurrent uploads share forward passes: up to batch_max images, those that queued while
    # the previous batch ran (plus up to batch_wait_ms of waiting, 0 = none); beyond queue_max
    # waiting images (waiting to be decoded or embedded), 503 + Retry-After.
    micro_batching: bool = True
    batch_max: int = Field(default=16, ge=1, le=256)
    batch_wait_ms: float = Field(default=0.0, ge=0)
    queue_max: int = Field(default=64, ge=1)


class Settings(BaseSettings):
    """Facet's configuration. Nested groups take `FACET_<GROUP>__<NAME>` variables."""

    model_config = SettingsConfigDict(
        env_prefix="FACET_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    # Everything Facet writes lives under this one folder.
    home: Path = Path("facet-data")
    db: DbSettings = DbSettings()
    ingest: IngestSettings = IngestSettings()
    embed: EmbedSettings = EmbedSettings()
    download: DownloadSettings = DownloadSettings()
    index: IndexSettings = IndexSettings()
    milvus: MilvusSettings = MilvusSettings()
    search: SearchSettings = SearchSettings()
    api: ApiSettings = ApiSettings()
    quality: QualitySettings = QualitySettings()
    inspect: InspectSettings = InspectSettings()

    def with_device(self, device: str) -> Settings:
        """These settings with another embedding device (a command's `--device`).

        Raises:
            ValueError: not a device name.
        """
        try:
            embed = EmbedSettings.model_validate({**self.embed.model_dump(), "device": device})
        except ValidationError:
            raise ValueError(f"device {device!r}: use auto, cpu, cuda or cuda:N") from None
        return self.model_copy(update={"embed": embed})

    @property
    def ranking(self) -> Ranking:
        """The search settings as the searcher takes them."""
        return Ranking(
            rerank_factor=self.index.rerank_factor,
            expansion=self.search.query_expansion,
            expansion_alpha=self.search.expansion_alpha,
            product_score=ProductScore(self.search.product_score),
        )

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the product database."""
        if self.db.url:
            return self.db.url
        return f"sqlite:///{(self.home / 'facet.db').resolve()}"

    @property
    def milvus_uri(self) -> str:
        """Milvus's address: a server's URL, or Milvus Lite's file (by default under home)."""
        return self.milvus.uri or str((self.home / "milvus.db").resolve())

    @property
    def models_dir(self) -> Path:
        """Fine-tuned models, by name."""
        return self.home / "models"

    @property
    def uploads_dir(self) -> Path:
        """Images uploaded through the admin API, named by their content hash."""
        return self.home / "uploads"

    @property
    def index_dir(self) -> Path:
        """Published index builds."""
        return self.home / "indexes"

    @property
    def photo_means_dir(self) -> Path:
        """Mean vectors of shopper-style photos, per model (search/photo_means.py)."""
        return self.home / "photo-means"

    @property
    def compile_cache_dir(self) -> Path:
        """torch.compile's caches, so later runs compile faster."""
        return self.home / "cache" / "torch-compile"

    @property
    def image_cache_dir(self) -> Path:
        """Downloaded catalogue images."""
        return self.home / "cache" / "images"


def setting_error(error: ValidationError) -> str:
    """A one-line reason for the first bad setting: `setting FACET_X__Y: why`."""
    first = error.errors()[0]
    name = "FACET_" + "__".join(str(part).upper() for part in first["loc"])
    return f"setting {name}: {first['msg']}"
