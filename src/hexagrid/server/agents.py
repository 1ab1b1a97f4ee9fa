"""The agent protocol's server side (see docs/agent-protocol.md): register, heartbeat, assignments,
state reports and log chunks, plus the requeue rules shared with the scheduling loop."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Table, Text, bindparam, exists, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hexagrid.domain import CATALOG, NodePool, WeeklySchedule
from hexagrid.domain import Site as DomainSite
from hexagrid.errors import ConflictError, FieldError, NotFound, ValidationFailed
from hexagrid.server.accounting import record_usage
from hexagrid.server.auth import Principal, create_token
from hexagrid.server.models import Assignment, Job, LogChunk, Node, Site, Token
from hexagrid.server.services import ACTIVE_ASSIGNMENT_STATES, TERMINAL_STATES, add_event, stop_assignments
from hexagrid.specs import JobRequest

__all__ = [
    "GpuTelemetry",
    "HeartbeatIn",
    "LogIn",
    "RegisterIn",
    "StateIn",
    "heartbeat",
    "idle_heartbeat_values",
    "idle_heartbeats",
    "next_assignments",
    "post_log",
    "register_node",
    "report_state",
    "requeue",
]

MAX_LOG_CHUNK_BYTES = 64 * 1024


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    node_name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    hostname: str = Field(default="", max_length=255)
    site_id: str = Field(min_length=1, max_length=64)
    pool_id: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    accelerator: str
    gpus: int = Field(ge=1, le=16)
    gpu_memory_gb: float | None = Field(default=None, ge=0, le=4096)
    cpus: int = Field(default=0, ge=0, le=100_000)
    memory_gb: float = Field(default=0, ge=0, le=1e7)
    availability: str | None = Field(default=None, max_length=500)
    timezone: str = Field(default="Europe/Paris", max_length=64)
    agent_version: str = Field(default="", max_length=64)
    detected_by: Literal["nvml", "declared"] = "declared"
    node_id: str | None = Field(default=None, max_length=32)


class GpuTelemetry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    index: int = Field(ge=0, le=64)
    power_w: float = Field(ge=0, le=10_000)
    utilisation_pct: float = Field(ge=0, le=100)
    memory_used_gb: float | None = Field(default=None, ge=0)


class Telemetry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    power_w: float = Field(default=0, ge=0, le=1e6)
    power_source: Literal["nvml", "estimate"] = "estimate"
    gpus: list[GpuTelemetry] = Field(default_factory=list, max_length=64)


class RunningIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    job_id: str = Field(max_length=32)
    attempt: int = Field(ge=0)
    pid: int | None = None


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    available: bool = True
    telemetry: Telemetry = Field(default_factory=Telemetry)
    running: list[RunningIn] = Field(default_factory=list, max_length=1024)


class StateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempt: int = Field(ge=0)
    state: Literal["running", "succeeded", "failed", "preempted", "cancelled"]
    exit_code: int | None = None
    message: str | None = Field(default=None, max_length=4000)


class LogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attempt: int = Field(ge=0)
    stream: Literal["stdout", "stderr"]
    offset: int = Field(ge=0)
    data: str = Field(max_length=MAX_LOG_CHUNK_BYTES)


def _fail(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed("request", [FieldError(field, msg)])


def register_node(s: Session, *, principal: Principal, body: RegisterIn, now: float) -> tuple[Node, str]:
    """Create or refresh a node (idempotent by name at a site, or by node_id); returns it and a new node token."""
    if body.accelerator not in CATALOG:
        raise _fail("accelerator", f"unknown accelerator {body.accelerator!r}; known: {', '.join(CATALOG)}")
    if body.availability:
        try:
            WeeklySchedule.parse(body.availability, body.timezone)
        except ValueError as exc:
            raise _fail("availability", str(exc)) from None
    site_row = s.get(Site, body.site_id, with_for_update=True)
    if site_row is None:
        known = [r for (r,) in s.execute(select(Site.id).order_by(Site.id))]
        raise NotFound(
            f"site_id: unknown site {body.site_id!r}; known: {', '.join(known) or 'none (create one with POST /v1/sites)'}"
        )
    site = DomainSite.model_validate_json(site_row.doc)
    pool_id = body.pool_id
    if pool_id is None:
        match = next(
            (p for p in site.pools if p.accelerator == body.accelerator and p.gpus_per_node == body.gpus), None
        )
        if match is None:
            pool_id = f"{body.accelerator.lower()}-{body.gpus}g"
            pools = [*site.pools, NodePool(id=pool_id, accelerator=body.accelerator, gpus_per_node=body.gpus, nodes=1)]
            prices = dict(site.price_eur_per_gpu_h)
            if site.kind.value != "public_supercomputer" and body.accelerator not in prices:
                prices[body.accelerator] = 0.0  # no price declared for this hardware: free until an admin sets one
            site = site.model_copy(update={"pools": pools, "price_eur_per_gpu_h": prices})
            site_row.doc = site.model_dump_json()
        else:
            pool_id = match.id
    else:
        pool = next((p for p in site.pools if p.id == pool_id), None)
        if pool is None:
            raise _fail(
                "pool_id", f"unknown pool {pool_id!r} at site {site.id}; pools: {', '.join(p.id for p in site.pools)}"
            )
        if pool.accelerator != body.accelerator or pool.gpus_per_node != body.gpus:
            raise _fail(
                "pool_id",
                f"pool {pool_id} has {pool.gpus_per_node} x {pool.accelerator} per node, "
                f"the node declares {body.gpus} x {body.accelerator}",
            )
    node: Node | None = None
    if body.node_id:
        node = s.get(Node, body.node_id)
        if node is not None and node.org_id != principal.org_id:
            node = None
    if node is None:
        node = s.execute(
            select(Node).where(Node.site_id == body.site_id, Node.name == body.node_name)
        ).scalar_one_or_none()
        if node is not None and node.org_id != principal.org_id:
            raise ConflictError(f"node_name {body.node_name!r} at site {body.site_id} belongs to another provider")
    fields = {
        "name": body.node_name,
        "hostname": body.hostname,
        "site_id": body.site_id,
        "pool_id": pool_id,
        "accelerator": body.accelerator,
        "gpus": body.gpus,
        "gpu_memory_gb": body.gpu_memory_gb,
        "cpus": body.cpus,
        "memory_gb": body.memory_gb,
        "availability": body.availability or None,
        "timezone": body.timezone,
        "agent_version": body.agent_version,
        "detected_by": body.detected_by,
        "state": "ready",
        "available": True,
        "last_heartbeat_s": now,
    }
    if node is None:
        node = Node(id="n-" + secrets.token_hex(6), org_id=principal.org_id, registered_s=now, **fields)
        s.add(node)
    else:
        for k, v in fields.items():
            setattr(node, k, v)
        for t in s.execute(select(Token).where(Token.node_id == node.id)).scalars():
            s.delete(t)
    s.flush()
    _row, token = create_token(s, org_id=principal.org_id, scopes=["node"], name=f"node {node.name}", node_id=node.id)
    return node, token


def _stop(a: Assignment, reason: str, grace_s: float) -> dict[str, Any]:
    return {"job_id": a.job_id, "attempt": a.attempt, "reason": reason or "unknown", "grace_s": grace_s}


def idle_heartbeat_values(body: HeartbeatIn, now: float) -> dict[str, Any] | None:
    """The columns an idle heartbeat writes (a node that is available and reports no work), or None
    when the heartbeat needs the full reconciliation (``heartbeat``)."""
    if body.running or not body.available:
        return None
    gpus = body.telemetry.gpus
    return {
        "t": now,
        "power_w": body.telemetry.power_w,
        "power_source": body.telemetry.power_source,
        "telemetry_json": json.dumps([g.model_dump() for g in gpus]) if gpus else None,
    }


_NODES = cast(Table, Node.__table__)
_TOKENS = cast(Table, Token.__table__)
_ASSIGNMENTS = cast(Table, Assignment.__table__)
#: built once: the statement of an idle heartbeat, its values bound per node
_IDLE_BEAT = (
    update(_NODES)
    .where(
        _NODES.c.id == bindparam("node_id"),
        _NODES.c.state == "ready",
        _NODES.c.available.is_(True),
        exists().where(
            _TOKENS.c.hash == bindparam("token_hash"),
            _TOKENS.c.node_id == _NODES.c.id,
            _TOKENS.c.scopes == "node",
            _TOKENS.c.revoked.is_(False),
        ),
        ~exists().where(_ASSIGNMENTS.c.node_id == _NODES.c.id, _ASSIGNMENTS.c.state.in_(ACTIVE_ASSIGNMENT_STATES)),
    )
    .values(
        last_heartbeat_s=bindparam("t"),
        power_w=bindparam("power_w"),
        power_source=bindparam("power_source"),
        telemetry_json=func.coalesce(bindparam("telemetry_json", type_=Text), _NODES.c.telemetry_json),
    )
)


def idle_heartbeats(conn: Connection, beats: Sequence[tuple[str, str, dict[str, Any]]]) -> list[bool]:
    """The common heartbeat, for the group committer: ``(node_id, token_hash, values)`` of a node that
    was ready and available, stays so and holds no active assignment, in one UPDATE each, which also
    checks the node's token (so a cold token cache costs no extra read). False where that does not
    hold (another state, work to reconcile, an unknown or revoked token): the caller then
    authenticates and runs the full ``heartbeat``."""
    return [
        conn.execute(_IDLE_BEAT, {"node_id": node_id, "token_hash": token_hash, **values}).rowcount == 1
        for node_id, token_hash, values in beats
    ]


def heartbeat(
    s: Session, *, node: Node, body: HeartbeatIn, now: float, lost_after_s: float, grace_s: float
) -> tuple[list[dict[str, Any]], bool]:
    """Record liveness and telemetry; return the stop list and whether the scheduler should look again."""
    changed = node.state != "ready" or node.available != body.available
    node.last_heartbeat_s, node.state, node.available = now, "ready", body.available
    node.power_w, node.power_source = body.telemetry.power_w, body.telemetry.power_source
    if body.telemetry.gpus:
        node.telemetry_json = json.dumps([g.model_dump() for g in body.telemetry.gpus])
    reported = {(r.job_id, r.attempt) for r in body.running}
    active = (
        s.execute(
            select(Assignment).where(Assignment.node_id == node.id, Assignment.state.in_(ACTIVE_ASSIGNMENT_STATES))
        )
        .scalars()
        .all()
    )
    stop: list[dict[str, Any]] = []
    known = set()
    for a in active:
        key = (a.job_id, a.attempt)
        known.add(key)
        if a.state == "stopping":
            if key in reported:
                stop.append(_stop(a, a.stop_reason or "unknown", grace_s))
            else:
                a.state, a.updated_s = "done", now
                changed = True
        elif a.state in ("delivered", "running") and key not in reported:
            since = a.delivered_s if a.state == "delivered" and a.delivered_s else a.updated_s
            if now - since > lost_after_s:
                job = s.get(Job, a.job_id, with_for_update=True)
                if job is not None and job.attempt == a.attempt and job.state not in TERMINAL_STATES:
                    requeue(
                        s,
                        job=job,
                        now=now,
                        reason="lost",
                        message=f"the agent on {node.name} does not report it running",
                    )
                a.state, a.stop_reason, a.updated_s = "done", "lost", now
                changed = True
        elif a.state == "delivered" and key in reported:
            a.state, a.updated_s = "running", now
    unknown = reported - known
    if unknown:
        past = (
            s.execute(
                select(Assignment).where(
                    Assignment.node_id == node.id, tuple_(Assignment.job_id, Assignment.attempt).in_(list(unknown))
                )
            )
            .scalars()
            .all()
        )
        reasons = {(a.job_id, a.attempt): a.stop_reason or "unknown" for a in past}
        for job_id, attempt in sorted(unknown):
            r = reasons.get((job_id, attempt), "unknown")
            stop.append(
                {
                    "job_id": job_id,
                    "attempt": attempt,
                    "reason": r if r in ("cancelled", "preempted", "lost") else "unknown",
                    "grace_s": grace_s,
                }
            )
    return stop, changed


def assignment_public(a: Assignment, job: Job, grace_s: float, extra_env: dict[str, str]) -> dict[str, Any]:
    req = JobRequest.model_validate_json(job.spec_json)
    return {
        "job_id": a.job_id,
        "attempt": a.attempt,
        "name": job.name or job.id,
        "gpu_indices": json.loads(a.gpu_indices_json),
        "env": {**req.envs, **extra_env},
        "setup": req.setup,
        "run": req.run,
        "checkpoint_signal": req.checkpoint_signal,
        "grace_s": grace_s,
        "kind": job.kind,
    }


def next_assignments(s: Session, *, node: Node, now: float, grace_s: float) -> dict[str, list[dict[str, Any]]]:
    """New (or not yet acknowledged) assignments of this node and the stops it must carry out."""
    rows = (
        s.execute(
            select(Assignment)
            .where(Assignment.node_id == node.id, Assignment.state.in_(("assigned", "delivered", "stopping")))
            .order_by(Assignment.id)
        )
        .scalars()
        .all()
    )
    out: dict[str, list[dict[str, Any]]] = {"assignments": [], "stop": []}
    for a in rows:
        if a.state == "stopping":
            out["stop"].append(_stop(a, a.stop_reason or "unknown", grace_s))
            continue
        job = s.get(Job, a.job_id)
        if job is None:
            continue
        peers = s.execute(
            select(Assignment.rank, Node.hostname, Node.name)
            .join(Node, Node.id == Assignment.node_id)
            .where(Assignment.job_id == a.job_id, Assignment.attempt == a.attempt)
            .order_by(Assignment.rank)
        ).all()
        env = {
            "HEXAGRID_NUM_NODES": str(len(peers)),
            "HEXAGRID_NODE_RANK": str(a.rank),
            "HEXAGRID_MASTER_HOST": (peers[0][1] or peers[0][2]) if peers else "",
        }
        out["assignments"].append(assignment_public(a, job, grace_s, env))
        if a.state == "assigned":
            a.state, a.delivered_s, a.updated_s = "delivered", now, now
    return out


def requeue(
    s: Session, *, job: Job, now: float, reason: str, message: str, stop_reason: str = "preempted"
) -> list[str]:
    """Back to pending (the next start is attempt + 1): usage so far recorded, other nodes told to stop."""
    if job.state == "running":
        record_usage(s, job=job, end_s=now)
    nodes = stop_assignments(s, job=job, reason=stop_reason, now=now)
    add_event(s, job, "preempted", message, reason=reason, at_s=now)
    job.state, job.site_id, job.pool_id, job.started_s = "pending", None, None, None
    job.reason, job.message, job.deferred_until_s = reason, message, None
    add_event(s, job, "pending", f"requeued after attempt {job.attempt}", reason=reason, at_s=now)
    return nodes


def _assignment(s: Session, node: Node, job_id: str, attempt: int) -> tuple[Job, Assignment]:
    job = s.get(Job, job_id, with_for_update=True)
    a = None
    if job is not None:
        a = s.execute(
            select(Assignment).where(
                Assignment.job_id == job_id, Assignment.attempt == attempt, Assignment.node_id == node.id
            )
        ).scalar_one_or_none()
    if job is not None and a is None:
        ever = s.execute(
            select(Assignment.id).where(Assignment.job_id == job_id, Assignment.node_id == node.id).limit(1)
        ).first()
        if ever is not None:
            raise ConflictError(
                f"attempt {attempt} of job {job_id} is not assigned to this node (current attempt {job.attempt})"
            )
    if job is None or a is None:
        raise NotFound(f"job {job_id!r} attempt {attempt} was never assigned to node {node.id}")
    return job, a


def report_state(s: Session, *, node: Node, job_id: str, body: StateIn, now: float) -> list[str]:
    """Apply an agent's report; returns node ids to notify. A stale attempt is a conflict (409)."""
    job, a = _assignment(s, node, job_id, body.attempt)
    if job.attempt != body.attempt:
        raise ConflictError(f"attempt {body.attempt} of job {job_id} is stale (current attempt {job.attempt})")
    if a.state == "done":
        if body.state == "running":
            raise ConflictError(
                f"attempt {body.attempt} of job {job_id} was stopped ({a.stop_reason or 'ended'}); stop it"
            )
        return []  # the end of an attempt we already closed (a stop we asked for, confirmed)
    notify: list[str] = []
    if body.state == "running":
        if a.state in ("assigned", "delivered"):
            a.state, a.updated_s = "running", now
        if job.state == "scheduled":
            job.state, job.started_s = "running", now
            job.reason, job.message = None, f"running on {node.name}"
            add_event(s, job, "running", f"running on {node.name} ({job.site_id}/{job.pool_id})", at_s=now)
        return notify
    a.state, a.updated_s = "done", now
    if a.stop_reason is None:
        a.stop_reason = body.state if body.state in ("cancelled", "preempted") else None
    if job.state in TERMINAL_STATES or job.state == "pending":
        return notify  # a stop we asked for, confirmed
    if body.state == "preempted":
        return requeue(s, job=job, now=now, reason="preempted", message=body.message or f"preempted on {node.name}")
    if body.state == "cancelled":
        if job.cancel_requested:
            return notify
        return requeue(
            s, job=job, now=now, reason="preempted", message=body.message or f"stopped by the agent on {node.name}"
        )
    # succeeded | failed
    if job.kind == "inference" and not job.cancel_requested:
        msg = f"service exited ({body.state}, exit code {body.exit_code}) on {node.name}: restarting"
        return requeue(s, job=job, now=now, reason="restart", message=msg)
    if job.started_s is None:
        job.started_s = a.created_s
    record_usage(s, job=job, end_s=now)
    notify = stop_assignments(s, job=job, reason="cancelled", now=now)
    job.state, job.exit_code, job.finished_s = body.state, body.exit_code, now
    job.reason, job.message = None, body.message or f"exit code {body.exit_code}"
    add_event(s, job, body.state, body.message or f"exit code {body.exit_code} on {node.name}", at_s=now)
    return notify


def post_log(s: Session, *, node: Node, job_id: str, body: LogIn, now: float) -> None:
    """Store a log chunk once (a retry with the same offset is ignored)."""
    if len(body.data.encode("utf-8", "surrogatepass")) > MAX_LOG_CHUNK_BYTES:
        raise _fail("data", f"a log chunk is at most {MAX_LOG_CHUNK_BYTES} bytes of UTF-8")
    _assignment(s, node, job_id, body.attempt)
    if s.get(LogChunk, (job_id, body.attempt, body.stream, body.offset)) is not None:
        return
    s.add(
        LogChunk(job_id=job_id, attempt=body.attempt, stream=body.stream, offset=body.offset, data=body.data, at_s=now)
    )
    try:
        s.flush()
    except IntegrityError:
        s.rollback()
