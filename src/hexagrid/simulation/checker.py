"""An independent re-check of every start against the hard rules; the count must stay 0.

The checker keeps its own books (free GPUs per pool and per node, facility watts per site, GPUs per
tenant, GPU-hours charged per project allocation) apart from the scheduler's ``ClusterState``, so a bug
in either shows up as a violation rather than being agreed on. Its rules are necessary conditions the
scheduler must never break: residency (job and tenant), sovereignty tier, access (public sites admit
academic tenants only), allocation (a public site needs GPU-hours left on the project's allocation),
accelerator and memory, gang shape, capacity, tenant GPU cap, power envelope (facility watts, the
shared power model), site online dates, availability windows (open now; a non-preemptible job must end
before the window closes) and maximum price.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from hexagrid.domain import JobSpec, Project, SiteKind, Start, Tenant, TenantClass
from hexagrid.simulation.fleetindex import KIND_CODE_BY_ID, FleetIndex
from hexagrid.simulation.windows import WindowTimeline

__all__ = ["ConstraintChecker", "Violation"]

_EPS_W: Final = 1e-6  # watts of float slack on the envelope
#: A _Running from a tuple of all its fields, without NamedTuple's Python-level __new__
_new_running: Final = tuple.__new__


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule at one start (or a job left running where it may not run)."""

    time_s: float
    job_id: str
    rule: str
    message: str


class _Running(NamedTuple):
    """What a running job holds, as the checker booked it (built with ``_new_running``: one per start)."""

    pool: int
    gpus: int
    nodes: tuple[int, ...]
    gpus_per_node: int
    power_w: float
    tenant: str
    alloc_key: tuple[str, str, str] | None
    start_s: float


