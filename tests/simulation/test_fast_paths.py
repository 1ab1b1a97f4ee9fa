"""The replay's fast paths give the answers of their plain definitions.

The node picker searches the first few thousand nodes before the rest; the state books ``ge`` levels
as difference rows and adds them in when read; the event heap holds plain tuples. Each is checked
here against the obvious computation, on pools large enough to take every branch.
"""

from __future__ import annotations

import numpy as np
import pytest
from sim_helpers import TENANTS, make_job, make_site

from hexagrid.domain import Fleet, Start
from hexagrid.scheduling import ClusterState
from hexagrid.scheduling.state import MAX_GPUS_PER_NODE, best_fit_nodes
from hexagrid.simulation.engine import Event, EventKind, EventQueue


def _brute_best_fit(free: np.ndarray, nodes: int, g: int, exclude: np.ndarray | None) -> list[int] | None:
    ok = np.flatnonzero((free >= g) & (True if exclude is None else ~exclude))
    if len(ok) < nodes:
        return None
    return sorted(sorted(ok.tolist(), key=lambda i: (int(free[i]), i))[:nodes])


@pytest.mark.parametrize("seed", range(6))
def test_best_fit_on_large_pools_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gpn = 8
    n = 20_000
    free = np.full(n, gpn, dtype=np.int16)
    busy = rng.random(n) < rng.uniform(0.2, 0.99)  # nodes in use, anywhere in the pool
    free[busy] = rng.integers(0, gpn, int(busy.sum()))
    exclude = rng.random(n) < 0.05 if seed % 2 else None
    at_least = np.array([int((free >= k).sum()) for k in range(gpn + 2)], dtype=np.int64)
    for nodes, g in [(1, 1), (1, 3), (1, 7), (1, 8), (2, 8), (3, 4)]:
        want = _brute_best_fit(free, nodes, g, exclude)
        for hint in (None, at_least):
            got = best_fit_nodes(free, nodes, g, gpn, exclude, hint)
            assert (None if got is None else got.tolist()) == want, (nodes, g)


def test_only_late_nodes_fit() -> None:
    free = np.zeros(10_000, dtype=np.int16)
    free[9_000] = 8
    free[9_500] = 2
    assert best_fit_nodes(free, 1, 2, 8).tolist() == [9_500]  # type: ignore[union-attr]
    assert best_fit_nodes(free, 1, 8, 8).tolist() == [9_000]  # type: ignore[union-attr]
    assert best_fit_nodes(free, 1, 3, 8, exclude=free == 8) is None


