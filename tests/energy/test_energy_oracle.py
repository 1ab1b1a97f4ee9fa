"""The LP carbon lower bound: a hand-solved instance, and never above any feasible schedule (property)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexagrid.energy.oracle import OracleJob, carbon_gap_pct, carbon_lower_bound
from hexagrid.errors import InfeasibleError, InputError


def test_hand_solved_instance() -> None:
    # one site, 3 hours at 100 / 10 / 50 g/kWh, 2 GPUs; two 2-GPU one-hour jobs; 1 kWh per GPU-hour
    r = carbon_lower_bound([OracleJob(0, 3, 2, 1), OracleJob(0, 3, 2, 1)], [[2, 2, 2]], [[100, 10, 50]], [1.0])
    assert r.status == "optimal"
    assert r.bound_g == pytest.approx(2 * 10 + 2 * 50)
    assert r.gpu_hours[0].tolist() == pytest.approx([0, 2, 2])
    # a second site that is cleaner but allowed only for the first job, with higher energy per GPU-hour
    r2 = carbon_lower_bound(
        [OracleJob(0, 3, 2, 1, sites=(0, 1)), OracleJob(0, 3, 2, 1, sites=(0,))],
        [[2, 2, 2], [2, 2, 2]],
        [[100, 10, 50], [5, 5, 5]],
        [1.0, 2.0],
    )
    assert r2.bound_g == pytest.approx(2 * 2 * 5 + 2 * 10)
    # per-job energy, and a window that covers half an hour at each end
    r3 = carbon_lower_bound([OracleJob(0.5, 2.5, 1, 1.5)], [[4, 4, 4]], [[10, 20, 30]], [[1.0]])
    assert r3.bound_g == pytest.approx(0.5 * 10 + 1 * 20)
    assert carbon_gap_pct(150.0, 100.0) == pytest.approx(50.0)


def test_infeasible_and_bad_input() -> None:
    with pytest.raises(InfeasibleError, match=r"jobs\[0\]: 4 GPUs x 3 h does not fit in its window"):
        carbon_lower_bound([OracleJob(0, 2, 4, 3)], [[8, 8, 8]], [[1, 1, 1]], [1.0])
    with pytest.raises(InfeasibleError, match="no relaxed plan fits 2 jobs"):
        carbon_lower_bound([OracleJob(0, 1, 2, 1), OracleJob(0, 1, 2, 1)], [[3]], [[1]], [1.0])
    with pytest.raises(InputError, match="intensity_g_per_kwh must have the shape"):
        carbon_lower_bound([OracleJob(0, 1, 1, 1)], [[3, 3]], [[1]], [1.0])
    with pytest.raises(InputError, match="energy_kwh_per_gpu_h must be"):
        carbon_lower_bound([OracleJob(0, 1, 1, 1)], [[3]], [[1]], [1.0, 2.0])
    with pytest.raises(InputError, match=r"jobs\[0\]: deadline_h"):
        carbon_lower_bound([OracleJob(2, 1, 1, 1)], [[3]], [[1]], [1.0])
    assert carbon_lower_bound([], [[3]], [[1]], [1.0]).bound_g == 0.0
    with pytest.raises(InputError, match="slot_hours must be >= 1, got 0"):
        carbon_lower_bound([OracleJob(0, 1, 1, 1)], [[3]], [[1]], [1.0], slot_hours=0)


def test_slots_group_hours() -> None:
    # 4 hours at 100 / 10 / 50 / 20 in 2-hour slots: slot minima 10 and 20, slot capacity 2 x 2 GPU-hours
    r = carbon_lower_bound([OracleJob(0, 4, 2, 3)], [[2, 2, 2, 2]], [[100, 10, 50, 20]], [1.0], slot_hours=2)
    assert r.gpu_hours[0].tolist() == pytest.approx([4.0, 2.0])
    assert r.bound_g == pytest.approx(4 * 10 + 2 * 20)
    hourly = carbon_lower_bound([OracleJob(0, 4, 2, 3)], [[2, 2, 2, 2]], [[100, 10, 50, 20]], [1.0])
    assert hourly.bound_g == pytest.approx(2 * 10 + 2 * 20 + 2 * 50) and r.bound_g <= hourly.bound_g


def _greedy(
    jobs: list[tuple[int, int, int, int]], cap: np.ndarray, inten: np.ndarray, energy: np.ndarray, by_carbon: bool
) -> tuple[list[OracleJob], float]:
    """A feasible schedule: each job on one site for a contiguous run inside its window, within capacity.

    ``by_carbon`` picks the cleanest feasible (site, start); otherwise the first one. Jobs that do not fit
    are left out of the instance (the bound is then computed for the scheduled jobs only).
    """
    free = cap.astype(float).copy()
    placed: list[OracleJob] = []
    carbon = 0.0
    for release, slack, gpus, dur in jobs:
        deadline = min(release + dur + slack, cap.shape[1])
        options = []
        for s in range(cap.shape[0]):
            for t in range(release, deadline - dur + 1):
                if np.all(free[s, t : t + dur] >= gpus):
                    options.append((gpus * energy[s] * inten[s, t : t + dur].sum(), s, t))
                    if not by_carbon:
                        break
            if options and not by_carbon:
                break
        if not options:
            continue
        c, s, t = min(options)
        free[s, t : t + dur] -= gpus
        carbon += c
        placed.append(OracleJob(release, deadline, gpus, dur))
    return placed, carbon


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(4, 16),
    st.lists(
        st.tuples(st.integers(0, 10), st.integers(0, 6), st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=12
    ),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_bound_never_above_a_feasible_schedule(
    n_sites: int, n_hours: int, raw: list[tuple[int, int, int, int]], seed: int, by_carbon: bool
) -> None:
    rng = np.random.default_rng(seed)
    cap = rng.integers(0, 8, (n_sites, n_hours))
    inten = rng.uniform(10, 500, (n_sites, n_hours)).round(2)
    energy = rng.uniform(0.5, 1.5, n_sites).round(3)
    jobs = [(min(r, n_hours - 1), sl, g, min(d, n_hours - min(r, n_hours - 1))) for r, sl, g, d in raw]
    placed, carbon = _greedy(jobs, cap, inten, energy, by_carbon)
    if not placed:
        return
    result = carbon_lower_bound(placed, cap, inten, energy)
    assert result.bound_g <= carbon * (1 + 1e-7) + 1e-6
    unreduced = carbon_lower_bound(placed, cap, inten, energy, presolve=False)  # the same LP, not presolved
    assert unreduced.status == "optimal" and unreduced.bound_g == pytest.approx(result.bound_g, rel=1e-9, abs=1e-9)
    coarse = carbon_lower_bound(placed, cap, inten, energy, slot_hours=3)  # a looser relaxation: lower still
    assert coarse.bound_g <= result.bound_g * (1 + 1e-7) + 1e-6
    assert coarse.gpu_hours.shape == (n_sites, -(-n_hours // 3))
    assert np.all(result.gpu_hours <= cap + 1e-6)
    assert result.gpu_hours.sum() == pytest.approx(sum(j.gpus * j.duration_h for j in placed))


def test_oracle_instance_from_specs_and_fleet() -> None:
    from datetime import UTC, datetime

    from hexagrid.domain import CATALOG, JobSpec, Resources, Site
    from hexagrid.domain.fleet import Fleet
    from hexagrid.energy.calendar import CalendarMapping
    from hexagrid.energy.carbon import CarbonTrace
    from hexagrid.energy.oracle import oracle_instance
    from hexagrid.energy.power import busy_gpu_it_power_w

    def site(sid: str, zone: str, acc: str, pue: float) -> Site:
        return Site.model_validate(
            {
                "id": sid,
                "name": sid,
                "operator": "o",
                "kind": "private_cloud",
                "country": zone,
                "region": "r",
                "latitude": 48.0,
                "longitude": 2.0,
                "grid_zone": zone,
                "power_mw": 1.0,
                "cooling": "air",
                "pue": pue,
                "access": "both",
                "price_eur_per_gpu_h": {acc: 1.0},
                "pools": [{"id": "p", "accelerator": acc, "gpus_per_node": 8, "nodes": 1}],
            }
        )

    fleet = Fleet(sites=[site("fr", "FR", "H100", 1.2), site("de", "DE", "A100", 1.5)])
    t0 = datetime(2022, 1, 1, tzinfo=UTC)
    trace = CarbonTrace(("FR", "DE"), t0, np.array([[50.0, 10.0, 50.0, 50.0], [5.0, 5.0, 5.0, 5.0]]))
    cal = CalendarMapping.for_trace(trace)
    s0 = t0.timestamp()
    jobs = [
        JobSpec(id="any", tenant="t", resources=Resources(gpus=1), submit_s=s0, expected_duration_s=7200.0),
        JobSpec(
            id="fr-only",
            tenant="t",
            resources=Resources(gpus=2),
            submit_s=s0,
            expected_duration_s=3600.0,
            residency="FR",
            deadline_s=s0 + 4 * 3600.0,
        ),
        JobSpec(
            id="b200",
            tenant="t",
            resources=Resources(gpus=1, accelerators=("B200",)),
            submit_s=s0,
            expected_duration_s=3600.0,
        ),
    ]
    inst = oracle_instance(jobs, fleet, trace, cal, s0, 4)
    assert inst.job_ids == ["any", "fr-only"] and inst.skipped == ["b200"]
    assert inst.jobs[1].sites == (0,)
    assert inst.capacity_gpus.tolist() == [[8.0] * 4, [8.0] * 4]
    h100, a100 = CATALOG["H100"], CATALOG["A100"]
    w_h = busy_gpu_it_power_w(h100.tdp_w, h100.idle_w, 8.0, 0.85) * 1.2
    w_a = busy_gpu_it_power_w(a100.tdp_w, a100.idle_w, 8.0, 0.85) * 1.5
    r_h = 7200.0 / h100.training_throughput  # the shorter runtime (H100), seconds
    assert inst.jobs[0].duration_h == pytest.approx(r_h / 3600.0)
    assert inst.energy_kwh_per_gpu_h[0, 0] == pytest.approx(w_h / 1000.0)
    assert inst.energy_kwh_per_gpu_h[0, 1] == pytest.approx(7200.0 * w_a / r_h / 1000.0)
    r = inst.solve()
    # "fr-only" runs 2 GPUs x 0.4 h in FR's cleanest hour (10 g); "any" picks the cheaper of that hour on an H100
    # and DE (5 g) on an A100 that needs 2.5x longer; capacity does not bind
    fr_only = 2 * (3600.0 / h100.training_throughput / 3600.0) * w_h / 1000.0 * 10.0
    any_fr = (r_h / 3600.0) * w_h / 1000.0 * 10.0
    any_de = (7200.0 / 3600.0) * w_a / 1000.0 * 5.0
    assert r.bound_g == pytest.approx(fr_only + min(any_fr, any_de))
    # with a cleaner DE grid the A100 site wins despite its longer runtime
    trace2 = CarbonTrace(("FR", "DE"), t0, np.array([[50.0, 10.0, 50.0, 50.0], [1.0, 1.0, 1.0, 1.0]]))
    r2 = oracle_instance(jobs, fleet, trace2, cal, s0, 4).solve()
    assert any_de / 5.0 < any_fr
    assert r2.bound_g == pytest.approx(fr_only + any_de / 5.0)
    with pytest.raises(InputError, match="window_end_s has 1 entries for 3 jobs"):
        oracle_instance(jobs, fleet, trace, cal, s0, 4, window_end_s=[1.0])
