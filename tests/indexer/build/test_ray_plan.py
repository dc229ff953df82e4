"""How the Ray engine shares a cluster between reading and embedding (no Ray needed)."""

from __future__ import annotations

import pytest

from indexer.build.ray_plan import ActorPlan, EngineUnavailable, plan_actors


def test_two_cpus_give_one_embedder_most_of_them() -> None:
    # A reader needs about a fifth of the work: half a CPU, and the model the rest.
    plan = plan_actors([2.0], 0, device="auto")
    assert plan == ActorPlan(1, 1.5, 0, readers=1, cpus_per_reader=0.5)
    assert plan.threads == 2


@pytest.mark.parametrize(
    ("nodes", "embedders", "each", "readers"),
    [
        ([16.0], 2, 6.0, 8),  # two actors of 6 threads rather than one of 12
        ([64.0], 6, 8.0, 32),  # at most 8 threads an actor
        ([4.0] * 16, 16, 3.0, 32),  # each actor fits on one node
        ([0.0, 8.0], 1, 6.0, 4),  # a head node without CPUs hosts nothing
    ],
)
def test_cpu_clusters_read_with_a_quarter_of_their_cpus(
    nodes: list[float], embedders: int, each: float, readers: int
) -> None:
    plan = plan_actors(nodes, 0, device="auto")
    assert (plan.embedders, plan.cpus_per_embedder, plan.readers) == (embedders, each, readers)
    assert plan.embedders * plan.cpus_per_embedder + plan.readers * plan.cpus_per_reader <= sum(
        nodes
    )


def test_gpus_get_one_embedder_each_and_the_cpus_read() -> None:
    plan = plan_actors([16.0], 2, device="auto")
    assert plan == ActorPlan(2, 1.0, 1, readers=14, cpus_per_reader=1.0)
    assert plan_actors([16.0], 2, device="cpu").gpus_per_embedder == 0
    assert plan_actors([16.0], 2, device="auto", embedders=1).embedders == 1


def test_cuda_without_gpus_is_refused() -> None:
    with pytest.raises(EngineUnavailable, match="no GPU"):
        plan_actors([16.0], 0, device="cuda")
