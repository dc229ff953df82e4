"""Searching the catalogue: vectors in, products out, with filters and per-product collapse."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from sqlalchemy import Engine, select

from search.filter_params import Filters
from search.filter_table import Allowed
from search.filters import allowed_image_ids
from search.index import FloatArray, IdArray, SearchHits, VectorIndex
from search.live_filters import LiveFilters
from search.models import ImageStatus, Product, ProductImage
from search.neighbours import rerank
from search.product_scores import rescore_products
from search.product_vectors import product_mean
from search.ranking import ProductScore, Ranking, expand_queries
from search.vectors import StoreLookup

# Filters allowing at most this many images are searched exactly over just those vectors.
EXACT_FILTER_LIMIT = 20_000


@dataclass(frozen=True)
class ProductHit:
    """One product in the results, scored by its best-matching image."""

    product_id: int
    sku: str
    title: str | None
    category: str | None
    material: str | None
    style: str | None
    price: float | None
    currency: str | None
    score: float
    image_id: int
    image_hash: str | None = None  # the image's content hash, which versions its URL


class Searcher:
    """The index of one build plus the product store it points into."""

    def __init__(
        self,
        engine: Engine,
        index: VectorIndex,
        *,
        backbone_id: str,
        ranking: Ranking | None = None,
        filters: LiveFilters | None = None,
    ) -> None:
        """`filters`: the service's in-memory filter table; None asks the database per query
        (one-off commands, where reading the table would cost more than it saves)."""
        self.engine = engine
        self.index = index
        self.backbone_id = backbone_id
        self.ranking = ranking or Ranking()
        self.rerank_factor = self.ranking.rerank_factor
        self.lookup = StoreLookup(engine, backbone_id)  # stored (raw) vectors
        self.filters = filters

    @cached_property
    def indexed_ids(self) -> IdArray:
        """For exact search under selective filters: which allowed images the index holds
        (read on first use: a backend that filters itself never needs it)."""
        return self.index.ids()

    def search(
        self,
        query: FloatArray,
        *,
        k: int = 10,
        filters: Filters | None = None,
        nprobe: int | None = None,
        exclude_product: int | None = None,
        stages: dict[str, float] | None = None,
    ) -> list[ProductHit]:
        """The k best products for one or more photos' embeddings ((d,) or (nq, d)).

        With several queries, an image's score is its best over them. `stages`, if given,
        receives the seconds spent searching vectors ("search") and reading products
        ("products").
        """
        queries = self.index.query_space(query, photos=True)
        return self.search_index_space(queries, k, filters, nprobe, exclude_product, stages)

    def search_index_space(
        self,
        queries: FloatArray,
        k: int,
        filters: Filters | None,
        nprobe: int | None,
        exclude_product: int | None,
        stages: dict[str, float] | None,
    ) -> list[ProductHit]:
        """`search` for queries already in the index's space (`index.query_space`), excluding
        one product if given: similar items and recommendations come here."""
        stages = stages if stages is not None else {}
        stages.setdefault("search", 0.0)
        stages.setdefault("products", 0.0)
        allowed = None
        if filters is not None and not filters.is_empty():
            started = time.perf_counter()
            allowed = self._allowed(filters)
            stages["products"] += time.perf_counter() - started
            if not allowed.count:
                return []
        if self.ranking.expansion:
            started = time.perf_counter()
            queries = self._expand(queries, allowed, nprobe)
            stages["search"] += time.perf_counter() - started
        fetch = k * 4
        while True:
            started = time.perf_counter()
            # Re-ranked candidates: rerank_factor per result asked for (what nprobe was tuned
            # with), not per image fetched for collapsing into products: a quarter of the reads.
            factor = max(1, math.ceil(k * self.rerank_factor / fetch))
            hits = self._image_hits(queries, fetch, allowed, nprobe, factor)
            middle = time.perf_counter()
            products = self._collapse(hits, exclude_product)
            if self.ranking.product_score is not ProductScore.BEST:
                products = rescore_products(
                    self.engine,
                    self.index,
                    self.indexed_ids,
                    queries,
                    products,
                    self.ranking.product_score,
                )
            stages["search"] += middle - started
            stages["products"] += time.perf_counter() - middle
            exhausted = (hits.ids[:, -1] < 0).all() or fetch >= self.index.ntotal
            if len(products) >= k or exhausted:
                return products[:k]
            fetch *= 4

    def _allowed(self, filters: Filters) -> Allowed:
        """What a (non-empty) filter allows, from the filter table or the database."""
        if self.filters is not None:
            return self.filters.allowed(filters)
        ids = allowed_image_ids(self.engine, filters)
        return Allowed(len(ids), ids=ids)

    def similar(
        self,
        sku: str,
        *,
        k: int = 10,
        filters: Filters | None = None,
        stages: dict[str, float] | None = None,
    ) -> list[ProductHit]:
        """Products that look like this one, from its stored vectors (nothing is re-embedded).

        Raises:
            UnknownProduct: no active product has this SKU.
        """
        product_id, query = product_mean(self.engine, self.backbone_id, sku)
        if query is None:
            return []
        # A catalogue image, not a photo: it enters the index's space as the catalogue does.
        queries = self.index.query_space(query, photos=False)
        return self.search_index_space(queries, k, filters, None, product_id, stages)

    def _expand(
        self, queries: FloatArray, allowed: Allowed | None, nprobe: int | None
    ) -> FloatArray:
        """alpha-QE over the query's nearest allowed index vectors."""
        count = self.ranking.expansion
        hits = self._image_hits(queries, count, allowed, nprobe)
        neighbours = np.zeros((*hits.ids.shape, queries.shape[1]), dtype=np.float32)
        found = hits.ids >= 0
        if found.any():
            neighbours[found] = self.index.reconstruct(hits.ids[found])
        scores = np.where(found, hits.scores, 0.0).astype(np.float32)
        return expand_queries(queries, neighbours, scores, self.ranking.expansion_alpha)

    def _image_hits(
        self,
        queries: FloatArray,
        fetch: int,
        allowed: Allowed | None,
        nprobe: int | None,
        factor: int | None = None,
    ) -> SearchHits:
        """Up to `fetch` image hits per query; compressed indexes re-rank `factor` candidates
        per hit (default: the rerank factor)."""
        factor = factor or self.rerank_factor
        selector = None
        if allowed is not None:
            if allowed.ids is not None and allowed.count <= EXACT_FILTER_LIMIT:
                return self._exact_over(queries, allowed.ids, fetch, factor)
            nprobe = self._filtered_nprobe(allowed, nprobe)
            selector = allowed.selector()
        return self.index.search(
            queries,
            fetch,
            nprobe=nprobe,
            selector=selector,
            lookup=self.lookup,
            rerank_factor=factor,
        )

    def _filtered_nprobe(self, allowed: Allowed, nprobe: int | None) -> int:
        """A filter keeping a share s of the catalogue leaves s of each probed list: probe 1/s
        times more lists to find as many candidates."""
        share = allowed.count / max(self.index.ntotal, 1)
        return min(self.index.nlist, math.ceil((nprobe or self.index.nprobe) / share))

    def _exact_over(
        self, queries: FloatArray, allowed: IdArray, fetch: int, factor: int
    ) -> SearchHits:
        """Brute force over the allowed images' vectors in the index (re-ranked if compressed)."""
        # Both ascending: a binary search each, not np.isin's sort of the whole catalogue.
        at = np.minimum(np.searchsorted(self.indexed_ids, allowed), len(self.indexed_ids) - 1)
        present = allowed[self.indexed_ids[at] == allowed] if len(self.indexed_ids) else allowed[:0]
        candidates = fetch * factor if self.index.compressed else fetch
        count = min(candidates, len(present))
        scores = np.full((len(queries), count), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), count), -1, dtype=np.int64)
        if count:
            similarity = queries @ self.index.reconstruct(present).T
            top = np.argsort(-similarity, axis=1)[:, :count]
            scores = np.take_along_axis(similarity, top, axis=1).astype(np.float32)
            ids = present[top]
        if self.index.compressed and count:
            lookup = self.index.index_space(self.lookup)
            scores, ids = rerank(queries, ids, lookup, min(fetch, count))
        return _pad(SearchHits(scores, ids), fetch)

    def _collapse(self, hits: SearchHits, exclude_product: int | None) -> list[ProductHit]:
        best: dict[int, float] = {}
        for scores, ids in zip(hits.scores, hits.ids, strict=True):
            for score, image_id in zip(scores.tolist(), ids.tolist(), strict=True):
                if image_id >= 0 and score > best.get(image_id, -math.inf):
                    best[image_id] = score
        if not best:
            return []
        query = (
            # Labelled as ProductHit's fields, so that a row becomes a hit by name.
            select(
                ProductImage.id.label("image_id"),
                Product.id.label("product_id"),
                Product.sku,
                Product.title,
                Product.category,
                Product.material,
                Product.style,
                Product.price,
                Product.currency,
                ProductImage.content_hash.label("image_hash"),
            )
            .join(Product, Product.id == ProductImage.product_id)
            # Only images that may appear in results: a removed or re-pointed image's stale
            # vector can linger in the index until the next build, and must not match.
            .where(
                ProductImage.id.in_(list(best)),
                ProductImage.status == ImageStatus.READY,
                Product.deleted_at.is_(None),
            )
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        products: dict[int, ProductHit] = {}
        for row in rows:
            if row.product_id == exclude_product:
                continue
            score = best[row.image_id]
            if row.product_id not in products or score > products[row.product_id].score:
                products[row.product_id] = ProductHit(**row._asdict(), score=score)
        return sorted(products.values(), key=lambda hit: -hit.score)


def _pad(hits: SearchHits, width: int) -> SearchHits:
    """Pad results to `width` columns with -1 ids, as FAISS does when it runs out."""
    missing = width - hits.ids.shape[1]
    if missing <= 0:
        return hits
    scores = np.pad(hits.scores, ((0, 0), (0, missing)), constant_values=-np.inf)
    ids = np.pad(hits.ids, ((0, 0), (0, missing)), constant_values=-1)
    return SearchHits(scores.astype(np.float32), ids)
