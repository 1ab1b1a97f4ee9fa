"""Infeasible plans are explained: the binding constraint and how much more of what would fix them."""

from __future__ import annotations

import pytest
from planning_helpers import BASE, NODE_MW, scenario

from hexagrid.planning import solve_plan


def test_lead_time_is_named_when_nothing_else_helps() -> None:
    # demand in 2026 but a new build takes 1 year: no grid, budget or supply would help
    demand = [dict(BASE["demand"][0], year=2026)]
    plan = solve_plan(scenario(demand=demand))
    assert plan.status == "infeasible"
    d = plan.diagnosis
    assert d is not None
    assert d.lead_time_binding
    assert "lead_time" in d.binding
    assert d.shortfalls and d.shortfalls[0].year == 2026
    assert d.shortfalls[0].gpu_hours == pytest.approx(1_000_000, rel=1e-6)
    assert "lead time" in d.message


def test_grid_shortage_names_the_grid_and_the_missing_megawatts() -> None:
    # both sites get 0.03 MW (0.06 together); the 8 nodes needed draw 8 x NODE_MW = 0.0618 MW
    sites = [dict(s, grid=[{"from_year": 2026, "mw": 0.03}]) for s in BASE["sites"]]
    plan = solve_plan(scenario(sites=sites))
    assert plan.status == "infeasible"
    d = plan.diagnosis
    assert d is not None and not d.lead_time_binding
    grid = next(r for r in d.remedies if r.family == "grid")
    assert grid.sufficient
    extra = sum(v for _, v, _ in grid.items)
    # the least extra grid is 8 nodes' power minus the 0.06 MW both sites give
    assert extra == pytest.approx(8 * NODE_MW - 0.06, abs=1e-4)
    assert any(c.startswith("grid[") for c in d.binding)
    assert "MW grid at" in d.message


def test_budget_shortage_names_the_budget_and_the_amount() -> None:
    # build (site b: 1M + 2M x 0.0618 MW = EUR 1,123,680) is paid in 2026; cap 2026 at EUR 1M
    plan = solve_plan(scenario(budget_eur_per_year={2026: 1_000_000}))
    assert plan.status == "infeasible"
    d = plan.diagnosis
    assert d is not None
    budget = next(r for r in d.remedies if r.family == "budget")
    assert budget.sufficient
    assert budget.items[0][0] == "budget[2026]"
    assert budget.items[0][1] == pytest.approx(1_000_000 + 2_000_000 * 8 * NODE_MW - 1_000_000, rel=1e-5)
    assert "budget[2026]" in d.binding
    assert "budget in 2026" in d.message


def test_supply_shortage_names_the_accelerator() -> None:
    acc = [{"name": "H100", "years": {2026: {"price_eur": 1000, "supply": 0}, 2027: {"price_eur": 1000, "supply": 40}}}]
    plan = solve_plan(scenario(accelerators=acc))
    assert plan.status == "infeasible"
    d = plan.diagnosis
    assert d is not None
    supply = next(r for r in d.remedies if r.family == "supply")
    assert supply.sufficient
    # 64 GPUs (8 whole nodes) are needed in 2027 and 40 can be had: 24 more
    assert supply.items == [("supply[H100,2027]", 24.0, "GPUs")]
    assert "supply[H100,2027]" in d.binding


def test_commitment_beyond_the_grid_is_named() -> None:
    # a committed 15 MW at site a whose grid gives 10 MW: infeasible whatever the demand
    sites = [dict(BASE["sites"][0], committed=[{"year": 2026, "mw": 15}]), dict(BASE["sites"][1])]
    plan = solve_plan(scenario(sites=sites))
    assert plan.status == "infeasible"
    d = plan.diagnosis
    assert d is not None and d.commitments_infeasible
    grid = next(r for r in d.remedies if r.family == "grid")
    assert grid.sufficient
    assert ("grid[a,2026]", pytest.approx(5.0, abs=1e-6), "MW") in grid.items
    assert "committed builds alone" in d.message
