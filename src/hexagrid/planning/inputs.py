"""What a capacity plan is asked for: candidate sites, an accelerator roadmap, demand, prices and limits.

A planning scenario is a YAML document validated by these models. Money is EUR, power MW, energy MWh,
demand *reference GPU-hours* (GPU-hours on the reference accelerator, A100 = 1.0; see
:mod:`hexagrid.domain.accelerators`), so that faster accelerators serve more of it per hour.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hexagrid.domain.accelerators import CATALOG, Accelerator
from hexagrid.domain.kinds import Cooling, JobKind, TenantClass

__all__ = [
    "AcceleratorSpec",
    "CommittedBuild",
    "CoolingOption",
    "DemandYear",
    "GridStep",
    "Ownership",
    "PlanningScenario",
    "PlanningSettings",
    "RoadmapEntry",
    "RoadmapYear",
    "SiteCandidate",
]

_ID = r"^[a-z0-9][a-z0-9_.-]*$"
RESIDENCIES = ("FR", "EU", "ANY")


class Ownership(StrEnum):
    """Public sites serve academic work only (FACTS: non-commercial research); private sites serve both."""

    PUBLIC = "public"
    PRIVATE = "private"


class _Annotated(BaseModel):
    """``estimates``: field -> reasoning for an estimated value; ``sources``: field -> where a figure comes from."""

    estimates: dict[str, str] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _annotations_name_fields(self) -> _Annotated:
        known = set(type(self).model_fields)
        for key in (*self.estimates, *self.sources):
            if key.split(".")[0].split("[")[0] not in known:
                raise ValueError(f"estimates/sources name unknown field {key!r}; fields are {', '.join(sorted(known))}")
        return self


class CoolingOption(_Annotated):
    """A way to cool a site: its PUE, its extra capex per facility MW and the share of IT heat it can hand on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID, max_length=64)
    cooling: Cooling
    pue: float = Field(ge=1.0, le=3.0)
    capex_eur_per_mw: float = Field(default=0.0, ge=0, le=1e9)
    heat_recovery_fraction: float = Field(default=0.0, ge=0.0, le=1.0)


class GridStep(BaseModel):
    """From ``from_year`` on, the grid can deliver ``mw`` (facility MW) to the site."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_year: int = Field(ge=2000, le=2100)
    mw: float = Field(ge=0, le=10_000)


class CommittedBuild(BaseModel):
    """A build already decided: by ``year`` the site has at least ``mw`` and these accelerators (cumulative).

    Committed builds were decided before the plan starts, so the lead time does not apply to them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: int = Field(ge=2000, le=2100)
    mw: float = Field(ge=0, le=10_000)
    cooling: str | None = Field(default=None, description="cooling option id the build uses")
    accelerators: dict[str, int] = Field(default_factory=dict, description="type -> GPUs installed by then")

    @field_validator("accelerators")
    @classmethod
    def _counts(cls, v: dict[str, int]) -> dict[str, int]:
        for name, n in v.items():
            if n < 0:
                raise ValueError(f"accelerator count for {name} must be >= 0, got {n}")
        return v


