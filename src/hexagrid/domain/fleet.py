"""Sites, their node pools and the fleet they form."""

from __future__ import annotations

from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hexagrid.domain.accelerators import CATALOG
from hexagrid.domain.geography import check_country
from hexagrid.domain.kinds import Access, Cooling, SiteKind, SovereigntyTier
from hexagrid.domain.windows import WeeklySchedule

__all__ = ["Fleet", "NodePool", "Site"]

Interconnect = Literal["infiniband", "roce", "ethernet", "nvlink_switch", "slingshot", "pcie"]

_ID = r"^[a-z0-9][a-z0-9_.-]*$"


class _Estimated(BaseModel):
    """Mixin: ``estimates`` maps a field name to the reasoning behind an estimated value; ``sources`` to its source."""

    estimates: dict[str, str] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _estimates_name_fields(self) -> _Estimated:
        known = set(type(self).model_fields)
        for key in (*self.estimates, *self.sources):
            if key.split(".")[0] not in known:
                raise ValueError(f"estimates/sources name unknown field {key!r}; fields are {', '.join(sorted(known))}")
        return self


class NodePool(_Estimated):
    """Identical nodes at one site. A multi-node job stays inside one pool (one interconnect domain)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID, max_length=64)
    accelerator: str
    gpus_per_node: int = Field(ge=1, le=16)
    nodes: int = Field(ge=1, le=1_000_000)
    interconnect: Interconnect = "infiniband"
    cpus_per_node: int = Field(default=96, ge=1, le=4096)
    memory_gb_per_node: float = Field(default=1024, gt=0, le=65536)

    @field_validator("accelerator")
    @classmethod
    def _known_accelerator(cls, v: str) -> str:
        if v not in CATALOG:
            raise ValueError(f"unknown accelerator {v!r}; known: {', '.join(CATALOG)}")
        return v

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes


class Site(_Estimated):
    """A place with GPUs, a power envelope and rules about who may use it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID, max_length=64)
    name: str = Field(min_length=1)
    operator: str = Field(min_length=1)
    kind: SiteKind
    country: str = Field(pattern=r"^[A-Z]{2}$")
    region: str = Field(min_length=1)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    grid_zone: str = Field(min_length=2, description="Electricity Maps zone code, e.g. FR, DE, SE-SE3")
    power_mw: float = Field(gt=0, le=10_000, description="facility power envelope (IT x PUE), MW")
    cooling: Cooling
    pue: float = Field(ge=1.0, le=3.0)
    heat_reuse_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    heat_taker: str | None = None
    access: Access
    tier: SovereigntyTier = SovereigntyTier.STANDARD
    certifications: list[str] = Field(default_factory=list)
    online_from: date | None = None
    online_until: date | None = None
    availability: str | None = Field(default=None, description="weekly windows, e.g. 'Mon-Fri 19:00-07:00'")
    timezone: str = "Europe/Paris"
    price_eur_per_gpu_h: dict[str, float] = Field(default_factory=dict)
    energy_price_eur_per_mwh: float | None = Field(default=None, ge=0, le=10_000)
    pools: list[NodePool] = Field(min_length=1)

    @field_validator("country")
    @classmethod
    def _iso_country(cls, v: str) -> str:
        return check_country(v)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as 'Europe/Paris'") from None
        return v

    @field_validator("price_eur_per_gpu_h")
    @classmethod
    def _prices(cls, v: dict[str, float]) -> dict[str, float]:
        for name, price in v.items():
            if name not in CATALOG:
                raise ValueError(f"price for unknown accelerator {name!r}; known: {', '.join(CATALOG)}")
            if not 0 <= price <= 1000:
                raise ValueError(f"price for {name} must be between 0 and 1000 EUR/GPU-h, got {price}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Site:
        if self.heat_reuse_fraction > 0 and not self.heat_taker:
            raise ValueError("heat_taker is required when heat_reuse_fraction > 0 (who takes the heat?)")
        if self.online_from and self.online_until and self.online_until <= self.online_from:
            raise ValueError(f"online_until ({self.online_until}) must be after online_from ({self.online_from})")
        ids = [p.id for p in self.pools]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"pool ids must be unique within a site, repeated: {', '.join(dup)}")
        if self.availability is not None:
            try:
                WeeklySchedule.parse(self.availability, self.timezone)
            except ValueError as exc:
                raise ValueError(f"availability: {exc}") from None
        if self.kind is SiteKind.ENTERPRISE_IDLE and self.availability is None:
            raise ValueError("an enterprise_idle site needs availability windows, e.g. 'Mon-Fri 19:00-07:00'")
        missing = sorted({p.accelerator for p in self.pools} - set(self.price_eur_per_gpu_h))
        if missing and self.kind is not SiteKind.PUBLIC_SUPERCOMPUTER:
            raise ValueError(f"price_eur_per_gpu_h lacks a price for {', '.join(missing)} used by this site's pools")
        return self

    @property
    def schedule(self) -> WeeklySchedule | None:
        return None if self.availability is None else WeeklySchedule.parse(self.availability, self.timezone)

    @property
    def gpus(self) -> int:
        return sum(p.gpus for p in self.pools)

    def price_for(self, accelerator: str) -> float:
        """EUR per GPU-hour; 0 where the site charges an allocation instead (public supercomputers)."""
        return self.price_eur_per_gpu_h.get(accelerator, 0.0)


class Fleet(BaseModel):
    """All sites. Site ids are unique; ``(site.id, pool.id)`` names a pool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sites: list[Site] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Fleet:
        ids = [s.id for s in self.sites]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"site ids must be unique, repeated: {', '.join(dup)}")
        return self

    def site(self, site_id: str) -> Site:
        for s in self.sites:
            if s.id == site_id:
                return s
        from hexagrid.errors import NotFound

        raise NotFound(f"site {site_id!r} not in fleet; sites: {', '.join(s.id for s in self.sites)}")

    @property
    def gpus(self) -> int:
        return sum(s.gpus for s in self.sites)

    @property
    def power_mw(self) -> float:
        return sum(s.power_mw for s in self.sites)
