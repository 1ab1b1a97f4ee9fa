"""The Scenario model: defaults, references between tenants and sites, uniqueness, the fleet view."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from domain_docs import site_doc
from pydantic import ValidationError

from hexagrid.domain import Objective, Scenario, ScenarioDefaults


def scenario_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "tiny",
        "sites": [
            site_doc(id="hpc", kind="public_supercomputer", access="academic", price_eur_per_gpu_h={}),
            site_doc(id="cloud"),
        ],
        "tenants": [
            {
                "id": "lab",
                "name": "Lab",
                "class": "academic",
                "projects": [{"id": "p", "allocations_gpu_h": {"hpc": 1000}}],
            },
            {"id": "co", "name": "Co", "class": "commercial", "budget_eur": 1000},
        ],
    }
    doc.update(overrides)
    return doc


def test_scenario_good() -> None:
    sc = Scenario.model_validate(scenario_doc())
    assert sc.defaults == ScenarioDefaults()
    assert sc.defaults.start_date == date(2026, 1, 1) and sc.defaults.carbon_year == 2022
    assert sc.fleet.gpus == 64
    assert sc.tenant("lab") is not None and sc.tenant("nobody") is None
    assert [s.id for s in sc.fleet.sites] == ["hpc", "cloud"]


def test_defaults() -> None:
    d = ScenarioDefaults.model_validate({"start_date": "2028-01-01", "residency": "EU", "objective": "carbon"})
    assert d.start_date == date(2028, 1, 1) and d.residency.scope == "EU" and d.objective is Objective.CARBON
    for bad, fragment in (
        ({"carbon_year": 1990}, "greater than or equal to 2000"),
        ({"start_date": "2026-13-01"}, "date"),
        ({"objective": "speed"}, "balanced"),
        ({"seed": 1}, "Extra inputs"),
    ):
        with pytest.raises(ValidationError, match=fragment):
            ScenarioDefaults.model_validate(bad)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"name": "My Scenario"}, "pattern"),
        ({"sites": []}, "at least 1 item"),
        ({"sites": [site_doc(id="a"), site_doc(id="a")]}, "site ids must be unique, repeated: a"),
        (
            {
                "tenants": [
                    {"id": "t", "name": "T", "class": "academic"},
                    {"id": "t", "name": "U", "class": "commercial"},
                ]
            },
            "tenant ids must be unique, repeated: t",
        ),
        (
            {
                "tenants": [
                    {
                        "id": "t",
                        "name": "T",
                        "class": "academic",
                        "projects": [{"id": "p", "allocations_gpu_h": {"mars": 5}}],
                    }
                ]
            },
            "tenant t project p has allocations on unknown sites mars",
        ),
        ({"fleet": {}}, "Extra inputs"),
    ],
)
def test_scenario_bad(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Scenario.model_validate(scenario_doc(**overrides))
    assert fragment in str(exc.value)