class SiteCandidate(_Annotated):
    """A place where capacity could be built (or is committed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID, max_length=64)
    name: str = Field(min_length=1)
    operator: str = Field(default="to be decided", min_length=1)
    region: str = Field(min_length=1)
    country: str = Field(default="FR", pattern=r"^[A-Z]{2}$")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    grid_zone: str = Field(default="FR", min_length=2)
    ownership: Ownership = Ownership.PRIVATE
    grid: list[GridStep] = Field(min_length=1, description="grid MW available from each year (steps)")
    cooling_options: list[str] = Field(default_factory=list, description="cooling option ids allowed; empty = all")
    capex_eur_per_mw: float = Field(
        ge=0, le=1e9, description="building capex per facility MW (shell, power, cooling base)"
    )
    capex_eur_per_accelerator: float = Field(
        default=0.0, ge=0, le=1e7, description="integration per GPU (racks, network)"
    )
    fixed_capex_eur: float = Field(default=0.0, ge=0, le=1e12, description="one-off cost of opening the site")
    heat_demand_mwh_per_year: float = Field(default=0.0, ge=0, le=1e8, description="heat a nearby network can take")
    latency_ms: float = Field(default=5.0, ge=0, le=1000, description="round-trip latency to the main users (Paris)")
    lead_time_years: int | None = Field(default=None, ge=0, le=10, description="overrides the scenario's lead time")
    committed: list[CommittedBuild] = Field(default_factory=list)

    @model_validator(mode="after")
    def _grid_sorted(self) -> SiteCandidate:
        years = [g.from_year for g in self.grid]
        if years != sorted(set(years)):
            raise ValueError(f"grid steps must have strictly increasing from_year, got {years}")
        return self

    def grid_mw(self, year: int) -> float:
        """Grid MW available to the site in ``year`` (0 before its connection year)."""
        mw = 0.0
        for step in self.grid:
            if step.from_year <= year:
                mw = step.mw
        return mw

    @property
    def max_grid_mw(self) -> float:
        return max(g.mw for g in self.grid)


class RoadmapYear(BaseModel):
    """One accelerator type in one year: its price and how many France can get (supply cap on new installs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price_eur: float = Field(ge=0, le=1e7, description="purchase price per accelerator")
    supply: int = Field(ge=0, le=100_000_000, description="most GPUs of this type installable that year")


class AcceleratorSpec(BaseModel):
    """Figures of an accelerator not in the catalog (a hypothetical next generation); all are estimates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vendor: str = "unknown"
    memory_gb: float = Field(gt=0, le=4096)
    tdp_w: float = Field(gt=0, le=5000)
    idle_w: float = Field(ge=0, le=5000)
    training_throughput: float = Field(gt=0, le=100)
    inference_throughput: float = Field(gt=0, le=100)


class RoadmapEntry(_Annotated):
    """An accelerator type on the roadmap: per-year price and supply; rental price for the planned fleets.

    A type outside the catalog needs ``spec`` (its figures) and ``fleet_as``: the catalog type the planned
    fleet scenarios use in its place, with the GPU count scaled by training throughput so capacity matches.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=32)
    rental_eur_per_gpu_h: float = Field(default=2.0, ge=0, le=1000)
    spec: AcceleratorSpec | None = None
    fleet_as: str | None = None
    years: dict[int, RoadmapYear] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> RoadmapEntry:
        if self.name not in CATALOG and self.spec is None:
            raise ValueError(
                f"accelerator {self.name!r} is not in the catalog ({', '.join(CATALOG)}); give its spec and fleet_as"
            )
        if self.spec is not None and self.name in CATALOG:
            raise ValueError(f"accelerator {self.name!r} is in the catalog; drop spec")
        if self.spec is not None and self.fleet_as not in CATALOG:
            raise ValueError(f"fleet_as must name a catalog accelerator ({', '.join(CATALOG)}), got {self.fleet_as!r}")
        return self

    def accelerator(self) -> Accelerator:
        """The catalog entry, or one built from ``spec``."""
        if self.spec is None:
            return CATALOG[self.name]
        return Accelerator(
            name=self.name, estimates={"*": "hypothetical accelerator, planning estimate"}, **self.spec.model_dump()
        )

    @property
    def fleet_type(self) -> str:
        return self.name if self.spec is None else str(self.fleet_as)


class DemandYear(_Annotated):
    """Demand of one class in one year, in reference GPU-hours, split by residency and by kind."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    year: int = Field(ge=2000, le=2100)
    tenant_class: TenantClass = Field(alias="class")
    gpu_hours: float = Field(ge=0, le=1e13, description="reference (A100-equivalent) GPU-hours")
    residency: dict[str, float] = Field(description="share of FR-only, EU and ANY demand; sums to 1")
    kind: dict[JobKind, float] = Field(description="share by job kind; sums to 1")

    @field_validator("residency")
    @classmethod
    def _residency(cls, v: dict[str, float]) -> dict[str, float]:
        for key, share in v.items():
            if key not in RESIDENCIES:
                raise ValueError(f"residency keys must be FR, EU or ANY, got {key!r}")
            if not 0 <= share <= 1:
                raise ValueError(f"residency share {key} must be between 0 and 1, got {share}")
        if abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"residency shares must sum to 1, got {sum(v.values()):.6g}")
        return v

    @field_validator("kind")
    @classmethod
    def _kinds(cls, v: dict[JobKind, float]) -> dict[JobKind, float]:
        for key, share in v.items():
            if not 0 <= share <= 1:
                raise ValueError(f"kind share {key} must be between 0 and 1, got {share}")
        if abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"kind shares must sum to 1, got {sum(v.values()):.6g}")
        return v


class PlanningSettings(BaseModel):
    """Solver settings: a MIP gap and a time limit keep the national instance well under a minute."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mip_gap: float = Field(default=0.005, ge=0, le=0.5)
    time_limit_s: float = Field(default=50.0, gt=0, le=3600)
    integer_nodes: bool = Field(default=True, description="whole 8-GPU nodes (True) or a continuous relaxation")
    threads: int = Field(default=1, ge=1, le=64, description="1 keeps the solve deterministic")


