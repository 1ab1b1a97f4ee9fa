"""The built-in scenarios: they validate, they hold the FACTS figures, and every number says where it is from."""

from __future__ import annotations

import pytest

from hexagrid.domain import Access, Scenario, SiteKind
from hexagrid.scenarios import builtin_names, builtin_path, load_scenario
from hexagrid.scenarios.validation import load_yaml

NAMES = ["europe-2026", "france-2025", "france-2026", "france-2028"]

#: Site fields whose numbers must carry a source (FACTS) or an estimate with its reasoning when a file sets them.
NUMERIC_SITE_FIELDS = (
    "latitude",
    "longitude",
    "power_mw",
    "pue",
    "heat_reuse_fraction",
    "price_eur_per_gpu_h",
    "energy_price_eur_per_mwh",
    "pools",
)


@pytest.fixture(scope="module")
def scenarios() -> dict[str, Scenario]:
    return {name: load_scenario(name) for name in NAMES}


def test_all_builtins_validate_and_are_named_after_their_file(scenarios: dict[str, Scenario]) -> None:
    assert builtin_names() == NAMES
    for name, sc in scenarios.items():
        assert sc.name == name
        assert sc.description and sc.notes
        assert sc.defaults.carbon_year == 2022


def test_start_dates_follow_the_fleet_year(scenarios: dict[str, Scenario]) -> None:
    assert {n: s.defaults.start_date.year for n, s in scenarios.items()} == {
        "france-2025": 2025,
        "france-2026": 2026,
        "france-2028": 2028,
        "europe-2026": 2026,
    }


def test_france_2028_totals_from_facts(scenarios: dict[str, Scenario]) -> None:
    sc = scenarios["france-2028"]
    assert sc.fleet.power_mw >= 1000  # >= 1 GW of envelope
    big = ["fluidstack-fr", "sesterce-grand-est-1", "sesterce-grand-est-2"]
    assert sum(sc.fleet.site(s).gpus for s in big) >= 1_000_000
    # FACTS: Fluidstack 1 GW, ~500,000 chips; Sesterce Grand Est 600 MW for 500,000 GPUs on two sites
    assert sc.fleet.site("fluidstack-fr").power_mw == 1000
    assert sc.fleet.site("fluidstack-fr").gpus == 500_000
    grand_est = [sc.fleet.site("sesterce-grand-est-1"), sc.fleet.site("sesterce-grand-est-2")]
    assert sum(s.power_mw for s in grand_est) == 600
    assert sum(s.gpus for s in grand_est) == 500_000


def test_facts_capacities_2025(scenarios: dict[str, Scenario]) -> None:
    sc = scenarios["france-2025"]
    jz = sc.fleet.site("jean-zay")
    assert 3_500 <= jz.gpus < 4_000  # "nearly 4,000 GPUs"
    assert jz.kind is SiteKind.PUBLIC_SUPERCOMPUTER and jz.access is Access.ACADEMIC
    assert jz.heat_taker == "Paris-Saclay heat network"
    assert sc.fleet.site("scaleway-paris").gpus == 5_000
    assert sc.fleet.site("sesterce-marseille").gpus == 4_500
    idle = [s for s in sc.sites if s.kind is SiteKind.ENTERPRISE_IDLE]
    assert len(idle) >= 3 and all(s.schedule is not None and not s.schedule.always_open() for s in idle)


def test_jean_zay_heat_reuse_matches_facts(scenarios: dict[str, Scenario]) -> None:
    """FACTS: ~4,000 MWh/yr into the heat network. heat_reuse_fraction x a plausible mean IT draw must give that."""
    jz = scenarios["france-2025"].fleet.site("jean-zay")
    it_mw_at_full = jz.power_mw / jz.pue
    for load in (0.6, 0.8):  # mean IT draw between 60% and 80% of the envelope's IT share
        heat_mwh = jz.heat_reuse_fraction * it_mw_at_full * load * 8760
        assert 2_500 < heat_mwh < 5_500


def test_public_supercomputers_are_academic_and_unpriced(scenarios: dict[str, Scenario]) -> None:
    for sc in scenarios.values():
        for s in sc.sites:
            if s.kind is SiteKind.PUBLIC_SUPERCOMPUTER:
                assert s.access is Access.ACADEMIC and not s.price_eur_per_gpu_h
            else:
                assert set(s.price_eur_per_gpu_h) >= {p.accelerator for p in s.pools}


def test_2026_arrivals_and_stable_ids(scenarios: dict[str, Scenario]) -> None:
    f26 = {s.id for s in scenarios["france-2026"].sites}
    assert {
        "jean-zay",
        "scaleway-paris",
        "sesterce-marseille",
        "alice-recoque",
        "sesterce-valence",
        "fluidstack-fr",
    } <= f26
    valence = scenarios["france-2026"].fleet.site("sesterce-valence")
    assert valence.cooling.value == "closed_loop_water" and valence.heat_reuse_fraction > 0 and valence.heat_taker


def test_europe_2026_spans_five_other_grids(scenarios: dict[str, Scenario]) -> None:
    eu = scenarios["europe-2026"]
    countries = {s.country for s in eu.sites}
    assert {"FR", "DE", "SE", "PL", "ES", "NL"} <= countries
    assert "SE-SE3" in {s.grid_zone for s in eu.sites}
    assert {s.id for s in scenarios["france-2026"].sites} < {s.id for s in eu.sites}
    residencies = {str(t.residency) for t in eu.tenants}
    assert {"FR", "EU", "ANY"} <= residencies


def test_tenants_mix(scenarios: dict[str, Scenario]) -> None:
    for sc in scenarios.values():
        classes = {t.tenant_class.value for t in sc.tenants}
        assert classes == {"academic", "commercial"}
        assert any(t.flexibility_h > 0 for t in sc.tenants)
        assert any(str(t.residency) == "FR" and t.tenant_class.value == "commercial" for t in sc.tenants)
        academic_sites = {s.id for s in sc.sites if s.kind is SiteKind.PUBLIC_SUPERCOMPUTER}
        for t in sc.tenants:
            for p in t.projects:
                assert set(p.allocations_gpu_h) <= academic_sites


@pytest.mark.parametrize("name", NAMES)
def test_every_number_has_a_source_or_an_estimate(name: str) -> None:
    """Read the raw file: each numeric field a site sets is explained in its `sources` or `estimates`."""
    raw = load_yaml(builtin_path(name).read_text(), name)
    for site in raw.get("sites", []):
        explained = set(site.get("sources", {})) | set(site.get("estimates", {}))
        missing = [f for f in NUMERIC_SITE_FIELDS if f in site and f not in explained]
        assert not missing, f"{name}: site {site['id']} sets {missing} without a source or estimate"
        for why in site.get("estimates", {}).values():
            assert why.startswith("estimate:"), why
        for src in site.get("sources", {}).values():
            assert src.startswith("FACTS:"), src
