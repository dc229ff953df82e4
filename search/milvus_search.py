"""Searching a Milvus collection: filters go into Milvus's search as a boolean expression.

Everything else (query expansion, collapsing images into products, product scores) is the
FAISS searcher's: only how image hits are found under a filter differs.
"""

from __future__ import annotations

from search.filter_params import Filters
from search.filter_table import Allowed
from search.index import FloatArray, SearchHits
from search.milvus_expr import milvus_filter
from search.milvus_index import MilvusIndex
from search.searcher import EXACT_FILTER_LIMIT, Searcher


class MilvusSearcher(Searcher):
    """A `Searcher` over a `MilvusIndex`; the service's filter table is not consulted."""

    index: MilvusIndex

    def _allowed(self, filters: Filters) -> Allowed:
        expression = milvus_filter(filters)
        # One count query: an empty answer needs no search, and the share sets nprobe below.
        return Allowed(self.index.count(expression), expression=expression)

    def _image_hits(
        self,
        queries: FloatArray,
        fetch: int,
        allowed: Allowed | None,
        nprobe: int | None,
        factor: int | None = None,
    ) -> SearchHits:
        if allowed is None:
            return self.index.search(queries, fetch, nprobe=nprobe)
        # As the FAISS searcher: a selective filter searches every list (exact over the allowed
        # rows), a broader one probes 1/share times more lists to find as many candidates.
        if allowed.count <= EXACT_FILTER_LIMIT:
            nprobe = self.index.nlist
        else:
            nprobe = self._filtered_nprobe(allowed, nprobe)
        return self.index.search(queries, fetch, nprobe=nprobe, expression=allowed.expression)
