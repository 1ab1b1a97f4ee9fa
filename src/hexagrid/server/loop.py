"""The live scheduling loop: the same ``Scheduler.decide`` as the simulator, on state built from the database.

One pass: mark nodes that missed heartbeats as lost (requeue their jobs), stop jobs whose node's
availability window closed, build a ``ClusterState`` from the registered nodes (a pool's node count =
its ready, available nodes, ordered by node id, so ``Start.node_indices`` name database rows), replay
the running jobs into it, ask the scheduler about the pending queue (less the jobs held by an exhausted
budget, which wait with reason ``budget``) and write every decision in one transaction. Woken by
submits, finishes and node changes, and at least every ``tick_s``.

Exactly one replica schedules: on PostgreSQL it holds a session advisory lock on a dedicated
connection; on SQLite (one host) an exclusive ``flock`` on a file beside the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from hexagrid.domain import Defer, Fleet, JobSpec, NotNow, Preempt, ReasonCode, Start, Tenant, WeeklySchedule
from hexagrid.domain import Site as DomainSite
from hexagrid.server.agents import requeue
from hexagrid.server.budgets import budget_book
from hexagrid.server.context import ServerContext
from hexagrid.server.models import Assignment, Job, Node, Org, UsageRecord
from hexagrid.server.services import ACTIVE_ASSIGNMENT_STATES, add_event, load_sites, tenant_of
from hexagrid.specs import JobRequest

__all__ = ["LiveState", "SchedulingLoop", "build_live_state"]

log = logging.getLogger("hexagrid.server.loop")
_LOCK_KEY = 7305002


@dataclass
class LiveState:
    """The scheduler's state plus the map from pool node indices to database node ids."""

    state: Any  # hexagrid.scheduling.ClusterState
    fleet: Fleet | None
    tenants: list[Tenant]
    pool_nodes: dict[tuple[str, str], list[Node]] = field(default_factory=dict)
    used_gpus: dict[str, set[int]] = field(default_factory=dict)  # node id -> GPU indices in use
    specs: dict[str, JobSpec] = field(default_factory=dict)


def _window_open(node: Node, now: float) -> bool:
    if not node.availability:
        return True
    try:
        return WeeklySchedule.parse(node.availability, node.timezone).is_open(now)
    except ValueError:
        return False


def job_spec(job: Job, cache: dict[str, JobSpec] | None = None) -> JobSpec:
    if cache is not None and job.id in cache:
        return cache[job.id]
    spec = JobRequest.model_validate_json(job.spec_json).to_jobspec(
        job_id=job.id, tenant=job.org_id, submit_s=job.submitted_s
    )
    if cache is not None:
        cache[job.id] = spec
    return spec


def remaining_allocations(s: Session, tenants: list[Tenant]) -> list[Tenant]:
    """Tenants with their projects' public-site allocations reduced by the GPU-hours already used.

    The state is rebuilt every pass, so what ended attempts consumed is charged here from the usage
    records (running attempts are charged by ``ClusterState.start_job`` when they are replayed). An
    attempt without a project is charged to the tenant's only project, as the scheduler assigns it.
    """
    used: dict[tuple[str, str | None, str], float] = {}
    q = select(UsageRecord.org_id, UsageRecord.project, UsageRecord.site_id, func.sum(UsageRecord.gpu_hours)).group_by(
        UsageRecord.org_id, UsageRecord.project, UsageRecord.site_id
    )
    for org, project, site, hours in s.execute(q):
        used[(org, project, site)] = float(hours or 0.0)
    if not used:
        return tenants
    out = []
    for t in tenants:
        if not any(p.allocations_gpu_h for p in t.projects):
            out.append(t)
            continue
        only = t.projects[0].id if len(t.projects) == 1 else None
        projects = []
        for p in t.projects:
            alloc = {}
            for site, hours in p.allocations_gpu_h.items():
                spent = used.get((t.id, p.id, site), 0.0) + (used.get((t.id, None, site), 0.0) if p.id == only else 0.0)
                alloc[site] = max(0.0, hours - spent)
            projects.append(p.model_copy(update={"allocations_gpu_h": alloc}))
        out.append(t.model_copy(update={"projects": projects}))
    return out


