"""Administration: organisations (tenants and providers), their budgets and tokens, and sites."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hexagrid.domain import TenantClass
from hexagrid.errors import NotFound
from hexagrid.server import budgets, services
from hexagrid.server.auth import Principal
from hexagrid.server.deps import Ctx, need
from hexagrid.server.models import Org

router = APIRouter(prefix="/v1", tags=["admin"])
Admin = Annotated[Principal, need("admin")]


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    allocations_gpu_h: dict[str, float] = Field(default_factory=dict)
    budget_eur: float | None = Field(default=None, ge=0, le=1e15)


class OrgIn(BaseModel):
    """A new organisation; budgets are finite and not negative (as ``BudgetIn`` for changes)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["tenant", "provider"] = "tenant"
    tenant_class: TenantClass = Field(default=TenantClass.COMMERCIAL, alias="class")
    residency: str = Field(default="ANY", max_length=200)
    budget_eur: float | None = Field(default=None, ge=0, le=1e15)
    max_gpus: int | None = Field(default=None, ge=1)
    fair_share_weight: float = Field(default=1.0, gt=0, le=1e6)
    flexibility_h: float = Field(default=0.0, ge=0, le=336)
    projects: list[ProjectIn] = Field(default_factory=list, max_length=1000)


class BudgetIn(BaseModel):
    """A new budget; ``null`` lifts it (unlimited). Spend already made is kept."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    budget_eur: float | None = Field(ge=0, le=1e15, description="EUR, or null for no budget")


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[Literal["admin", "submit", "read", "provider"]] = Field(min_length=1)
    name: str = Field(default="", max_length=200)


@router.post("/orgs", status_code=201)
def create_org(body: OrgIn, ctx: Ctx, _p: Admin) -> dict[str, Any]:
    with ctx.db.session() as s:
        org = services.create_org(
            s,
            org_id=body.id,
            name=body.name,
            kind=body.kind,
            tenant_class=body.tenant_class.value,
            residency=body.residency,
            budget_eur=body.budget_eur,
            max_gpus=body.max_gpus,
            fair_share_weight=body.fair_share_weight,
            flexibility_h=body.flexibility_h,
            projects=[p.model_dump() for p in body.projects],
        )
        return services.org_public(s, org)


@router.get("/orgs")
def list_orgs(ctx: Ctx, _p: Admin) -> dict[str, Any]:
    with ctx.db.session() as s:
        return {"orgs": [services.org_public(s, o) for o in s.execute(select(Org).order_by(Org.id)).scalars()]}


@router.patch("/orgs/{org_id}")
def patch_org(org_id: str, body: BudgetIn, ctx: Ctx, _p: Admin) -> dict[str, Any]:
    """Set or lift an organisation's budget; jobs it held start from the next scheduling pass."""
    with ctx.db.session() as s:
        org = budgets.set_budget(s, org_id=org_id, budget_eur=body.budget_eur)
        out = services.org_public(s, org)
    ctx.hub.wake_scheduler()
    return out


@router.patch("/orgs/{org_id}/projects/{project_id}")
def patch_project(org_id: str, project_id: str, body: BudgetIn, ctx: Ctx, _p: Admin) -> dict[str, Any]:
    """Set or lift a project's budget; jobs it held start from the next scheduling pass."""
    with ctx.db.session() as s:
        org = budgets.set_budget(s, org_id=org_id, project=project_id, budget_eur=body.budget_eur)
        out = services.org_public(s, org)
    ctx.hub.wake_scheduler()
    return out


@router.post("/orgs/{org_id}/tokens", status_code=201)
def create_token(org_id: str, body: TokenIn, ctx: Ctx, _p: Admin) -> dict[str, Any]:
    with ctx.db.session() as s:
        row, secret = services.create_org_token(s, org_id=org_id, scopes=list(body.scopes), name=body.name)
        return {"id": row.id, "org": org_id, "scopes": list(body.scopes), "name": body.name, "token": secret}


@router.get("/whoami", tags=["meta"])
def whoami(ctx: Ctx, p: Annotated[Principal, need("read")]) -> dict[str, Any]:
    with ctx.db.session() as s:
        org = s.get(Org, p.org_id)
        if org is None:
            raise NotFound("organisation of this token no longer exists")
        return {"org": p.org_id, "token_id": p.token_id, "scopes": sorted(p.scopes), "org_kind": org.kind}
