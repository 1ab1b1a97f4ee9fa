"""Driver semantics on a hand-made fleet: finish, coalesced passes, preemption with checkpoints, failures,
windows, and the independent constraint checker catching a scheduler that breaks a rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sim_helpers import T0, TENANTS, Scripted, make_job, make_site

from hexagrid.domain import Fleet, JobSpec, Preempt, Residency, Start
from hexagrid.scheduling import ClusterState
from hexagrid.simulation.driver import SimConfig, Simulator
from hexagrid.simulation.fleetindex import FleetIndex


@pytest.fixture
def tiny_fleet() -> Fleet:
    return Fleet(sites=[make_site()])


def _sim(fleet: Fleet, scripted: Scripted, **cfg: Any) -> Simulator:
    return Simulator(
        index=FleetIndex.build(fleet),
        tenants=TENANTS,
        state_factory=lambda: ClusterState.from_fleet(fleet, TENANTS),
        decide=scripted.decide,
        signals=None,
        start_s=T0,
        config=SimConfig(**cfg),
    )


def start_all(site: str = "lab", pool: str = "p0") -> Any:
    def script(state: Any, queue: list[JobSpec], now: float) -> list[Any]:
        free = int(state.free_gpus)
        out = []
        for j in queue:
            if j.resources.gpus <= free:
                out.append(Start(j.id, site, pool, 1, j.resources.gpus))
                free -= j.resources.gpus
        return out

    return script


def test_start_finish_and_one_pass_per_instant(tiny_fleet: Fleet) -> None:
    jobs = [make_job("a", 10, 1000), make_job("b", 10, 500), make_job("c", 20, 100)]
    s = Scripted(start_all())
    res = _sim(tiny_fleet, s).run(len(jobs), iter(jobs))
    # a and b arrive at the same instant: one pass sees both
    assert s.calls[0] == (10.0, ["a", "b"])
    assert np.allclose(res.first_start_s - T0, [10, 10, 510])  # c waits for b's GPUs (8 in the fleet)
    assert np.allclose(res.end_time_s - T0, [1010, 510, 610])
    assert res.violations["total"] == 0
    assert res.preemptions.sum() == 0
    assert res.n_jobs == 3 and res.job_ids == ["a", "b", "c"]


def test_preemption_keeps_checkpointed_work_and_pays_restart(tiny_fleet: Fleet) -> None:
    jobs = [
        make_job("a", 10, 1000, gpus=8, preemptible=True, checkpoint_interval_s=300),
        make_job("b", 510, 100, gpus=8, priority=10),
    ]

    def script(state: Any, queue: list[JobSpec], now: float) -> list[Any]:
        ids = [j.id for j in queue]
        if "b" in ids and "a" in state.running:
            return [Preempt("a", "higher_priority", "b outranks a", for_job_id="b")]  # type: ignore[arg-type]
        if "b" in ids and state.free_gpus >= 8:
            return [Start("b", "lab", "p0", 2, 4)]
        if "a" in ids and state.free_gpus >= 8:
            return [Start("a", "lab", "p0", 2, 4)]
        return []

    res = _sim(tiny_fleet, Scripted(script), restart_cost_s=300).run(2, iter(jobs))
    # a ran 500 s, kept 300 s (last checkpoint), b ran 511..611, a resumes at 611: 300 s restart + 700 s work
    assert res.preemptions.tolist() == [1, 0]
    assert np.allclose(res.end_time_s - T0, [611 + 300 + 700, 611])
    assert np.allclose(res.run_s, [500 + 1000, 100])
    assert res.violations["total"] == 0
    assert len(res.seg_job) == 3


def test_without_checkpoints_a_preempted_job_restarts_from_scratch(tiny_fleet: Fleet) -> None:
    jobs = [make_job("a", 0, 1000, gpus=8, preemptible=True), make_job("b", 400, 100, gpus=8)]

    def script(state: Any, queue: list[JobSpec], now: float) -> list[Any]:
        ids = [j.id for j in queue]
        if "b" in ids and "a" in state.running:
            return [Preempt("a", "higher_priority", "make room")]  # type: ignore[arg-type]
        for j in ("b", "a"):
            if j in ids and state.free_gpus >= 8:
                return [Start(j, "lab", "p0", 2, 4)]
        return []

    res = _sim(tiny_fleet, Scripted(script), restart_cost_s=60).run(2, iter(jobs))
    assert np.allclose(res.end_time_s - T0, [501 + 60 + 1000, 501])


def test_failures_are_seeded_and_requeue(tiny_fleet: Fleet) -> None:
    jobs = [make_job(f"j{i}", 100 * i, 3600, gpus=4, checkpoint_interval_s=600) for i in range(6)]
    runs = [
        _sim(tiny_fleet, Scripted(start_all()), failure_rate_per_gpu_h=0.5, seed=7).run(6, iter(jobs)) for _ in range(2)
    ]
    assert runs[0].failures.sum() > 0
    assert np.array_equal(runs[0].end_time_s, runs[1].end_time_s)
    assert not np.isnan(runs[0].end_time_s).any()  # every job still finished
    other = _sim(tiny_fleet, Scripted(start_all()), failure_rate_per_gpu_h=0.5, seed=8).run(6, iter(jobs))
    assert not np.array_equal(runs[0].end_time_s, other.end_time_s)


def test_checker_counts_a_residency_breach() -> None:
    fleet = Fleet(sites=[make_site("berlin", country="DE")])
    jobs = [make_job("fr-only", 0, 100, residency=Residency.parse("FR"))]
    res = _sim(fleet, Scripted(start_all("berlin"))).run(1, iter(jobs))
    assert res.violations["by_rule"] == {"residency": 1}
    assert "forbids berlin" in res.violations["examples"][0]


def test_checker_counts_power_envelope_breach() -> None:
    # 8 A100 training at 1.2 PUE draw ~6.5 kW: a 5 kW envelope is broken by the second job
    fleet = Fleet(sites=[make_site(power_mw=0.005)])
    jobs = [make_job("a", 0, 100), make_job("b", 0, 100)]
    res = _sim(fleet, Scripted(start_all())).run(2, iter(jobs))
    assert res.violations["by_rule"] == {"power_envelope": 1}


def test_window_close_stops_jobs_the_scheduler_left_running() -> None:
    # idle capacity open Mon-Fri 19:00-07:00 Paris; 2026-01-01 is a Thursday: open at 00:00 UTC (01:00 Paris)
    site = make_site("idle", kind="enterprise_idle", availability="Mon-Fri 19:00-07:00", timezone="Europe/Paris")
    fleet = Fleet(sites=[site])
    jobs = [make_job("long", 0, 10 * 3600, preemptible=True, checkpoint_interval_s=600)]
    sched = site.schedule
    assert sched is not None
    inner = start_all("idle")

    def script(state: Any, queue: list[JobSpec], now: float) -> list[Any]:
        return inner(state, queue, now) if sched.is_open(now) else []  # respects windows, never preempts

    res = _sim(fleet, Scripted(script), restart_cost_s=300).run(1, iter(jobs))
    # closes at 07:00 Paris = 06:00 UTC; the double did not preempt, so the driver stopped it and counted it
    assert res.violations["by_rule"] == {"window": 1}
    assert res.preemptions[0] == 1
    assert res.first_start_s[0] == T0
    # 6 h kept (checkpoints every 10 min); reopens 19:00 Paris = 18:00 UTC; 300 s restart + 4 h left
    assert res.end_time_s[0] - T0 == pytest.approx(18 * 3600 + 300 + 4 * 3600)


def test_batched_passes_wait_for_the_interval(tiny_fleet: Fleet) -> None:
    jobs = [make_job("a", 0, 100, gpus=1), make_job("b", 10, 100, gpus=1), make_job("c", 70, 100, gpus=1)]
    s = Scripted(start_all())
    res = _sim(tiny_fleet, s, min_pass_interval_s=60).run(3, iter(jobs))
    # a: pass at 0; b arrives at 10, waits for the pass at 60; c arrives at 70, waits for 120
    assert [t for t, _ in s.calls] == [0.0, 60.0, 120.0]
    assert np.allclose(res.first_start_s - T0, [0, 60, 120])
    assert res.violations["total"] == 0


def test_accounting_integrates_hourly_carbon(tiny_fleet: Fleet) -> None:
    from datetime import UTC, datetime

    from hexagrid.energy.calendar import CalendarMapping
    from hexagrid.energy.carbon import CarbonTrace
    from hexagrid.simulation.metrics import account, site_series

    jobs = [make_job("a", 1800, 7200, gpus=4)]  # 00:30 .. 02:30 on 4 A100
    res = _sim(tiny_fleet, Scripted(start_all())).run(1, iter(jobs))
    trace = CarbonTrace(("FR",), datetime(2026, 1, 1, tzinfo=UTC), np.array([[100.0, 200.0, 50.0, 10.0]]))
    mapping = CalendarMapping.for_trace(trace, T0)
    idx = FleetIndex.build(tiny_fleet)
    acc = account(res, idx, trace, mapping)
    fac_kw = float(acc.seg_facility_w[0]) / 1000
    assert acc.job_carbon_g[0] == pytest.approx(fac_kw * (0.5 * 100 + 200 + 0.5 * 50))
    assert acc.job_facility_kwh[0] == pytest.approx(fac_kw * 2)
    assert acc.job_cost_eur[0] == pytest.approx(4 * 2 * 2.0)  # 4 GPUs x 2 h x 2 EUR
    series = site_series(res, idx, acc, trace, mapping)
    assert series["busy_gpus"][0, :3].tolist() == pytest.approx([2.0, 4.0, 2.0])
    assert series["carbon_g_per_h"][0].sum() == pytest.approx(acc.job_carbon_g[0])


def test_the_replay_pauses_the_cyclic_gc_and_gives_it_back_as_it_found_it(tiny_fleet: Fleet) -> None:
    import gc

    seen: list[bool] = []

    def script(state: Any, queue: list[JobSpec], now: float) -> list[Any]:
        seen.append(gc.isenabled())
        return start_all()(state, queue, now)

    jobs = [make_job("a", 10, 1000)]
    assert gc.isenabled()
    _sim(tiny_fleet, Scripted(script)).run(len(jobs), iter(jobs))
    assert seen and not any(seen) and gc.isenabled()
    gc.disable()
    try:
        _sim(tiny_fleet, Scripted(script)).run(len(jobs), iter([make_job("b", 10, 1000)]))
        assert not gc.isenabled()
    finally:
        gc.enable()
