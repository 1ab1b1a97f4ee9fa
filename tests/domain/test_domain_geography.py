"""Residency rules, country codes, the EU list and great-circle distance."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hexagrid.domain import EU_COUNTRIES, Residency, haversine_km
from hexagrid.domain.geography import ISO_COUNTRIES, check_country


def test_short_forms() -> None:
    assert Residency.model_validate("FR") == Residency(scope="FR")
    assert Residency.model_validate("eu").scope == "EU"
    assert Residency.model_validate("any").scope == "ANY"
    both = Residency.model_validate(["FR", "DE"])
    assert both.scope == "countries" and both.countries == ("DE", "FR")
    assert Residency.parse("FR, DE") == both
    assert Residency.model_validate("DE,FR") == both  # the comma form also works inside files
    assert str(both) == "DE,FR"
    assert str(Residency.parse("EU")) == "EU"


@pytest.mark.parametrize(
    ("residency", "allowed", "denied"),
    [
        ("FR", ["FR"], ["DE", "SE", "GB", "US"]),
        ("EU", ["FR", "DE", "SE", "PL", "ES", "NL"], ["GB", "NO", "CH", "US"]),
        ("ANY", ["FR", "GB", "US"], []),
        (["DE", "NL"], ["DE", "NL"], ["FR", "SE"]),
    ],
)
def test_allows(residency: str | list[str], allowed: list[str], denied: list[str]) -> None:
    r = Residency.parse(residency)
    assert all(r.allows(c) for c in allowed)
    assert not any(r.allows(c) for c in denied)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("XX", "must be FR, EU, ANY or a list of country codes, got 'XX'"),
        ("France", "got 'France'"),
        (["fr"], "in capitals"),
        (["FRA"], "in capitals"),
        (["QQ"], "unknown country code 'QQ'"),
        (["UK"], "use GB"),
        ({"scope": "countries"}, "at least one country"),
        ({"scope": "FR", "planet": "earth"}, "Extra inputs"),
    ],
)
def test_bad_residency(value: object, fragment: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Residency.model_validate(value)
    assert fragment in str(exc.value)


def test_country_lists() -> None:
    assert len(EU_COUNTRIES) == 27
    assert EU_COUNTRIES <= ISO_COUNTRIES
    assert "GB" not in EU_COUNTRIES and "GB" in ISO_COUNTRIES
    assert check_country("SE") == "SE"
    with pytest.raises(ValueError, match="unknown country code 'ZZ'"):
        check_country("ZZ")


def test_haversine() -> None:
    paris, marseille = (48.86, 2.35), (43.30, 5.37)
    d = haversine_km(*paris, *marseille)
    assert 650 < d < 680  # ~660 km as the crow flies
    assert haversine_km(*paris, *paris) == 0.0
    assert haversine_km(*paris, *marseille) == pytest.approx(haversine_km(*marseille, *paris))
    assert haversine_km(0, 0, 0, 180) == pytest.approx(3.141592653589793 * 6371.0)
