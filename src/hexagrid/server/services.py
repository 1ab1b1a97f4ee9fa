"""Service functions behind the routers: organisations, tokens, sites, jobs, logs, events and usage.

Each takes a session and keyword arguments and enforces tenancy itself: a job of another
organisation is reported as not found (404), never as forbidden, so its existence does not leak.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Connection, Table, and_, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hexagrid.domain import EU_COUNTRIES, Residency, Tenant
from hexagrid.domain import Site as DomainSite
from hexagrid.errors import ConflictError, FieldError, NotFound, ValidationFailed
from hexagrid.server.auth import SCOPES, create_token
from hexagrid.server.models import Assignment, Job, JobEvent, LogChunk, Node, Org, Project, Site, Token, UsageRecord
from hexagrid.specs import JobRequest

__all__ = [
    "ACTIVE_ASSIGNMENT_STATES",
    "TERMINAL_STATES",
    "add_event",
    "cancel_job",
    "create_org",
    "create_org_token",
    "get_job",
    "insert_jobs",
    "job_events",
    "job_public",
    "list_jobs",
    "new_job_values",
    "read_logs",
    "submit_job",
    "upsert_site",
    "usage",
]

TERMINAL_STATES = ("succeeded", "failed", "cancelled")
_JOBS = cast(Table, Job.__table__)
_EVENTS = cast(Table, JobEvent.__table__)
ACTIVE_ASSIGNMENT_STATES = ("assigned", "delivered", "running", "stopping")


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


# ---- organisations, tokens, sites -------------------------------------------------------------------


def create_org(
    s: Session,
    *,
    org_id: str,
    name: str,
    kind: str,
    tenant_class: str,
    residency: str,
    budget_eur: float | None = None,
    max_gpus: int | None = None,
    fair_share_weight: float = 1.0,
    flexibility_h: float = 0.0,
    projects: list[dict[str, Any]] | None = None,
) -> Org:
    """Create an organisation; its policy is validated by the domain's ``Tenant``."""
    try:
        Tenant.model_validate(
            {
                "id": org_id,
                "name": name,
                "class": tenant_class,
                "residency": residency,
                "budget_eur": budget_eur,
                "max_gpus": max_gpus,
                "fair_share_weight": fair_share_weight,
                "flexibility_h": flexibility_h,
                "projects": projects or [],
            }
        )
    except ValidationError as exc:
        raise ValidationFailed(
            "request", [FieldError(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
        ) from None
    if s.get(Org, org_id) is not None:
        raise ConflictError(f"organisation {org_id!r} already exists")
    org = Org(
        id=org_id,
        name=name,
        kind=kind,
        tenant_class=tenant_class,
        residency=residency,
        budget_eur=budget_eur,
        max_gpus=max_gpus,
        fair_share_weight=fair_share_weight,
        flexibility_h=flexibility_h,
        created_s=time.time(),
    )
    s.add(org)
    for p in projects or []:
        s.add(
            Project(
                org_id=org_id,
                id=p["id"],
                allocations_json=json.dumps(p.get("allocations_gpu_h", {})),
                budget_eur=p.get("budget_eur"),
            )
        )
    s.flush()
    return org


def org_public(s: Session, org: Org) -> dict[str, Any]:
    projects = s.execute(select(Project).where(Project.org_id == org.id)).scalars().all()
    return {
        "id": org.id,
        "name": org.name,
        "kind": org.kind,
        "class": org.tenant_class,
        "residency": org.residency,
        "budget_eur": org.budget_eur,
        "max_gpus": org.max_gpus,
        "fair_share_weight": org.fair_share_weight,
        "flexibility_h": org.flexibility_h,
        "projects": [
            {"id": p.id, "allocations_gpu_h": json.loads(p.allocations_json), "budget_eur": p.budget_eur}
            for p in projects
        ],
    }


def tenant_of(s: Session, org: Org) -> Tenant:
    """The domain's view of an organisation, for the scheduler."""
    doc = org_public(s, org)
    doc.pop("kind")
    return Tenant.model_validate(doc)


def create_org_token(s: Session, *, org_id: str, scopes: list[str], name: str = "") -> tuple[Token, str]:
    if s.get(Org, org_id) is None:
        raise NotFound(f"organisation {org_id!r} does not exist")
    bad = [x for x in scopes if x not in SCOPES or x == "node"]
    if bad or not scopes:
        raise ValidationFailed(
            "request", [FieldError("scopes", f"got {scopes!r}; accepted: admin, submit, read, provider")]
        )
    return create_token(s, org_id=org_id, scopes=scopes, name=name)


def upsert_site(s: Session, *, doc: dict[str, Any]) -> DomainSite:
    """Create or replace a site from the domain's ``Site`` JSON (pool node counts there are nominal)."""
    try:
        site = DomainSite.model_validate(doc)
    except ValidationError as exc:
        raise ValidationFailed(
            "request", [FieldError(".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
        ) from None
    row = s.get(Site, site.id)
    text = site.model_dump_json()
    if row is None:
        s.add(Site(id=site.id, doc=text, created_s=time.time()))
    else:
        row.doc = text
    s.flush()
    return site


def load_sites(s: Session) -> dict[str, DomainSite]:
    return {r.id: DomainSite.model_validate_json(r.doc) for r in s.execute(select(Site).order_by(Site.id)).scalars()}


# ---- jobs ---------------------------------------------------------------------------------------------


def add_event(
    s: Session, job: Job, state: str, message: str, reason: str | None = None, at_s: float | None = None
) -> None:
    s.add(
        JobEvent(
            job_id=job.id,
            at_s=time.time() if at_s is None else at_s,
            state=state,
            attempt=job.attempt,
            reason=reason,
            message=message,
        )
    )


def job_public(row: Job | Mapping[str, Any]) -> dict[str, Any]:
    """The API's view of a job (an ORM row, or the column values of one just inserted)."""
    job: Any = _Row(row) if isinstance(row, Mapping) else row
    spec = json.loads(job.spec_json)
    return {
        "id": job.id,
        "name": job.name,
        "tenant": job.org_id,
        "project": job.project,
        "kind": job.kind,
        "state": job.state,
        "attempt": job.attempt,
        "gpus": job.gpus,
        "site": job.site_id,
        "pool": job.pool_id,
        "submitted_s": job.submitted_s,
        "submitted_at": iso(job.submitted_s),
        "started_s": job.started_s,
        "finished_s": job.finished_s,
        "exit_code": job.exit_code,
        "reason": job.reason,
        "message": job.message,
        "deferred_until_s": job.deferred_until_s,
        "residency": str(spec.get("residency", {}).get("scope", "ANY"))
        if spec.get("residency", {}).get("scope") != "countries"
        else ",".join(spec["residency"]["countries"]),
        "spec": spec,
    }


class _Row:
    """Attribute access over inserted column values (so the hot submit path builds no ORM object)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)


def _countries(r: Residency) -> frozenset[str] | None:
    if r.scope == "ANY":
        return None
    if r.scope == "FR":
        return frozenset({"FR"})
    if r.scope == "EU":
        return EU_COUNTRIES
    return frozenset(r.countries)


def narrow_residency(job: Residency, tenant: Residency, org_id: str) -> Residency:
    """A job may keep its data only where its organisation allows: the tenant's residency caps the job's."""
    jc, tc = _countries(job), _countries(tenant)
    if tc is None:
        return job
    if jc is None:
        return tenant
    if not jc <= tc:
        raise ValidationFailed(
            "request", [FieldError("residency", f"{org_id} allows {tenant} at most, the job asks for {job}")]
        )
    return job


def _request_hash(req: JobRequest) -> str:
    return hashlib.sha256(req.model_dump_json().encode()).hexdigest()


def _unknown_project(org_id: str, project: str, known: list[str]) -> ValidationFailed:
    return ValidationFailed(
        "request",
        [FieldError("project", f"unknown project {project!r} of {org_id}; known: {', '.join(known) or 'none'}")],
    )


def new_job_values(
    *, org_id: str, req: JobRequest, org_residency: str, idempotency_key: str | None = None
) -> dict[str, Any]:
    """The column values of a new pending job (no database access): the organisation's residency caps
    the job's (``ValidationFailed`` when the job asks for more)."""
    if org_residency.upper() != "ANY":
        req = req.model_copy(
            update={"residency": narrow_residency(req.residency, Residency.parse(org_residency), org_id)}
        )
    return {
        "id": "j-" + secrets.token_hex(8),
        "org_id": org_id,
        "project": req.project,
        "name": req.name,
        "kind": req.kind.value,
        "state": "pending",
        "attempt": 0,
        "spec_json": req.model_dump_json(),
        "gpus": req.resources.gpus,
        "priority": req.priority,
        "submitted_s": time.time(),
        "started_s": None,
        "finished_s": None,
        "site_id": None,
        "pool_id": None,
        "exit_code": None,
        "idempotency_key": idempotency_key,
        "request_hash": _request_hash(req) if idempotency_key else None,
        "reason": None,
        "message": "waiting for the next scheduling pass",
        "deferred_until_s": None,
        "cancel_requested": False,
    }


def insert_jobs(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any] | ValidationFailed]:
    """Store new jobs (``new_job_values``) and their 'submitted' events: two statements for any number of
    jobs (the group committer's batch). A job naming an unknown project gets its ``ValidationFailed``."""
    out: list[dict[str, Any] | ValidationFailed] = list(rows)
    asked = {(r["org_id"], r["project"]) for r in rows if r["project"] is not None}
    if asked:
        orgs = {o for o, _ in asked}
        have = {(o, p) for o, p in conn.execute(select(Project.org_id, Project.id).where(Project.org_id.in_(orgs)))}
        for i, r in enumerate(rows):
            if r["project"] is not None and (r["org_id"], r["project"]) not in have:
                known = sorted(p for o, p in have if o == r["org_id"])
                out[i] = _unknown_project(r["org_id"], r["project"], known)
    ok = [r for r in out if isinstance(r, dict)]
    if ok:
        # Core executemany: the request path is hot (>= 1,000 submits/s), no ORM unit of work here
        conn.execute(insert(_JOBS), ok)
        conn.execute(
            insert(_EVENTS),
            [
                {
                    "job_id": r["id"],
                    "at_s": r["submitted_s"],
                    "state": "pending",
                    "attempt": 0,
                    "reason": None,
                    "message": "submitted",
                }
                for r in ok
            ],
        )
    return out


def submit_job(
    s: Session, *, org_id: str, req: JobRequest, idempotency_key: str | None = None, org_residency: str | None = None
) -> tuple[Job | dict[str, Any], bool]:
    """Store a new pending job in its own transaction; with an idempotency key, a retry returns the stored
    job (created=False). The API's submits without a key go through the group committer instead."""
    rh = _request_hash(req) if idempotency_key else None
    if idempotency_key:
        prior = s.execute(
            select(Job).where(Job.org_id == org_id, Job.idempotency_key == idempotency_key)
        ).scalar_one_or_none()
        if prior is not None:
            if prior.request_hash != rh:
                raise ConflictError(
                    f"Idempotency-Key {idempotency_key!r} was used for a different request (job {prior.id})"
                )
            return prior, False
    if org_residency is None:
        org_residency = s.execute(select(Org.residency).where(Org.id == org_id)).scalar() or "ANY"
    values = new_job_values(org_id=org_id, req=req, org_residency=org_residency, idempotency_key=idempotency_key)
    try:
        (got,) = insert_jobs(s.connection(), [values])
    except IntegrityError:
        if not idempotency_key:
            raise
        s.rollback()
        prior = s.execute(select(Job).where(Job.org_id == org_id, Job.idempotency_key == idempotency_key)).scalar_one()
        if prior.request_hash != rh:
            raise ConflictError(f"Idempotency-Key {idempotency_key!r} was used for a different request") from None
        return prior, False
    if isinstance(got, ValidationFailed):
        raise got
    return got, True


def get_job(s: Session, *, org_id: str, job_id: str, for_update: bool = False) -> Job:
    q = select(Job).where(Job.id == job_id, Job.org_id == org_id)
    if for_update:
        q = q.with_for_update()
    job = s.execute(q).scalar_one_or_none()
    if job is None:
        raise NotFound(f"job {job_id!r} not found")
    return job


def list_jobs(
    s: Session,
    *,
    org_id: str,
    state: list[str] | None = None,
    project: str | None = None,
    name: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list[Job], str | None]:
    """Newest first; ``cursor`` is the opaque value returned as ``next_cursor``."""
    q = select(Job).where(Job.org_id == org_id)
    if state:
        q = q.where(Job.state.in_(state))
    if project:
        q = q.where(Job.project == project)
    if name:
        q = q.where(Job.name == name)
    if cursor:
        try:
            ts, jid = cursor.split("~", 1)
            t = float(ts)
        except ValueError:
            raise ValidationFailed(
                "request", [FieldError("cursor", f"not a cursor from a previous page: {cursor!r}")]
            ) from None
        q = q.where(or_(Job.submitted_s < t, and_(Job.submitted_s == t, Job.id < jid)))
    rows = list(s.execute(q.order_by(Job.submitted_s.desc(), Job.id.desc()).limit(limit + 1)).scalars())
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = f"{rows[-1].submitted_s!r}~{rows[-1].id}"
    return rows, nxt


def stop_assignments(s: Session, *, job: Job, reason: str, now: float) -> list[str]:
    """Mark the job's live assignments as stopping (the agent is told on its next poll); returns node ids."""
    rows = (
        s.execute(
            select(Assignment).where(
                Assignment.job_id == job.id, Assignment.state.in_(("assigned", "delivered", "running"))
            )
        )
        .scalars()
        .all()
    )
    nodes = []
    for a in rows:
        if a.state == "assigned":  # never delivered: nothing to stop on the node
            a.state, a.stop_reason = "done", reason
        else:
            a.state, a.stop_reason = "stopping", reason
        a.updated_s = now
        nodes.append(a.node_id)
    return nodes


def cancel_job(s: Session, *, org_id: str, job_id: str) -> tuple[Job, list[str]]:
    job = get_job(s, org_id=org_id, job_id=job_id, for_update=True)
    if job.state in TERMINAL_STATES:
        return job, []
    now = time.time()
    nodes = stop_assignments(s, job=job, reason="cancelled", now=now)
    if job.state == "running" and job.started_s is not None:
        from hexagrid.server.accounting import record_usage

        record_usage(s, job=job, end_s=now)
    job.state, job.finished_s, job.cancel_requested = "cancelled", now, True
    job.reason, job.message = None, "cancelled by the user"
    add_event(s, job, "cancelled", "cancelled by the user", at_s=now)
    return job, nodes


def job_events(s: Session, *, org_id: str, job_id: str) -> list[dict[str, Any]]:
    get_job(s, org_id=org_id, job_id=job_id)
    rows = s.execute(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)).scalars()
    return [
        {
            "at_s": e.at_s,
            "at": iso(e.at_s),
            "state": e.state,
            "attempt": e.attempt,
            "reason": e.reason,
            "message": e.message,
        }
        for e in rows
    ]


def read_logs(s: Session, *, job_id: str, attempt: int, stream: str | None, after: dict[str, int]) -> list[LogChunk]:
    """Chunks of one attempt past the per-stream byte offsets in ``after``, in order."""
    q = select(LogChunk).where(LogChunk.job_id == job_id, LogChunk.attempt == attempt)
    if stream:
        q = q.where(LogChunk.stream == stream)
    if after:  # only what a follower has not seen yet (the primary key covers these columns)
        q = q.where(
            or_(
                *(and_(LogChunk.stream == st, LogChunk.offset >= off) for st, off in after.items()),
                LogChunk.stream.not_in(list(after)),
            )
        )
    return list(s.execute(q.order_by(LogChunk.stream, LogChunk.offset)).scalars().all())


def usage(s: Session, *, org_id: str, now: float | None = None) -> dict[str, Any]:
    """Totals per tenant and per project from ended attempts, plus what running jobs used so far (estimate),
    and each budget set on the organisation or its projects with what is spent and what remains."""
    from hexagrid.server.accounting import running_usage
    from hexagrid.server.budgets import budget_book

    now = time.time() if now is None else now

    cols = (
        func.count(),
        func.sum(UsageRecord.gpu_hours),
        func.sum(UsageRecord.energy_kwh),
        func.sum(UsageRecord.carbon_g),
        func.sum(UsageRecord.cost_eur),
        func.sum(UsageRecord.heat_reused_kwh),
    )
    by_project = s.execute(
        select(UsageRecord.project, *cols)
        .where(UsageRecord.org_id == org_id)
        .group_by(UsageRecord.project)
        .order_by(UsageRecord.project)
    ).all()

    def row(r: Any) -> dict[str, float]:
        return {
            "attempts": int(r[0] or 0),
            "gpu_hours": float(r[1] or 0),
            "energy_kwh": float(r[2] or 0),
            "carbon_g": float(r[3] or 0),
            "cost_eur": float(r[4] or 0),
            "heat_reused_kwh": float(r[5] or 0),
        }

    projects: list[dict[str, Any]] = [{"project": r[0], **row(r[1:])} for r in by_project]
    total = {
        k: (sum(int(p[k]) for p in projects) if k == "attempts" else sum((float(p[k]) for p in projects), 0.0))
        for k in ("attempts", "gpu_hours", "energy_kwh", "carbon_g", "cost_eur", "heat_reused_kwh")
    }
    return {
        "tenant": org_id,
        "total": total,
        "projects": projects,
        "running": running_usage(s, org_id=org_id, now=now),
        "budgets": [b.public() for b in budget_book(s, org_ids=[org_id], now=now).of_org(org_id)],
    }


def node_public(n: Node, now: float) -> dict[str, Any]:
    return {
        "id": n.id,
        "name": n.name,
        "hostname": n.hostname,
        "provider": n.org_id,
        "site": n.site_id,
        "pool": n.pool_id,
        "accelerator": n.accelerator,
        "gpus": n.gpus,
        "cpus": n.cpus,
        "memory_gb": n.memory_gb,
        "availability": n.availability,
        "timezone": n.timezone,
        "state": n.state,
        "available": n.available,
        "last_heartbeat_s": n.last_heartbeat_s,
        "seconds_since_heartbeat": round(now - n.last_heartbeat_s, 3),
        "power_w": n.power_w,
        "power_source": n.power_source,
        "detected_by": n.detected_by,
        "agent_version": n.agent_version,
    }
