"""Tenants (organisations) and their projects: class, allocations on public sites, fair share, budget."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hexagrid.domain.geography import Residency, ResidencyField
from hexagrid.domain.kinds import TenantClass

__all__ = ["Project", "Tenant"]

_ID = r"^[a-z0-9][a-z0-9_.-]*$"


class Project(BaseModel):
    """A tenant's project: public-site allocations are granted to projects (as GENCI does)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID, max_length=64)
    allocations_gpu_h: dict[str, float] = Field(default_factory=dict, description="site id -> GPU-hours")
    budget_eur: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _nonneg(self) -> Project:
        for site, hours in self.allocations_gpu_h.items():
            if hours < 0:
                raise ValueError(f"allocation on {site} must be >= 0 GPU-hours, got {hours}")
        return self


class Tenant(BaseModel):
    """An organisation that submits work. ``class`` in files; ``tenant_class`` in code."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=_ID, max_length=64)
    name: str = Field(min_length=1)
    tenant_class: TenantClass = Field(alias="class")
    fair_share_weight: float = Field(default=1.0, gt=0, le=1e6)
    budget_eur: float | None = Field(default=None, ge=0)
    max_gpus: int | None = Field(default=None, ge=1, description="cap on GPUs in use at once")
    residency: ResidencyField = Field(
        default_factory=lambda: Residency(scope="ANY"), description="where this tenant's data may go at most"
    )
    flexibility_h: float = Field(
        default=0.0,
        ge=0,
        le=24 * 14,
        description="opt-in: jobs without a deadline may be deferred this long for carbon",
    )
    projects: list[Project] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_projects(self) -> Tenant:
        ids = [p.id for p in self.projects]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"project ids must be unique within a tenant, repeated: {', '.join(dup)}")
        return self

    def project(self, project_id: str) -> Project | None:
        return next((p for p in self.projects if p.id == project_id), None)
