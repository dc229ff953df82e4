"""`facet evaluate --against BUILD`: the same queries on two builds, and what changed per query."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine

from indexer.evaluation.evaluate import EvaluationReport, QueryOutcome, evaluate
from indexer.evaluation.queries import Query
from search.serving import Snapshot


@dataclass(frozen=True)
class QueryChange:
    """One query on both builds."""

    current: QueryOutcome
    against: QueryOutcome

    @property
    def change(self) -> str:
        """ "improved" (right at rank 1 on the current build only), "worsened" (on the other
        build only) or "same"."""
        now, before = self.current.rank == 1, self.against.rank == 1
        if now == before:
            return "same"
        return "improved" if now else "worsened"

    def rank_drop(self, missing: int) -> int:
        """How many places the right result fell from the other build to the current one
        (negative: it rose); a result not found counts as rank `missing`."""
        return (self.current.rank or missing) - (self.against.rank or missing)


@dataclass(frozen=True)
class Comparison:
    """Two evaluations of the same queries: the current build's and another build's."""

    current: EvaluationReport
    against: EvaluationReport

    @property
    def changes(self) -> list[QueryChange]:
        return [
            QueryChange(now, before)
            for now, before in zip(self.current.outcomes, self.against.outcomes, strict=True)
        ]

    def count(self, change: str) -> int:
        return sum(1 for query in self.changes if query.change == change)

    def worst_changes_first(self) -> list[QueryChange]:
        """Queries that lost their right top result first, then the biggest rank drops; the
        queries that improved come last."""
        missing = max(len(o.results) for o in self.current.outcomes + self.against.outcomes) + 1
        order = {"worsened": 0, "same": 1, "improved": 2}
        return sorted(
            self.changes,
            key=lambda query: (
                order[query.change],
                -query.rank_drop(missing),
                -(query.current.rank or missing),
            ),
        )

    def summary(self) -> dict[str, Any]:
        """What `--json` prints: both builds' figures and the rank-1 changes."""
        return {
            "current": self.current.summary(),
            "against": self.against.summary(),
            "improved": self.count("improved"),
            "worsened": self.count("worsened"),
        }

    def details(self) -> dict[str, Any]:
        """report.json: every figure of both builds, and each query's two rankings."""
        queries = []
        for query in self.changes:
            now, before = asdict(query.current), asdict(query.against)
            shared = {key: now.pop(key) for key in ("image", "expected")}
            before.pop("image")
            before.pop("expected")
            queries.append({**shared, "change": query.change, "current": now, "against": before})
        return {
            "current": self.current.details(),
            "against": self.against.details(),
            "improved": self.count("improved"),
            "worsened": self.count("worsened"),
            "queries": queries,
        }


def compare_builds(
    engine: Engine,
    current: Snapshot,
    against: Snapshot,
    queries: list[Query],
    *,
    k: int = 10,
    label_field: str | None = None,
    exact: bool = False,
    max_pixels: int = 50_000_000,
) -> Comparison:
    """Evaluate the queries on both builds, each embedding them with its own backbone (the two
    may have been made with different models)."""

    def run(build: Snapshot) -> EvaluationReport:
        return evaluate(
            engine,
            build,
            queries,
            k=k,
            label_field=label_field,
            exact=exact,
            max_pixels=max_pixels,
        )

    return Comparison(current=run(current), against=run(against))
