"""The ingest's seen-SKU table answers one batch's SKUs without reading the whole table."""

from __future__ import annotations

from pathlib import Path

from indexer.ingest.seen import SeenSkus
from search.db import make_engine


def test_a_batch_of_seen_skus_is_a_range_scan(tmp_path: Path) -> None:
    # A whole-table scan per batch made a million-row ingest quadratic; the plan must search.
    engine = make_engine(f"sqlite:///{tmp_path / 'facet.db'}")
    with engine.connect() as connection:
        seen = SeenSkus(connection)
        seen.add([(f"SKU-{line}", line) for line in range(1, 1001)])
        query = SeenSkus.lines(11, 20).compile(
            dialect=connection.dialect, compile_kwargs={"literal_binds": True}
        )
        plan = " ".join(
            str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")
        )
        assert "SEARCH" in plan and "SCAN" not in plan, plan
        assert sorted(connection.execute(SeenSkus.lines(11, 20)).scalars()) == sorted(
            f"SKU-{line}" for line in range(11, 21)
        )
        seen.drop()
    engine.dispose()