def test_ge_read_after_many_moves_equals_the_count_of_nodes_per_level() -> None:
    site = make_site(nodes=40, gpus_per_node=8, power_mw=100.0)
    st = ClusterState.from_fleet(Fleet(sites=[site]), TENANTS)
    rng = np.random.default_rng(0)
    running: list[str] = []
    for i in range(400):
        if running and rng.random() < 0.4:
            st.finish_job(running.pop(int(rng.integers(len(running)))), 100.0 + i)
        else:
            g = int(rng.choice([1, 2, 3, 8, 16, 24, 80]))  # 80: ten nodes, the gather path
            nodes, per = (g // 8, 8) if g >= 8 else (1, g)
            picked = st.pick_nodes(0, nodes, per)
            if picked is None:
                continue
            job = make_job(f"j{i}", 0.0, 3600.0, gpus=g)
            st.start_job(job, Start(job.id, "lab", "p0", nodes, per, node_indices=tuple(picked.tolist())), 100.0 + i)
            running.append(job.id)
        if i % 7 == 0:  # read now and then: pending level changes are added in exactly once
            free = st.node_free
            want = [[int((free >= k).sum()) for k in range(MAX_GPUS_PER_NODE + 1)]]
            assert st.ge.tolist() == want
            assert st.copy().ge.tolist() == want


def test_event_queue_fast_and_object_paths_order_alike() -> None:
    q = EventQueue()
    q.schedule(10.0, int(EventKind.TICK), 1)
    q.push(10.0, Event(EventKind.FINISH, 2, 7))
    q.schedule(5.0, int(EventKind.ARRIVAL), 3)
    q.schedule(10.0, int(EventKind.FINISH), 4, 1)
    assert [(tg, tok) for _k, _s, tg, tok in q.pop_due(5.0)] == [(3, 0)]
    assert q.pop_due(9.9) == []
    assert [(e.kind, e.target, e.token) for e in q.pop_until(10.0)] == [
        (EventKind.FINISH, 2, 7),
        (EventKind.FINISH, 4, 1),
        (EventKind.TICK, 1, 0),
    ]


def test_event_queue_orders_random_events_as_a_heap_of_tuples_would() -> None:
    rng = np.random.default_rng(1)
    q = EventQueue()
    want: list[tuple[float, int, int]] = []
    for i in range(2_000):
        t = float(rng.integers(0, 50))  # few distinct times: many ties, broken by priority then insertion
        kind = EventKind(int(rng.integers(0, len(EventKind))))
        q.push(t, Event(kind, i))
        want.append((t, int(kind), i))
    want.sort()
    got: list[tuple[float, int, int]] = []
    while q:
        if len(q) % 3:
            t, ev = q.pop()
            got.append((t, int(ev.kind), ev.target))
        else:
            t = q.peek_time()
            got += [(t, k, target) for k, _s, target, _tok in q.pop_due(t)]
    assert got == want and len(q) == 0 and q.peek_time() == float("inf")


def test_start_job_small_gangs_are_checked_and_booked_like_large_ones() -> None:
    """Gangs of up to 8 named nodes take a scalar path; it refuses and books what the array path does."""
    from hexagrid.errors import ConflictError, InputError
    from hexagrid.scheduling.state import RunningJob

    site = make_site(nodes=40, gpus_per_node=8, power_mw=100.0)
    st = ClusterState.from_fleet(Fleet(sites=[site]), TENANTS)
    job = make_job("g", 0.0, 3600.0, gpus=24)
    before = st.node_free.copy()
    for named, error in [((3, 3, 5), InputError), ((3, 5, 40), InputError), ((-1, 3, 5), InputError)]:
        with pytest.raises(error):
            st.start_job(job, Start("g", "lab", "p0", 3, 8, node_indices=named), 10.0)
    st.start_job(make_job("h", 0.0, 60.0, gpus=1), Start("h", "lab", "p0", 1, 1, node_indices=(5,)), 10.0)
    with pytest.raises(ConflictError):
        st.start_job(job, Start("g", "lab", "p0", 3, 8, node_indices=(7, 5, 3)), 10.0)
    assert st.node_free.tolist() == [f - (i == 5) for i, f in enumerate(before.tolist())]
    for jid, named in [("g", (7, np.int64(3), 4)), ("k", tuple(range(10, 20)))]:  # 10 nodes: the array path
        gang = make_job(jid, 0.0, 3600.0, gpus=8 * len(named))
        rj = st.start_job(gang, Start(jid, "lab", "p0", len(named), 8, node_indices=named), 10.0)
        assert rj == RunningJob(**rj._asdict()) and type(rj) is RunningJob and rj.lost_work_gpu_s == 0.0
        assert rj.node_indices == tuple(sorted(int(x) for x in named))
        assert all(type(x) is int for x in rj.node_indices)
        assert rj.gpus == 8 * len(named) and rj.start_s == 10.0 and rj.tenant == "acme"
    assert st.node_free.tolist()[3:8] == [0, 0, 7, 8, 0]
    assert st.pool_free_gpus.tolist() == [40 * 8 - 1 - 24 - 80]


@pytest.mark.parametrize("spec", ["Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00", "Wed 09:30-11:00", "Sun 20:00-08:00"])
def test_window_timeline_answers_as_the_schedule(spec: str) -> None:
    """The timeline's bisected interval lists give the schedule's own close and next-open times (DST included)."""
    from datetime import UTC, datetime

    from hexagrid.domain import WeeklySchedule
    from hexagrid.simulation.windows import WindowTimeline

    sched = WeeklySchedule.parse(spec, "Europe/Paris")
    t0 = datetime(2025, 3, 1, tzinfo=UTC).timestamp()
    tl = WindowTimeline(sched, t0)
    rng = np.random.default_rng(7)
    times = np.sort(t0 + rng.uniform(0, 120 * 86400.0, 400)).tolist()
    times += [a for a, _b in sched._intervals_around(t0 + 30 * 86400.0)]  # exactly at opens (half-open intervals)
    for t in sorted(times):
        want = sched.close_after(t)
        assert tl.close_after(t) == want and tl.is_open(t) == (want is not None)
        if want is None:
            nxt = tl.next_open(t)
            assert nxt > t and sched.close_after(nxt) is not None and sched.close_after(nxt - 1.0) is None
        else:
            assert tl.next_open(t) == t