def build_live_state(s: Session, now: float, spec_cache: dict[str, JobSpec] | None = None) -> LiveState:
    """The fleet as registered now, with the running jobs placed on it."""
    from hexagrid.scheduling import ClusterState

    sites = load_sites(s)
    tenants = remaining_allocations(
        s, [tenant_of(s, o) for o in s.execute(select(Org).where(Org.kind == "tenant").order_by(Org.id)).scalars()]
    )
    nodes = (
        s.execute(select(Node).where(Node.state == "ready").order_by(Node.site_id, Node.pool_id, Node.id))
        .scalars()
        .all()
    )
    pool_nodes: dict[tuple[str, str], list[Node]] = defaultdict(list)
    for n in nodes:
        if n.available and _window_open(n, now) and n.site_id in sites:
            pool_nodes[(n.site_id, n.pool_id)].append(n)
    live_sites: list[DomainSite] = []
    for site in sites.values():
        pools = [
            p.model_copy(update={"nodes": len(pool_nodes[(site.id, p.id)])})
            for p in site.pools
            if pool_nodes.get((site.id, p.id))
        ]
        if pools:
            live_sites.append(site.model_copy(update={"pools": pools}))
    if not live_sites:
        return LiveState(None, None, tenants, dict(pool_nodes))
    fleet = Fleet.model_construct(sites=live_sites)
    state = ClusterState.from_fleet(fleet, tenants)
    live = LiveState(state, fleet, tenants, dict(pool_nodes), specs=spec_cache if spec_cache is not None else {})
    index = {(key, n.id): i for key, ns in pool_nodes.items() for i, n in enumerate(ns)}
    # plain columns, not ORM objects: this runs every pass over every running job
    rows = s.execute(
        select(
            Assignment.job_id,
            Assignment.node_id,
            Assignment.gpu_indices_json,
            Job.site_id,
            Job.pool_id,
            Job.state,
            Job.started_s,
        )
        .join(Job, Job.id == Assignment.job_id)
        .where(Assignment.state.in_(ACTIVE_ASSIGNMENT_STATES))
        .order_by(Assignment.job_id, Assignment.rank)
    ).all()
    by_job: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_job[r[0]].append(r)
        live.used_gpus.setdefault(r[1], set()).update(json.loads(r[2]))
    replay = [
        (jid, parts)
        for jid, parts in by_job.items()
        if parts[0][3] is not None and parts[0][4] is not None and parts[0][5] in ("scheduled", "running")
    ]
    missing = [jid for jid, _ in replay if jid not in live.specs]
    for k in range(0, len(missing), 500):
        q = select(Job.id, Job.org_id, Job.submitted_s, Job.spec_json).where(Job.id.in_(missing[k : k + 500]))
        for jid, org, sub, spec in s.execute(q):
            live.specs[jid] = JobRequest.model_validate_json(spec).to_jobspec(job_id=jid, tenant=org, submit_s=sub)
    for job_id, parts in replay:
        site_id, pool_id, started_s = parts[0][3], parts[0][4], parts[0][6]
        key = (site_id, pool_id)
        idx = [index.get((key, p[1])) for p in parts]
        if any(i is None for i in idx):
            continue  # a node of this job left the live pool (window closed, lost): it is being stopped
        per_node = len(json.loads(parts[0][2]))
        start = Start(
            job_id, site_id, pool_id, len(parts), per_node, node_indices=tuple(i for i in idx if i is not None)
        )
        try:
            state.start_job(live.specs[job_id], start, started_s or now)
        except Exception as exc:  # a state the scheduler cannot replay must not stop scheduling the rest
            log.warning("cannot replay running job %s into the live state: %s", job_id, exc)
    return live


