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

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from hexagrid.domain import JobSpec, SiteKind, Start, Tenant, TenantClass
from hexagrid.simulation.fleetindex import KIND_CODES, FleetIndex

__all__ = ["ConstraintChecker", "Violation"]

_EPS_W = 1e-6  # watts of float slack on the envelope


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule at one start (or a job left running where it may not run)."""

    time_s: float
    job_id: str
    rule: str
    message: str


@dataclass(slots=True)
class _Running:
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
    max_examples: int = 20
    counts: Counter[str] = field(default_factory=Counter)
    examples: list[Violation] = field(default_factory=list)
    _pool_free: npt.NDArray[np.int64] = field(init=False)
    _node_free: list[npt.NDArray[np.int64] | None] = field(init=False)
    _site_power_w: npt.NDArray[np.float64] = field(init=False)
    _tenant_gpus: Counter[str] = field(default_factory=Counter, init=False)
    _alloc_used_gpu_h: Counter[tuple[str, str, str]] = field(default_factory=Counter, init=False)
    _running: dict[str, _Running] = field(default_factory=dict, init=False)
    _pool_of: dict[tuple[str, str], int] = field(init=False)

    def __post_init__(self) -> None:
        self._pool_free = self.index.pool_gpus.copy()
        self._node_free = [None] * len(self.index.pool_keys)
        self._site_power_w = np.zeros(len(self.index.sites))
        self._pool_of = self.index.pool_index()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _flag(self, now_s: float, job_id: str, rule: str, message: str) -> None:
        self.counts[rule] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(Violation(now_s, job_id, rule, message))

    def on_start(self, job: JobSpec, start: Start, now_s: float, runtime_s: float,
                 placed_nodes: tuple[int, ...] = ()) -> None:
        """Check ``start`` of ``job`` at ``now_s`` that will run ``runtime_s`` unless stopped; then book it.

        ``placed_nodes`` are the nodes the state put it on when the start named none (checked the same way).
        """
        flag = self._flag
        jid = job.id
        pool = self._pool_of.get((start.site_id, start.pool_id))
        if pool is None:
            flag(now_s, jid, "unknown_pool", f"start names unknown pool {start.site_id}/{start.pool_id}")
            return
        if jid in self._running:
            flag(now_s, jid, "double_start", "job started while already running")
            return
        idx = self.index
        si = int(idx.pool_site[pool])
        site = idx.sites[si]
        acc = idx.pool_accelerator[pool]
        gpn_pool = int(idx.pool_gpus_per_node[pool])
        tenant = self.tenants.get(job.tenant)
        if tenant is None:
            flag(now_s, jid, "unknown_tenant", f"tenant {job.tenant!r} is not in the scenario")
        # residency and sovereignty
        if not job.residency.allows(site.country):
            flag(now_s, jid, "residency", f"residency {job.residency} forbids {site.id} in {site.country}")
        if tenant is not None and not tenant.residency.allows(site.country):
            flag(now_s, jid, "residency", f"tenant {tenant.id} residency {tenant.residency} forbids {site.country}")
        if not site.tier.satisfies(job.min_tier):
            flag(now_s, jid, "sovereignty", f"{site.id} tier {site.tier.value} < {job.min_tier.value}")
        # access and allocation
        alloc_key: tuple[str, str, str] | None = None
        if tenant is not None:
            if not site.access.admits(tenant.tenant_class):
                flag(now_s, jid, "access", f"{site.id} ({site.access.value}) does not admit {tenant.tenant_class.value}")
            if site.kind is SiteKind.PUBLIC_SUPERCOMPUTER:
                if tenant.tenant_class is not TenantClass.ACADEMIC:
                    flag(now_s, jid, "access", f"public site {site.id} runs academic work only")
                pid = job.project or (tenant.projects[0].id if len(tenant.projects) == 1 else None)
                proj = tenant.project(pid) if pid else None
                granted = proj.allocations_gpu_h.get(site.id, 0.0) if proj else 0.0
                alloc_key = (tenant.id, pid or "", site.id)
                if granted - self._alloc_used_gpu_h[alloc_key] <= 0:
                    flag(now_s, jid, "allocation",
                         f"project {job.project!r} has no GPU-hours left on {site.id} (granted {granted})")
        # accelerator and shape
        if not job.resources.accepts(acc):
            flag(now_s, jid, "accelerator", f"job does not accept {acc} at {site.id}/{start.pool_id}")
        if start.gpus != job.resources.gpus:
            flag(now_s, jid, "gang_shape", f"start gives {start.gpus} GPUs, job asks {job.resources.gpus}")
        if start.gpus_per_node > gpn_pool or start.gpus_per_node < 1 or start.nodes < 1:
            flag(now_s, jid, "gang_shape",
                 f"{start.nodes} x {start.gpus_per_node} GPUs does not fit nodes of {gpn_pool} GPUs")
        if job.resources.num_nodes > 1 and start.nodes != job.resources.num_nodes:
            flag(now_s, jid, "gang_shape", f"job asks {job.resources.num_nodes} nodes, start gives {start.nodes}")
        if job.resources.gpus_per_node is not None and start.gpus_per_node != job.resources.gpus_per_node:
            flag(now_s, jid, "gang_shape",
                 f"job asks {job.resources.gpus_per_node} GPUs per node, start gives {start.gpus_per_node}")
        # capacity (pool count, and per node when the scheduler names nodes)
        if start.gpus > self._pool_free[pool]:
            flag(now_s, jid, "capacity", f"{start.gpus} GPUs asked, {int(self._pool_free[pool])} free in "
                 f"{start.site_id}/{start.pool_id}")
        nodes = tuple(start.node_indices) or tuple(int(x) for x in placed_nodes)
        if nodes:
            free = self._node_free[pool]
            if free is None:
                free = np.full(int(idx.pool_nodes[pool]), gpn_pool, dtype=np.int64)
                self._node_free[pool] = free
            arr = np.asarray(nodes, dtype=np.int64)
            if (len(set(nodes)) != len(nodes) or len(nodes) != start.nodes or arr.min() < 0
                    or arr.max() >= len(free)):
                flag(now_s, jid, "gang_shape", f"bad node indices {nodes[:8]} for {start.nodes} nodes")
                nodes = ()
            elif bool((free[arr] < start.gpus_per_node).any()):
                flag(now_s, jid, "capacity", "a named node has fewer free GPUs than the start places on it")
        if tenant is not None and tenant.max_gpus is not None and self._tenant_gpus[tenant.id] + start.gpus > tenant.max_gpus:
            flag(now_s, jid, "tenant_cap", f"tenant {tenant.id} would hold "
                 f"{self._tenant_gpus[tenant.id] + start.gpus} GPUs > cap {tenant.max_gpus}")
        # power envelope: facility watts of everything running at the site plus this job
        power_w = start.gpus * float(idx.pool_it_w_per_gpu[pool, KIND_CODES[job.kind]]) * float(idx.site_pue[si])
        if self._site_power_w[si] + power_w > idx.site_envelope_w[si] + _EPS_W:
            flag(now_s, jid, "power_envelope", f"{site.id} would draw {(self._site_power_w[si] + power_w) / 1e6:.3f} "
                 f"MW > envelope {site.power_mw} MW")
        # online dates and windows
        if not idx.site_online_from_s[si] <= now_s < idx.site_online_until_s[si]:
            flag(now_s, jid, "offline", f"{site.id} is not online at t={now_s:.0f}")
        sched = site.schedule
        if sched is not None and not sched.always_open():
            close = sched.close_after(now_s)
            if close is None:
                flag(now_s, jid, "window", f"{site.id}'s availability window is closed at t={now_s:.0f}")
            elif not job.preemptible and now_s + runtime_s > close + 1e-6:
                flag(now_s, jid, "window", f"non-preemptible job needs {runtime_s:.0f} s but {site.id}'s window "
                     f"closes in {close - now_s:.0f} s")
        # price
        price = float(idx.pool_price_eur_per_gpu_h[pool])
        if job.max_price_eur_per_gpu_h is not None and price > job.max_price_eur_per_gpu_h + 1e-9:
            flag(now_s, jid, "price", f"{site.id} charges {price} EUR/GPU-h > max {job.max_price_eur_per_gpu_h}")
        # book it
        self._pool_free[pool] -= start.gpus
        if nodes:
            free = self._node_free[pool]
            assert free is not None
            free[np.asarray(nodes, dtype=np.int64)] -= start.gpus_per_node
        self._site_power_w[si] += power_w
        self._tenant_gpus[job.tenant] += start.gpus
        self._running[jid] = _Running(pool, start.gpus, nodes, start.gpus_per_node, power_w, job.tenant,
                                      alloc_key, now_s)

    def on_stop(self, job_id: str, now_s: float) -> None:
        """Release what ``job_id`` held (finish, preemption or failure); charge its allocation."""
        r = self._running.pop(job_id, None)
        if r is None:
            return
        self._pool_free[r.pool] += r.gpus
        if r.nodes:
            free = self._node_free[r.pool]
            assert free is not None
            free[np.asarray(r.nodes, dtype=np.int64)] += r.gpus_per_node
        si = int(self.index.pool_site[r.pool])
        self._site_power_w[si] -= r.power_w
        if not self._running_on_site(si):
            self._site_power_w[si] = 0.0  # drop float dust when the site empties
        self._tenant_gpus[r.tenant] -= r.gpus
        if r.alloc_key is not None:
            self._alloc_used_gpu_h[r.alloc_key] += r.gpus * (now_s - r.start_s) / 3600.0

    def _running_on_site(self, si: int) -> bool:
        ps = self.index.pool_site
        return any(int(ps[r.pool]) == si for r in self._running.values()) if self._site_power_w[si] < 1.0 else True

    def flag_running(self, now_s: float, job_id: str, rule: str, message: str) -> None:
        """Record a rule broken by a job left running (past a window close or a site going offline)."""
        self._flag(now_s, job_id, rule, message)

    def summary(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_rule": dict(sorted(self.counts.items())),
            "examples": [f"t={v.time_s:.0f} {v.job_id} {v.rule}: {v.message}" for v in self.examples],
        }
