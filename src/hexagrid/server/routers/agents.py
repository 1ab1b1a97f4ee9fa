"""``/v1/agents``: the provider agent protocol (docs/agent-protocol.md)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from hexagrid.server import agents
from hexagrid.server.auth import Principal
from hexagrid.server.context import ServerContext
from hexagrid.server.deps import Ctx, NodePrincipal, authenticate, bearer_token, need
from hexagrid.server.hotpath import heartbeat_answer, idle_beat
from hexagrid.server.models import Node

router = APIRouter(prefix="/v1/agents", tags=["agents"])
Provider = Annotated[Principal, need("provider")]


def _node(s: Any, node_id: str) -> Node:
    node = s.get(Node, node_id)
    if node is None:
        raise HTTPException(404, f"node {node_id!r} not found for this token")
    return node


@router.post("/register", status_code=201)
def register(body: agents.RegisterIn, ctx: Ctx, p: Provider) -> dict[str, Any]:
    st = ctx.settings
    with ctx.db.session() as s:
        node, token = agents.register_node(s, principal=p, body=body, now=time.time())
        node_id = node.id
    ctx.tokens.forget_node(node_id)
    ctx.hub.wake_scheduler()
    return {
        "node_id": node_id,
        "node_token": token,
        "heartbeat_interval_s": st.heartbeat_interval_s,
        "lost_after_s": st.lost_after,
        "long_poll_s": st.long_poll_s,
    }


@router.post("/{node_id}/heartbeat", openapi_extra={"security": [{"HTTPBearer": []}]}, response_model=None)
async def heartbeat(node_id: str, body: agents.HeartbeatIn, request: Request) -> JSONResponse:
    """The hot path (10,000 agents every 30 s; its common case is answered by ``hotpath.HotPaths``
    before routing). An idle node's heartbeat is one UPDATE, checking its token too, group-committed
    with the others arriving meanwhile; anything else (work to reconcile, another state, a token
    that does not match) authenticates and reconciles in full."""
    ctx: ServerContext = request.app.state.ctx
    now = time.time()
    if await idle_beat(ctx, node_id, bearer_token(request), body, now):
        return JSONResponse(heartbeat_answer([], now))
    await authenticate(request, "node")

    def work() -> tuple[list[dict[str, Any]], bool]:
        with ctx.db.session() as s:
            return agents.heartbeat(
                s,
                node=_node(s, node_id),
                body=body,
                now=now,
                lost_after_s=ctx.settings.lost_after,
                grace_s=ctx.settings.stop_grace_s,
            )

    stop, changed = await run_in_threadpool(work)
    if changed:
        ctx.hub.wake_scheduler()
    return JSONResponse(heartbeat_answer(stop, now))


@router.get("/{node_id}/assignments")
async def assignments(
    node_id: str, ctx: Ctx, _p: NodePrincipal, wait_s: Annotated[float, Query(ge=0, le=3600)] = 0.0
) -> dict[str, Any]:
    """Long poll: returns at once when there is work or a stop, else after ``wait_s`` (capped)."""
    deadline = time.monotonic() + min(wait_s, ctx.settings.long_poll_s)

    def fetch() -> dict[str, list[dict[str, Any]]]:
        with ctx.db.session() as s:
            return agents.next_assignments(
                s, node=_node(s, node_id), now=time.time(), grace_s=ctx.settings.stop_grace_s
            )

    while True:
        seen = ctx.hub.node_version(node_id)
        out = await run_in_threadpool(fetch)
        if out["assignments"] or out["stop"] or time.monotonic() >= deadline:
            return out
        # wait for a local notification, re-checking the database every second (other replicas)
        recheck = time.monotonic() + 1.0
        while time.monotonic() < min(deadline, recheck) and ctx.hub.node_version(node_id) == seen:
            await asyncio.sleep(0.05)


@router.post("/{node_id}/jobs/{job_id}/state")
def report_state(node_id: str, job_id: str, body: agents.StateIn, ctx: Ctx, _p: NodePrincipal) -> dict[str, Any]:
    with ctx.db.session() as s:
        notify = agents.report_state(s, node=_node(s, node_id), job_id=job_id, body=body, now=time.time())
    for n in notify:
        ctx.hub.notify_node(n)
    if body.state != "running":
        ctx.hub.wake_scheduler()
    return {"ok": True}


@router.post("/{node_id}/jobs/{job_id}/logs")
def post_log(node_id: str, job_id: str, body: agents.LogIn, ctx: Ctx, _p: NodePrincipal) -> dict[str, Any]:
    with ctx.db.session() as s:
        agents.post_log(s, node=_node(s, node_id), job_id=job_id, body=body, now=time.time())
    return {"ok": True}
