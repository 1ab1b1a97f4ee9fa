"""Sites, pools and nodes (read for any token; sites written by admins) and per-tenant usage."""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException
from sqlalchemy import select

from hexagrid.errors import NotFound
from hexagrid.server import services
from hexagrid.server.auth import Principal
from hexagrid.server.deps import Ctx, CurrentPrincipal, need
from hexagrid.server.models import Node

router = APIRouter(prefix="/v1", tags=["fleet"])
Admin = Annotated[Principal, need("admin")]
Reader = Annotated[Principal, need("read")]


def _any_reader(p: Principal) -> None:
    if not (p.has("read") or p.has("provider")):
        raise HTTPException(403, "this token lacks the 'read' or 'provider' scope")


def _site_public(site: Any, nodes: list[Node]) -> dict[str, Any]:
    doc = site.model_dump(mode="json")
    live = Counter((n.pool_id, n.state) for n in nodes if n.site_id == site.id)
    for pool in doc["pools"]:
        pool["nodes_ready"] = live[(pool["id"], "ready")]
        pool["nodes_lost"] = live[(pool["id"], "lost")]
    return doc


@router.post("/sites", status_code=201)
def put_site(
    ctx: Ctx, _p: Admin, doc: Annotated[dict[str, Any], Body(description="a domain Site (see docs/server.md)")]
) -> dict[str, Any]:
    with ctx.db.session() as s:
        site = services.upsert_site(s, doc=doc)
    ctx.hub.wake_scheduler()
    return site.model_dump(mode="json")


@router.get("/sites")
def list_sites(ctx: Ctx, p: CurrentPrincipal) -> dict[str, Any]:
    _any_reader(p)
    with ctx.db.session() as s:
        nodes = list(s.execute(select(Node)).scalars())
        return {"sites": [_site_public(site, nodes) for site in services.load_sites(s).values()]}


@router.get("/sites/{site_id}")
def get_site(site_id: str, ctx: Ctx, p: CurrentPrincipal) -> dict[str, Any]:
    _any_reader(p)
    with ctx.db.session() as s:
        sites = services.load_sites(s)
        if site_id not in sites:
            raise NotFound(f"site {site_id!r} not found; sites: {', '.join(sites) or 'none'}")
        nodes = list(s.execute(select(Node).where(Node.site_id == site_id)).scalars())
        return _site_public(sites[site_id], nodes)


@router.get("/nodes")
def list_nodes(ctx: Ctx, p: CurrentPrincipal, site: str | None = None) -> dict[str, Any]:
    """Nodes; a provider token sees its own nodes only."""
    _any_reader(p)
    now = time.time()
    with ctx.db.session() as s:
        q = select(Node).order_by(Node.site_id, Node.pool_id, Node.id)
        if site:
            q = q.where(Node.site_id == site)
        if not p.has("read"):
            q = q.where(Node.org_id == p.org_id)
        return {"nodes": [services.node_public(n, now) for n in s.execute(q).scalars()]}


@router.get("/usage")
def usage(ctx: Ctx, p: Reader) -> dict[str, Any]:
    """GPU-hours, kWh, gCO2, EUR and heat reused for the caller's organisation, per project."""
    with ctx.db.session() as s:
        return services.usage(s, org_id=p.org_id)
