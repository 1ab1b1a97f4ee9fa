"""The placement walk (lanes of pools in score order, scalar checks) and the scalar no-room verdict are
fast paths: over random fleets, queues and policies they must give exactly the decisions of the
whole-vector placement they stand in for, which stays in the scheduler as their reference."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sched_fleets import DictSignals, fleet, job, pool, site, tenant
from test_properties import NOWS, ZONES, configs, jobs, partly_filled, worlds

from hexagrid.domain import Start
from hexagrid.scheduling import ClusterState, Scheduler, SchedulerConfig


class VectorOnly(Scheduler):
    """Every placement through the whole-vector reference."""

    def _walk(self, *args: Any) -> None:
        return None

    @staticmethod
    def _no_room(*args: Any) -> None:
        return None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_walk_decides_as_the_vector_placement(data: st.DataObject) -> None:
    fleet, tenants = data.draw(worlds())
    now = data.draw(st.sampled_from(NOWS))
    cfg = data.draw(configs)
    signals = DictSignals(
        {z: data.draw(st.lists(st.floats(10, 500), min_size=96, max_size=96)) for z in sorted(set(ZONES.values()))},
        start_s=now - 24 * 3600,
    )
    state, _ = partly_filled(data, fleet, tenants, now, 0, 6)
    queue = [data.draw(jobs(f"q{i}", now)) for i in range(data.draw(st.integers(1, 24)))]
    for quiet in (False, True):
        fast = Scheduler(cfg).decide(state, queue, signals, now, explain_waiting=not quiet)
        assert fast == VectorOnly(cfg).decide(state, queue, signals, now, explain_waiting=not quiet)


def test_tied_pools_go_by_best_fit_then_index() -> None:
    """Identical pools tie on score: the fullest one (best fit) wins, then the lowest index."""
    state = ClusterState.from_fleet(fleet(site("s", pools=[pool(f"p{k}") for k in range(3)])), [tenant("t")])
    now = NOWS[0]
    state.start_job(job("run", 16, tenant="t", num_nodes=2), Start("run", "s", "p1", 2, 8), now - 60)  # p1 fullest
    queue = [job(f"j{i}", g, tenant="t", submit_s=now - 100 + i) for i, g in enumerate([1, 8, 2, 8, 3, 1, 8])]
    cfg = SchedulerConfig(backfill="greedy", carbon_deferral=False)
    fast = Scheduler(cfg).decide(state, queue, None, now)
    assert fast == VectorOnly(cfg).decide(state, queue, None, now)
    assert [d.pool_id for d in fast if isinstance(d, Start)][:2] == ["p1", "p1"]