class _Leadership:
    """Exactly one scheduling replica: PostgreSQL advisory lock, or a file lock for SQLite."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.conn: Connection | None = None
        self.fh: Any = None

    def acquire(self) -> bool:
        if self.ctx.db.postgres:
            if self.conn is not None:
                try:
                    self.conn.execute(text("SELECT 1"))
                    return True
                except Exception:
                    self.release()
            conn = self.ctx.db.engine.connect()
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK_KEY}).scalar())
            conn.commit()
            if got:
                self.conn = conn
            else:
                conn.close()
            return got
        if self.fh is not None:
            return True
        url = self.ctx.db.url
        path = (
            Path(url.split("///", 1)[-1] + ".scheduler.lock")
            if url.startswith("sqlite") and "///" in url
            else self.ctx.settings.data_dir / "scheduler.lock"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")  # noqa: SIM115 - held open while leader
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self.fh = fh
        return True

    def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
        if self.fh is not None:
            self.fh.close()
            self.fh = None


class SchedulingLoop:
    """The scheduling thread of one server replica."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hexagrid-scheduler", daemon=True)
        self._leader = _Leadership(ctx)
        self._scheduler: Any = None
        self.specs: dict[str, JobSpec] = {}
        self.signals: Any = None
        from hexagrid.backends import AgentPullBackend, Backend

        self.backend: Backend = AgentPullBackend()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.ctx.hub.wake_scheduler()
        self._thread.join(timeout=10)
        self._leader.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                leader = self._leader.acquire()
                self.ctx.metrics.is_leader = leader
                if leader:
                    self.ctx.hub.scheduler_wake.clear()
                    self.run_pass(time.time())
            except Exception:
                log.exception("scheduling pass failed")
            started = time.monotonic()
            self.ctx.hub.scheduler_wake.wait(self.ctx.settings.tick_s)
            # coalesce a storm of wake-ups (submits, reports) into one pass per min_pass_interval_s
            rest = self.ctx.settings.min_pass_interval_s - (time.monotonic() - started)
            if rest > 0 and not self._stop.is_set():
                self._stop.wait(rest)

    def _sched(self) -> Any:
        if self._scheduler is None:
            from hexagrid.scheduling import Scheduler, SchedulerConfig

            self._scheduler = Scheduler(SchedulerConfig.preset("hexagrid"))
        return self._scheduler

    def sweep(self, s: Session, now: float) -> set[str]:
        """Lost nodes and closed windows; returns node ids to notify."""
        notify: set[str] = set()
        lost_before = now - self.ctx.settings.lost_after
        for n in s.execute(select(Node).where(Node.state == "ready", Node.last_heartbeat_s < lost_before)).scalars():
            n.state = "lost"
            log.info("node %s (%s) lost: no heartbeat for %.0f s", n.id, n.name, now - n.last_heartbeat_s)
            self._requeue_on_node(s, n, now, "lost", f"node lost: {n.name} missed heartbeats", "lost", notify)
        for n in s.execute(select(Node).where(Node.state == "ready", Node.availability.is_not(None))).scalars():
            if not _window_open(n, now):
                self._requeue_on_node(
                    s, n, now, "window_closing", f"availability window of {n.name} closed", "preempted", notify
                )
        return notify

    def _requeue_on_node(
        self, s: Session, n: Node, now: float, reason: str, message: str, stop_reason: str, notify: set[str]
    ) -> None:
        rows = (
            s.execute(
                select(Assignment).where(
                    Assignment.node_id == n.id, Assignment.state.in_(("assigned", "delivered", "running"))
                )
            )
            .scalars()
            .all()
        )
        for a in rows:
            job = s.get(Job, a.job_id, with_for_update=True)
            if job is not None and job.attempt == a.attempt and job.state in ("scheduled", "running"):
                notify.update(requeue(s, job=job, now=now, reason=reason, message=message, stop_reason=stop_reason))
            elif a.state != "done":
                a.state, a.stop_reason, a.updated_s = (
                    ("done" if stop_reason == "lost" else "stopping"),
                    stop_reason,
                    now,
                )
            notify.add(n.id)
        if stop_reason == "lost":
            for a in s.execute(
                select(Assignment).where(Assignment.node_id == n.id, Assignment.state.in_(ACTIVE_ASSIGNMENT_STATES))
            ).scalars():
                a.state, a.updated_s = "done", now

    def _load_specs(self, s: Session, ids: list[str]) -> None:
        """Parse the specs of jobs not yet in the cache (once per job, not once per pass)."""
        for k in range(0, len(ids), 500):
            chunk = ids[k : k + 500]
            q = select(Job.id, Job.org_id, Job.submitted_s, Job.spec_json).where(Job.id.in_(chunk))
            for jid, org, sub, spec in s.execute(q):
                self.specs[jid] = JobRequest.model_validate_json(spec).to_jobspec(job_id=jid, tenant=org, submit_s=sub)

    def run_pass(self, now: float) -> dict[str, int]:
        """One scheduling pass; returns the count of decisions by kind.

        The queue is read as plain columns and reasons are written back in one batched UPDATE of the
        jobs whose reason changed, so a pass over thousands of waiting jobs stays cheap. Jobs whose
        organisation or project has spent its budget (``hexagrid.server.budgets``) are left out of the
        queue handed to ``decide`` and wait with reason ``budget``.
        """
        t0 = time.perf_counter()
        counts: dict[str, int] = defaultdict(int)
        notify: set[str] = set()
        with self.ctx.db.session() as s:
            notify |= self.sweep(s, now)
        with self.ctx.db.session() as s:
            q = (
                select(Job.id, Job.deferred_until_s, Job.reason, Job.message)
                .where(Job.state == "pending")
                .order_by(Job.submitted_s, Job.id)
            )
            pending = s.execute(q).all()
            live_ids = {r[0] for r in pending}
            queue_rows = [r for r in pending if r[1] is None or r[1] <= now]
            if not queue_rows:
                self._prune_cache(s, live_ids)
                self.ctx.metrics.observe_pass({}, time.perf_counter() - t0)
                self._notify(notify)
                return {}
            self._load_specs(s, [r[0] for r in queue_rows if r[0] not in self.specs])
            # jobs of an organisation or project that has spent its budget never reach decide()
            held = self._held_by_budget(s, queue_rows, now)
            live = build_live_state(s, now, self.specs) if len(held) < len(queue_rows) else None
            current = {r[0]: (r[2], r[3], r[1]) for r in queue_rows}
            reasons: list[dict[str, Any]] = []

            def set_reason(job_id: str, reason: str, message: str, until: float | None = None) -> None:
                old = current.get(job_id)
                if old is not None and (old[0], old[1], old[2]) != (reason, message, until):
                    reasons.append({"b_id": job_id, "b_reason": reason, "b_message": message, "b_until": until})

            for jid, message in held.items():
                set_reason(jid, ReasonCode.BUDGET.value, message)
                counts["not_now"] += 1
            if live is not None and live.state is None:
                for jid in current:
                    if jid not in held:
                        set_reason(jid, "capacity", "no registered node is ready and available at any site")
                        counts["not_now"] += 1
            elif live is not None:
                queue = [self.specs[r[0]] for r in queue_rows if r[0] not in held]
                decisions = self._sched().decide(live.state, queue, self.signals, now)
                for d in decisions:
                    if isinstance(d, Start):
                        job = s.get(Job, d.job_id)
                        if job is not None and self._apply_start(s, live, job, d, now, notify):
                            counts["start"] += 1
                    elif isinstance(d, Preempt):
                        victim = s.get(Job, d.job_id, with_for_update=True)
                        if victim is not None and victim.state in ("scheduled", "running"):
                            notify.update(
                                requeue(s, job=victim, now=now, reason=str(d.reason.value), message=d.message)
                            )
                            counts["preempt"] += 1
                    elif isinstance(d, Defer):
                        if d.job_id in current:
                            if current[d.job_id][2] != d.until_s:
                                job = s.get(Job, d.job_id)
                                if job is not None:
                                    add_event(s, job, "pending", d.message, reason=d.reason.value, at_s=now)
                            set_reason(d.job_id, d.reason.value, d.message, d.until_s)
                            counts["defer"] += 1
                    elif isinstance(d, NotNow) and d.job_id in current:
                        set_reason(d.job_id, d.reason.value, d.message)
                        counts["not_now"] += 1
            if reasons:
                t = cast(Table, Job.__table__)  # the Core table, for an executemany UPDATE
                stmt = (
                    update(t)
                    .where(t.c.id == bindparam("b_id"), t.c.state == "pending")
                    .values(
                        reason=bindparam("b_reason"),
                        message=bindparam("b_message"),
                        deferred_until_s=bindparam("b_until"),
                    )
                )
                s.connection().execute(stmt, reasons)
            self._prune_cache(s, live_ids)
        self.ctx.metrics.observe_pass(dict(counts), time.perf_counter() - t0)
        self._notify(notify)
        return dict(counts)

    def _held_by_budget(self, s: Session, queue_rows: list[Any], now: float) -> dict[str, str]:
        """Queued jobs whose organisation or project has spent its budget, with the sentence saying so."""
        book = budget_book(s, org_ids=lambda: {self.specs[r[0]].tenant for r in queue_rows}, now=now)
        if not book.budgets:
            return {}
        held: dict[str, str] = {}
        for r in queue_rows:
            spec = self.specs[r[0]]
            b = book.binding(spec.tenant, spec.project)
            if b is not None:
                held[r[0]] = b.sentence()
        return held

    def _prune_cache(self, s: Session, pending_ids: set[str]) -> None:
        if len(self.specs) > 2 * max(1000, len(pending_ids)):
            running = {j for (j,) in s.execute(select(Job.id).where(Job.state.in_(("scheduled", "running"))))}
            self.specs = {k: v for k, v in self.specs.items() if k in pending_ids or k in running}

    def _notify(self, nodes: set[str]) -> None:
        for n in nodes:
            self.ctx.hub.notify_node(n)

    def _apply_start(self, s: Session, live: LiveState, job: Job, d: Start, now: float, notify: set[str]) -> bool:
        s.refresh(job, with_for_update=True)
        if job.state != "pending":
            return False
        nodes = self.backend.start(s, job=job, start=d, pool_nodes=live.pool_nodes, used_gpus=live.used_gpus, now=now)
        if nodes is None:
            return False
        notify.update(nodes)
        return True
