"""The cluster as the scheduler sees it: numpy arrays per site, per pool and per node, plus running jobs.

Two layers. :class:`FleetIndex` is the fleet's immutable structure as vectors (one entry per site or
pool), built once and shared by every copy of a state. :class:`ClusterState` adds what changes:
free GPUs per node (a flat ``int16`` array; pool ``p`` owns ``node_free[pool_offset[p]:pool_offset[p+1]]``),
per-pool counts of nodes by free-GPU level (``ge[p, k]`` = nodes with at least ``k`` free GPUs, so a
gang check is one gather), facility draw per site, running jobs and tenants' accounts. Only drivers
mutate a state (``start_job``, ``finish_job``, ``preempt_job``, ``register_tenant``); ``decide`` works
on copies of the few arrays it changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from hexagrid.domain.accelerators import CATALOG, REFERENCE_ACCELERATOR
from hexagrid.domain.decisions import Start
from hexagrid.domain.fleet import Fleet
from hexagrid.domain.jobs import JobSpec
from hexagrid.domain.kinds import Access, JobKind, SiteKind, TenantClass
from hexagrid.domain.tenancy import Tenant
from hexagrid.domain.windows import WeeklySchedule
from hexagrid.energy.power import DEFAULT_UTILISATION, busy_gpu_it_power_w, facility_power_w
from hexagrid.errors import ConflictError, InputError, NotFound

__all__ = [
    "KINDS",
    "LIST_NODES",
    "MAX_GPUS_PER_NODE",
    "ClusterState",
    "Event",
    "FleetIndex",
    "RunningJob",
    "apply_nodes",
    "best_fit_list",
    "best_fit_nodes",
    "best_fit_pool",
]

#: Node shapes are bounded by the domain model (NodePool.gpus_per_node <= 16).
MAX_GPUS_PER_NODE: Final = 16
#: Job kinds in a fixed order: per-kind vectors are indexed by ``KINDS.index(kind)``.
KINDS: tuple[JobKind, ...] = (JobKind.TRAINING, JobKind.FINE_TUNING, JobKind.INFERENCE, JobKind.BATCH)
KIND_INDEX: dict[JobKind, int] = {k: i for i, k in enumerate(KINDS)}

ACCESS_CODE: Final = {Access.ACADEMIC: 0, Access.COMMERCIAL: 1, Access.BOTH: 2}
CLASS_CODE: Final = {TenantClass.ACADEMIC: 0, TenantClass.COMMERCIAL: 1}
KIND_CODE: Final = {SiteKind.PUBLIC_SUPERCOMPUTER: 0, SiteKind.PRIVATE_CLOUD: 1, SiteKind.ENTERPRISE_IDLE: 2}

FArr = npt.NDArray[np.float64]
IArr = npt.NDArray[np.int64]
BArr = npt.NDArray[np.bool_]
I16Arr = npt.NDArray[np.int16]  # free GPUs per node
#: A release at a time, as EASY backfill replays them: (walltime end s, pool, pool-relative node indices,
#: GPUs per node, facility W).
Event = tuple[float, int, tuple[int, ...], int, float]


def _day_start_s(d: date | None, default: float) -> float:
    if d is None:
        return default
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


def apply_nodes(
    node_free: npt.NDArray[np.int16],
    ge: IArr,
    pool_free: IArr,
    offset: int,
    p: int,
    nodes: IArr | tuple[int, ...],
    delta: int,
) -> None:
    """Change free GPUs of ``nodes`` (pool-relative; an array, or a tuple of indices) of pool ``p`` by ``delta``;
    keep ``ge`` and ``pool_free`` in step.

    ``ge[p, k]`` counts nodes with at least ``k`` free GPUs, so a node moving from ``old`` to ``new``
    free GPUs changes the levels strictly between them: one difference array, one cumulative sum.
    """
    if len(nodes) == 1:  # the common case, in scalars
        i = int(nodes[0]) + offset
        o = int(node_free[i])
        nw = o + delta
        node_free[i] = nw
        if delta < 0:
            if delta >= -4:  # a few scalar updates are cheaper than one in-place slice (~0.3 against ~2.4 us)
                for k in range(nw + 1, o + 1):
                    ge[p, k] -= 1
            else:
                ge[p, nw + 1 : o + 1] -= 1
        elif delta <= 4:
            for k in range(o + 1, nw + 1):
                ge[p, k] += 1
        else:
            ge[p, o + 1 : nw + 1] += 1
        pool_free[p] += delta
        return
    idx = np.asarray(nodes, dtype=np.int64) + offset
    old = node_free[idx].astype(np.int64)
    new = old + delta
    node_free[idx] = new
    row = ge[p]
    if len(idx) == 1 or bool((old == old[0]).all()):
        o, n, c = int(old[0]), int(new[0]), len(idx)
        if delta < 0:
            row[n + 1 : o + 1] -= c
        else:
            row[o + 1 : n + 1] += c
    else:
        diff = np.zeros(MAX_GPUS_PER_NODE + 2, dtype=np.int64)
        lo, hi = np.minimum(old, new) + 1, np.maximum(old, new) + 1
        np.add.at(diff, lo, 1)
        np.add.at(diff, hi, -1)
        step = np.cumsum(diff)[: MAX_GPUS_PER_NODE + 1]
        row += step if delta > 0 else -step
    pool_free[p] += delta * len(idx)


#: nodes a search looks at before the rest of the pool: best fit packs jobs onto the lowest indices, so
#: the node it wants is most often among the first few thousand of a 30,000-node pool
_FIRST_NODES: Final = 4096


def _first_node(free: npt.NDArray[np.int16], k: int, exact: bool, exclude: BArr | None) -> int:
    """The lowest index with ``free == k`` (``exact``) or ``free >= k``, not excluded; -1 if none.

    Looks at the first :data:`_FIRST_NODES` nodes, then at the rest: an early find skips most of the
    comparisons, a late one costs one extra slice.
    """
    n = len(free)
    lo, hi = 0, min(n, _FIRST_NODES)
    while lo < n:
        seg = free[lo:hi]
        hit = seg == k if exact else seg >= k
        if exclude is not None:
            hit &= ~exclude[lo:hi]
        i = int(hit.argmax())
        if hit[i]:
            return lo + i
        lo, hi = hi, n
    return -1


#: pools of up to this many nodes are searched as lists by best_fit_list's callers (numpy arrays above)
LIST_NODES: Final = 64


def best_fit_list(free: list[int], nodes: int, gpus_per_node: int) -> list[int] | None:
    """:func:`best_fit_nodes` without exclusions, over a list: the same nodes (the fewest free GPUs that still
    hold ``gpus_per_node``, ties to the lowest index), in ascending order; None if there are too few. For a
    pool of a few nodes (up to :data:`LIST_NODES`) whose counts the caller holds as a list."""
    cand = [i for i, f in enumerate(free) if f >= gpus_per_node]
    if len(cand) < nodes:
        return None
    chosen = sorted(cand, key=lambda i: (free[i], i))[:nodes]
    chosen.sort()
    return chosen


def best_fit_pool(free: list[int] | I16Arr, nodes: int, gpus_per_node: int, pool_gpn: int) -> tuple[int, ...] | None:
    """The best-fit nodes of a pool whose free counts are held as a list (:func:`best_fit_list`, a pool of up to
    :data:`LIST_NODES` nodes) or an array (:func:`best_fit_nodes`), as a tuple; None if there are too few."""
    if isinstance(free, list):
        listed = best_fit_list(free, nodes, gpus_per_node)
        return None if listed is None else tuple(listed)
    picked = best_fit_nodes(free, nodes, gpus_per_node, pool_gpn)
    return None if picked is None else tuple(picked.tolist())


def best_fit_nodes(
    free: npt.NDArray[np.int16],
    nodes: int,
    gpus_per_node: int,
    pool_gpn: int,
    exclude: BArr | None = None,
    at_least: IArr | None = None,
) -> IArr | None:
    """Best fit: the ``nodes`` nodes with the fewest free GPUs that still hold ``gpus_per_node`` each.

    Packing partial jobs onto the fullest nodes that fit keeps whole nodes free for gangs. Ties go
    to the lowest index. ``exclude`` (a bool mask over ``free``) hides reserved nodes. Returns
    indices into ``free`` in ascending order, or None if there are not enough such nodes.
    ``at_least`` (the pool's ``ge`` row, counts of nodes with at least k free GPUs) lets a one-node
    search skip the levels no node is at.
    """
    if nodes == 1:
        if gpus_per_node == pool_gpn:
            i = _first_node(free, gpus_per_node, False, exclude)
            return np.array([i], dtype=np.int64) if i >= 0 else None
        # the tightest level first: one equality test per level (with an early-exit argmax) is several
        # times cheaper on a 60,000-node pool than masking every node and taking an argmin
        levels = None if at_least is None else at_least.tolist()
        for k in range(gpus_per_node, pool_gpn + 1):
            if levels is not None and levels[k] == (levels[k + 1] if k < pool_gpn else 0):
                continue
            i = _first_node(free, k, True, exclude)
            if i >= 0:
                return np.array([i], dtype=np.int64)
        return None
    ok = free >= gpus_per_node
    if exclude is not None:
        ok &= ~exclude
    cand = np.flatnonzero(ok)
    if len(cand) < nodes:
        return None
    if gpus_per_node < pool_gpn:
        cand = np.sort(cand[np.argsort(free[cand], kind="stable")[:nodes]])
        return cand
    return cand[:nodes]


class FleetIndex:
    """The fleet as vectors; immutable once built and shared by all copies of a state.

    ``cache`` memoises derived pool masks keyed by a job's static signature: a pure function of this
    structure, so sharing it does not make ``decide`` impure.
    """

    def __init__(self, fleet: Fleet) -> None:
        sites = list(fleet.sites)
        self.fleet = fleet
        self.n_sites = len(sites)
        self.site_ids: list[str] = [s.id for s in sites]
        self.site_index: dict[str, int] = {s: i for i, s in enumerate(self.site_ids)}
        self.site_names: list[str] = [s.name for s in sites]
        self.site_country: list[str] = [s.country for s in sites]
        self.site_zone: list[str] = [s.grid_zone for s in sites]
        self.zones: list[str] = sorted(set(self.site_zone))
        self.site_zone_code = np.array([self.zones.index(z) for z in self.site_zone], dtype=np.int64)
        self.site_lat = np.array([s.latitude for s in sites], dtype=np.float64)
        self.site_lon = np.array([s.longitude for s in sites], dtype=np.float64)
        self.site_kind = np.array([KIND_CODE[s.kind] for s in sites], dtype=np.int64)
        self.site_access = np.array([ACCESS_CODE[s.access] for s in sites], dtype=np.int64)
        self.site_tier = np.array([s.tier.rank for s in sites], dtype=np.int64)
        self.site_tier_name: list[str] = [s.tier.value for s in sites]
        self.site_pue = np.array([s.pue for s in sites], dtype=np.float64)
        self.site_cap_w = np.array([s.power_mw * 1e6 for s in sites], dtype=np.float64)
        self.site_online_from_s = np.array([_day_start_s(s.online_from, -math.inf) for s in sites])
        self.site_online_until_s = np.array([_day_start_s(s.online_until, math.inf) for s in sites])
        self.site_schedule: dict[int, WeeklySchedule] = {
            i: sch for i, s in enumerate(sites) if (sch := s.schedule) is not None
        }

        pools = [(si, p) for si, s in enumerate(sites) for p in s.pools]
        self.n_pools = len(pools)
        self.pool_ids: list[str] = [p.id for _, p in pools]
        self.pool_key: dict[tuple[str, str], int] = {(self.site_ids[si], p.id): i for i, (si, p) in enumerate(pools)}
        self.acc_names: list[str] = sorted({p.accelerator for _, p in pools})
        self.pool_acc_name: list[str] = [p.accelerator for _, p in pools]
        self.pool_site = np.array([si for si, _ in pools], dtype=np.int64)
        self.pool_acc = np.array([self.acc_names.index(p.accelerator) for _, p in pools], dtype=np.int64)
        self.pool_gpn = np.array([p.gpus_per_node for _, p in pools], dtype=np.int64)
        self.pool_nodes = np.array([p.nodes for _, p in pools], dtype=np.int64)
        self.pool_gpus = self.pool_gpn * self.pool_nodes
        self.pool_offset = np.zeros(self.n_pools + 1, dtype=np.int64)
        np.cumsum(self.pool_nodes, out=self.pool_offset[1:])
        self.n_nodes = int(self.pool_offset[-1])
        accs = [CATALOG[p.accelerator] for _, p in pools]
        ref = CATALOG[REFERENCE_ACCELERATOR]
        self.pool_tdp_w = np.array([a.tdp_w for a in accs], dtype=np.float64)
        self.pool_idle_w = np.array([a.idle_w for a in accs], dtype=np.float64)
        self.pool_mem_gb = np.array([a.memory_gb for a in accs], dtype=np.float64)
        # runtime on this pool per reference second (runtime_s is linear in the duration)
        # runtime_s(d, acc) == (d * ref_tp) / pool_tp elementwise: the same float operations, so the
        # scheduler's end times equal the ones start_job records, to the last bit
        self.ref_tp_train = ref.training_throughput
        self.ref_tp_infer = ref.inference_throughput
        self.pool_tp_train = np.array([a.training_throughput for a in accs], dtype=np.float64)
        self.pool_tp_infer = np.array([a.inference_throughput for a in accs], dtype=np.float64)
        self.pool_price = np.array([sites[si].price_for(p.accelerator) for si, p in pools], dtype=np.float64)
        self.pool_pue = self.site_pue[self.pool_site]
        self.pool_country: list[str] = [self.site_country[si] for si, _ in pools]
        self.pool_tier = self.site_tier[self.pool_site]
        self.pool_access = self.site_access[self.pool_site]
        self.pool_public = self.site_kind[self.pool_site] == 0
        self.pool_windowed = np.array([si in self.site_schedule for si, _ in pools], dtype=np.bool_)
        self.pool_cap_w = self.site_cap_w[self.pool_site]
        #: facility W per busy GPU, per job kind: hexagrid.energy.power, never re-derived here
        self.pool_w_per_gpu = np.stack(
            [
                facility_power_w(
                    busy_gpu_it_power_w(
                        self.pool_tdp_w, self.pool_idle_w, self.pool_gpn.astype(np.float64), DEFAULT_UTILISATION[k]
                    ),
                    self.pool_pue,
                )
                for k in KINDS
            ]
        )
        self.node_pool = np.repeat(np.arange(self.n_pools, dtype=np.int64), self.pool_nodes)
        self.pools_of_site: list[IArr] = [np.flatnonzero(self.pool_site == s) for s in range(self.n_sites)]
        self.cache: dict[Any, Any] = {}
        # the same per-pool figures as plain lists, for the mutators' per-job scalar work (reading a numpy
        # scalar costs ~0.1-0.2 us, a list item ~0.03 us; the values are the same doubles and integers)
        self.offset_of: list[int] = self.pool_offset.tolist()
        self.nodes_of: list[int] = self.pool_nodes.tolist()
        self.gpn_of: list[int] = self.pool_gpn.tolist()
        self.site_of: list[int] = self.pool_site.tolist()
        self.public_of: list[bool] = self.pool_public.tolist()
        self.tp_train_of: list[float] = self.pool_tp_train.tolist()
        self.tp_infer_of: list[float] = self.pool_tp_infer.tolist()
        self.w_per_gpu_of: list[list[float]] = self.pool_w_per_gpu.tolist()  # [kind][pool]
        self.site_cap_of: list[float] = self.site_cap_w.tolist()

    def runtimes_s(self, reference_duration_s: float, inference: bool, pools: IArr | None = None) -> FArr:
        """``runtime_s`` of the work on each pool (or on ``pools``), vectorised, bit-identical to the scalar."""
        tp = self.pool_tp_infer if inference else self.pool_tp_train
        ref = self.ref_tp_infer if inference else self.ref_tp_train
        return (reference_duration_s * ref) / (tp if pools is None else tp[pools])

    def pool_name(self, p: int) -> str:
        return f"{self.site_ids[int(self.pool_site[p])]}/{self.pool_ids[p]}"


class RunningJob(NamedTuple):
    """A job holding GPUs: where, how many, since when, until when (expected and walltime), at what power.

    Immutable. A named tuple rather than a frozen dataclass: a frozen dataclass of 19 fields takes
    ~5 us to build (one ``object.__setattr__`` a field), a named tuple ~0.6 us, and the simulator
    builds one per start.
    """

    job_id: str
    tenant: str
    project: str | None
    kind: JobKind
    pool: int
    site: int
    node_indices: tuple[int, ...]
    gpus_per_node: int
    start_s: float
    expected_end_s: float
    walltime_end_s: float
    power_w: float
    preemptible: bool
    priority: int
    checkpoint_interval_s: float | None
    alloc_row: int = -1
    alloc_charged_gpu_h: float = 0.0
    usage_charged_gpu_s: float = 0.0
    lost_work_gpu_s: float = 0.0

    @property
    def gpus(self) -> int:
        return len(self.node_indices) * self.gpus_per_node

    def last_checkpoint_s(self, now_s: float) -> float:
        """The last checkpoint at or before ``now_s`` (the start when the job does not checkpoint)."""
        if not self.checkpoint_interval_s or now_s <= self.start_s:
            return self.start_s
        return (
            self.start_s + math.floor((now_s - self.start_s) / self.checkpoint_interval_s) * self.checkpoint_interval_s
        )

    def work_at_risk_gpu_s(self, now_s: float) -> float:
        """GPU-seconds lost if stopped at ``now_s``: the work done since the last checkpoint."""
        return self.gpus * max(0.0, now_s - self.last_checkpoint_s(now_s))


@dataclass
class _Tenants:
    """Tenants' accounts as parallel arrays (index = registration order).

    GPUs in use and usage change at every start and stop, so they are kept as plain lists
    (``in_use_of``, ``usage_of``: the mutators write these and call :meth:`changed`); ``in_use`` and
    ``usage`` are numpy copies built when read (readers must not write to them).
    """

    ids: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    specs: list[Tenant] = field(default_factory=list)
    klass: IArr = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    weight: FArr = field(default_factory=lambda: np.zeros(0))
    usage_of: list[float] = field(default_factory=list)  # decayed GPU-s, scaled to usage_ref_s
    in_use_of: list[int] = field(default_factory=list)
    cap: IArr = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    flex_s: FArr = field(default_factory=lambda: np.zeros(0))
    _arrays: tuple[IArr, FArr] | None = field(default=None, repr=False, compare=False)
    _fair_share: list[float] | None = field(default=None, repr=False, compare=False)
    _share_terms: list[float | None] | None = field(default=None, repr=False, compare=False)
    _limits: tuple[list[int], list[float]] | None = field(default=None, repr=False, compare=False)

    @property
    def in_use(self) -> IArr:
        return self._views()[0]

    @property
    def usage(self) -> FArr:
        return self._views()[1]

    def _views(self) -> tuple[IArr, FArr]:
        if self._arrays is None:
            self._arrays = (np.array(self.in_use_of, dtype=np.int64), np.array(self.usage_of, dtype=np.float64))
        return self._arrays

    def changed(self, weights: bool = False) -> None:
        """Say that ``in_use_of`` or ``usage_of`` changed (and ``weight``, with ``weights``): what is derived
        from them is built again."""
        self._arrays = None
        self._fair_share = None
        if weights:
            self._share_terms = None
            self._limits = None

    def limits_of(self) -> tuple[list[int], list[float]]:
        """``cap`` and ``flex_s`` as lists (readers must not write to them), kept until :meth:`changed` with
        ``weights`` (registration): every pass reads them, and they change only when a tenant registers."""
        if self._limits is None:
            self._limits = (self.cap.tolist(), self.flex_s.tolist())
        return self._limits

    def usage_share(self) -> FArr:
        """Each tenant's share of the fleet's decayed usage (sums to 1, or all 0 before any use)."""
        u = self.usage
        total = float(u.sum())
        return u / total if total > 0 else np.zeros_like(u)

    def fair_share_of(self) -> list[float]:
        """Slurm's classic fair-share factor per tenant, ``F = 2 ** (-U / S)``: ``U`` the tenant's share of the
        fleet's decayed usage, ``S`` its share of the weights (F = 0 where that is 0). Kept until :meth:`changed`.

        In scalars: a pass reads it whenever a start or a stop changed the usage (nearly every pass), and a
        dozen tenants cost less as floats than as the six numpy calls of the vector form.
        """
        fs = self._fair_share
        if fs is None:
            divisors = self._share_terms
            if divisors is None:  # each tenant's share of the weights, None where it is not positive
                weights: list[float] = self.weight.tolist()
                total_w: float = sum(weights)
                divisors = self._share_terms = [
                    w / total_w if total_w > 0 and w / total_w > 0 else None for w in weights
                ]
            total_u: float = sum(self.usage_of)  # typed: sum()'s float | int would make the arithmetic below generic
            fs = self._fair_share = [
                0.0 if d is None else 2.0 ** (-(u / total_u if total_u > 0 else 0.0) / d)
                for u, d in zip(self.usage_of, divisors)
            ]
        return fs

    def fair_share_factors(self) -> FArr:
        """:meth:`fair_share_of` as an array (a new one per call)."""
        return np.array(self.fair_share_of(), dtype=np.float64)

    def copy(self) -> _Tenants:
        return _Tenants(
            list(self.ids),
            dict(self.index),
            list(self.specs),
            self.klass.copy(),
            self.weight.copy(),
            list(self.usage_of),
            list(self.in_use_of),
            self.cap.copy(),
            self.flex_s.copy(),
        )


_NO_CAP: Final = np.iinfo(np.int64).max // 4
_INFERENCE: Final = JobKind.INFERENCE  # a module constant: ``JobKind.INFERENCE`` goes through the enum's metaclass
_KIND_INDEX_BY_ID: Final = {id(k): i for k, i in KIND_INDEX.items()}  # hashing an Enum member is a Python-level call
#: builds a RunningJob from a tuple of all its fields, as ``RunningJob._make`` does without its length check
_new_running: Final = tuple.__new__


def _flat(ge: IArr) -> memoryview[int]:
    """``ge`` (C-contiguous int64) as a flat memoryview: one index per count (numpy's ``[p, k]`` costs more)."""
    return ge.data.cast("B").cast("q")


class ClusterState:
    """Free GPUs, power draw, running jobs and tenants' accounts over a :class:`FleetIndex`."""

    def __init__(self, index: FleetIndex, *, fair_share_half_life_s: float = 7 * 86400.0) -> None:
        if not fair_share_half_life_s > 0:
            raise InputError(f"fair_share_half_life_s must be > 0 seconds, got {fair_share_half_life_s}")
        ix = index
        self.ix = ix
        self.fair_share_half_life_s = float(fair_share_half_life_s)
        self.node_free = np.repeat(ix.pool_gpn, ix.pool_nodes).astype(np.int16)
        self._ge = np.zeros((ix.n_pools, MAX_GPUS_PER_NODE + 1), dtype=np.int64)
        for k in range(MAX_GPUS_PER_NODE + 1):
            self._ge[:, k] = np.where(ix.pool_gpn >= k, ix.pool_nodes, 0)
        self._ge_rows: list[list[int]] = self._ge.tolist()  # the same counts as lists, kept in step (see ge_rows)
        self._ge_flat = _flat(self._ge)
        self._ge_diff: list[list[int]] = [[0] * (MAX_GPUS_PER_NODE + 2) for _ in range(ix.n_pools)]
        self._ge_stale: set[int] = set()
        # free GPUs per pool and facility watts per site change at every start and stop: plain lists,
        # with numpy copies built when read (see the properties)
        self._pool_free: list[int] = ix.pool_gpus.tolist()
        self._site_draw: list[float] = [0.0] * ix.n_sites
        self._arrays: tuple[IArr, FArr] | None = None
        self.running: dict[str, RunningJob] = {}
        self.pool_jobs: list[dict[str, RunningJob]] = [{} for _ in range(ix.n_pools)]
        #: each site's running jobs as releases (job id -> Event), in start order: what an EASY reservation
        #: replays, kept as jobs start and finish rather than gathered from every running job per reservation
        self.site_events: list[dict[str, Event]] = [{} for _ in range(ix.n_sites)]
        #: running preemptible jobs by priority (priority -> count): the lowest possible victim in O(priorities)
        self.preemptible_by_priority: dict[int, int] = {}
        self.tenants = _Tenants()
        self.usage_ref_s = 0.0
        self.alloc_rows: dict[tuple[str, str], int] = {}
        self.alloc_remaining_gpu_h = np.zeros((0, ix.n_sites), dtype=np.float64)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_fleet(
        cls, fleet: Fleet, tenants: Sequence[Tenant] = (), *, fair_share_half_life_s: float = 7 * 86400.0
    ) -> ClusterState:
        """Index ``fleet`` and register ``tenants`` (every GPU free, nothing running)."""
        st = cls(FleetIndex(fleet), fair_share_half_life_s=fair_share_half_life_s)
        for t in tenants:
            st.register_tenant(t)
        return st

    def register_tenant(self, tenant: Tenant) -> None:
        """Add ``tenant``; registering an id again replaces its class, weight, cap and allocations' sizes."""
        tn = self.tenants
        if tenant.id in tn.index:
            i = tn.index[tenant.id]
            tn.specs[i] = tenant
        else:
            i = len(tn.ids)
            tn.ids.append(tenant.id)
            tn.index[tenant.id] = i
            tn.specs.append(tenant)
            tn.klass = np.append(tn.klass, 0)
            tn.weight = np.append(tn.weight, 0.0)
            tn.usage_of.append(0.0)
            tn.in_use_of.append(0)
            tn.cap = np.append(tn.cap, 0)
            tn.flex_s = np.append(tn.flex_s, 0.0)
        tn.klass[i] = CLASS_CODE[tenant.tenant_class]
        tn.weight[i] = tenant.fair_share_weight
        tn.cap[i] = _NO_CAP if tenant.max_gpus is None else tenant.max_gpus
        tn.flex_s[i] = tenant.flexibility_h * 3600.0
        tn.changed(weights=True)
        for proj in tenant.projects:
            key = (tenant.id, proj.id)
            if key not in self.alloc_rows:
                self.alloc_rows[key] = len(self.alloc_rows)
                self.alloc_remaining_gpu_h = np.vstack([self.alloc_remaining_gpu_h, np.zeros((1, self.ix.n_sites))])
            row = self.alloc_rows[key]
            for site_id, hours in proj.allocations_gpu_h.items():
                s = self.ix.site_index.get(site_id)
                if s is not None:
                    self.alloc_remaining_gpu_h[row, s] = hours

    def alloc_row_for(self, tenant_id: str, project: str | None) -> int:
        """The allocation row charged for a job: its project, or the tenant's only project; -1 if none."""
        if project is None:
            i = self.tenants.index.get(tenant_id)
            if i is None or len(self.tenants.specs[i].projects) != 1:
                return -1
            project = self.tenants.specs[i].projects[0].id
        return self.alloc_rows.get((tenant_id, project), -1)

    def copy(self) -> ClusterState:
        """A state that can be mutated without touching this one (the fleet index is shared)."""
        # through the constructor (then replaced), not __new__: compiled by mypyc, __new__ runs __init__ anyway
        st = ClusterState(self.ix, fair_share_half_life_s=self.fair_share_half_life_s)
        st.node_free = self.node_free.copy()
        st._ge = self.ge.copy()
        st._ge_flat = _flat(st._ge)
        st._ge_rows = [list(r) for r in self._ge_rows]
        st._ge_diff = [[0] * (MAX_GPUS_PER_NODE + 2) for _ in range(self.ix.n_pools)]
        st._ge_stale = set()
        st._pool_free = list(self._pool_free)
        st._site_draw = list(self._site_draw)
        st._arrays = None
        st.running = dict(self.running)
        st.pool_jobs = [dict(d) for d in self.pool_jobs]
        st.site_events = [dict(d) for d in self.site_events]
        st.preemptible_by_priority = dict(self.preemptible_by_priority)
        st.tenants = self.tenants.copy()
        st.usage_ref_s = self.usage_ref_s
        st.alloc_rows = dict(self.alloc_rows)
        st.alloc_remaining_gpu_h = self.alloc_remaining_gpu_h.copy()
        return st

    # ----------------------------------------------------------------- views
    @property
    def ge(self) -> IArr:
        """``ge[p, k]``: nodes of pool ``p`` with at least ``k`` free GPUs (readers must not write to it).

        The mutators move nodes in ``node_free`` at once but book the level changes as a difference row
        per pool (two list updates a node, however many levels it crosses); reading ``ge`` adds them in.
        A driver applies many starts and finishes between two passes, and each pass reads ``ge`` once.
        """
        if self._ge_stale:
            self._settle_ge()
        return self._ge

    def ge_rows(self) -> list[list[int]]:
        """:attr:`ge` as a list of rows, one list per pool (readers must not write to them): a pass's scalar
        tests read a few counts, and listing the array anew each pass cost more than all of those reads."""
        if self._ge_stale:
            self._settle_ge()
        return self._ge_rows

    def _settle_ge(self) -> None:
        """Add the booked level changes into ``ge`` and its rows."""
        rows = self._ge_rows
        width = MAX_GPUS_PER_NODE + 1
        flat = self._ge_flat
        for p in self._ge_stale:
            diff = self._ge_diff[p]
            row = rows[p]
            at = p * width
            level = 0
            for k in range(width):
                level += diff[k]
                if level:
                    flat[at + k] += level
                    row[k] += level
            self._ge_diff[p] = [0] * (MAX_GPUS_PER_NODE + 2)
        self._ge_stale.clear()

    @property
    def pool_free_gpus(self) -> IArr:
        """Free GPUs per pool (readers must not write to it)."""
        return self._views()[0]

    @property
    def site_draw_w(self) -> FArr:
        """Facility watts drawn per site by running jobs (readers must not write to it)."""
        return self._views()[1]

    def free_lists(self) -> tuple[list[int], list[float]]:
        """:attr:`pool_free_gpus` and :attr:`site_draw_w` as the lists the mutators keep (readers must not write
        to them): a pass takes its own copies from these without building the arrays first."""
        return self._pool_free, self._site_draw

    def _views(self) -> tuple[IArr, FArr]:
        if self._arrays is None:
            self._arrays = (np.array(self._pool_free, dtype=np.int64), np.array(self._site_draw, dtype=np.float64))
        return self._arrays

    @property
    def free_gpus(self) -> int:
        return sum(self._pool_free)

    @property
    def total_gpus(self) -> int:
        return int(self.ix.pool_gpus.sum())

    def tenant_usage_share(self) -> FArr:
        """Each tenant's share of the fleet's decayed usage (sums to 1, or all 0 before any use)."""
        return self.tenants.usage_share()

    def min_victim_priority(self) -> float:
        """The lowest priority among running preemptible jobs (inf when none): no job at or below it can preempt."""
        return float(min(self.preemptible_by_priority)) if self.preemptible_by_priority else math.inf

    def pool_slice(self, p: int) -> slice:
        return slice(int(self.ix.pool_offset[p]), int(self.ix.pool_offset[p + 1]))

    # ----------------------------------------------------------------- mutators (drivers only)
    def _add_usage(self, tenant: int, gpu_s: float, now_s: float) -> None:
        """Add usage decayed with the configured half-life, stored relative to one reference time.

        Every tenant's usage is scaled to the same reference time, so the shares the fair-share factor
        needs do not depend on when they are read; the reference moves forward before the scale overflows.
        """
        hl = self.fair_share_half_life_s
        exponent = (now_s - self.usage_ref_s) / hl
        tn = self.tenants
        if exponent > 40.0:
            scale = 2.0 ** (-exponent)
            tn.usage_of = [u * scale for u in tn.usage_of]
            self.usage_ref_s = now_s
            exponent = 0.0
        usage = tn.usage_of[tenant] + gpu_s * 2.0**exponent
        tn.usage_of[tenant] = usage if usage > 0.0 else 0.0
        tn.changed()

    def _set_nodes(self, p: int, nodes: tuple[int, ...], delta: int) -> None:
        """Change free GPUs on ``nodes`` (distinct pool-relative ints) of pool ``p`` by ``delta``: ``node_free``
        and ``pool_free_gpus`` now, ``ge`` through the pool's difference row (see :attr:`ge`).

        A node going from ``old`` to ``new`` free GPUs changes the levels strictly between them: the row
        gets -1 at ``min + 1`` and +1 at ``max + 1`` (or the reverse), whatever the distance; in both
        directions that is +1 at ``old + 1`` and -1 at ``new + 1``.
        """
        node_free = self.node_free
        off = self.ix.offset_of[p]
        diff = self._ge_diff[p]
        if len(nodes) <= 8:
            for k in nodes:
                i = k + off
                old = node_free.item(i)
                node_free[i] = old + delta
                diff[old + 1] += 1
                diff[old + delta + 1] -= 1
        else:  # a large gang: one gather, one scatter and a count of the nodes at each old level
            idx = np.asarray(nodes, dtype=np.int64) + off
            old_free = node_free[idx]
            node_free[idx] = old_free + delta
            for old, count in enumerate(np.bincount(old_free, minlength=MAX_GPUS_PER_NODE + 1).tolist()):
                if count:
                    diff[old + 1] += count
                    diff[old + delta + 1] -= count
        self._ge_stale.add(p)
        self._pool_free[p] += delta * len(nodes)
        self._arrays = None

    def pick_nodes(self, p: int, nodes: int, gpus_per_node: int, exclude: BArr | None = None) -> IArr | None:
        """Best-fit nodes of pool ``p`` for ``nodes`` x ``gpus_per_node`` (see :func:`best_fit_nodes`)."""
        return best_fit_nodes(
            self.node_free[self.pool_slice(p)], nodes, gpus_per_node, int(self.ix.pool_gpn[p]), exclude
        )

    def start_job(self, job: JobSpec, start: Start, now_s: float) -> RunningJob:
        """Apply a Start: mark its nodes busy, add its facility power, charge allocation and fair-share usage."""
        ix = self.ix
        spec = job.__dict__  # the spec's fields: a pydantic attribute read costs ~2 dict lookups
        job_id = spec["id"]
        if job_id in self.running:
            raise ConflictError(f"job {job_id!r} is already running")
        if job_id != start.job_id:
            raise InputError(f"start.job_id {start.job_id!r} does not match job.id {job_id!r}")
        p = ix.pool_key.get((start.site_id, start.pool_id))
        if p is None:
            raise NotFound(f"pool {start.site_id}/{start.pool_id} is not in the fleet")
        tenant = spec["tenant"]
        t = self.tenants.index.get(tenant)
        if t is None:
            raise NotFound(f"tenant {tenant!r} of job {job_id!r} is not registered; register it first")
        gpn = start.gpus_per_node
        n_nodes = start.nodes
        pool_nodes = ix.nodes_of[p]
        if not 1 <= gpn <= ix.gpn_of[p] or n_nodes < 1:
            raise InputError(f"start of {job_id}: {n_nodes} x {gpn} GPUs does not fit nodes of {ix.gpn_of[p]} GPUs")
        named: tuple[Any, ...] = start.node_indices  # callers may name nodes with numpy integers
        nodes: tuple[int, ...]
        if named:
            nodes = (int(named[0]),) if len(named) == 1 else tuple(sorted({int(k) for k in named}))
            if len(nodes) != n_nodes or nodes[0] < 0 or nodes[-1] >= pool_nodes:
                what = "1 distinct index" if n_nodes == 1 else f"{n_nodes} distinct indices"
                raise InputError(f"start of {job_id}: node_indices {named} must be {what} in [0, {pool_nodes})")
            off = ix.offset_of[p]
            if len(nodes) <= 8:  # one node or a small gang, in scalars (a numpy gather costs ~5 us)
                item = self.node_free.item
                short = item(nodes[0] + off) < gpn if len(nodes) == 1 else any(item(k + off) < gpn for k in nodes)
            else:
                short = bool((self.node_free[np.array(nodes, dtype=np.int64) + off] < gpn).any())
            if short:
                raise ConflictError(
                    f"start of {job_id}: a node in {named} of {ix.pool_name(p)} has fewer than {gpn} free GPUs"
                )
        else:
            picked = self.pick_nodes(p, n_nodes, gpn)
            if picked is None:
                raise ConflictError(f"start of {job_id}: {ix.pool_name(p)} has no {n_nodes} nodes with {gpn} free GPUs")
            nodes = tuple(picked.tolist())
        self._set_nodes(p, nodes, -gpn)
        gpus = len(nodes) * gpn
        kind = spec["kind"]
        # hexagrid.domain.accelerators.runtime_s, with the pool's throughputs as plain floats: the same
        # operations on the same doubles, so the same times to the last bit
        if kind is _INFERENCE:
            ref_tp, tp = ix.ref_tp_infer, ix.tp_infer_of[p]
        else:
            ref_tp, tp = ix.ref_tp_train, ix.tp_train_of[p]
        expected_s = spec["expected_duration_s"]
        wall_limit_s = spec["walltime_s"]
        if wall_limit_s is None:
            wall_limit_s = expected_s
        run_s = expected_s * ref_tp / tp
        wall_s = wall_limit_s * ref_tp / tp
        power = gpus * ix.w_per_gpu_of[_KIND_INDEX_BY_ID[id(kind)]][p]
        s = ix.site_of[p]
        self._site_draw[s] += power
        self._arrays = None
        self.tenants.in_use_of[t] += gpus
        usage = gpus * run_s
        self._add_usage(t, usage, now_s)
        row, charged = -1, 0.0
        if ix.public_of[p]:
            row = self.alloc_row_for(tenant, spec["project"])
            if row >= 0:
                charged = gpus * run_s / 3600.0
                self.alloc_remaining_gpu_h[row, s] -= charged
        rj = _new_running(  # in field order, skipping NamedTuple's Python-level __new__
            RunningJob,
            (
                job_id,
                tenant,
                spec["project"],
                kind,
                p,
                s,
                nodes,
                gpn,
                now_s,
                now_s + run_s,
                now_s + wall_s,
                power,
                spec["preemptible"],
                spec["priority"],
                spec["checkpoint_interval_s"],
                row,
                charged,
                usage,
                0.0,
            ),
        )
        self.running[job_id] = rj
        self.pool_jobs[p][job_id] = rj
        self.site_events[s][job_id] = (rj.walltime_end_s, p, nodes, gpn, power)
        if rj.preemptible:
            self.preemptible_by_priority[rj.priority] = self.preemptible_by_priority.get(rj.priority, 0) + 1
        return rj

    def finish_job(self, job_id: str, now_s: float) -> RunningJob:
        """Release a job that ended (or, through :meth:`preempt_job`, was stopped); usage and allocation
        are corrected to the time it really ran."""
        rj = self.running.pop(job_id, None)
        if rj is None:
            raise NotFound(f"job {job_id!r} is not running")
        # the fields this needs, in one unpacking (a named tuple's field read is a descriptor call)
        _, tenant, _, _, p, s, nodes, gpn, start_s, _, _, power_w, preemptible, priority, _, row, charged, usage, _ = rj
        del self.pool_jobs[p][job_id]
        del self.site_events[s][job_id]
        if preemptible:
            left = self.preemptible_by_priority[priority] - 1
            if left:
                self.preemptible_by_priority[priority] = left
            else:
                del self.preemptible_by_priority[priority]
        self._set_nodes(p, nodes, gpn)
        draw = self._site_draw[s] - power_w
        self._site_draw[s] = draw if draw > 0.0 else 0.0  # max(0.0, draw) without the builtin call
        self._arrays = None
        t = self.tenants.index.get(tenant)
        gpus = len(nodes) * gpn
        ran_s = now_s - start_s
        actual_gpu_s = gpus * (ran_s if ran_s > 0.0 else 0.0)
        if t is not None:
            self.tenants.in_use_of[t] -= gpus
            self._add_usage(t, actual_gpu_s - usage, now_s)
        if row >= 0:
            self.alloc_remaining_gpu_h[row, s] += charged - actual_gpu_s / 3600.0
        return rj

    def preempt_job(self, job_id: str, now_s: float) -> RunningJob:
        """Release a stopped job; the returned record says how much work was lost since its last checkpoint."""
        rj = self.finish_job(job_id, now_s)
        return rj._replace(lost_work_gpu_s=rj.work_at_risk_gpu_s(now_s))
