"""`facet verify`: does the published index agree with the product store?"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from search.backends import alias_problem, wrong_fields
from search.builds import BuildStore
from search.errors import IncompatibleIndex
from search.index import IdArray
from search.index_sync import catalog_ids, changed_since, stored_dimensions

SAMPLE = 10


@dataclass
class VerifyReport:
    """Differences between the live index and what it should hold."""

    build_id: str
    backbone: str
    ntotal: int
    missing: int = 0  # searchable images with a vector, not in the index
    stale: int = 0  # index ids of deleted, removed or failed images, or without a vector
    outdated: int = 0  # in the index with an older vector than the stored one
    fields: int = 0  # rows holding other product fields than the store's (Milvus)
    alias: str = ""  # what is wrong with the Milvus alias ("" when it names the live build)
    mismatches: list[str] = field(default_factory=list)  # model or dimension disagreements
    examples: dict[str, list[int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        wrong = self.missing or self.stale or self.outdated or self.fields or self.alias
        return not (wrong or self.mismatches)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def verify_index(
    engine: Any, store: BuildStore, *, backbone: str | None = None, dim: int | None = None
) -> VerifyReport:
    """Compare the live index with the store.

    Args:
        engine: the product store.
        store: published builds.
        backbone: the identity of the backbone in use; a different one is a mismatch.
        dim: its dimension.

    Raises:
        IndexNotReady: there is no index to verify.
    """
    build_id = store.current_id()
    manifest = store.manifest(build_id) if build_id else None
    mismatches: list[str] = []
    if manifest is not None and backbone is not None and manifest.backbone != backbone:
        mismatches.append(f"index built with {manifest.backbone}, configured {backbone}")
    if manifest is not None and dim is not None and manifest.dim != dim:
        mismatches.append(f"index dimension {manifest.dim}, configured backbone {dim}")
    try:
        loaded = store.load_current()
    except IncompatibleIndex as error:
        assert manifest is not None
        report = VerifyReport(manifest.build_id, manifest.backbone, manifest.ntotal)
        report.mismatches = [*mismatches, str(error)]
        return report
    manifest = loaded.manifest
    report = VerifyReport(manifest.build_id, manifest.backbone, loaded.index.ntotal)
    report.mismatches = mismatches
    present = loaded.index.ids()
    # Ids and dimensions only: verifying must not read every vector (5 GB at 1M x 1280).
    with engine.connect() as connection, connection.begin():
        expected = catalog_ids(connection, manifest.backbone)
        dimensions = stored_dimensions(connection, manifest.backbone)
        # A build from before vector revisions cannot tell which vectors are newer than it.
        changed = (
            changed_since(connection, manifest.backbone, manifest.vector_revision)
            if manifest.vector_revision is not None
            else np.zeros(0, dtype=np.int64)
        )
    for dim in sorted(dimensions - {loaded.index.dim}):
        report.mismatches.append(f"stored vectors have dimension {dim}, index {loaded.index.dim}")
    missing = np.setdiff1d(expected, present)
    stale = np.setdiff1d(present, expected)
    outdated = np.intersect1d(np.intersect1d(changed, present), expected)
    fields = np.asarray(wrong_fields(loaded.index), dtype=np.int64)
    report.alias = alias_problem(store, manifest)
    found = (("missing", missing), ("stale", stale), ("outdated", outdated), ("fields", fields))
    for name, ids in found:
        setattr(report, name, int(len(ids)))
        if len(ids):
            report.examples[name] = _sample(ids)
    return report


def _sample(ids: IdArray) -> list[int]:
    return [int(i) for i in ids[:SAMPLE]]
