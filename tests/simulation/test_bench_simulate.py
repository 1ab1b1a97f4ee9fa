"""The simulator benchmark: the sized ITP fleet, and the national run's figures on a small job count."""

from __future__ import annotations

import pytest

from hexagrid.benchmarks.simulate import bench_simulate, national_scenario, reference_capacity_gpus, sized_scenario
from hexagrid.scenarios import load_scenario
from hexagrid.workloads import MappingRule, load_trace


def test_sized_fleet_offers_the_target_load_and_fits_the_largest_gang() -> None:
    trace = load_trace("itp")
    base = load_scenario("france-2026")
    sized = sized_scenario(base, trace, target_utilisation=0.6)
    assert [s.id for s in sized.sites] == [s.id for s in base.sites]
    assert sized.fleet.gpus < base.fleet.gpus
    assert trace.offered_load(round(reference_capacity_gpus(sized))) == pytest.approx(0.6, rel=0.05)
    # somewhere open to each tenant class holds ITP's 64-GPU jobs
    assert max(p.gpus for s in sized.sites if s.access.value != "commercial" for p in s.pools) >= 64
    assert max(p.gpus for s in sized.sites if s.access.value != "academic" for p in s.pools) >= 64


def test_national_quotas_grow_to_twice_each_tenants_share_of_the_demand_and_never_shrink() -> None:
    base = load_scenario("france-2028")
    busy = 600_000.0
    scen = national_scenario(base, busy)
    weights = MappingRule().tenant_weights(base.tenants)
    weights = weights / weights.sum()
    for before, after, w in zip(base.tenants, scen.tenants, weights.tolist(), strict=True):
        assert after.id == before.id
        if before.max_gpus is None:
            assert after.max_gpus is None
        else:
            assert after.max_gpus >= before.max_gpus
            assert after.max_gpus >= 2.0 * w * busy
    small = [t for t in base.tenants if t.max_gpus is not None and t.max_gpus < 1000]
    assert small, "france-2028 has small quotas: the case this guards"
    assert all(t.max_gpus > 1000 for t in scen.tenants if t.id in {s.id for s in small})
    assert scen.sites == base.sites


@pytest.mark.slow
def test_national_figures_on_a_small_run() -> None:
    r = bench_simulate(national_jobs=3000, itp=False, seed=1)
    assert r["national_jobs"] == 3000
    assert r["national_gpus"] > 1_000_000
    assert r["national_violations"] == 0
    assert r["national_completed"] == 3000
    assert r["national_wall_s"] > 0 and r["national_events_per_s"] > 0 and r["national_jobs_per_s"] > 0
    assert r["peak_rss_mb"] > 0
