"""A scenario: a fleet, its tenants and the defaults that runs over it share."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hexagrid.domain.fleet import Fleet, Site
from hexagrid.domain.geography import Residency
from hexagrid.domain.kinds import Objective
from hexagrid.domain.tenancy import Tenant

__all__ = ["Scenario", "ScenarioDefaults"]


class ScenarioDefaults(BaseModel):
    """What a job or a run gets when it says nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_date: date = Field(default=date(2026, 1, 1), description="calendar date of simulated time 0 (UTC)")
    carbon_year: int = Field(default=2022, ge=2000, le=2100, description="year of the carbon data replayed")
    residency: Residency = Field(default_factory=lambda: Residency(scope="ANY"))
    objective: Objective = Objective.BALANCED


class Scenario(BaseModel):
    """A named fleet with tenants. Tenant ids are unique; allocations name public sites of the fleet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    description: str = ""
    defaults: ScenarioDefaults = Field(default_factory=ScenarioDefaults)
    sites: list[Site] = Field(min_length=1)
    tenants: list[Tenant] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="sources and reasoning for the whole file")

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        Fleet(sites=self.sites)  # site-id uniqueness
        ids = [t.id for t in self.tenants]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"tenant ids must be unique, repeated: {', '.join(dup)}")
        site_ids = {s.id for s in self.sites}
        for t in self.tenants:
            for p in t.projects:
                unknown = sorted(set(p.allocations_gpu_h) - site_ids)
                if unknown:
                    raise ValueError(
                        f"tenant {t.id} project {p.id} has allocations on unknown sites {', '.join(unknown)}"
                    )
        return self

    @property
    def fleet(self) -> Fleet:
        return Fleet.model_construct(sites=self.sites)

    def tenant(self, tenant_id: str) -> Tenant | None:
        return next((t for t in self.tenants if t.id == tenant_id), None)
