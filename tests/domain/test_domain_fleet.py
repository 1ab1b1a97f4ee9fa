"""NodePool, Site and Fleet validation: good documents pass, each kind of mistake is caught at its field."""

from __future__ import annotations

from datetime import date

import pytest
from domain_docs import site_doc
from pydantic import ValidationError

from hexagrid.domain import Access, Cooling, Fleet, NodePool, Site, SiteKind, SovereigntyTier
from hexagrid.errors import NotFound


def _error(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple[object, ...], str]:
    e = exc.value.errors()[0]
    return tuple(e["loc"]), str(e["msg"])


# ---------------------------------------------------------------- NodePool


def test_pool_good_and_gpus() -> None:
    pool = NodePool(id="h100-a", accelerator="H100", gpus_per_node=8, nodes=16)
    assert pool.gpus == 128
    assert pool.interconnect == "infiniband"


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("gpus_per_node", 0, "greater than or equal to 1"),
        ("gpus_per_node", 17, "less than or equal to 16"),
        ("nodes", 0, "greater than or equal to 1"),
        ("accelerator", "H900", "unknown accelerator 'H900'"),
        ("id", "Bad Id", "pattern"),
        ("interconnect", "carrier-pigeon", "infiniband"),
        ("memory_gb_per_node", 0, "greater than 0"),
    ],
)
def test_pool_bad(field: str, value: object, fragment: str) -> None:
    doc = {"id": "p", "accelerator": "H100", "gpus_per_node": 8, "nodes": 2, field: value}
    with pytest.raises(ValidationError) as exc:
        NodePool.model_validate(doc)
    loc, msg = _error(exc)
    assert loc == (field,)
    assert fragment in msg


def test_pool_rejects_unknown_key_and_estimates_for_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        NodePool.model_validate({"id": "p", "accelerator": "H100", "gpus_per_node": 8, "nodes": 2, "gpu": 1})
    with pytest.raises(ValidationError, match="unknown field 'colour'"):
        NodePool.model_validate(
            {"id": "p", "accelerator": "H100", "gpus_per_node": 8, "nodes": 2, "estimates": {"colour": "why"}}
        )
    ok = NodePool.model_validate(
        {"id": "p", "accelerator": "H100", "gpus_per_node": 8, "nodes": 2, "sources": {"nodes": "FACTS"}}
    )
    assert ok.sources == {"nodes": "FACTS"}


# ---------------------------------------------------------------- Site


def test_site_good() -> None:
    s = Site.model_validate(site_doc())
    assert s.kind is SiteKind.PRIVATE_CLOUD
    assert s.access is Access.BOTH
    assert s.cooling is Cooling.DIRECT_LIQUID
    assert s.tier is SovereigntyTier.STANDARD
    assert s.gpus == 32
    assert s.price_for("H100") == 2.5
    assert s.price_for("A100") == 0.0
    assert s.schedule is None


