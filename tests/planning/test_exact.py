"""Small instances whose optimum is worked out by hand in the comments."""

from __future__ import annotations

import pytest
from planning_helpers import BASE, NODE_MW, scenario

from hexagrid.energy.power import busy_gpu_it_power_w
from hexagrid.planning import solve_plan


def test_node_power_matches_the_power_model() -> None:
    assert pytest.approx(8 * 966.25 / 1e6) == NODE_MW


def test_cheapest_site_and_whole_nodes() -> None:
    # 1,000,000 reference GPU-hours of training = 400,000 H100-hours (2.5x A100); at the commercial target
    # utilisation 0.75 that needs 533,333 GPU-hours of capacity = 60.9 GPUs -> 8 nodes (64 GPUs).
    # Site a costs 5M + 1M/MW, site b 1M + 2M/MW: b wins. 64 GPUs x EUR 1,000 = 64,000.
    plan = solve_plan(scenario())
    assert plan.status == "optimal"
    assert plan.sites_opened == ["b"]
    assert int(plan.gpus[1, 0, -1]) == 64
    assert plan.mw[1, -1] == pytest.approx(8 * NODE_MW, rel=1e-6)
    assert plan.objective_eur == pytest.approx(1_000_000 + 2_000_000 * 8 * NODE_MW + 64_000, rel=1e-7)
    # the building is paid during the one-year lead time (2026), the GPUs when installed (2027)
    assert plan.capex_eur[1, 0] == pytest.approx(1_000_000 + 2_000_000 * 8 * NODE_MW, rel=1e-7)
    assert plan.capex_eur[1, 1] == pytest.approx(64_000)


def test_grid_limit_moves_the_build() -> None:
    # b's grid (0.05 MW) cannot hold 8 nodes (0.0618 MW); splitting would pay both fixed costs: a alone wins.
    sites = [dict(BASE["sites"][0]), dict(BASE["sites"][1], grid=[{"from_year": 2026, "mw": 0.05}])]
    plan = solve_plan(scenario(sites=sites))
    assert plan.sites_opened == ["a"]
    assert plan.objective_eur == pytest.approx(5_000_000 + 1_000_000 * 8 * NODE_MW + 64_000, rel=1e-7)


def test_residency_keeps_fr_work_in_france() -> None:
    # b moved to Germany: FR-only demand must go to a even though b is cheaper.
    sites = [dict(BASE["sites"][0]), dict(BASE["sites"][1], country="DE", grid_zone="DE")]
    plan = solve_plan(scenario(sites=sites))
    assert plan.sites_opened == ["a"]
    # with EU residency, the cheaper German site is allowed again
    demand = [dict(BASE["demand"][0], residency={"EU": 1.0})]
    plan = solve_plan(scenario(sites=sites, demand=demand))
    assert plan.sites_opened == ["b"]


def test_energy_and_carbon_costs_are_counted() -> None:
    # EUR 100/MWh and 100 g/kWh at EUR 50/t. Busy H100-hours: 400,000 at u=0.85 (966.25 W/GPU);
    # idle hours at u=0 (75 + 360 = 435 W/GPU): 64 x 8760 - 400,000 = 160,640. IT energy in MWh:
    busy_w = busy_gpu_it_power_w(700.0, 75.0, 8.0, 0.85)
    idle_w = busy_gpu_it_power_w(700.0, 75.0, 8.0, 0.0)
    e_mwh = (400_000 * busy_w + (64 * 8760 - 400_000) * idle_w) / 1e6
    plan = solve_plan(scenario(energy_price_eur_per_mwh=100, carbon_price_eur_per_t=50, carbon_g_per_kwh={"FR": 100}))
    assert plan.facility_energy_mwh.sum() == pytest.approx(e_mwh, rel=1e-6)
    assert plan.tco2.sum() == pytest.approx(e_mwh * 0.1, rel=1e-6)
    capex = 1_000_000 + 2_000_000 * 8 * NODE_MW + 64_000
    assert plan.objective_eur == pytest.approx(capex + e_mwh * (100 + 50 * 0.1), rel=1e-6)


def test_heat_value_can_pick_the_site_with_a_heat_network() -> None:
    # a costs EUR 100k more to open, but has a heat network. Recovered heat = 0.6 x 456 MWh of IT energy
    # = 274 MWh; at EUR 1,000/MWh that is worth EUR 274k > 100k, so a wins; without a heat value b wins.
    cooling = [{"id": "dlc", "cooling": "direct_liquid", "pue": 1.0, "heat_recovery_fraction": 0.6}]
    sites = [
        dict(BASE["sites"][0], fixed_capex_eur=1_100_000, capex_eur_per_mw=1_000_000, heat_demand_mwh_per_year=10_000),
        dict(BASE["sites"][1], fixed_capex_eur=1_000_000, capex_eur_per_mw=1_000_000),
    ]
    without = solve_plan(scenario(sites=sites, cooling_options=cooling))
    assert without.sites_opened == ["b"]
    plan = solve_plan(scenario(sites=sites, cooling_options=cooling, heat_value_eur_per_mwh=1000))
    assert plan.sites_opened == ["a"]
    assert plan.heat_reused_mwh.sum() == pytest.approx(0.6 * plan.it_energy_mwh.sum(), rel=1e-6)


def test_academic_work_prefers_public_sites_unless_cheaper_on_private() -> None:
    demand = [dict(BASE["demand"][0], **{"class": "academic"})]
    sites = [dict(BASE["sites"][0], ownership="public"), dict(BASE["sites"][1])]
    # premium EUR 10/GPU-h on 470,588 GPU-hours (1M / 2.5 / 0.85 target) dwarfs the site costs: public a wins
    plan = solve_plan(scenario(sites=sites, demand=demand, academic_on_private_eur_per_gpu_h=10))
    assert plan.sites_opened == ["a"]
    # no premium: the cheaper private site b serves it
    plan = solve_plan(scenario(sites=sites, demand=demand, academic_on_private_eur_per_gpu_h=0))
    assert plan.sites_opened == ["b"]
    # commercial work never goes to a public site, even when that is the only one left
    only_public = [dict(BASE["sites"][0], ownership="public")]
    plan = solve_plan(scenario(sites=only_public))
    assert plan.status == "infeasible"


def test_committed_build_is_kept() -> None:
    sites = [
        dict(BASE["sites"][0], committed=[{"year": 2026, "mw": 2, "accelerators": {"H100": 80}}]),
        dict(BASE["sites"][1]),
    ]
    plan = solve_plan(scenario(sites=sites))
    a = 0
    assert plan.opened[a]
    assert plan.mw[a, 0] >= 2 - 1e-6
    assert plan.gpus[a, 0, 0] >= 80
    # 80 committed GPUs already cover the 64 needed: nothing is built at b
    assert plan.sites_opened == ["a"]
