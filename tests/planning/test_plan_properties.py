"""Random small instances: an independent checker confirms that no plan breaks lead times, residency or grid."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hexagrid.domain import CATALOG
from hexagrid.domain.geography import EU_COUNTRIES
from hexagrid.energy.power import busy_gpu_it_power_w
from hexagrid.planning import Plan, parse_planning, solve_plan

COUNTRIES = ["FR", "DE", "US"]


@st.composite
def instances(draw: st.DrawFn) -> dict[str, Any]:
    n_sites = draw(st.integers(2, 4))
    years = [2026, 2027, 2028]
    sites = []
    for i in range(n_sites):
        # the first two sites are French, one public and one private, so most instances are feasible
        country = "FR" if i < 2 else draw(st.sampled_from(COUNTRIES))
        first = 2026 if i < 2 else draw(st.sampled_from(years))
        mw = draw(st.floats(0.01, 0.15))
        grid = [{"from_year": first, "mw": round(mw, 3)}]
        if first < 2028 and draw(st.booleans()):
            grid.append({"from_year": 2028, "mw": round(mw * 2, 3)})
        sites.append(
            {
                "id": f"s{i}",
                "name": f"S{i}",
                "region": "r",
                "latitude": 45.0,
                "longitude": 2.0 + i,
                "country": country,
                "grid_zone": "FR" if country == "FR" else "DE",
                "ownership": ["public", "private"][i] if i < 2 else draw(st.sampled_from(["public", "private"])),
                "grid": grid,
                "capex_eur_per_mw": draw(st.integers(1, 5)) * 1_000_000,
                "fixed_capex_eur": draw(st.integers(0, 3)) * 100_000,
                "lead_time_years": draw(st.integers(0, 1 if i < 2 else 2)),
            }
        )
    demand = []
    # demand in the first year only sometimes: it is what a lead time forbids to build for
    for y in years if draw(st.integers(0, 2)) == 0 else years[1:]:
        for cls in ("academic", "commercial"):
            fr = draw(st.sampled_from([0.0, 0.3, 0.5, 1.0]))
            eu = draw(st.sampled_from([0.0, 1.0 - fr]))
            demand.append(
                {
                    "year": y,
                    "class": cls,
                    "gpu_hours": draw(st.integers(0, 2_500_000)),
                    "residency": {"FR": fr, "EU": eu, "ANY": round(1.0 - fr - eu, 6)},
                    "kind": {"training": 0.7, "inference": 0.3},
                }
            )
    return {
        "name": "random",
        "start_year": 2026,
        "end_year": 2028,
        "lead_time_years": 1,
        "energy_price_eur_per_mwh": 50,
        "carbon_price_eur_per_t": 80,
        "carbon_g_per_kwh": {"FR": 50, "DE": 400},
        "academic_on_private_eur_per_gpu_h": draw(st.sampled_from([None, 0.5])),
        "cooling_options": [
            {"id": "air", "cooling": "air", "pue": 1.5},
            {"id": "dlc", "cooling": "direct_liquid", "pue": 1.15, "capex_eur_per_mw": 500_000},
        ],
        "accelerators": [
            {"name": "H100", "years": {y: {"price_eur": 20000, "supply": draw(st.integers(50, 400))} for y in years}},
            {
                "name": "B200",
                "years": {2027: {"price_eur": 30000, "supply": 100}, 2028: {"price_eur": 28000, "supply": 200}},
            },
        ],
        "demand": demand,
        "sites": sites,
        "settings": {"mip_gap": 0.0, "time_limit_s": 20},
    }


def _allowed(res: str, country: str) -> bool:
    return res == "ANY" or (res == "FR" and country == "FR") or (res == "EU" and country in EU_COUNTRIES)


def check_plan(plan: Plan) -> None:
    """Re-derive every limit from the inputs, independently of the model's rows."""
    scn = plan.scenario
    gpn = scn.gpus_per_node
    for s, site in enumerate(scn.sites):
        lead = site.lead_time_years if site.lead_time_years is not None else scn.lead_time_years
        opt = next((c for c in scn.cooling_options if c.id == plan.cooling[s]), None)
        for t, y in enumerate(plan.years):
            mw = plan.mw[s, t]
            assert mw <= site.grid_mw(y) + 1e-6, f"grid broken at {site.id} {y}: {mw} > {site.grid_mw(y)}"
            if y < scn.start_year + lead:
                assert mw <= 1e-6, f"lead time broken at {site.id} {y}"
            if t:
                assert mw >= plan.mw[s, t - 1] - 1e-6
            gpus = plan.gpus[s, :, t]
            assert np.all(gpus % gpn == 0)
            if gpus.sum():
                assert opt is not None
                # power envelope: busy GPUs at the sizing utilisation, from the power model
                it_w = sum(
                    int(gpus[a]) * busy_gpu_it_power_w(CATALOG[n].tdp_w, CATALOG[n].idle_w, float(gpn), 0.85)
                    for a, n in enumerate(plan.types)
                )
                assert it_w / 1e6 * opt.pue <= mw + 1e-6, f"power envelope broken at {site.id} {y}"
    # supply
    for a, name in enumerate(plan.types):
        entry = next(e for e in scn.accelerators if e.name == name)
        added = np.diff(np.concatenate([np.zeros((len(scn.sites), 1)), plan.gpus[:, a, :]], axis=1), axis=1).sum(axis=0)
        for t, y in enumerate(plan.years):
            cap = entry.years[y].supply if y in entry.years else 0
            assert added[t] <= cap + 1e-6, f"supply broken for {name} {y}"
    # residency, access and demand met
    countries = {site.id: site.country for site in scn.sites}
    public = {site.id for site in scn.sites if site.ownership.value == "public"}
    for _y, cls, res, sid in plan.served_gpu_h:
        assert _allowed(res, countries[sid]), f"{res} work served in {countries[sid]} at {sid}"
        if cls == "commercial":
            assert sid not in public
        if cls == "academic" and scn.academic_on_private_eur_per_gpu_h is None:
            assert sid in public
    for (y, cls, res), need in plan.demand_gpu_h.items():
        got = sum(v for (y2, c2, r2, _), v in plan.served_gpu_h.items() if (y2, c2, r2) == (y, cls, res))
        assert got >= need * (1 - 1e-6) - 1.0, f"demand {y} {cls} {res}: {got} < {need}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_plans_never_break_lead_time_residency_or_grid(doc: dict[str, Any]) -> None:
    plan = solve_plan(parse_planning(doc, "random"), diagnose_infeasible=False)
    assert plan.status in ("optimal", "infeasible")
    if plan.status == "optimal":
        check_plan(plan)