@pytest.mark.parametrize(
    ("overrides", "loc", "fragment"),
    [
        ({"country": "France"}, ("country",), "pattern"),
        ({"country": "XX"}, ("country",), "unknown country code 'XX'"),
        ({"country": "UK"}, ("country",), "use GB"),
        ({"power_mw": -5}, ("power_mw",), "greater than 0"),
        ({"power_mw": 20000}, ("power_mw",), "less than or equal to 10000"),
        ({"pue": 0.9}, ("pue",), "greater than or equal to 1"),
        ({"pue": 3.5}, ("pue",), "less than or equal to 3"),
        ({"latitude": 91}, ("latitude",), "less than or equal to 90"),
        ({"longitude": -181}, ("longitude",), "greater than or equal to -180"),
        ({"heat_reuse_fraction": 1.5}, ("heat_reuse_fraction",), "less than or equal to 1"),
        ({"kind": "hyperscaler"}, ("kind",), "public_supercomputer"),
        ({"cooling": "fans"}, ("cooling",), "closed_loop_water"),
        ({"access": "everyone"}, ("access",), "academic"),
        ({"tier": "gold"}, ("tier",), "secnumcloud"),
        ({"pools": []}, ("pools",), "at least 1 item"),
        ({"timezone": "Mars/Olympus"}, ("timezone",), "unknown time zone 'Mars/Olympus'"),
        ({"price_eur_per_gpu_h": {"H100": 2.5, "H900": 1}}, ("price_eur_per_gpu_h",), "unknown accelerator 'H900'"),
        ({"price_eur_per_gpu_h": {"H100": -1}}, ("price_eur_per_gpu_h",), "between 0 and 1000"),
        ({"energy_price_eur_per_mwh": -1}, ("energy_price_eur_per_mwh",), "greater than or equal to 0"),
        ({"name": ""}, ("name",), "at least 1 character"),
        ({"flavour": "x"}, ("flavour",), "Extra inputs"),
    ],
)
def test_site_field_errors(overrides: dict[str, object], loc: tuple[object, ...], fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Site.model_validate(site_doc(**overrides))
    got_loc, msg = _error(exc)
    assert got_loc == loc
    assert fragment in msg


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"heat_reuse_fraction": 0.3}, "heat_taker is required"),
        ({"online_from": "2026-06-01", "online_until": "2026-01-01"}, "online_until (2026-01-01) must be after"),
        ({"online_from": "2026-06-01", "online_until": "2026-06-01"}, "must be after"),
        (
            {
                "pools": [
                    {"id": "p", "accelerator": "H100", "gpus_per_node": 8, "nodes": 1},
                    {"id": "p", "accelerator": "H100", "gpus_per_node": 8, "nodes": 1},
                ]
            },
            "pool ids must be unique within a site, repeated: p",
        ),
        ({"availability": "Mon-Fri 7pm-7am"}, "cannot read window"),
        ({"kind": "enterprise_idle"}, "needs availability windows"),
        ({"price_eur_per_gpu_h": {}}, "lacks a price for H100"),
        ({"estimates": {"colour": "why"}}, "unknown field 'colour'"),
    ],
)
def test_site_consistency_rules(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Site.model_validate(site_doc(**overrides))
    loc, msg = _error(exc)
    assert loc == ()
    assert fragment in msg


def test_site_rules_that_pass() -> None:
    public = Site.model_validate(site_doc(kind="public_supercomputer", access="academic", price_eur_per_gpu_h={}))
    assert public.price_for("H100") == 0.0  # charges allocations, not prices
    idle = Site.model_validate(site_doc(kind="enterprise_idle", availability="Mon-Fri 19:00-07:00"))
    assert idle.schedule is not None and idle.schedule.timezone == "Europe/Paris"
    heat = Site.model_validate(site_doc(heat_reuse_fraction=0.2, heat_taker="district network"))
    assert heat.heat_reuse_fraction == 0.2
    dated = Site.model_validate(site_doc(online_from="2026-01-01", online_until="2030-01-01"))
    assert dated.online_from == date(2026, 1, 1)
    est = Site.model_validate(site_doc(estimates={"power_mw": "estimate: x"}, sources={"pools": "FACTS: y"}))
    assert est.estimates["power_mw"].startswith("estimate")


def test_site_is_frozen() -> None:
    s = Site.model_validate(site_doc())
    with pytest.raises(ValidationError):
        s.power_mw = 3.0  # type: ignore[misc]


# ---------------------------------------------------------------- Fleet


def test_fleet_totals_and_lookup() -> None:
    a = Site.model_validate(site_doc(id="a", power_mw=2.0))
    b = Site.model_validate(site_doc(id="b", power_mw=3.5))
    fleet = Fleet(sites=[a, b])
    assert fleet.gpus == 64
    assert fleet.power_mw == pytest.approx(5.5)
    assert fleet.site("b") is b
    with pytest.raises(NotFound, match="'c' not in fleet; sites: a, b"):
        fleet.site("c")


def test_fleet_rejects_duplicates_and_empty() -> None:
    a = Site.model_validate(site_doc(id="a"))
    with pytest.raises(ValidationError, match="site ids must be unique, repeated: a"):
        Fleet(sites=[a, a])
    with pytest.raises(ValidationError, match="at least 1 item"):
        Fleet(sites=[])
