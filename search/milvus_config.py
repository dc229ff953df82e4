"""The Milvus settings (`FACET_MILVUS__...`), for `FACET_INDEX__BACKEND=milvus`.

Part of `search.config`'s `Settings`; kept free of pymilvus, which only the Milvus backend loads.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, SecretStr, field_validator

# Milvus names: a letter or underscore, then letters, digits and underscores (255 at most;
# collection names add a 27-character suffix to the prefix).
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")


class MilvusSettings(BaseModel):
    """Where the Milvus backend keeps its collections."""

    # A local file (Milvus Lite, embedded in the process; the name must end in .db), or
    # http(s)://host:19530 for a Milvus server or cluster. None: <home>/milvus.db.
    uri: str | None = None
    # "user:password" or an API key, for a server that wants one.
    token: SecretStr | None = None
    # Collections are named <prefix>_<stamp>; the alias <prefix> names the live one.
    prefix: str = "facet"

    @field_validator("uri")
    @classmethod
    def _uri(cls, uri: str | None) -> str | None:
        if uri is None or uri.startswith(("http://", "https://")):
            return uri
        if "://" in uri or not uri.endswith(".db"):
            raise ValueError("use http(s)://host:port for a server, or a file path ending in .db")
        return uri

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, prefix: str) -> str:
        if not NAME.fullmatch(prefix):
            raise ValueError("letters, digits and underscores, not starting with a digit")
        return prefix


# The index kinds a Milvus build makes: IVF_FLAT with FAISS's list count, or FLAT.
MILVUS_FACTORY = re.compile(r"IVF\d+,Flat|Flat")


def unsupported(*, shards: int = 1, factory: str | None = None, descriptor: str = "none") -> str:
    """Why the Milvus backend cannot build with these options ("" if it can).

    Args:
        shards: shard jobs (FACET_INDEX__SHARDS, --shards).
        factory: an explicit FAISS factory string (FACET_INDEX__FACTORY, --factory).
        descriptor: the descriptor plan's signature ("none..." when vectors stay raw).
    """
    if shards > 1:
        return "the Milvus backend builds unsharded (Milvus shards itself): use shards 1"
    if factory is not None and not MILVUS_FACTORY.fullmatch(factory):
        return (
            f"the Milvus backend builds IVF_FLAT or FLAT indexes, not {factory!r} "
            "(no compressed indexes): use IVF<n>,Flat or no factory"
        )
    if not descriptor.startswith("none"):
        return (
            "the Milvus backend stores raw vectors, without descriptor transforms: set "
            "FACET_INDEX__CENTRING=none (or build without --query-photos) and "
            "FACET_INDEX__WHITENING=none"
        )
    return ""
