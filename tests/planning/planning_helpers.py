"""Small planning scenarios built as dicts, so tests can vary one field at a time."""

from __future__ import annotations

import copy
from typing import Any

from hexagrid.energy.power import busy_gpu_it_power_w
from hexagrid.planning import PlanningScenario, parse_planning

#: One H100 node of 8 GPUs at the sizing utilisation 0.85: 8 x (75 + 625 x 0.85 + (400 + 310 x 8) / 8) W.
NODE_MW = 8 * busy_gpu_it_power_w(700.0, 75.0, 8.0, 0.85) / 1e6

BASE: dict[str, Any] = {
    "name": "tiny",
    "start_year": 2026,
    "end_year": 2027,
    "lead_time_years": 1,
    "energy_price_eur_per_mwh": 0,
    "carbon_g_per_kwh": {"FR": 0, "DE": 0},
    "cooling_options": [{"id": "dlc", "cooling": "direct_liquid", "pue": 1.0}],
    "accelerators": [
        {
            "name": "H100",
            "years": {2026: {"price_eur": 1000, "supply": 1000}, 2027: {"price_eur": 1000, "supply": 1000}},
        }
    ],
    "demand": [
        {
            "year": 2027,
            "class": "commercial",
            "gpu_hours": 1_000_000,
            "residency": {"FR": 1.0},
            "kind": {"training": 1.0},
        },
    ],
    "sites": [
        {
            "id": "a",
            "name": "A",
            "region": "IDF",
            "latitude": 48.7,
            "longitude": 2.2,
            "grid": [{"from_year": 2026, "mw": 10}],
            "capex_eur_per_mw": 1_000_000,
            "fixed_capex_eur": 5_000_000,
        },
        {
            "id": "b",
            "name": "B",
            "region": "GE",
            "latitude": 48.5,
            "longitude": 6.2,
            "grid": [{"from_year": 2026, "mw": 10}],
            "capex_eur_per_mw": 2_000_000,
            "fixed_capex_eur": 1_000_000,
        },
    ],
    "settings": {"time_limit_s": 20},
}


def scenario(**changes: Any) -> PlanningScenario:
    """BASE with top-level fields replaced."""
    doc = copy.deepcopy(BASE)
    doc.update(copy.deepcopy(changes))
    return parse_planning(doc, "test")


def doc(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(BASE)
    d.update(copy.deepcopy(changes))
    return d
