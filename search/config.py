"""Settings: every knob Facet has, from `FACET_...` environment variables or a `.env` file.

Only entry points (the CLI, the app factory) build a `Settings()`; everything else takes
explicit arguments.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DbSettings(BaseModel):
    """The product database."""

    # None means `sqlite:///<home>/facet.db`; any SQLAlchemy URL works, but only SQLite is tested.
    url: str | None = None


class IngestSettings(BaseModel):
    """Catalogue dump ingestion."""

    # Rows per database round trip: large enough to amortise statement overhead,
    # small enough that SQLite's parameter limit and memory stay comfortable.
    batch_size: int = Field(default=2000, ge=1, le=5000)
    # How many rejected rows the summary lists (all of them go to --rejects FILE).
    max_reported_rejections: int = Field(default=10, ge=0)


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

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL of the product database."""
        if self.db.url:
            return self.db.url
        return f"sqlite:///{(self.home / 'facet.db').resolve()}"
