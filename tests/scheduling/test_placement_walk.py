"""The placement walk (lanes of pools in score order, scalar checks) and the scalar no-room verdict are
fast paths: over random fleets, queues and policies they must give exactly the decisions of the
whole-vector placement they stand in for, which stays in the scheduler as their reference."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sched_fleets import DictSignals, fleet, job, pool, site, tenant
from source_scheduler import scheduler_source
from test_properties import NOWS, ZONES, configs, jobs, partly_filled, worlds

import hexagrid.scheduling.scheduler as scheduler_module
from hexagrid.domain import Start
from hexagrid.scheduling import ClusterState, Scheduler, SchedulerConfig


class VectorOnly(scheduler_source.Scheduler):
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
    # lanes as bytes (fleets of up to 256 pools) or as lists (larger fleets): both walks
    byte_lanes = scheduler_module._BYTE_LANES if data.draw(st.booleans()) else 0
    with mock.patch.object(scheduler_module, "_BYTE_LANES", byte_lanes):
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


@settings(max_examples=80, deadline=None)
@given(
    running=st.lists(st.tuples(st.integers(0, 23), st.integers(1, 8)), min_size=0, max_size=40),
    queued=st.lists(
        st.sampled_from([(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (7, 1), (8, 1), (6, 2), (8, 2), (24, 3)]),
        min_size=1,
        max_size=120,
    ),
)
def test_one_node_picks_follow_best_fit_through_a_long_pass(
    running: list[tuple[int, int]], queued: list[tuple[int, int]]
) -> None:
    """Many starts on one pool whose busy nodes lie anywhere: the walk's per-level bounds on the lowest node
    (moved by each one- and multi-node start) must keep naming best_fit_nodes' node, as the vector placement
    does."""
    now = NOWS[0]
    state = ClusterState.from_fleet(fleet(site("s", pools=[pool("p", nodes=24)])), [tenant("t")])
    for i, (node, g) in enumerate(running):
        if state.node_free[node] >= g:
            state.start_job(job(f"r{i}", g, tenant="t"), Start(f"r{i}", "s", "p", 1, g, node_indices=(node,)), now)
    queue = [job(f"q{i}", g, tenant="t", num_nodes=n, submit_s=now - 3600 + i) for i, (g, n) in enumerate(queued)]
    cfg = SchedulerConfig(backfill="greedy", carbon_deferral=False, queue_order="fifo")
    fast = Scheduler(cfg).decide(state, queue, None, now)
    assert fast == VectorOnly(cfg).decide(state, queue, None, now)


class CountingHeld(scheduler_source.Scheduler):
    """The fast paths, counting the walks that settle a job as held behind the EASY reservation."""

    held = 0

    def _walk(self, *args: Any) -> Any:
        hit = super()._walk(*args)
        if hit is scheduler_source._Miss.HELD:
            CountingHeld.held += 1
        return hit


def test_a_walk_refused_by_the_reservation_alone_says_what_the_vector_placement_says() -> None:
    """A 16-GPU gang reserves both nodes of the only pool; a long small job then fits now on the free node but
    would still run at the reservation's start: the walk's RESERVATION verdict (no vector placement) must be the
    vector placement's, sentence included, and a quiet pass drops it alike."""
    now = NOWS[0]
    state = ClusterState.from_fleet(fleet(site("s", pools=[pool("p", nodes=2)])), [tenant("t")])
    state.start_job(job("run", 8, tenant="t", duration_s=7200.0), Start("run", "s", "p", 1, 8, node_indices=(0,)), now)
    queue = [
        job("gang", 16, tenant="t", num_nodes=2, submit_s=now - 300),
        job("long", 1, tenant="t", duration_s=86400.0, submit_s=now - 200),
        job("long2", 2, tenant="t", duration_s=86400.0, submit_s=now - 100),
        job("short", 1, tenant="t", duration_s=600.0, submit_s=now - 50),
    ]
    cfg = SchedulerConfig(backfill="easy", carbon_deferral=False, queue_order="fifo")
    CountingHeld.held = 0
    for quiet in (False, True):
        fast = CountingHeld(cfg).decide(state, queue, None, now, explain_waiting=not quiet)
        assert fast == VectorOnly(cfg).decide(state, queue, None, now, explain_waiting=not quiet)
    assert CountingHeld.held == 4  # long and long2, in both passes
    held = [d for d in fast if isinstance(d, Start)]
    assert [d.job_id for d in held] == ["short"]


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same cases on every run: the count below stays what it was measured at
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_reservation_verdicts_from_the_walk_equal_the_vector_placements(data: st.DataObject) -> None:
    """EASY passes over busy random fleets, a large gang early in the queue: the walk's shortcut to RESERVATION
    must decide exactly as the vector placement, in explaining and quiet passes."""
    fleet, tenants = data.draw(worlds())
    now = data.draw(st.sampled_from(NOWS))
    cfg = SchedulerConfig(
        queue_order=data.draw(st.sampled_from(["fifo", "priority", "multifactor"])),
        backfill="easy",
        placement=data.draw(st.sampled_from(["first_fit", "objective"])),
        carbon_deferral=data.draw(st.booleans()),
        preemption=data.draw(st.booleans()),
    )
    signals = DictSignals(
        {z: data.draw(st.lists(st.floats(10, 500), min_size=96, max_size=96)) for z in sorted(set(ZONES.values()))},
        start_s=now - 24 * 3600,
    )
    state, _ = partly_filled(data, fleet, tenants, now, 4, 12)
    gpus, nodes = data.draw(st.sampled_from([(8, 1), (16, 2), (24, 3), (8, 2), (12, 3)]))
    gang = job("gang", gpus, tenant="corp", num_nodes=nodes, submit_s=now - 7200, priority=50, preemptible=True)
    queue = [gang, *(data.draw(jobs(f"q{i}", now)) for i in range(data.draw(st.integers(4, 30))))]
    for quiet in (False, True):
        fast = CountingHeld(cfg).decide(state, queue, signals, now, explain_waiting=not quiet)
        assert fast == VectorOnly(cfg).decide(state, queue, signals, now, explain_waiting=not quiet)