class PlanningScenario(_Annotated):
    """The whole planning question."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_ID, max_length=64)
    description: str = ""
    start_year: int = Field(ge=2000, le=2100, description="first year a decision can be taken")
    end_year: int = Field(ge=2000, le=2100, description="last planned year")
    lead_time_years: int = Field(default=2, ge=0, le=10, description="decision to operation for a new build")
    gpus_per_node: int = Field(default=8, ge=1, le=16)
    energy_price_eur_per_mwh: float = Field(ge=0, le=10_000)
    carbon_price_eur_per_t: float = Field(default=0.0, ge=0, le=10_000)
    heat_value_eur_per_mwh: float = Field(default=0.0, ge=0, le=10_000)
    academic_on_private_eur_per_gpu_h: float | None = Field(
        default=1.0,
        ge=0,
        le=1000,
        description="extra cost per GPU-hour when academic work runs on a private site; null forbids it",
    )
    inference_max_latency_ms: float | None = Field(default=None, gt=0, le=1000)
    power_sizing_utilisation: float = Field(
        default=0.85, gt=0, le=1.0, description="GPU utilisation a site's power envelope is sized for"
    )
    target_utilisation: dict[TenantClass, float] = Field(
        default_factory=lambda: {TenantClass.ACADEMIC: 0.85, TenantClass.COMMERCIAL: 0.75}
    )
    carbon_g_per_kwh: dict[str, float] = Field(
        default_factory=dict, description="zone -> gCO2/kWh; missing zones use the packaged data"
    )
    budget_eur_per_year: dict[int, float] = Field(
        default_factory=dict, description="year -> capex limit; missing = none"
    )
    cooling_options: list[CoolingOption] = Field(min_length=1)
    accelerators: list[RoadmapEntry] = Field(min_length=1)
    demand: list[DemandYear] = Field(default_factory=list)
    sites: list[SiteCandidate] = Field(min_length=1)
    settings: PlanningSettings = Field(default_factory=PlanningSettings)
    notes: list[str] = Field(default_factory=list)

    @field_validator("target_utilisation")
    @classmethod
    def _targets(cls, v: dict[TenantClass, float]) -> dict[TenantClass, float]:
        for k, u in v.items():
            if not 0 < u <= 1:
                raise ValueError(f"target utilisation for {k} must be in (0, 1], got {u}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PlanningScenario:
        if self.end_year < self.start_year:
            raise ValueError(f"end_year ({self.end_year}) must be >= start_year ({self.start_year})")
        if self.end_year - self.start_year > 30:
            raise ValueError(f"horizon {self.start_year}-{self.end_year} is longer than 30 years")
        for cls_ in TenantClass:
            if cls_ not in self.target_utilisation:
                raise ValueError(f"target_utilisation lacks class {cls_.value!r}")
        _unique("cooling_options", [c.id for c in self.cooling_options])
        _unique("accelerators", [a.name for a in self.accelerators])
        _unique("sites", [s.id for s in self.sites])
        _unique("demand", [f"{d.year}/{d.tenant_class.value}" for d in self.demand])
        cooling_ids = {c.id for c in self.cooling_options}
        roadmap = {a.name for a in self.accelerators}
        for i, s in enumerate(self.sites):
            bad = [c for c in s.cooling_options if c not in cooling_ids]
            if bad:
                raise ValueError(
                    f"sites[{i}] ({s.id}): unknown cooling option {bad[0]!r}; known: {', '.join(sorted(cooling_ids))}"
                )
            for j, c in enumerate(s.committed):
                if c.cooling is not None and c.cooling not in (s.cooling_options or cooling_ids):
                    raise ValueError(f"sites[{i}].committed[{j}]: cooling {c.cooling!r} is not allowed at {s.id}")
                for name in c.accelerators:
                    if name not in roadmap:
                        raise ValueError(f"sites[{i}].committed[{j}]: accelerator {name} is not on the roadmap")
                if not self.start_year <= c.year <= self.end_year:
                    raise ValueError(
                        f"sites[{i}].committed[{j}].year must be within {self.start_year}-{self.end_year}, got {c.year}"
                    )
        for d in self.demand:
            if not self.start_year <= d.year <= self.end_year:
                raise ValueError(f"demand year must be within {self.start_year}-{self.end_year}, got {d.year}")
        for y in self.budget_eur_per_year:
            if not self.start_year <= y <= self.end_year:
                raise ValueError(f"budget year must be within {self.start_year}-{self.end_year}, got {y}")
        return self

    @property
    def years(self) -> list[int]:
        return list(range(self.start_year, self.end_year + 1))

    def cooling(self, option_id: str) -> CoolingOption:
        return next(c for c in self.cooling_options if c.id == option_id)

    def site_cooling(self, site: SiteCandidate) -> list[CoolingOption]:
        return [c for c in self.cooling_options if not site.cooling_options or c.id in site.cooling_options]

    def lead_time(self, site: SiteCandidate) -> int:
        return self.lead_time_years if site.lead_time_years is None else site.lead_time_years


def _unique(what: str, ids: list[str]) -> None:
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"{what} must be unique, repeated: {', '.join(dup)}")
