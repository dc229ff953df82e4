"""Near-duplicate photos across products: the same picture listed under different SKUs.

Candidates come from the live index (each image's nearest neighbours); each candidate pair is then
re-checked exactly on the stored full vectors, so the index's compression or transform never
decides a verdict. Exact copies within one product (the same bytes twice) are listed apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select

from search.index import IdArray, VectorIndex
from search.index_sync import vectors_of
from search.models import ImageStatus, Product, ProductImage

# Cosine similarity of the stored vectors at or above which two photos are the same picture:
# measured on the Grocery photos (scripts/hygiene/duplicates.py, docs/benchmarks.md).
DEFAULT_THRESHOLD = 0.93
# Neighbours looked at per image: a picture copied more often than this is still one cluster,
# as every copy finds some of the others.
NEIGHBOURS = 8
CHUNK = 1024


@dataclass(frozen=True)
class Member:
    image_id: int
    sku: str
    title: str | None
    uri: str


@dataclass
class Cluster:
    """Images of at least two products that are the same picture."""

    members: list[Member]
    # The lowest similarity of the pairs that joined it.
    min_similarity: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "skus": sorted({member.sku for member in self.members}),
            "min_similarity": round(self.min_similarity, 4),
            "images": [member.__dict__ for member in self.members],
        }


@dataclass
class DuplicateReport:
    threshold: float
    pairs: int = 0  # pairs of images of different products at or above the threshold
    clusters: list[Cluster] = field(default_factory=list)
    # Within one product: the same bytes listed more than once, as (sku, [image ids]).
    within_product: list[tuple[str, list[int]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "pairs": self.pairs,
            "clusters": [cluster.to_dict() for cluster in self.clusters],
            "within_product": [{"sku": sku, "image_ids": ids} for sku, ids in self.within_product],
        }


def similar_pairs(
    engine: Engine, index: VectorIndex, backbone_id: str, threshold: float
) -> dict[tuple[int, int], float]:
    """Pairs of indexed image ids (smaller first) whose stored vectors' cosine is >= threshold."""
    ids = index.ids()
    pairs: dict[tuple[int, int], float] = {}
    k = min(NEIGHBOURS + 1, max(index.ntotal, 1))
    with engine.connect() as connection:

        def lookup(wanted: IdArray) -> Any:
            return vectors_of(connection, backbone_id, wanted, missing=0.0)

        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            stored = lookup(chunk)
            hits = index.search(index.query_space(stored, photos=False), k, lookup=lookup)
            candidates = np.unique(hits.ids[hits.ids >= 0])
            exact = stored @ lookup(candidates).T  # the re-check, on full vectors
            column = {int(image_id): n for n, image_id in enumerate(candidates)}
            for row, found in enumerate(hits.ids):
                for other in found[found >= 0]:
                    a, b = int(chunk[row]), int(other)
                    if a == b:
                        continue
                    similarity = float(exact[row, column[b]])
                    if similarity >= threshold:
                        pairs[min(a, b), max(a, b)] = similarity
    return pairs


def find_duplicates(
    engine: Engine, index: VectorIndex, backbone_id: str, *, threshold: float = DEFAULT_THRESHOLD
) -> DuplicateReport:
    """Clusters of near-duplicate images of different products, and exact copies within one."""
    report = DuplicateReport(threshold)
    pairs = similar_pairs(engine, index, backbone_id, threshold)
    involved = sorted({image_id for pair in pairs for image_id in pair})
    members = _members(engine, involved)
    product_of = {image_id: member.sku for image_id, member in members.items()}
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    weakest: dict[int, float] = {}
    for (a, b), similarity in pairs.items():
        if a not in product_of or b not in product_of or product_of[a] == product_of[b]:
            continue
        report.pairs += 1
        ra, rb = root(a), root(b)
        low = min(similarity, weakest.get(ra, 1.0), weakest.get(rb, 1.0))
        parent[ra] = rb
        weakest[rb] = low
    groups: dict[int, list[Member]] = {}
    for node in list(parent):
        groups.setdefault(root(node), []).append(members[node])
    for head, group in groups.items():
        group.sort(key=lambda member: (member.sku, member.image_id))
        report.clusters.append(Cluster(group, weakest.get(head, 1.0)))
    report.clusters.sort(key=lambda cluster: (-len(cluster.members), cluster.members[0].sku))
    report.within_product = exact_copies_within_products(engine)
    return report


def exact_copies_within_products(engine: Engine) -> list[tuple[str, list[int]]]:
    """Products listing the same image bytes more than once: (sku, the image ids)."""
    repeated = (
        select(ProductImage.product_id, ProductImage.content_hash)
        .where(ProductImage.status == ImageStatus.READY)
        .group_by(ProductImage.product_id, ProductImage.content_hash)
        .having(func.count() > 1)
        .subquery()
    )
    query = (
        select(Product.sku, ProductImage.id)
        .join(Product, Product.id == ProductImage.product_id)
        .join(
            repeated,
            (repeated.c.product_id == ProductImage.product_id)
            & (repeated.c.content_hash == ProductImage.content_hash),
        )
        .where(ProductImage.status == ImageStatus.READY, Product.deleted_at.is_(None))
        .order_by(Product.sku, ProductImage.content_hash, ProductImage.id)
    )
    copies: dict[str, list[int]] = {}
    with engine.connect() as connection:
        for sku, image_id in connection.execute(query):
            copies.setdefault(sku, []).append(image_id)
    return list(copies.items())


def _members(engine: Engine, image_ids: list[int]) -> dict[int, Member]:
    members: dict[int, Member] = {}
    with engine.connect() as connection:
        for start in range(0, len(image_ids), CHUNK):
            query = (
                select(ProductImage.id, Product.sku, Product.title, ProductImage.uri)
                .join(Product, Product.id == ProductImage.product_id)
                .where(ProductImage.id.in_(image_ids[start : start + CHUNK]))
            )
            for image_id, sku, title, uri in connection.execute(query):
                members[image_id] = Member(image_id, sku, title, uri)
    return members