def test_the_random_reservation_cases_reach_the_shortcut() -> None:
    """The property above is only worth something if its cases take the shortcut: run it and count."""
    CountingHeld.held = 0
    test_reservation_verdicts_from_the_walk_equal_the_vector_placements()
    assert CountingHeld.held > 20


def test_a_passs_starts_keep_its_working_arrays_exact() -> None:
    """Starts write the pass's arrays through memoryviews (one- and few-node starts) or numpy (large gangs): at the
    end of a pass its level counts, free GPUs per pool and headroom must be what its free GPUs per node and its
    draws say, in the arrays the vector code reads and in the lists the walk reads."""

    class Keeping(scheduler_source.Scheduler):
        def _one(self, ps: Any, *args: Any) -> Any:
            self.last_pass = ps
            return super()._one(ps, *args)

    now = NOWS[0]
    sites = [site("a", pools=[pool("h", nodes=24), pool("l", "L40S", gpn=4, nodes=6)]), site("b", pools=[pool()])]
    state = ClusterState.from_fleet(fleet(*sites), [tenant("t")])
    sizes = [136, 1, 3, 8, 2, 4, 16, 1, 5, 8, 7, 1, 2, 6, 1]
    queue = [
        job(f"j{i}", g, tenant="t", num_nodes=max(1, g // 8), submit_s=now - 1000 + i) for i, g in enumerate(sizes)
    ]
    sched = Keeping(SchedulerConfig(backfill="greedy", carbon_deferral=False, queue_order="fifo"))
    starts = [d for d in sched.decide(state, queue, None, now) if isinstance(d, Start)]
    assert len(starts) >= 10 and any(d.nodes > 16 for d in starts)  # one-, few- and many-node starts
    ps, ix = sched.last_pass, state.ix
    for p in range(ix.n_pools):
        lo, nodes = int(ix.pool_offset[p]), int(ix.pool_nodes[p])
        free = ps.node_free[lo : lo + nodes]
        assert ps.ge[p].tolist() == [int((free >= k).sum()) for k in range(ps.ge.shape[1])]
        assert int(ps.pool_free[p]) == int(free.sum())
    assert ps.ge_rows == ps.ge.tolist()
    assert ps.headroom.tolist() == ps.headroom_of
    taken = state.pool_free_gpus.sum() - ps.pool_free.sum()
    assert taken == sum(d.gpus for d in starts)
