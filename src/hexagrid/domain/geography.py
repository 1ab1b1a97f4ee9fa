"""Countries, the EU, data residency and great-circle distance."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["EU_COUNTRIES", "ISO_COUNTRIES", "Residency", "check_country", "haversine_km"]

#: ISO 3166-1 alpha-2 codes of all 249 countries and territories (plus XK, Kosovo, in common use).
_ISO_CODES = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY "
    "BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK "
    "FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR "
    "IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK "
    "ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF "
    "TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK"
)
ISO_COUNTRIES: frozenset[str] = frozenset(_ISO_CODES.split())

_COMMON_MISTAKES = {"UK": "GB", "EL": "GR"}


def check_country(code: str) -> str:
    """Return ``code`` if it is an ISO 3166 alpha-2 code; raise ValueError naming the code otherwise."""
    if code in ISO_COUNTRIES:
        return code
    hint = f" (use {_COMMON_MISTAKES[code]})" if code in _COMMON_MISTAKES else ""
    raise ValueError(f"unknown country code {code!r}{hint}; expected an ISO 3166 alpha-2 code such as FR, DE, SE")


#: ISO 3166-1 alpha-2 codes of the 27 EU member states.
EU_COUNTRIES: frozenset[str] = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)


def _coerce_residency(value: Any) -> Any:
    if isinstance(value, str) and "," in value:  # "FR,DE" in a file means the list [FR, DE]
        return {"scope": "countries", "countries": sorted(v.strip() for v in value.split(",") if v.strip())}
    if isinstance(value, str):
        return {"scope": value.upper() if value.lower() in ("fr", "eu", "any") else value}
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        # sorted for a canonical form; non-text items are left for the field check to name
        return {"scope": "countries", "countries": sorted(items) if all(isinstance(c, str) for c in items) else items}
    return value


class Residency(BaseModel):
    """Where a job's data may be processed: ``FR``, ``EU``, ``ANY`` or an explicit country list.

    Written in files as ``FR`` / ``EU`` / ``ANY`` or as a list such as ``[FR, DE]``. FR ⊂ EU.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str
    countries: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_short_form(cls, value: Any) -> Any:
        return _coerce_residency(value)

    @classmethod
    def parse(cls, value: str | list[str]) -> Residency:
        """``'FR'``, ``'EU'``, ``'ANY'``, ``'FR,DE'`` or ``['FR', 'DE']``."""
        if isinstance(value, str) and "," in value:
            value = [v.strip() for v in value.split(",") if v.strip()]
        return cls.model_validate(value)

    @model_validator(mode="after")
    def _check(self) -> Residency:
        if self.scope not in ("FR", "EU", "ANY", "countries"):
            raise ValueError(f"must be FR, EU, ANY or a list of country codes, got {self.scope!r}")
        if self.scope == "countries":
            if not self.countries:
                raise ValueError("a country list must name at least one country")
            for c in self.countries:
                if len(c) != 2 or not c.isalpha() or not c.isupper():
                    raise ValueError(f"country codes are ISO 3166 alpha-2 in capitals (FR, DE), got {c!r}")
                check_country(c)
        return self

    def allows(self, country: str) -> bool:
        """True if a site in ``country`` may run the job."""
        if self.scope == "ANY":
            return True
        if self.scope == "FR":
            return country == "FR"
        if self.scope == "EU":
            return country in EU_COUNTRIES
        return country in self.countries

    def __str__(self) -> str:
        return ",".join(self.countries) if self.scope == "countries" else self.scope


#: Kept for readability in field declarations; coercion lives on the model itself.
ResidencyField = Residency


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres (mean Earth radius 6,371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))
