"""``/healthz`` and ``/metrics`` (Prometheus text; site-level aggregates only, no tenant data, no auth)."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select, text

from hexagrid.server.context import ServerContext
from hexagrid.server.deps import Ctx
from hexagrid.server.models import Assignment, Job, Node

router = APIRouter(tags=["meta"])


def _sync_scheduler_figures(ctx: ServerContext, request: Request) -> None:
    proc = getattr(request.app.state, "scheduler_process", None)
    if proc is not None:
        ctx.metrics.import_shared(proc.shared)


@router.get("/healthz")
def healthz(ctx: Ctx, request: Request) -> dict[str, object]:
    _sync_scheduler_figures(ctx, request)
    with ctx.db.session() as s:
        s.execute(text("SELECT 1"))
    return {
        "ok": True,
        "database": "postgresql" if ctx.db.postgres else "sqlite",
        "scheduler_leader": ctx.metrics.is_leader,
    }


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(ctx: Ctx, request: Request) -> PlainTextResponse:
    _sync_scheduler_figures(ctx, request)
    g: list[tuple[str, str, dict[str, str], float]] = []
    with ctx.db.session() as s:
        for reason, n in s.execute(select(Job.reason, func.count()).where(Job.state == "pending").group_by(Job.reason)):
            g.append(
                ("hexagrid_queue_length", "Pending jobs by the reason they wait.", {"reason": reason or "none"}, n)
            )
        for state, n in s.execute(
            select(Job.state, func.count()).where(Job.state.in_(("scheduled", "running"))).group_by(Job.state)
        ):
            g.append(("hexagrid_jobs", "Jobs scheduled or running.", {"state": state}, n))
        total: dict[str, int] = defaultdict(int)
        power: dict[str, float] = defaultdict(float)
        nodes_by: dict[tuple[str, str], int] = defaultdict(int)
        for site, gpus, p, st in s.execute(select(Node.site_id, Node.gpus, Node.power_w, Node.state)):
            nodes_by[(site, st)] += 1
            if st == "ready":
                total[site] += gpus
                power[site] += p or 0.0
        busy: dict[str, int] = defaultdict(int)
        for site, idx in s.execute(
            select(Node.site_id, Assignment.gpu_indices_json)
            .join(Node, Node.id == Assignment.node_id)
            .where(Assignment.state.in_(("assigned", "delivered", "running", "stopping")))
        ):
            busy[site] += idx.count(",") + 1 if idx.strip("[] ") else 0
    for (site, st), n in sorted(nodes_by.items()):
        g.append(("hexagrid_nodes", "Registered nodes by state.", {"site": site, "state": st}, n))
    for site in sorted(total):
        g.append(("hexagrid_gpus_busy", "GPUs assigned to jobs.", {"site": site}, busy[site]))
        g.append(
            (
                "hexagrid_gpus_free",
                "GPUs on ready nodes not assigned.",
                {"site": site},
                max(0, total[site] - busy[site]),
            )
        )
        g.append(
            ("hexagrid_power_watts", "Power reported by the site's agents (telemetry).", {"site": site}, power[site])
        )
    return PlainTextResponse(ctx.metrics.render(g), media_type="text/plain; version=0.0.4")
