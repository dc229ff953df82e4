"""Near-duplicate photos across products: the same picture listed under different SKUs.

Candidates come from the live index (each image's nearest neighbours whose stored full vectors
reach a low cosine floor, so the index finds every copy); each candidate pair of different
products is then decided by the picture itself (search.photo_match: trimmed grey thumbnails
compared over small crops), as the vectors cannot tell a copy from another photo of the same
shelf. Exact copies within one product (the same bytes twice) are listed apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select

from search.index import IdArray, VectorIndex
from search.index_sync import vectors_of
from search.models import ImageStatus, Product, ProductImage
from search.photo_match import Fingerprint, match, read_fingerprint

# Picture match (search.photo_match.match) at or above which two photos are the same picture:
# on 400 Grocery photos and 40 planted copies, copies scored >= 0.945 and different photos of
# one class <= 0.90, but for two shots of one burst (0.953); 0.93 found every copy, and that
# burst pair (scripts/hygiene/duplicates.py, docs/cli.md).
DEFAULT_THRESHOLD = 0.93
# Cosine of the stored vectors from which a neighbour is a candidate: below the lowest copy
# measured on the Grocery photos (0.76), as recall comes from here and precision from the match.
CANDIDATE_FLOOR = 0.6
# Neighbours looked at per image: a picture copied more often than this is still one cluster,
# as every copy finds some of the others.
NEIGHBOURS = 16
CHUNK = 1024


@dataclass(frozen=True)
class Member:
    image_id: int
    sku: str
    title: str | None
    uri: str
    content_hash: str | None


@dataclass
class Cluster:
    """Images of at least two products that are the same picture."""

    members: list[Member]
    # The lowest picture match of the pairs that joined it.
    min_match: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "skus": sorted({member.sku for member in self.members}),
            "min_match": round(self.min_match, 4),
            "images": [member.__dict__ for member in self.members],
        }


@dataclass
class DuplicateReport:
    threshold: float
    pairs: int = 0  # pairs of images of different products at or above the threshold
    candidates: int = 0  # pairs of different products the index proposed and the match checked
    unreadable: int = 0  # images of candidate pairs that could not be read here to check
    clusters: list[Cluster] = field(default_factory=list)
    # Within one product: the same bytes listed more than once, as (sku, [image ids]).
    within_product: list[tuple[str, list[int]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "pairs": self.pairs,
            "candidates": self.candidates,
            "unreadable": self.unreadable,
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
    engine: Engine,
    index: VectorIndex,
    backbone_id: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    download_cache: Path | None = None,
) -> DuplicateReport:
    """Clusters of near-duplicate images of different products, and exact copies within one.

    Args:
        threshold: the picture match (search.photo_match.match) of the same picture.
        download_cache: where `facet build` keeps downloaded images, to check URL images.
    """
    report = DuplicateReport(threshold)
    candidates = similar_pairs(engine, index, backbone_id, CANDIDATE_FLOOR)
    members = _members(engine, sorted({image_id for pair in candidates for image_id in pair}))
    product_of = {image_id: member.sku for image_id, member in members.items()}
    across = [
        pair
        for pair in candidates
        if pair[0] in product_of and pair[1] in product_of
        if product_of[pair[0]] != product_of[pair[1]]
    ]
    report.candidates = len(across)
    prints = _fingerprints(
        members, {image_id for pair in across for image_id in pair}, download_cache
    )
    report.unreadable = sum(fingerprint is None for fingerprint in prints.values())
    pairs: dict[tuple[int, int], float] = {}
    for a, b in across:
        first, second = prints[a], prints[b]
        if first is not None and second is not None:
            score = match(first, second)
            if score >= threshold:
                pairs[a, b] = score
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    weakest: dict[int, float] = {}
    for (a, b), similarity in pairs.items():
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


def _fingerprints(
    members: dict[int, Member], image_ids: set[int], download_cache: Path | None
) -> dict[int, Fingerprint | None]:
    return {
        image_id: read_fingerprint(members[image_id].uri, download_cache)
        for image_id in sorted(image_ids)
    }


def _members(engine: Engine, image_ids: list[int]) -> dict[int, Member]:
    members: dict[int, Member] = {}
    with engine.connect() as connection:
        for start in range(0, len(image_ids), CHUNK):
            query = (
                select(
                    ProductImage.id,
                    Product.sku,
                    Product.title,
                    ProductImage.uri,
                    ProductImage.content_hash,
                )
                .join(Product, Product.id == ProductImage.product_id)
                .where(ProductImage.id.in_(image_ids[start : start + CHUNK]))
            )
            for image_id, sku, title, uri, content_hash in connection.execute(query):
                members[image_id] = Member(image_id, sku, title, uri, content_hash)
    return members