@dataclass
class ConstraintChecker:
    """Re-checks starts; ``violations`` counts by rule, ``examples`` keeps the first few messages."""

    index: FleetIndex
    tenants: dict[str, Tenant]
    windows: dict[int, WindowTimeline] = field(default_factory=dict)  # site index -> its open intervals
    max_examples: int = 20
    counts: Counter[str] = field(default_factory=Counter)
    examples: list[Violation] = field(default_factory=list)
    _pool_free: list[int] = field(init=False)
    _node_free: list[list[int] | None] = field(init=False)  # per pool, built on its first start
    _pool_site: list[int] = field(init=False)
    _pool_gpn: list[int] = field(init=False)
    _pool_nodes: list[int] = field(init=False)
    _pool_fac_w: list[list[float]] = field(init=False)
    _site_power_w: list[float] = field(init=False)
    _site_jobs: list[int] = field(init=False)
    _site_env_w: list[float] = field(init=False)
    _site_from: list[float] = field(init=False)
    _site_until: list[float] = field(init=False)
    _site_public: list[bool] = field(init=False)
    _static_cache: dict[tuple[object, ...], list[tuple[str, str]]] = field(init=False)
    _projects: dict[tuple[str, str], Project] = field(init=False)
    _tenant_cap: dict[str, int] = field(init=False)  # tenants' max_gpus, where set (the models are frozen)
    _grants: dict[tuple[str, str | None, int], tuple[str | None, float, tuple[str, str, str]]] = field(init=False)
    _tenant_gpus: Counter[str] = field(default_factory=Counter, init=False)
    _alloc_used_gpu_h: defaultdict[tuple[str, str, str], float] = field(
        default_factory=lambda: defaultdict(float), init=False
    )
    _running: dict[str, _Running] = field(default_factory=dict, init=False)
    _pool_of: dict[tuple[str, str], int] = field(init=False)

    def __post_init__(self) -> None:
        idx = self.index
        # plain lists: the checker runs once per start, where numpy scalar access would dominate
        self._pool_free = idx.pool_gpus.tolist()
        self._node_free = [None] * len(idx.pool_keys)
        self._pool_site = idx.pool_site.tolist()
        self._pool_gpn = idx.pool_gpus_per_node.tolist()
        self._pool_nodes = idx.pool_nodes.tolist()
        self._pool_fac_w = (idx.pool_it_w_per_gpu * idx.site_pue[idx.pool_site][:, None]).tolist()
        self._site_power_w = [0.0] * len(idx.sites)
        self._site_jobs = [0] * len(idx.sites)
        self._site_env_w = idx.site_envelope_w.tolist()
        self._site_from = idx.site_online_from_s.tolist()
        self._site_until = idx.site_online_until_s.tolist()
        self._site_public = [s.kind is SiteKind.PUBLIC_SUPERCOMPUTER for s in idx.sites]
        self._pool_of = idx.pool_index()
        self._static_cache = {}
        self._grants = {}
        self._tenant_cap = {k: t.max_gpus for k, t in self.tenants.items() if t.max_gpus is not None}
        self._projects = {(t.id, p.id): p for t in self.tenants.values() for p in t.projects}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _flag(self, now_s: float, job_id: str, rule: str, message: str) -> None:
        self.counts[rule] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(Violation(now_s, job_id, rule, message))

    def _static(self, job: JobSpec, pool: int, tenant: Tenant | None) -> list[tuple[str, str]]:
        """Rules that depend only on the job's attributes and the pool: memoised per distinct combination."""
        # by the models' fields, read from their __dict__: hashing a frozen model is a Python-level call,
        # and a pydantic attribute read costs about two dict lookups
        spec = job.__dict__
        r = spec["resources"].__dict__
        res = spec["residency"].__dict__
        key = (
            pool,
            spec["tenant"],
            spec["project"],
            res["scope"],
            res["countries"],
            spec["min_tier"],
            r["accelerators"],
            r["min_gpu_memory_gb"],
            spec["max_price_eur_per_gpu_h"],
        )
        hit = self._static_cache.get(key)
        if hit is not None:
            return hit
        idx = self.index
        site = idx.sites[int(idx.pool_site[pool])]
        acc = idx.pool_accelerator[pool]
        out: list[tuple[str, str]] = []
        if tenant is None:
            out.append(("unknown_tenant", f"tenant {job.tenant!r} is not in the scenario"))
        if not job.residency.allows(site.country):
            out.append(("residency", f"residency {job.residency} forbids {site.id} in {site.country}"))
        if tenant is not None and not tenant.residency.allows(site.country):
            out.append(("residency", f"tenant {tenant.id} residency {tenant.residency} forbids {site.country}"))
        if not site.tier.satisfies(job.min_tier):
            out.append(("sovereignty", f"{site.id} tier {site.tier.value} < {job.min_tier.value}"))
        if tenant is not None:
            if not site.access.admits(tenant.tenant_class):
                out.append(("access", f"{site.id} ({site.access.value}) does not admit {tenant.tenant_class.value}"))
            if site.kind is SiteKind.PUBLIC_SUPERCOMPUTER and tenant.tenant_class is not TenantClass.ACADEMIC:
                out.append(("access", f"public site {site.id} runs academic work only"))
        if not job.resources.accepts(acc):
            out.append(("accelerator", f"job does not accept {acc} at {site.id}"))
        price = float(idx.pool_price_eur_per_gpu_h[pool])
        if job.max_price_eur_per_gpu_h is not None and price > job.max_price_eur_per_gpu_h + 1e-9:
            out.append(("price", f"{site.id} charges {price} EUR/GPU-h > max {job.max_price_eur_per_gpu_h}"))
        self._static_cache[key] = out
        return out

    def _grant(self, tenant: Tenant, project: str | None, si: int) -> tuple[str | None, float, tuple[str, str, str]]:
        """The project charged for a job of ``tenant`` naming ``project`` at public site ``si`` (its own, or the
        tenant's only one), its GPU-hours granted there and its allocation key: fixed inputs, memoised."""
        pid = project or (tenant.projects[0].id if len(tenant.projects) == 1 else None)
        proj = self._projects.get((tenant.id, pid)) if pid else None
        site_id = self.index.site_ids[si]
        granted = proj.allocations_gpu_h.get(site_id, 0.0) if proj else 0.0
        out = (pid, granted, (tenant.id, pid or "", site_id))
        self._grants[(tenant.id, project, si)] = out
        return out

    def on_start(
        self, job: JobSpec, start: Start, now_s: float, runtime_s: float, placed_nodes: tuple[int, ...] = ()
    ) -> None:
        """Check ``start`` of ``job`` at ``now_s`` that will run ``runtime_s`` unless stopped; then book it.

        ``placed_nodes`` are the nodes the state put it on when the start named none (checked the same way).
        """
        flag = self._flag
        spec = job.__dict__  # the spec's fields: a pydantic attribute read costs about two dict lookups
        jid = spec["id"]
        tenant_id = spec["tenant"]
        pool = self._pool_of.get((start.site_id, start.pool_id))
        if pool is None:
            flag(now_s, jid, "unknown_pool", f"start names unknown pool {start.site_id}/{start.pool_id}")
            return
        if jid in self._running:
            flag(now_s, jid, "double_start", "job started while already running")
            return
        si = self._pool_site[pool]
        gpn_pool = self._pool_gpn[pool]
        tenant = self.tenants.get(tenant_id)
        for rule, message in self._static(job, pool, tenant):
            flag(now_s, jid, rule, message)
        gpn, n_nodes = start.gpus_per_node, start.nodes
        gpus = n_nodes * gpn
        r = spec["resources"].__dict__
        project = spec["project"]
        # allocation on public sites: GPU-hours left on the project's grant
        alloc_key: tuple[str, str, str] | None = None
        if tenant is not None and self._site_public[si]:
            grant = self._grants.get((tenant.id, project, si))
            if grant is None:
                grant = self._grant(tenant, project, si)
            pid, granted, alloc_key = grant
            site_id = alloc_key[2]
            if granted - self._alloc_used_gpu_h[alloc_key] <= 0:
                flag(
                    now_s, jid, "allocation", f"project {pid!r} has no GPU-hours left on {site_id} (granted {granted})"
                )
        # gang shape
        if gpus != r["gpus"]:
            flag(now_s, jid, "gang_shape", f"start gives {gpus} GPUs, job asks {r['gpus']}")
        if gpn > gpn_pool or gpn < 1 or n_nodes < 1:
            flag(now_s, jid, "gang_shape", f"{n_nodes} x {gpn} GPUs does not fit nodes of {gpn_pool} GPUs")
        num_nodes, gpn_req = r["num_nodes"], r["gpus_per_node"]
        if num_nodes > 1 and n_nodes != num_nodes:
            flag(now_s, jid, "gang_shape", f"job asks {num_nodes} nodes, start gives {n_nodes}")
        if gpn_req is not None and gpn != gpn_req:
            flag(now_s, jid, "gang_shape", f"job asks {gpn_req} GPUs per node, start gives {gpn}")
        # capacity: the pool's count, and each node the job sits on
        if gpus > self._pool_free[pool]:
            flag(
                now_s,
                jid,
                "capacity",
                f"{gpus} GPUs asked, {self._pool_free[pool]} free in {start.site_id}/{start.pool_id}",
            )
        nodes = tuple(start.node_indices) or tuple(int(x) for x in placed_nodes)
        if nodes:
            free = self._node_free[pool]
            if free is None:
                free = [gpn_pool] * self._pool_nodes[pool]
                self._node_free[pool] = free
            if len(nodes) == 1:  # the common case, without building a set
                bad = n_nodes != 1 or not 0 <= nodes[0] < len(free)
                short = not bad and free[nodes[0]] < gpn
            else:
                bad = (
                    len(set(nodes)) != len(nodes) or len(nodes) != n_nodes or min(nodes) < 0 or max(nodes) >= len(free)
                )
                short = not bad and any(free[x] < gpn for x in nodes)
            if bad:
                flag(now_s, jid, "gang_shape", f"bad node indices {nodes[:8]} for {n_nodes} nodes")
                nodes = ()
            elif short:
                flag(now_s, jid, "capacity", "a named node has fewer free GPUs than the start places on it")
        held = self._tenant_gpus[tenant_id]
        cap = self._tenant_cap.get(tenant_id)
        if cap is not None and held + gpus > cap:
            flag(now_s, jid, "tenant_cap", f"tenant {tenant_id} would hold {held + gpus} GPUs > cap {cap}")
        # power envelope: facility watts of everything running at the site plus this job
        power_w = gpus * self._pool_fac_w[pool][KIND_CODE_BY_ID[id(spec["kind"])]]
        if self._site_power_w[si] + power_w > self._site_env_w[si] + _EPS_W:
            flag(
                now_s,
                jid,
                "power_envelope",
                f"{self.index.site_ids[si]} would draw "
                f"{(self._site_power_w[si] + power_w) / 1e6:.3f} MW > envelope {self._site_env_w[si] / 1e6:g} MW",
            )
        # online dates and windows
        if not self._site_from[si] <= now_s < self._site_until[si]:
            flag(now_s, jid, "offline", f"{self.index.site_ids[si]} is not online at t={now_s:.0f}")
        sched = self.windows.get(si)
        if sched is not None:
            close = sched.close_after(now_s)
            if close is None:
                flag(
                    now_s, jid, "window", f"{self.index.site_ids[si]}'s availability window is closed at t={now_s:.0f}"
                )
            elif not spec["preemptible"] and now_s + runtime_s > close + 1e-6:
                flag(
                    now_s,
                    jid,
                    "window",
                    f"non-preemptible job needs {runtime_s:.0f} s but "
                    f"{self.index.site_ids[si]}'s window closes in {close - now_s:.0f} s",
                )
        # book it
        self._pool_free[pool] -= gpus
        if nodes:
            free = self._node_free[pool]
            assert free is not None
            for x in nodes:
                free[x] -= gpn
        self._site_power_w[si] += power_w
        self._site_jobs[si] += 1
        self._tenant_gpus[tenant_id] = held + gpus
        self._running[jid] = _new_running(_Running, (pool, gpus, nodes, gpn, power_w, tenant_id, alloc_key, now_s))

    def on_stop(self, job_id: str, now_s: float) -> None:
        """Release what ``job_id`` held (finish, preemption or failure); charge its allocation."""
        r = self._running.pop(job_id, None)
        if r is None:
            return
        pool, gpus, nodes, gpn, power_w, tenant, alloc_key, start_s = r
        self._pool_free[pool] += gpus
        if nodes:
            free = self._node_free[pool]
            assert free is not None
            for x in nodes:
                free[x] += gpn
        si = self._pool_site[pool]
        self._site_jobs[si] -= 1
        self._site_power_w[si] = self._site_power_w[si] - power_w if self._site_jobs[si] else 0.0
        self._tenant_gpus[tenant] -= gpus
        if alloc_key is not None:
            self._alloc_used_gpu_h[alloc_key] += gpus * (now_s - start_s) / 3600.0

    def flag_running(self, now_s: float, job_id: str, rule: str, message: str) -> None:
        """Record a rule broken by a job left running (past a window close or a site going offline)."""
        self._flag(now_s, job_id, rule, message)

    def summary(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_rule": dict(sorted(self.counts.items())),
            "examples": [f"t={v.time_s:.0f} {v.job_id} {v.rule}: {v.message}" for v in self.examples],
        }
