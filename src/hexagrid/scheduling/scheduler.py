"""``Scheduler.decide``: one pure pass over the queue — order, eligibility, placement, backfill, deferral, preemption.

A pass copies the few arrays it changes (free GPUs per node, per-pool level counts, site headroom,
tenants' GPUs in use, allocations) and walks the queue in policy order. For each job it narrows the
fleet's pools with vector masks (memoised per job signature), scores the survivors by the job's
objective and packs the job best-fit. Failures that only get worse as a pass fills the fleet
(capacity, power, allocation) are memoised per signature too, so a refused job costs a dict lookup.
"""

from __future__ import annotations

import enum
import gc
import itertools
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import numpy as np

from hexagrid.domain.decisions import Decision, Defer, NotNow, Preempt, ReasonCode, Start
from hexagrid.domain.jobs import JobSpec
from hexagrid.domain.kinds import Objective
from hexagrid.domain.signals import CarbonSignals
from hexagrid.errors import InputError
from hexagrid.gcpause import gc_paused
from hexagrid.scheduling.backfill import Event, Reservation, earliest_start
from hexagrid.scheduling.config import SchedulerConfig
from hexagrid.scheduling.queue import JobQueue, JobRow
from hexagrid.scheduling.rules import PassRules, fmt_time, funnel, static_masks, static_message, static_rules
from hexagrid.scheduling.state import (
    KINDS,
    LIST_NODES,
    MAX_GPUS_PER_NODE,
    BArr,
    ClusterState,
    FArr,
    FleetIndex,
    I16Arr,
    IArr,
    RunningJob,
    apply_nodes,
    best_fit_nodes,
    best_fit_pool,
)

__all__ = ["Scheduler", "carbon_intensity_by_pool", "order_queue"]

#: Numbers passes so a job row can remember its entry for the current pass (a memo, not an input).
_PASS_SERIAL: Final = itertools.count()
#: Epochs of the per-entry memos: a new one per pass and per preemption (memos that assumed a shrinking fleet).
_EPOCHS: Final = itertools.count()
_ENTRY_UIDS: Final = itertools.count()
_VOLATILE: Final = (ReasonCode.OFFLINE, ReasonCode.WINDOW)  # reasons whose sentence names the pass's time
_TIE_EPS: Final = 1e-6  # best-fit tie-break weight: far below any real score difference
_TRANSIENT: Final = (ReasonCode.CAPACITY, ReasonCode.POWER_ENVELOPE)
#: queues up to this long are ordered in scalars (compiled, measured on the ITP trace's jobs: 12 against 81 us
#: at 20 jobs, 102 against 127 us at 320, about even near 1,300)
_SMALL_QUEUE = 1024
#: queues up to this long are bounded in scalars by a quiet pass (measured: 0.26 against 0.67 ms at 50 jobs,
#: 7.8 against 17.9 ms at 1,000, about even near 10,000: the vector form's per-signature tests cost more)
_SCALAR_BOUNDS: Final = 4096
#: lanes of fleets with up to this many pools hold their pools as bytes (a pool number fits in one)
_BYTE_LANES = 256
#: lane orders over more pools than this are built in vector form (fewer: in scalars, see _LaneOrder)
_VECTOR_LANES = 64


def carbon_intensity_by_pool(ix: FleetIndex, signals: CarbonSignals | None, now_s: float) -> FArr:
    """gCO2/kWh in force at ``now_s`` for each pool's grid zone.

    Zones the signals do not cover get the mean of those they do (an estimate, so a missing zone is
    neither favoured nor excluded); without signals every pool gets 0 and carbon stops mattering.
    """
    return _by_pool(ix, _zone_intensities(ix, signals, now_s))


def _zone_intensities(ix: FleetIndex, signals: CarbonSignals | None, now_s: float) -> tuple[float | None, ...] | None:
    """The intensity at ``now_s`` of each of the fleet's zones (None where the signals do not cover it)."""
    if signals is None:
        return None
    covered = signals.zones()
    return tuple(float(signals.intensity_g_per_kwh(z, now_s)) if z in covered else None for z in ix.zones)


def _by_pool(ix: FleetIndex, zone_values: tuple[float | None, ...] | None) -> FArr:
    if zone_values is None:
        return np.zeros(ix.n_pools)
    vals = [v for v in zone_values if v is not None]
    fill = float(np.mean(vals)) if vals else 0.0
    by_zone = np.array([fill if v is None else v for v in zone_values])
    return by_zone[ix.site_zone_code[ix.pool_site]]


class _Intensity:
    """A pass's carbon intensity per pool (array and list) and its bytes, the key of the memos that depend on it."""

    __slots__ = ("by_pool", "by_pool_of", "ix", "key", "zone_values")

    def __init__(self, ix: FleetIndex, zone_values: tuple[float | None, ...] | None) -> None:
        self.ix = ix
        self.zone_values = zone_values
        self.by_pool = _by_pool(ix, zone_values)
        self.by_pool.setflags(write=False)
        self.by_pool_of: list[float] = self.by_pool.tolist()
        self.key = self.by_pool.tobytes()


class _SignalSpan:
    """What the signals say over one span (``hour_span``, see :class:`CarbonSignals`): the intensities, and
    memos of the forecasts issued then, shared by the passes of that span ``[from_s, until_s)``."""

    __slots__ = ("cumsums", "deferrals", "from_s", "intensity", "lanes", "signals", "until_s")

    def __init__(self, signals: CarbonSignals | None, span: tuple[float, float], intensity: _Intensity) -> None:
        self.signals = signals
        self.from_s, self.until_s = span
        self.intensity = intensity
        #: cumulative forecast by zone code (None where the signals do not cover the zone); see _Pass.forecast_cumsum
        self.cumsums: dict[int, FArr | None] = {}
        #: the greenest start hour by (zone code, run hours, latest start hour): (hour, mean now, mean then)
        self.deferrals: dict[tuple[int, int, int], tuple[int, float, float]] = {}
        #: the last (pools online and open, lane orders for them), see Scheduler.lane_orders_for
        self.lanes: tuple[bytes, dict[tuple[object, ...], _LaneOrder]] | None = None


def order_queue(
    q: JobQueue,
    state: ClusterState,
    config: SchedulerConfig,
    now_s: float,
    tix: IArr | list[int] | None = None,
) -> IArr:
    """Queue positions in the order the pass considers them; ties by submit time, then job id.

    ``multifactor`` is Slurm's classic multifactor priority: ``w_age * age + w_fs * F + w_qos * qos``
    with each factor in [0, 1]; ``F = 2 ** (-U / S)`` where ``U`` is the tenant's share of the
    fleet's decayed usage and ``S`` its normalised fair-share weight (fair-share factor of Slurm's
    classic algorithm); ``qos`` maps priority -1000..1000 onto 0..1. ``tix``: each job's tenant index
    (-1 for tenants the state does not know), where the caller has it.
    """
    small = _order_list(q, state, config, now_s, tix)
    if small is not None:
        return np.array(small, dtype=np.int64)
    return _order_vector(q, state, config, now_s, tix)


def _order_positions(
    q: JobQueue, state: ClusterState, config: SchedulerConfig, now_s: float, tix: list[int]
) -> list[int]:
    """:func:`order_queue` as a list (a short queue's scalar order is not turned into an array and back)."""
    small = _order_list(q, state, config, now_s, tix)
    if small is not None:
        return small
    positions: list[int] = _order_vector(q, state, config, now_s, tix).tolist()
    return positions


def _order_list(
    q: JobQueue, state: ClusterState, config: SchedulerConfig, now_s: float, tix: IArr | list[int] | None
) -> list[int] | None:
    """:func:`order_queue` as a list, in scalars for a short queue under ``multifactor`` (None where the vector
    form must order it: a long queue, another order, a NaN score)."""
    n = len(q)
    if n <= 1:  # nothing to order (a queue of one is common between passes)
        return [0] * n
    if n > _SMALL_QUEUE or config.queue_order != "multifactor":
        return None
    tn = state.tenants
    tix_l: list[int]
    if tix is None:
        index = tn.index
        tix_of = [index.get(t, -1) for t in q.tenant_names]
        tix_l = [tix_of[c] for c in q.tenant_code_l]
    else:
        tix_l = tix if isinstance(tix, list) else tix.tolist()
    return _multifactor_small(q, config, now_s, tn.fair_share_of(), tix_l)


def _order_vector(
    q: JobQueue, state: ClusterState, config: SchedulerConfig, now_s: float, tix: IArr | list[int] | None
) -> IArr:
    n = len(q)
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    if config.queue_order == "fifo":
        return _sorted_by_id_within_ties(q, q.submit_s, None)
    if config.queue_order == "priority":
        return _sorted_by_id_within_ties(q, q.submit_s, -q.priority)
    tn = state.tenants
    fs = tn.fair_share_factors()
    if tix is None:
        tix = np.array([tn.index.get(t, -1) for t in q.tenant_names], dtype=np.int64)[q.tenant_code]
    else:
        tix = np.asarray(tix, dtype=np.int64)
    fs_job = np.where(tix >= 0, fs[np.maximum(tix, 0)] if len(fs) else 0.0, 0.0)
    age = np.clip((now_s - q.submit_s) / config.max_age_s, 0.0, 1.0)
    qos = (q.priority + 1000.0) / 2000.0
    score = config.weight_age * age + config.weight_fair_share * fs_job + config.weight_qos * qos
    return _sorted_by_id_within_ties(q, q.submit_s, -score)


def _multifactor_small(
    q: JobQueue, config: SchedulerConfig, now_s: float, fs_of: list[float], tix: list[int]
) -> list[int] | None:
    """:func:`order_queue`'s multifactor order for a short queue, in scalars: the same float operations in
    the same order as the vector form, so the same scores and the same order (a sort on (-score, submit,
    job id): job ids are unique in a queue, and Python orders strings by code point as numpy does). None
    where a score or submit time is NaN (the vector form orders those)."""
    w_age, w_fs, w_qos, max_age_s = config.weight_age, config.weight_fair_share, config.weight_qos, config.max_age_s
    keys: list[tuple[float, float, str, int]] = []
    for i, (row, t) in enumerate(zip(q.rows, tix)):
        submit = row.submit_s
        age = (now_s - submit) / max_age_s
        age = 0.0 if age < 0.0 else 1.0 if age > 1.0 else age  # np.clip(age, 0.0, 1.0)
        score = w_age * age + w_fs * (fs_of[t] if t >= 0 else 0.0) + w_qos * ((row.priority + 1000.0) / 2000.0)
        if score != score or submit != submit:
            return None
        keys.append((-score, submit, row.id, i))  # (the ids are unique: the position is never compared)
    keys.sort()  # the tuples themselves: no key function to call per job
    return [k[3] for k in keys]


def _sorted_by_id_within_ties(q: JobQueue, submit_s: FArr, key: FArr | None) -> IArr:
    """Positions by ``key`` then submit time, ties by job id: the same order as a lexsort on the three.

    Sorting strings is the slow part of a lexsort over a long queue and true ties are rare, so the
    numbers are sorted first (stably) and only runs of equal (key, submit) are then put in id order.
    """
    order = np.lexsort((submit_s,) if key is None else (submit_s, key))
    a = submit_s[order]
    same = a[1:] == a[:-1]
    if key is not None:
        k = key[order]
        same &= k[1:] == k[:-1]
    if not same.any():
        return order
    ids = q.ids
    edges = np.flatnonzero(np.diff(np.concatenate(([0], same.view(np.int8), [0]))))
    for lo, hi in zip(edges[::2].tolist(), edges[1::2].tolist()):
        run = order[lo : hi + 1]  # positions lo..hi hold one run of equal keys
        order[lo : hi + 1] = run[np.argsort(ids[run], kind="stable")]
    return order


@dataclass(slots=True)
class _Entry:
    """A job signature's view of this pass: the pools its hard rules admit (a mask over all pools)."""

    uid: int
    reason: ReasonCode | None
    message: str
    mask: BArr
    g: IArr  # GPUs per node on each pool
    n: IArr  # nodes on each pool
    shape_key: tuple[int, int, int]
    lat_ms: FArr | None
    has_public: bool
    has_window: bool
    tp: FArr
    ref_tp: float
    first_fit: bool
    # per-pass memos on the entry itself (no tuple hashing per job); valid while ``epoch`` matches the pass's
    epoch: int = -1
    capok: BArr | None = None
    pows: list[tuple[FArr, BArr] | None] | None = None  # by kind: (W per pool, power ok)
    fail0: list[tuple[ReasonCode, str] | None] | None = None  # by job kind: power per GPU depends on it
    pools: list[int] | None = None  # the pools ``mask`` admits, for the scalar no-room verdict
    no_room: str | None = None  # the sentence of a CAPACITY verdict (POWER_ENVELOPE adds to it)
    # ``mask`` as bytes (padded to 256 where the fleet has no more pools: a translation table for the walk)
    admits: bytes | None = None
    lane: tuple[tuple[object, ...], _Lane] | None = None  # the last (score key, lane) of this epoch
    # (GPUs per node, nodes) of the shape on each pool as lists and the pools with both (online, open): lanes read them
    shape_pools: tuple[list[int], list[int], list[int]] | None = None


class _LaneOrder:
    """The pools a gang shape and score key can use, best score first: the placement walk's order.

    A pure function of the shape, the score key, the pools online and open, and the carbon intensities,
    so the scheduler keeps it across passes that share them. Pools whose scores lie within the best-fit
    tie-break of each other form a ``cluster`` and are ``tied``: the walk ranks them by score plus
    tie-break, as the vector placement does. ``order`` is empty where a score is not finite, leaving
    those jobs to the vector placement.
    """

    __slots__ = ("cluster", "g", "n", "order", "pw", "rank", "score", "tied")

    def __init__(self, ps: _Pass, row: JobRow, e: _Entry) -> None:
        # in scalars where a fleet has tens of pools: a lane order is rebuilt whenever the intensities change
        # (hourly), where a dozen numpy calls on so few pools cost several times the Python loop; over more
        # pools than _VECTOR_LANES the vector form is the cheaper (the same float operations, so the same order)
        shape = e.shape_pools
        if shape is None:  # every entry of the shape is within these pools (pass_ok is the entry's own)
            ix = ps.ix
            pools_ok = np.flatnonzero(ps.pass_ok & (e.g > 0) & (e.n <= ix.pool_nodes)).tolist()
            shape = e.shape_pools = (e.g.tolist(), e.n.tolist(), pools_ok)
        self.g, self.n, pools = shape
        gpus = row.gpus
        n_pools = len(self.g)
        if len(pools) > _VECTOR_LANES and not e.first_fit:
            self._vector(ps, row, e, pools)
            return
        self.pw: list[float] = [gpus * w for w in ps.ix.w_per_gpu_of[row.kind]]
        cluster = list(range(n_pools))
        tied = [False] * n_pools
        if e.first_fit:
            order = pools
            self.score: list[float] = []
        else:
            sc = self.score = ps.score(row, e).of
            # a stable sort of the pools (ascending) by score: numpy's stable argsort, ties by pool index; only
            # where every score is finite
            finite = True
            for p in pools:
                v = sc[p]
                if v - v != 0.0:  # NaN or infinite
                    finite = False
                    break
            order = sorted(pools, key=sc.__getitem__) if finite else []
            cid = 0
            size = [0] * (len(order) + 1)
            prev = 0.0
            for k, p in enumerate(order):
                s = sc[p]
                # a gap of more than twice the largest tie-break (with room for rounding) orders two pools for sure
                if k and s - prev > 2 * _TIE_EPS * (1.0 + abs(s)):
                    cid += 1
                cluster[p] = cid
                size[cid] += 1
                prev = s
            for p in order:
                tied[p] = size[cluster[p]] > 1
        self.order: list[int] = order
        rank = [len(order)] * n_pools  # position in the order (pools outside it: past the end)
        for k, p in enumerate(order):
            rank[p] = k
        self.rank = rank
        self.cluster: list[int] = cluster
        self.tied: list[bool] = tied

    def _vector(self, ps: _Pass, row: JobRow, e: _Entry, pools: list[int]) -> None:
        """The scalar build's lists for an objective's order over many pools, from vector operations: a stable
        argsort (ties by pool index, as the scalar sort) and the same gap test on the same floats."""
        n_pools = len(self.g)
        self.pw = (row.gpus * ps.ix.pool_w_per_gpu[row.kind]).tolist()  # int x double, as in Python
        score = ps.score(row, e)
        sc = score.array()
        self.score = score.of
        at = np.array(pools, dtype=np.int64)
        # a stable sort of the pools by score where all are finite; none where one is not (as in scalars)
        order = at[np.argsort(sc[at], kind="stable")] if np.isfinite(sc[at]).all() else at[:0]
        cluster = np.arange(n_pools)
        tied = np.zeros(n_pools, dtype=np.bool_)
        rank = np.full(n_pools, len(order), dtype=np.int64)  # pools outside the order: past its end
        if len(order):
            ss = sc[order]
            gap = np.diff(ss) > 2 * _TIE_EPS * (1.0 + np.abs(ss[1:]))
            cid = np.concatenate(([0], np.cumsum(gap)))
            cluster[order] = cid
            tied[order] = np.bincount(cid)[cid] > 1
            rank[order] = np.arange(len(order))
        self.order = order.tolist()
        self.rank = rank.tolist()
        self.cluster = cluster.tolist()
        self.tied = tied.tolist()


class _Lane:
    """A lane's order for one pass: ``alive`` drops a pool once it lacks the room or the megawatts for the
    shape and kind (a pass only takes, so that stays true until a preemption renews the epoch and the lanes).
    """

    __slots__ = ("alive", "cluster", "first_admitted", "g", "n", "pw", "rank", "score", "tied")

    def __init__(self, lo: _LaneOrder) -> None:
        # pool numbers fit in bytes in fleets of up to 256 pools: the walk then finds an entry's next admitted pool
        # with two C calls (a translate through the entry's mask, a find) instead of testing the pools one by one
        self.alive: bytearray | list[int] = bytearray(lo.order) if len(lo.g) <= _BYTE_LANES else list(lo.order)
        # by entry uid: the rank of its first admitted pool still alive when last walked (alive only shrinks)
        self.first_admitted: dict[int, int] = {}
        self.g, self.n, self.pw, self.score = lo.g, lo.n, lo.pw, lo.score
        self.rank, self.cluster, self.tied = lo.rank, lo.cluster, lo.tied


class _Signatures:
    """The queue's jobs by (signature, tenant class): each pair's entry looked up once, not once per job.

    ``tix_l`` is each job's tenant index (-1 for tenants the scheduler does not know; their entry is
    that of class 0, unused), ``sig_l`` each job's position in ``entries``, and ``pairs_l`` the
    ``signature code * 2 + class`` of each entry. A short queue is grouped in scalars, in one loop (its
    pairs in first-seen order), a long one with vectors (its pairs ascending); ``tix``, ``inverse`` and
    ``pairs`` are the same as arrays. Nothing downstream depends on the order of the pairs.
    """

    __slots__ = ("_arrays", "entries", "pairs_l", "sig_l", "tix_l")

    def __init__(self, ps: _Pass, q: JobQueue) -> None:
        tindex = ps.tindex
        self._arrays: tuple[IArr, IArr, IArr] | None = None
        if len(q) <= _SCALAR_BOUNDS:
            tix_of = [tindex.get(t, -1) for t in q.tenant_names]  # by tenant code
            klass = ps.klass
            k0 = klass[0] if klass else 0
            class_of = [(klass[t] if t >= 0 else k0) if klass else 0 for t in tix_of]
            sig: list[int] = []
            pairs: list[int] = []
            code = [-1] * (2 * len(q.skey_rows))  # by pair: its position in pairs (a list: no int to hash)
            for c, s in zip(q.tenant_code_l, q.skey_code_l):
                u = s * 2 + class_of[c]
                k = code[u]
                if k < 0:
                    k = code[u] = len(pairs)
                    pairs.append(u)
                sig.append(k)
            self.tix_l, self.sig_l, self.pairs_l = [tix_of[c] for c in q.tenant_code_l], sig, pairs
        else:
            klass_a = ps.state.tenants.klass
            tix_a: IArr = np.array([tindex.get(t, -1) for t in q.tenant_names], dtype=np.int64)[q.tenant_code]
            pair_a = q.skey_code * 2 + klass_a[np.maximum(tix_a, 0)] if len(klass_a) else q.skey_code * 2
            present = np.zeros(2 * len(q.skey_rows), dtype=np.bool_)  # np.unique without its sort
            present[pair_a] = True
            pairs_a: IArr = np.flatnonzero(present)
            code_a = np.empty(len(present), dtype=np.int64)
            code_a[pairs_a] = np.arange(len(pairs_a))
            inverse_a: IArr = code_a[pair_a]
            self._arrays = (tix_a, inverse_a, pairs_a)
            self.tix_l, self.sig_l, self.pairs_l = tix_a.tolist(), inverse_a.tolist(), pairs_a.tolist()
        # the entries kept for this queue's pairs (no signature to hash); the others looked up or built together
        # a quiet pass also keeps OFFLINE and WINDOW entries (their own table): it never reads the sentence that
        # names the pass's time, and whether an entry admits a pool depends on the pools online and open alone
        stable, volatile = ps.sched.pair_entries(q, ps.entries)
        kept = volatile if ps.quiet else stable
        entries = [kept.get(u) for u in self.pairs_l]
        todo = [k for k, e in enumerate(entries) if e is None]
        if todo:
            pairs = [self.pairs_l[k] for k in todo]
            skeys = list(q.skey_codes)  # the signatures in code order (codes are handed out as first seen)
            found = ps.entries_of(
                [q.skey_rows[u >> 1] for u in pairs], [u & 1 for u in pairs], [skeys[u >> 1] for u in pairs]
            )
            for k, u, e in zip(todo, pairs, found):
                entries[k] = e
                if ps.quiet:
                    volatile[u] = e
                if e.reason not in _VOLATILE:  # else it lives one pass, unless quiet
                    stable[u] = e
        self.entries: list[_Entry] = [e for e in entries if e is not None]  # every pair has one now

    def _as_arrays(self) -> tuple[IArr, IArr, IArr]:
        """``tix``, ``inverse`` and ``pairs`` as arrays (built once, where a vector form asks for them)."""
        if self._arrays is None:
            as_array = np.array
            self._arrays = (
                as_array(self.tix_l, dtype=np.int64),
                as_array(self.sig_l, dtype=np.int64),
                as_array(self.pairs_l, dtype=np.int64),
            )
        return self._arrays

    @property
    def tix(self) -> IArr:
        return self._as_arrays()[0]

    @property
    def inverse(self) -> IArr:
        return self._as_arrays()[1]

    @property
    def pairs(self) -> IArr:
        return self._as_arrays()[2]


def _no_room_message(row: JobRow, e: _Entry, reason: ReasonCode) -> str:
    """The sentence of a CAPACITY or POWER_ENVELOPE verdict: it depends on the signature only, so it is kept."""
    msg = e.no_room
    if msg is None:
        msg = e.no_room = f"no {row.where_desc}site with {row.gpus} free {row.acc_desc}{row.shape_desc()}"
    return msg if reason is ReasonCode.CAPACITY else f"{msg} within its power envelope"


class _VectorBounds:
    """The quiet pass's bulk tests over a long queue, as vectors over jobs (see :meth:`Scheduler._decide_quietly`).

    ``tix_l``, ``cap_l``, ``sig_l`` and ``preempts_l`` are, by queue position: the tenant's index (0 for
    unknown tenants), the GPUs in use at or below which the tenant may start the job, the job's entry
    in ``sg.entries`` and whether it may preempt.
    """

    def __init__(self, sched: Scheduler, ps: _Pass, q: JobQueue, sg: _Signatures, floor: float) -> None:
        ix = ps.ix
        self.ps, self.q, self.entries, self.inverse = ps, q, sg.entries, sg.inverse
        self.tix = np.maximum(sg.tix, 0)
        self.sigs = sg.pairs
        self.live = (sg.tix >= 0) & np.array([e.reason is None for e in self.entries], dtype=np.bool_)[self.inverse]
        # the tenant's GPUs in use must stay at or below this for the job to start
        self.cap = ps.state.tenants.cap[self.tix] - q.gpus
        self.may_preempt = ~q.preemptible & (q.priority > floor) if floor < math.inf else np.zeros(len(q), np.bool_)
        self.tix_l: list[int] = self.tix.tolist()
        self.cap_l: list[int] = self.cap.tolist()
        self.sig_l: list[int] = sg.sig_l
        self.preempts_l: list[bool] = self.may_preempt.tolist()
        self.arows: IArr | None = None
        self.checked: list[int] = []
        self.spent: list[bool] = []
        self.order = self.tix[:0]
        # the signatures' masks and gang shapes stacked (signature x pool): one vector test for all
        no_pools = ps.lists.no_pools
        self.admits = np.array([e.mask if e.reason is None else no_pools for e in self.entries])
        self.shape_n = np.array([e.n for e in self.entries])
        self.at_level = ps.lists.ge_base + np.array([e.g for e in self.entries])  # where each level sits in ge
        self.per_job_tests = [
            u
            for u, e in enumerate(self.entries)
            if e.reason is None and ((e.has_public and not int(self.sigs[u]) & 1) or e.has_window)
        ]
        self.public, self.windowed = ix.pool_public, ix.pool_windowed

    def fits_now(self, ge: IArr, alloc: FArr, idx: IArr) -> BArr:
        """For jobs ``idx``: some admitted pool has, now, the free nodes their gang shape needs, and
        the pool's other per-job tests pass: an academic job's allocation on a public pool, a
        non-preemptible job's end before an idle-capacity window closes. Rounding may only say yes."""
        ps, q, inverse, public, windowed = self.ps, self.q, self.inverse, self.public, self.windowed
        free = self.admits & (ge.reshape(-1)[self.at_level] >= self.shape_n)
        by_sig: BArr = np.logical_or.reduce(free, axis=1)
        ok = by_sig[inverse[idx]]
        for u in self.per_job_tests:
            e = self.entries[u]
            f = free[u]
            academic = e.has_public and not int(self.sigs[u]) & 1
            if not by_sig[u]:
                continue
            tested = (public if academic else False) | (windowed if e.has_window else False)
            if np.count_nonzero(f & ~tested):
                continue  # a free pool without per-job tests
            at = np.flatnonzero(inverse[idx] == u)
            if not len(at):
                continue
            jobs = idx[at]
            pools = np.flatnonzero(f)
            good = np.ones((len(at), len(pools)), dtype=np.bool_)
            if academic:
                if self.arows is None:
                    self.arows = np.array([ps.state.alloc_row_for(t, p) for t, p in q.accounts], dtype=np.int64)
                arow = self.arows[q.account_code[jobs]]
                left = np.where(arow[:, None] >= 0, alloc[np.maximum(arow, 0)][:, ps.ix.pool_site[pools]], 0.0)
                need = q.work_gpu_s[jobs][:, None] * (e.ref_tp / e.tp[pools])[None, :] / 3600.0
                good &= ~public[pools] | (left >= need * (1.0 - 1e-9))
            if e.has_window:
                ends = ps.now + q.walltime_s[jobs][:, None] * (e.ref_tp / e.tp[pools])[None, :]
                in_time = ends <= ps.rules.pool_close_s[pools] + 1e-3
                good &= ~windowed[pools] | q.preemptible[jobs][:, None] | in_time
            ok[at] = good.any(axis=1)
        return ok

    def any_can_start(self) -> bool:
        """Whether some job passes every bound against the state as it is (before the pass copies it)."""
        state = self.ps.state
        everyone = np.arange(len(self.q))
        fits = self.fits_now(state.ge, state.alloc_remaining_gpu_h, everyone)
        can = self.live & (state.tenants.in_use[self.tix] <= self.cap) & (fits | self.may_preempt)
        return bool(np.count_nonzero(can))

    def has_room(self, u: int) -> bool:
        """Whether some pool entry ``u`` admits has, now, the free nodes its gang shape needs."""
        e = self.entries[u]
        return bool(np.count_nonzero(e.mask & self.ps.room(e)))

    def live_in(self, order: IArr) -> list[int]:
        """The live jobs of ``order`` (queue positions), in that order."""
        self.order = order[self.live[order]]
        return self.order.tolist()

    def looked_at(self, pos: int, settled: bool) -> list[int]:
        """Positions from ``pos`` in :meth:`live_in`'s order of the jobs worth a look: their tenant not at its
        cap and, once the pass is ``settled``, room for them now or a chance to preempt. Starts the loop over
        them (see :meth:`may_fit`)."""
        ps, rest = self.ps, self.order[pos:]
        self.checked = [0] * len(self.entries)
        self.spent = [False] * len(self.entries)
        look = np.asarray(ps.in_use, dtype=np.int64)[self.tix[rest]] <= self.cap[rest]  # tenants not at their cap
        if settled:
            look &= self.fits_now(ps.ge, ps.alloc, rest) | self.may_preempt[rest]
        return (pos + np.flatnonzero(look)).tolist()

    def may_fit(self, j: int, changes: int) -> bool:
        """Whether job ``j`` (looked at, once settled) may still fit after ``changes`` starts in the loop over
        :meth:`looked_at`: its signature's shape has room in an admitted pool, re-checked once per signature
        after each start (the bound above saw the state before any)."""
        u = self.sig_l[j]
        if self.checked[u] != changes:
            self.checked[u] = changes
            self.spent[u] = not self.has_room(u)
        return not self.spent[u]


class _FitLevels:
    """An entry's admitted pools as (pool, GPUs per node, nodes) and its pools' throughputs, for scalar reads."""

    __slots__ = ("pools", "tp_of")

    def __init__(self, e: _Entry | None) -> None:
        if e is None:
            self.pools: list[tuple[int, int, int]] = []
            self.tp_of: list[float] = []
            return
        pools = np.flatnonzero(e.mask)
        self.pools = list(zip(pools.tolist(), e.g[pools].tolist(), e.n[pools].tolist(), strict=True))
        self.tp_of = e.tp.tolist()


_NO_LEVELS: Final = _FitLevels(None)  # an entry that admits no pool


class _ScalarBounds:
    """:class:`_VectorBounds` for a short queue, in scalars: the same tests with the same float operations."""

    def __init__(self, sched: Scheduler, ps: _Pass, q: JobQueue, sg: _Signatures, floor: float) -> None:
        self.ps, self.q, self.entries = ps, q, sg.entries
        tix = sg.tix_l
        self.sig_l: list[int] = sg.sig_l
        live_entry = [e.reason is None for e in self.entries]
        self.live = [t >= 0 and live_entry[u] for t, u in zip(tix, self.sig_l)]
        self.tix_l = [t if t > 0 else 0 for t in tix]
        cap_of = ps.state.tenants.limits_of()[0]
        rows = q.rows  # the rows' own fields: no column views to slice and list for a short queue
        self.cap_l = [cap_of[t] - r.gpus for t, r in zip(self.tix_l, rows)]
        self.preemptible = [r.preemptible for r in rows]
        self.preempts_l = (
            [not r.preemptible and r.priority > floor for r in rows] if floor < math.inf else [False] * len(q)
        )
        # per entry: its admitted pools with the level and node count its shape needs there, and its per-job
        # tests (an academic job's allocation on public pools, a non-preemptible job's end in a window)
        self.levels = [sched.fit_levels(e) if e.reason is None else _NO_LEVELS for e in self.entries]
        pairs = sg.pairs_l
        self.tests = [
            (e.has_public and not pairs[u] & 1, e.has_window) if e.reason is None else (False, False)
            for u, e in enumerate(self.entries)
        ]
        self.arows: dict[int, int] = {}
        self.order: list[int] = []
        self.by_sig: dict[int, tuple[list[int], bool | None]] = {}  # _fits' memo for may_fit
        self.changes = 0  # the starts it holds for

    def _fits(
        self, ge_rows: list[list[int]], alloc: FArr, by_sig: dict[int, tuple[list[int], bool | None]], j: int
    ) -> bool:
        """:meth:`_VectorBounds.fits_now` for job ``j``. ``by_sig`` keeps, per entry as found: its pools with room
        and the verdict for all its jobs (None where it rests on each job's allocation or window tests)."""
        u = self.sig_l[j]
        hit = by_sig.get(u)
        if hit is None:
            free = [p for p, g, n in self.levels[u].pools if ge_rows[p][g] >= n]
            verdict: bool | None = bool(free)
            academic, window = self.tests[u]
            if free and (academic or window):
                public_of, windowed_of = self.ps.lists.public_of, self.ps.lists.windowed_of
                # a free pool without per-job tests settles it for every job of the entry
                if not any(not ((academic and public_of[p]) or (window and windowed_of[p])) for p in free):
                    verdict = None
            hit = by_sig[u] = (free, verdict)
        free, verdict = hit
        if verdict is not None:
            return verdict
        academic, window = self.tests[u]
        ps, lists = self.ps, self.ps.lists
        public_of, windowed_of = lists.public_of, lists.windowed_of
        e, q = self.entries[u], self.q
        row = q.rows[j]  # its fields, as the columns hold them (the same floats)
        tp_of = self.levels[u].tp_of
        arow = -1
        if academic:
            a = q.account_code_l[j]
            arow = self.arows.get(a, -2)
            if arow == -2:
                arow = self.arows[a] = ps.state.alloc_row_for(*q.accounts[a])
        close_of = ps.rules.close_of
        for p in free:
            ratio = e.ref_tp / tp_of[p]
            if academic and public_of[p]:
                left = float(alloc[arow, lists.site_of[p]]) if arow >= 0 else 0.0
                if not left >= row.gpus * row.duration_s * ratio / 3600.0 * (1.0 - 1e-9):
                    continue
            in_window = window and windowed_of[p] and not self.preemptible[j]
            if in_window and not ps.now + row.walltime_s * ratio <= close_of[p] + 1e-3:
                continue  # it would still run when the window closes
            return True
        return False

    def any_can_start(self) -> bool:
        """:meth:`_VectorBounds.any_can_start`; a signature's verdict for all its jobs is read from ``_fits``' memo
        (one call per signature, not per job: in a pass where nothing starts every job is tested)."""
        state = self.ps.state
        ge_rows = state.ge_rows()
        alloc, in_use, cap_l, tix_l = state.alloc_remaining_gpu_h, state.tenants.in_use_of, self.cap_l, self.tix_l
        live, preempts_l = self.live, self.preempts_l
        by_sig: dict[int, tuple[list[int], bool | None]] = {}
        for j, u in enumerate(self.sig_l):
            if not live[j] or in_use[tix_l[j]] > cap_l[j]:
                continue
            if preempts_l[j]:
                return True
            hit = by_sig.get(u)
            verdict = None if hit is None else hit[1]
            if verdict is None:  # not found yet, or it rests on the job's own tests
                if self._fits(ge_rows, alloc, by_sig, j):
                    return True
            elif verdict:
                return True
        return False

    def live_in(self, order: list[int]) -> list[int]:
        live = self.live
        self.order = [i for i in order if live[i]]
        return self.order

    def looked_at(self, pos: int, settled: bool) -> range:
        """Every position from ``pos``: the loop over them tests each job as it comes to it (its tenant's cap,
        and :meth:`may_fit`), against the pass's state then, a bound as good as the one taken before the loop
        (a pass only takes until a preemption, which ends the loop); most loops end at the reservation."""
        self.by_sig = {}
        self.changes = 0
        return range(pos, len(self.order))

    def may_fit(self, j: int, changes: int) -> bool:
        """:meth:`_VectorBounds.fits_now` for job ``j`` against the pass's state, after ``changes`` starts in the
        loop over :meth:`looked_at` (the memo per signature holds until the next start)."""
        if changes != self.changes:
            self.changes = changes
            self.by_sig = {}
        hit = self.by_sig.get(self.sig_l[j])
        if hit is not None and hit[1] is not None:  # the signature's verdict holds for all its jobs
            return hit[1]
        return self._fits(self.ps.ge_rows, self.ps.alloc, self.by_sig, j)


class _PoolLists:
    """Per-pool scalars as Python lists (indexing a list is several times cheaper than a numpy array).

    A pure function of the fleet index, built once per index; the lists the index already keeps for the
    state's mutators are shared, not copied (read-only here).
    """

    __slots__ = (
        "all_pools",
        "any_public",
        "any_window",
        "charge_text",
        "ge_base",
        "gpn_of",
        "gpus_of",
        "no_alloc",
        "no_pools",
        "nodes_of",
        "offset_of",
        "price_of",
        "public_of",
        "site_of",
        "tp_infer_of",
        "tp_train_of",
        "where_text",
        "windowed_of",
        "zone_of",
    )

    def __init__(self, ix: FleetIndex) -> None:
        self.all_pools = np.arange(ix.n_pools)
        self.any_public = bool(ix.pool_public.any())
        self.any_window = bool(ix.pool_windowed.any())
        self.no_pools = np.zeros(ix.n_pools, dtype=np.bool_)
        self.no_alloc = np.zeros(ix.n_sites)  # the allocation left of a job that has none (read-only)
        # a pool's row in a flattened ge (pools x levels): ge.reshape(-1)[ge_base + g] is ge[all_pools, g]
        self.ge_base = self.all_pools * (MAX_GPUS_PER_NODE + 1)
        for a in (self.all_pools, self.no_pools, self.no_alloc, self.ge_base):
            a.setflags(write=False)
        self.site_of = ix.site_of
        self.offset_of = ix.offset_of
        self.nodes_of = ix.nodes_of
        self.gpn_of = ix.gpn_of
        self.public_of = ix.public_of
        self.tp_train_of = ix.tp_train_of
        self.tp_infer_of = ix.tp_infer_of
        self.price_of: list[float] = ix.pool_price.tolist()
        self.gpus_of: list[int] = np.maximum(ix.pool_gpus, 1).tolist()
        self.zone_of: list[int] = ix.site_zone_code[ix.pool_site].tolist()
        self.windowed_of: list[bool] = ix.pool_windowed.tolist()
        # the fixed parts of a start's sentence: " H100 on site/pool (" and how the GPU-hours are paid
        self.where_text = [
            f" {ix.pool_acc_name[p]} on {ix.site_ids[s]}/{ix.pool_ids[p]} (" for p, s in enumerate(self.site_of)
        ]
        self.charge_text = [
            " charged to the project's allocation" if pub else f", {price:.2f} EUR/GPU-h"
            for pub, price in zip(self.public_of, self.price_of)
        ]


def _normalised(v: FArr) -> FArr:
    """A score term over its fleet-wide maximum (zeros where that is not positive)."""
    top = v.max()
    return v / top if top > 0 else np.zeros_like(v)


class _Score:
    """A score per pool as a list (the scalar lanes read it), and as an array when a vector form first asks."""

    __slots__ = ("_array", "of")

    def __init__(self, of: list[float], array: FArr | None = None) -> None:
        self.of = of
        self._array = array

    def array(self) -> FArr:
        if self._array is None:
            self._array = np.array(self.of, dtype=np.float64)
        return self._array


class _FixedTerms:
    """The score terms that do not depend on the carbon intensity, by job kind: the runtime factor (reference
    throughput over the pool's) and the normalised cost and time terms. A pure function of the fleet index,
    built once per index; :meth:`_Pass.base_score` adds the carbon term of the hour."""

    __slots__ = ("cost", "cost_of", "factor", "time", "time_of", "wf_of")

    def __init__(self, ix: FleetIndex) -> None:
        self.factor: list[FArr] = []
        for k in KINDS:
            inference = k.value == "inference"
            tp = ix.pool_tp_infer if inference else ix.pool_tp_train
            self.factor.append((ix.ref_tp_infer if inference else ix.ref_tp_train) / tp)
        self.cost = [_normalised(ix.pool_price * f) for f in self.factor]
        self.time = [_normalised(f) for f in self.factor]
        for a in (*self.factor, *self.cost, *self.time):
            a.setflags(write=False)
        # the same as lists, by kind, for the scalar score (W per GPU x runtime factor: the carbon term's fixed part)
        self.cost_of: list[list[float]] = [c.tolist() for c in self.cost]
        self.time_of: list[list[float]] = [t.tolist() for t in self.time]
        self.wf_of: list[list[float]] = [(ix.pool_w_per_gpu[k] * f).tolist() for k, f in enumerate(self.factor)]


class _Views:
    """Memoryviews of a pass's working arrays: a scalar read or write through one costs a fraction of numpy's
    scalar indexing, on the same memory (the arrays stay exact for the vector code and the other readers)."""

    __slots__ = ("ge", "node_free")

    def __init__(self, ps: _Pass) -> None:
        self.node_free = ps.node_free.data
        self.ge = ps.ge.data  # indexed [pool, level]


class _Pass:
    """The working copy of one pass: mutable arrays plus per-pass vectors and memo tables.

    Built in two steps: the constructor holds what deciding whether anything can start needs (rules of
    the hour, signature entries, read-only views of the state); :meth:`materialise` copies the arrays a
    pass changes, and is skipped by a quiet pass in which no job can start.

    ``cap_ok`` / ``pow_ok`` cache, per job shape, which pools have room (GPUs / megawatts). A pass
    only ever takes resources, so a cached False stays right; a cached True may have gone stale where
    a start happened since, and is re-checked exactly on the pool a job is about to take.
    """

    #: scalar views of the working arrays, made on a materialised pass's first pick or start (see take)
    views: _Views | None = None

    def __init__(self, sched: Scheduler, state: ClusterState, signals: CarbonSignals | None, now_s: float) -> None:
        cfg = sched.config
        ix = state.ix
        self.sched = sched
        self.cfg = cfg
        self.state = state
        self.ix = ix
        self.now = now_s
        self.signals = signals
        self.serial = next(_PASS_SERIAL)
        self.tindex = state.tenants.index
        self.rules = PassRules.at(ix, now_s)
        self.pass_ok = self.rules.pass_ok
        lists: _PoolLists | None = ix.cache.get(_PoolLists)  # typed: compiled, an Any makes every read generic
        if lists is None:
            lists = ix.cache[_PoolLists] = _PoolLists(ix)
        self.lists = lists
        self.all_pools = lists.all_pools
        self.ge = state.ge  # read-only until materialise() takes a copy
        self.klass: list[int] = state.tenants.klass.tolist()
        # entries by tenant class: kept by the scheduler across passes with the same pools online and open
        # (a pure function of the signature, the fleet and pass_ok); OFFLINE/WINDOW ones live one pass
        self.entries = sched.entries_for(ix, self.rules.pass_key)
        self.volatile: tuple[dict[tuple[object, ...], _Entry], ...] = ({}, {})
        self.any_public = lists.any_public
        self.any_window = lists.any_window
        self.epoch = next(_EPOCHS)  # renewed when a preemption gives resources back: memos that assumed shrinking
        # a pass that leaves NotNow decisions out (explain_waiting=False): it builds none of their sentences, and
        # its memoised failures (per pass and epoch, never shared with another pass) hold an empty one
        self.quiet = False

    def materialise(self) -> None:
        """Take the working copies and per-pass vectors a pass that may start jobs needs."""
        state, ix, cfg = self.state, self.ix, self.cfg
        lists = self.lists
        self.site_of = lists.site_of
        self.offset_of = lists.offset_of
        self.nodes_of = lists.nodes_of
        self.gpn_of = lists.gpn_of
        self.public_of = lists.public_of
        self.price_of = lists.price_of
        self.pool_gpus_of = lists.gpus_of
        self.pool_zone = lists.zone_of
        self.windowed_of = lists.windowed_of
        self.tp_train_of = lists.tp_train_of
        self.tp_infer_of = lists.tp_infer_of
        self.where_text = lists.where_text
        self.charge_text = lists.charge_text
        self.carbon_text: list[str | None] = [None] * ix.n_pools  # "99 gCO2/kWh", written on a pool's first start
        self.close_of = self.rules.close_of
        self.node_free = state.node_free.copy()
        self.ge = state.ge.copy()
        pool_free_of, site_draw_of = state.free_lists()
        # free GPUs per pool and watts left per site as lists, kept by take(); as arrays only once a vector form asks
        self.pool_free_of: list[int] = list(pool_free_of)
        self._pool_free: IArr | None = None
        # (the same float subtraction as site_cap_w - site_draw_w, without building the draw array first)
        self.headroom_of: list[float] = [c - d for c, d in zip(ix.site_cap_of, site_draw_of)]
        self._headroom: FArr | None = None
        # ge as lists for the placement walk's scalar reads: the state's own rows, each copied when take() first
        # changes it (kept in step with ge by take())
        self.state_ge_rows = state.ge_rows()
        self.ge_rows: list[list[int]] = list(self.state_ge_rows)
        # by pool and level of free GPUs: a lower bound on the lowest node at that level (None: 0), for one-node
        # picks; take() keeps it a bound (see _pick_nodes)
        self.first_at: dict[int, list[int | None]] = {}
        self.lanes: dict[tuple[object, ...], _Lane] = {}
        self.in_use: list[int] = list(state.tenants.in_use_of)
        self.cap, self.flex_s = state.tenants.limits_of()  # read-only here, as the pass only reads them
        self.deferral = cfg.carbon_deferral and self.signals is not None
        self.alloc = state.alloc_remaining_gpu_h.copy()
        span = self.sched.signals_at(ix, self.signals, self.now)
        carbon = span.intensity
        self.intensity = carbon.by_pool
        self.intensity_of = carbon.by_pool_of
        self.failed: dict[tuple[object, ...], tuple[ReasonCode, str]] = {}
        self.scores = self.sched.scores_for(carbon.key)
        lanes = span.lanes  # mostly the same pools as the span's last pass: no key to build and hash
        if lanes is None or lanes[0] is not self.rules.pass_key:
            lanes = span.lanes = (self.rules.pass_key, self.sched.lane_orders_for(carbon.key + self.rules.pass_key))
        self.lane_orders = lanes[1]
        self.cap_cache: dict[tuple[int, int, int], BArr] = {}
        self.pow_cache: dict[tuple[int, int], tuple[FArr, BArr]] = {}
        self.forecasts = span.deferrals
        self.zone_cs = span.cumsums
        self.new_events: dict[int, list[Event]] = {}
        self.events_wanted = cfg.backfill == "easy"
        self.reservation: Reservation | None = None
        # the reservation's nodes as a mask over its pool's nodes, and the pools of its site: built when first
        # read (reserved_nodes, reserved_site_pools), most passes' reservations never are
        self.reserved_mask: BArr | None = None
        self.at_reserved_site: BArr | None = None
        self.blocker: str | None = None
        self.preempted: set[str] = set()
        self.no_preempt: set[tuple[object, ...]] = set()
        self.preempt_budget = cfg.max_preemptions_per_pass
        self.min_victim_priority: float | None = None

    def reserved_nodes(self) -> BArr | None:
        """The reservation's nodes as a mask over its pool's nodes (None without a reservation)."""
        res = self.reservation
        if res is not None and self.reserved_mask is None:
            self.reserved_mask = res.reserved_mask(self.nodes_of[res.pool])
        return self.reserved_mask

    def reserved_site_pools(self) -> BArr:
        """Pools of the reservation's site (none without a reservation)."""
        res = self.reservation
        if res is None:
            return self.lists.no_pools
        if self.at_reserved_site is None:
            self.at_reserved_site = self.ix.pool_site == res.site
        return self.at_reserved_site

    def forecast_cumsum(self, zone_code: int, horizon_h: int) -> FArr | None:
        """Cumulative forecast for a zone issued now (None if the signals do not cover it), once per signal span
        (:meth:`Scheduler.signals_at`; ``horizon_h`` is the scheduler's, the same in every pass)."""
        if zone_code not in self.zone_cs:
            zone = self.ix.zones[zone_code]
            cs: FArr | None = None
            if self.signals is not None and zone in self.signals.zones():
                fc = np.asarray(self.signals.forecast_g_per_kwh(zone, self.now, horizon_h), dtype=np.float64)
                cs = np.zeros(len(fc) + 1)
                np.cumsum(fc, out=cs[1:])  # [0, fc0, fc0 + fc1, ...]
            self.zone_cs[zone_code] = cs
        return self.zone_cs[zone_code]

    def tiebreaks(self) -> FArr:
        """Best fit as a score tie-break, per pool: the share of its GPUs still free, times a weight far below
        any real score difference (a fuller pool wins a tie)."""
        return _TIE_EPS * (self.pool_free / np.maximum(self.ix.pool_gpus, 1))

    def tiebreak_at(self, p: int) -> float:
        """:meth:`tiebreaks` at one pool (the same arithmetic, so the same float)."""
        return _TIE_EPS * (self.pool_free_of[p] / self.pool_gpus_of[p])

    def room(self, e: _Entry) -> BArr:
        """Pools with, now, the free nodes ``e``'s gang shape needs (exact; one gather)."""
        return self.ge[self.all_pools, e.g] >= e.n

    def cap_ok(self, e: _Entry) -> BArr:
        """:meth:`room`, cached per gang shape for the pass (may hold stale Trues after other shapes start)."""
        hit = self.cap_cache.get(e.shape_key)
        if hit is None:
            hit = self.cap_cache[e.shape_key] = self.room(e)
        return hit

    def pow_ok(self, gpus: int, kind: int) -> tuple[FArr, BArr]:
        key = (gpus, kind)
        hit = self.pow_cache.get(key)
        if hit is None:
            pw = gpus * self.ix.pool_w_per_gpu[kind]
            hit = self.pow_cache[key] = (pw, pw <= self.headroom[self.ix.pool_site])
        return hit

    def lane(self, row: JobRow, e: _Entry) -> _Lane:
        """The placement walk's lane for the job's gang shape and score key (one per pass and epoch).

        The entry remembers the last one it was given (rows without users' positions share their score
        key's tuple, so the test is mostly one identity): no key to build and hash for most jobs.
        """
        last = e.lane
        if last is not None and (last[0] is row.score_key or last[0] == row.score_key):
            return last[1]
        key = (e.shape_key, row.score_key)
        ln = self.lanes.get(key)
        if ln is None:
            lo = self.lane_orders.get(key)
            if lo is None:
                lo = self.lane_orders[key] = _LaneOrder(self, row, e)
            ln = self.lanes[key] = _Lane(lo)
        e.lane = (row.score_key, ln)
        return ln

    # -------------------------------------------------------------- per-pass vectors
    def base_score(self, kind: int, objective: Objective) -> _Score:
        """Score per pool for work of ``kind`` (lower is better), each term over its fleet-wide maximum.

        Per reference GPU-hour of work: cost = price x runtime factor; carbon = facility W per GPU x
        runtime factor x zone intensity; time = runtime factor (faster accelerators finish sooner).
        """
        key = (kind, objective)
        hit = self.scores.get(key)
        if hit is not None:
            return hit
        ix = self.ix
        fixed: _FixedTerms | None = ix.cache.get(_FixedTerms)
        if fixed is None:
            fixed = ix.cache[_FixedTerms] = _FixedTerms(ix)
        # in scalars: a fleet's tens of pools, once per kind and objective each time the intensities change (hourly),
        # where the vector form's dozen numpy calls cost several times more; the same float operations in the same
        # order as over arrays ((W x factor) x intensity, over its maximum; the weighted sum left to right)
        prod = [wf * i for wf, i in zip(fixed.wf_of[kind], self.intensity_of)]
        top = max(prod) if prod else 0.0
        if any(v != v for v in prod):
            top = math.nan  # numpy's max propagates a NaN, and the term is then zeros, as below
        carbon = [v / top for v in prod] if top > 0 else [0.0] * len(prod)
        w = self.cfg.objective_weights
        wc, wk, wt = w.cost, w.carbon, w.time
        total_w = wc + wk + wt
        div = total_w or 1.0
        balanced = [
            (wc * c + wk * k + wt * t) / div for c, k, t in zip(fixed.cost_of[kind], carbon, fixed.time_of[kind])
        ]
        # a named objective first, the balanced mix as its tie-break
        if objective is Objective.BALANCED:
            score_of = balanced
        else:
            named = {"cost": fixed.cost_of[kind], "carbon": carbon, "time": fixed.time_of[kind]}[objective.value]
            score_of = [x + 0.01 * b for x, b in zip(named, balanced)]
        score = self.scores[key] = _Score(score_of)
        return score

    def entry(self, row: JobRow, tclass: int) -> _Entry:
        memo = row.memo  # (pass serial, tenant class, entry): skips hashing and comparing the signature
        if memo is not None and memo[0] == self.serial and memo[1] == tclass:
            return memo[2]  # type: ignore[return-value]
        e = self.entries_of([row], [tclass])[0]
        row.memo = (self.serial, tclass, e)
        return e

    def entries_of(
        self, rows: list[JobRow], tclasses: list[int], skeys: list[tuple[object, ...]] | None = None
    ) -> list[_Entry]:
        """The entries of (signature, tenant class) pairs, one row each: kept ones looked up, the rest built
        together (their masks as one matrix, see :func:`static_masks`). ``skeys``: the rows' signatures,
        where the caller has them."""
        out: list[_Entry | None] = []
        todo: list[int] = []
        if skeys is None:
            skeys = [row.skey for row in rows]
        if any(self.entries) or any(self.volatile):
            for k, (skey, tclass) in enumerate(zip(skeys, tclasses)):
                e = self.entries[tclass].get(skey) or self.volatile[tclass].get(skey)
                if e is None:
                    todo.append(k)
                out.append(e)
        else:  # none kept (a new scheduler's first pass): no lookups
            out, todo = [None] * len(rows), list(range(len(rows)))
        if todo:
            ix, cfg = self.ix, self.cfg
            new_rows = [rows[k] for k in todo]
            new_classes = [tclasses[k] for k in todo]
            masks, gs, ns, lats = static_masks(ix, new_rows, new_classes, cfg, [skeys[k] for k in todo])
            masks &= self.pass_ok
            none = [False] * len(todo)
            any_of = np.logical_or.reduce  # per row: some pool is True
            admitted: list[bool] = any_of(masks, axis=1).tolist()
            public: list[bool] = any_of(masks & ix.pool_public, axis=1).tolist() if self.any_public else none
            window: list[bool] = any_of(masks & ix.pool_windowed, axis=1).tolist() if self.any_window else none
            everywhere = np.ones(ix.n_pools, dtype=np.bool_)
            first_fit = cfg.placement == "first_fit"
            shape_keys: dict[tuple[int, int, int], tuple[int, int, int]] = {}  # one tuple per shape, not per entry
            for j, k in enumerate(todo):
                row, tclass, mask = rows[k], tclasses[k], masks[j]
                reason: ReasonCode | None = None
                message = ""
                if not admitted[j]:
                    st = static_rules(ix, row, tclass, cfg)
                    rules = [
                        *st.rules,
                        (ReasonCode.OFFLINE, self.rules.pool_online),
                        (ReasonCode.WINDOW, self.rules.pool_open),
                    ]
                    reason, survivors = funnel(rules, everywhere)
                    if reason is None:  # the funnel applies the same rules as the mask; named for safety
                        reason = ReasonCode.CAPACITY
                    message = static_message(reason, row, tclass, ix, survivors, self.now)
                inference = row.inference
                e = _Entry(
                    next(_ENTRY_UIDS),
                    reason,
                    message,
                    mask,
                    gs[j],
                    ns[j],
                    shape_keys.setdefault(
                        (row.gpus, row.num_nodes, row.gpn_req), (row.gpus, row.num_nodes, row.gpn_req)
                    ),
                    lats[j],
                    public[j],
                    window[j],
                    ix.pool_tp_infer if inference else ix.pool_tp_train,
                    ix.ref_tp_infer if inference else ix.ref_tp_train,
                    first_fit,
                )
                (self.volatile if reason in _VOLATILE else self.entries)[tclass][skeys[k]] = e
                out[k] = e
        return out  # type: ignore[return-value]

    def score(self, row: JobRow, e: _Entry) -> _Score:
        """The objective's score per pool for this job (memoised per kind, objective and users' position)."""
        sc = self.scores.get(row.score_key)
        if sc is None:
            sc = self.base_score(row.kind, row.objective)
            inf = row.spec.inference
            if e.lat_ms is not None and inf is not None:
                w = self.cfg.inference_distance_weight
                with_distance = sc.array() + w * e.lat_ms[self.ix.pool_site] / inf.latency_target_ms
                sc = _Score(with_distance.tolist(), with_distance)
            self.scores[row.score_key] = sc
        return sc

    @property
    def pool_free(self) -> IArr:
        """Free GPUs per pool as an array (built from ``pool_free_of`` when a vector form first asks)."""
        if self._pool_free is None:
            self._pool_free = np.array(self.pool_free_of, dtype=np.int64)
        return self._pool_free

    @property
    def headroom(self) -> FArr:
        """Watts left per site as an array (built from ``headroom_of`` when a vector form first asks)."""
        if self._headroom is None:
            self._headroom = np.array(self.headroom_of, dtype=np.float64)
        return self._headroom

    def scalar_views(self) -> _Views:
        """The working arrays' memoryviews, made on first use (a materialised pass's first pick or start)."""
        v = self.views
        if v is None:
            v = self.views = _Views(self)
        return v

    def take(self, p: int, s: int, nodes: IArr | tuple[int, ...], g: int, power: float) -> None:
        """Apply a start to the working arrays (``nodes``: pool-relative indices, an array or a tuple).

        Up to 16 nodes in scalars: the level counts' list updated node by node, and the arrays through their
        memoryviews (:class:`_Views`; numpy's scalar indexing costs several times more).
        """
        lo = self.offset_of[p]
        firsts = self.first_at.get(p)
        v = self.scalar_views()
        if len(nodes) <= 16:
            nf, ge = v.node_free, v.ge
            counts = self.ge_rows[p]
            if counts is self.state_ge_rows[p]:
                counts = self.ge_rows[p] = list(counts)
            for j in nodes if isinstance(nodes, tuple) else nodes.tolist():
                o = nf[lo + j]
                nw = o - g
                if firsts is not None:  # keep the pool's per-level bounds (see _pick_nodes): node j moves o -> nw
                    if firsts[o] == j:
                        firsts[o] = j + 1
                    first = firsts[nw]
                    if first is not None and j < first:
                        firsts[nw] = j
                nf[lo + j] = nw
                for k in range(nw + 1, o + 1):  # the levels the node leaves
                    counts[k] -= 1
                    ge[p, k] = counts[k]
            self.pool_free_of[p] -= g * len(nodes)
            if self._pool_free is not None:
                self._pool_free[p] = self.pool_free_of[p]
        else:
            apply_nodes(self.node_free, self.ge, self.pool_free, lo, p, nodes, -g)
            self.pool_free_of[p] -= g * len(nodes)
            self.ge_rows[p] = self.ge[p].tolist()
            if firsts is not None:  # the nodes entered lower levels: lower those levels' bounds where needed
                at = np.asarray(nodes, dtype=np.int64)
                for j, nw in zip(at.tolist(), self.node_free[lo + at].tolist()):
                    first = firsts[nw]
                    if first is not None and j < first:
                        firsts[nw] = j
        self.headroom_of[s] -= power
        if self._headroom is not None:
            self._headroom[s] = self.headroom_of[s]

    # -------------------------------------------------------------- events for reservations
    def events_of(self, s: int) -> list[Event]:
        """Site ``s``'s releases as a reservation replays them: its running jobs in start order (less those
        leaving in this pass: preempted for priority or at a closed window), then the jobs this pass started there."""
        running = self.state.site_events[s]
        preempted = self.preempted
        out = [ev for jid, ev in running.items() if jid not in preempted] if preempted else list(running.values())
        new = self.new_events.get(s)
        if new:
            out.extend(new)
        return out


_V = TypeVar("_V")


def _shift(free: list[int] | I16Arr, nodes: tuple[int, ...], by: int) -> None:
    """Add ``by`` free GPUs on ``nodes`` (pool-relative) of a pool's free counts, a list or an array."""
    if isinstance(free, list):
        for j in nodes:
            free[j] += by
    else:
        free[list(nodes)] += by


class _Miss(enum.Enum):
    """How a placement walk missed, where that settles the job's verdict without the vector placement."""

    HELD = 0  # every pool with room, megawatts and the job's tests passed would delay the EASY reservation


def _memo_table(tables: dict[bytes, dict[tuple[object, ...], _V]], key: bytes) -> dict[tuple[object, ...], _V]:
    """The memo table kept for ``key`` (a new one if none; bounded: all are dropped once 256 are kept)."""
    hit = tables.get(key)
    if hit is None:
        if len(tables) >= 256:
            tables.clear()
        hit = tables[key] = {}
    return hit


def _greenest_start(cs: list[float], length: int, k_max: int) -> tuple[int, float, float]:
    """The hour ``k`` in 0..k_max whose ``length``-hour mean forecast (from the cumulative sums ``cs``) is lowest, the
    mean from hour 0 and the mean from ``k``: numpy's ``argmin`` over the means, in scalars (the same float
    operations, and the same first index among equal means, or of the first NaN)."""
    first = (cs[length] - cs[0]) / length
    best_k, best = 0, first
    if first == first:  # not NaN
        for k in range(1, k_max + 1):
            m = (cs[k + length] - cs[k]) / length
            if m != m:
                best_k, best = k, m
                break
            if m < best:
                best_k, best = k, m
    return best_k, first, best


class Scheduler:
    """The policy object drivers hold; ``decide`` is pure (it memoises derived rows and masks only)."""

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()
        self._rows: dict[str, JobRow] = {}
        self._entry_ix: FleetIndex | None = None
        self._entry_sets: dict[bytes, tuple[dict[tuple[object, ...], _Entry], dict[tuple[object, ...], _Entry]]] = {}
        self._score_sets: dict[bytes, dict[tuple[object, ...], _Score]] = {}
        self._lane_sets: dict[bytes, dict[tuple[object, ...], _LaneOrder]] = {}
        self._intensity: _Intensity | None = None
        self._span: _SignalSpan | None = None
        self._fit_levels: dict[int, _FitLevels] = {}
        # by id of the entry sets' first dict (held in the value, so the id stays its own): the pools' states
        # alternate (windows open and close daily), and each state's pair tables are kept for its return
        self._pair_sets: dict[int, tuple[object, object, dict[int, _Entry], dict[int, _Entry]]] = {}

    def pair_entries(
        self, q: JobQueue, sets: tuple[dict[tuple[object, ...], _Entry], dict[tuple[object, ...], _Entry]]
    ) -> tuple[dict[int, _Entry], dict[int, _Entry]]:
        """Entries by ``signature code * 2 + tenant class`` of queue ``q`` among the kept entries ``sets``
        (:meth:`entries_for`): a driver's queue keeps its signature codes (``skey_codes`` only grows), so a pass
        finds its pairs' entries without hashing their signatures. Valid while both are the same objects.
        Two tables: entries any pass may reuse, and those quiet passes reuse (the same plus the OFFLINE and
        WINDOW entries, whose sentence names the time of the pass that built them)."""
        # (by the first dict's identity: compiled, a fixed-length tuple is unboxed and boxed anew at each use, so
        # ``sets`` itself is never the same object twice)
        first = sets[0]
        hit = self._pair_sets.get(id(first))
        if hit is None or hit[0] is not q.skey_codes:
            hit = self._pair_sets[id(first)] = (q.skey_codes, first, {}, {})
        return hit[2], hit[3]

    def fit_levels(self, e: _Entry) -> _FitLevels:
        """``e``'s admitted pools with its shape's level and node count there, kept by entry (entries do not change)."""
        hit = self._fit_levels.get(e.uid)
        if hit is None:
            if len(self._fit_levels) >= 65_536:  # bounded: entries of passes long gone are dropped with the rest
                self._fit_levels.clear()
            hit = self._fit_levels[e.uid] = _FitLevels(e)
        return hit

    def intensity_at(self, ix: FleetIndex, signals: CarbonSignals | None, now_s: float) -> _Intensity:
        """:func:`carbon_intensity_by_pool`, kept while the zones' intensities stay the same (for an hour,
        with hourly signals): the signals are read every pass, the per-pool vectors built when they change."""
        zone_values = _zone_intensities(ix, signals, now_s)
        hit = self._intensity
        if hit is None or hit.ix is not ix or hit.zone_values != zone_values:
            hit = self._intensity = _Intensity(ix, zone_values)
        return hit

    def signals_at(self, ix: FleetIndex, signals: CarbonSignals | None, now_s: float) -> _SignalSpan:
        """The intensities and forecast memos at ``now_s``: kept over the signals' ``hour_span`` (inside it the
        signals are not even asked), else read for this pass alone."""
        hit = self._span
        if hit is not None and hit.signals is signals and hit.from_s <= now_s < hit.until_s and hit.intensity.ix is ix:
            return hit
        span_of = None if signals is None else getattr(signals, "hour_span", None)
        span = (now_s, now_s) if span_of is None else span_of(now_s)  # (now, now): holds no time, this pass only
        hit = self._span = _SignalSpan(signals, span, self.intensity_at(ix, signals, now_s))
        return hit

    def scores_for(self, intensity_key: bytes) -> dict[tuple[object, ...], _Score]:
        """Pool scores by (kind, objective[, users]), shared by passes that see the same carbon intensities
        (``intensity_key``: the intensities' bytes)."""
        return _memo_table(self._score_sets, intensity_key)

    def lane_orders_for(self, key: bytes) -> dict[tuple[object, ...], _LaneOrder]:
        """Lane orders by (shape, score key), shared by passes that see the same intensities and pools (``key``:
        the intensities' bytes, then the bytes of the pools online and open)."""
        return _memo_table(self._lane_sets, key)

    def entries_for(
        self, ix: FleetIndex, key: bytes
    ) -> tuple[dict[tuple[object, ...], _Entry], dict[tuple[object, ...], _Entry]]:
        """The signature entries (by tenant class) valid for ``ix`` with pools online and open as in ``key``
        (the bytes of that mask, :attr:`PassRules.pass_key`).

        Building an entry (masks, shape, the sentence of a rule no pool passes) is the costly part of a
        job's first look; it depends on nothing else, so passes share them. Bounded: a few pool states.
        """
        if self._entry_ix is not ix:
            self._entry_ix, self._entry_sets, self._score_sets, self._lane_sets = ix, {}, {}, {}
            self._pair_sets = {}
        sets = self._entry_sets.get(key)
        if sets is None or len(sets[0]) + len(sets[1]) > 50_000:
            if len(self._entry_sets) >= 16:
                self._entry_sets.clear()
                self._pair_sets.clear()
            elif sets is not None:
                self._pair_sets.pop(id(sets[0]), None)
            sets = self._entry_sets[key] = ({}, {})
        return sets

    def decide(
        self,
        state: ClusterState,
        queue: Sequence[JobSpec] | JobQueue,
        signals: CarbonSignals | None,
        now_s: float,
        *,
        explain_waiting: bool = True,
    ) -> list[Decision]:
        """One decision per queued job (Start, Defer or NotNow), plus Preempts for running jobs.

        ``explain_waiting=False`` leaves the NotNow decisions out, for drivers that only count waiting
        jobs (the simulator): the Starts, Defers and Preempts are the same, in the same order, but jobs
        that provably cannot start in this pass are skipped in bulk instead of explained one by one.
        Deterministic: the same state, queue, signals and time give the same decisions in the same order.
        The cyclic garbage collector is paused for the pass (a pass creates no reference cycles, and
        scanning a large queue's objects again and again cost about a third of a big pass); it is
        restored on return.
        """
        if not gc.isenabled():  # already paused by the caller (the simulator's replay): no need to pause it again
            return self._decide(state, queue, signals, now_s, explain_waiting)
        with gc_paused():
            return self._decide(state, queue, signals, now_s, explain_waiting)

    def _decide(
        self,
        state: ClusterState,
        queue: Sequence[JobSpec] | JobQueue,
        signals: CarbonSignals | None,
        now_s: float,
        explain_waiting: bool,
    ) -> list[Decision]:
        if not math.isfinite(now_s):
            raise InputError(f"now_s must be a finite POSIX time in seconds, got {now_s}")
        if isinstance(queue, JobQueue):
            q = queue
        else:
            q = JobQueue.from_specs(queue, self._rows)
            if len(self._rows) > 4 * max(len(q), 1024):  # forget rows of jobs long gone
                self._rows = {r.id: r for r in q.rows}
        ps = _Pass(self, state, signals, now_s)
        out: list[Decision] = []
        if not explain_waiting:
            self._decide_quietly(ps, q, out)
            return out
        ps.materialise()
        if self.config.preemption or state.ix.site_schedule:
            out.extend(self._window_preemptions(ps))
        if not len(q):
            return out
        sigs = _Signatures(ps, q)
        rows = q.rows
        tix_l, sig_l, entries = sigs.tix_l, sigs.sig_l, sigs.entries
        for i in order_queue(q, state, self.config, now_s).tolist():
            t = tix_l[i]
            out.extend(self._one(ps, rows[i], t, entries[sig_l[i]]) if t >= 0 else self._one(ps, rows[i]))
        return out

    def _decide_quietly(self, ps: _Pass, q: JobQueue, out: list[Decision]) -> None:
        """The pass without NotNow decisions, skipping in bulk the jobs whose only outcome is NotNow.

        Skipped without a look: jobs of unknown tenants, jobs whose signature no pool admits now (a
        static rule, or every admitting site offline or closed), and jobs whose tenant is at its cap.
        Once the pass's blocking structure is settled (the EASY reservation taken, or none to take:
        greedy), also jobs whose gang shape fits no admitted pool's free nodes and that cannot preempt
        (preemptible, or priority at or below every running preemptible job's): a pass only takes
        resources, so they cannot start. A preemption gives resources back; the bounds are then taken
        again. Under strict order, everything after the blocker is NotNow. When no job at all can start
        or preempt and no closed window has jobs to evict, the pass ends before copying anything. The
        bounds are scalar tests job by job (:class:`_ScalarBounds`) up to a few thousand jobs, vector tests
        over the queue beyond (:class:`_VectorBounds`); both say the same.
        """
        cfg = self.config
        state = ps.state
        ps.quiet = True
        rows = q.rows
        closing = any(state.pool_jobs[p] for p in ps.rules.closed_pools)
        if not rows:
            if closing:
                ps.materialise()
                out.extend(self._window_preemptions(ps))
            return
        sg = _Signatures(ps, q)
        floor = math.inf  # no job can preempt
        if cfg.preemption and cfg.max_preemptions_per_pass > 0:
            floor = state.min_victim_priority()
        bounds = (_ScalarBounds if len(rows) <= _SCALAR_BOUNDS else _VectorBounds)(self, ps, q, sg, floor)
        if not closing and not bounds.any_can_start():
            return  # nothing can start, preempt or be evicted: every job waits
        ps.materialise()
        if cfg.preemption or state.ix.site_schedule:
            out.extend(self._window_preemptions(ps))
        scalar: _ScalarBounds | None = None
        if isinstance(bounds, _ScalarBounds):
            scalar = bounds
            order_l = bounds.live_in(_order_positions(q, state, cfg, ps.now, sg.tix_l))
        else:
            order_l = bounds.live_in(order_queue(q, state, cfg, ps.now, sg.tix_l))
        tix_l, cap_l, sig_l, preempts_l = bounds.tix_l, bounds.cap_l, bounds.sig_l, bounds.preempts_l
        entries = sg.entries
        in_use = ps.in_use  # the pass's own counts, updated as it starts jobs
        n = len(order_l)
        pos = 0
        while pos < n:  # (no job has blocked the queue yet: a blocker ends the loop below)
            settled = cfg.backfill == "greedy" or ps.reservation is not None
            # (until the reservation is taken every other job is looked at: the first one blocked takes it)
            picks = bounds.looked_at(pos, settled)
            epoch = ps.epoch
            changes = 0  # starts in this loop: a job that fitted before one may not fit after it
            pos = n
            for k in picks:
                i = order_l[k]
                t = tix_l[i]
                if in_use[t] > cap_l[i]:
                    continue  # its tenant is at its cap: NotNow, whatever else holds
                # (a native call where the bounds are scalar: a union's method is a generic call)
                if (
                    settled
                    and not preempts_l[i]
                    and not (scalar.may_fit(i, changes) if scalar is not None else bounds.may_fit(i, changes))
                ):
                    continue  # no room for it now: NotNow (a pass only takes)
                emitted = len(out)
                for d in self._one(ps, rows[i], t, entries[sig_l[i]]):
                    if type(d) is not NotNow:
                        out.append(d)
                if ps.blocker is not None:
                    pos = n  # strict order: everything after the blocker waits
                    break
                if ps.epoch != epoch or (not settled and ps.reservation is not None):
                    pos = k + 1  # a preemption gave resources back, or the reservation is taken: bound again
                    break
                if len(out) != emitted:
                    changes += 1

    # -------------------------------------------------------------- preemption at closed windows
    def _window_preemptions(self, ps: _Pass) -> list[Preempt]:
        out: list[Preempt] = []
        ix = ps.ix
        for s in ix.site_schedule:
            if ps.rules.site_open[s]:
                continue
            for p in ix.pools_of_site[s].tolist():
                for jid in sorted(ps.state.pool_jobs[p]):
                    ps.preempted.add(jid)
                    out.append(
                        Preempt(
                            jid,
                            ReasonCode.WINDOW_CLOSING,
                            f"the idle-capacity window of {ix.site_ids[s]} closed; "
                            f"job {jid} must leave {ix.pool_name(p)}",
                        )
                    )
        return out

    # -------------------------------------------------------------- one job
    def _one(self, ps: _Pass, row: JobRow, tix: int | None = None, e: _Entry | None = None) -> list[Decision]:
        """One job's decision(s); ``tix`` and ``e`` (its tenant's index and its entry) when the caller has them."""
        if tix is None:
            tix = ps.tindex.get(row.tenant)
            if tix is None:
                return [
                    NotNow(
                        row.id, ReasonCode.UNKNOWN_TENANT, f"tenant {row.tenant!r} is not registered with the scheduler"
                    )
                ]
        tclass = ps.klass[tix]
        if e is None:
            e = ps.entry(row, tclass)
        if e.reason is not None:
            return [NotNow(row.id, e.reason, e.message)]
        if ps.blocker is not None:
            return [
                NotNow(
                    row.id,
                    ReasonCode.RESERVATION,
                    f"held behind job {ps.blocker}, first in line (strict order, no backfill)",
                )
            ]
        if ps.in_use[tix] + row.gpus > ps.cap[tix]:
            return [
                NotNow(
                    row.id,
                    ReasonCode.TENANT_CAP,
                    f"tenant {row.tenant} is at its cap: {ps.in_use[tix]} of {ps.cap[tix]} "
                    f"GPUs in use, the job needs {row.gpus}",
                )
            ]
        academic_public = e.has_public and tclass == 0
        arow = ps.state.alloc_row_for(row.tenant, row.project) if academic_public else -1
        win_check = e.has_window and not row.preemptible
        if e.epoch != ps.epoch:
            e.epoch, e.capok, e.pows, e.fail0, e.lane = ps.epoch, None, None, None, None
        mkey: tuple[object, ...] | None = None
        if arow < 0 and not win_check:
            failed = None if e.fail0 is None else e.fail0[row.kind]
        else:  # the allocation test depends on the job's GPU-hours, the window test on its walltime
            mkey = (
                e.uid,
                arow,
                row.walltime_s if win_check else 0.0,
                row.gpus * row.duration_s if arow >= 0 else 0.0,
                row.kind,
            )
            failed = ps.failed.get(mkey)
        if failed is not None:
            return self._blocked(ps, row, e, failed[0], failed[1])
        last = e.lane  # the entry's last lane, mostly the same score key's (see _Pass.lane): no call for it
        ln = last[1] if last is not None and last[0] is row.score_key else ps.lane(row, e)
        hit = self._walk(ps, ln, row, e, win_check, academic_public, arow)
        if hit is not None:
            if hit is _Miss.HELD:
                return self._held(ps, row, e)
            p, nodes, wall, need_gpu_h, power = hit
            return self._start(ps, row, e, tix, p, ln.g[p], ln.n[p], nodes, wall, need_gpu_h, arow, power)
        reason = self._no_room(ps, ln, row, e, win_check, academic_public, arow)
        if reason is not None:
            return self._fail(ps, row, e, mkey, reason, "" if ps.quiet else _no_room_message(row, e, reason))
        return self._place_by_vectors(ps, row, e, tix, mkey, win_check, academic_public, arow)

    @staticmethod
    def _no_room(
        ps: _Pass, ln: _Lane, row: JobRow, e: _Entry, win_check: bool, academic_public: bool, arow: int
    ) -> ReasonCode | None:
        """The vector placement's verdict where it is CAPACITY or POWER_ENVELOPE, found with scalars.

        That is when some pool passes the job's rules, window and allocation tests (else the verdict is
        WINDOW or ALLOCATION) and none of those has both room and megawatts now (else a pool was refused
        by the reservation or the node picker): CAPACITY if none has room, else POWER_ENVELOPE. None when
        the vector placement must say.
        """
        pools = e.pools
        if pools is None:
            pools = e.pools = np.flatnonzero(e.mask).tolist()
        ge_rows, head, site_of = ps.ge_rows, ps.headroom_of, ps.site_of
        g_of, n_of, pw_of = ln.g, ln.n, ln.pw
        tp_of = ps.tp_infer_of if row.inference else ps.tp_train_of
        wall_ref_s = row.walltime_s * e.ref_tp
        run_ref_s = row.duration_s * e.ref_tp
        # the walk just found no admitted pool with both room and megawatts: the first tested pool with room
        # settles it (POWER_ENVELOPE), no need to look on for one with both
        exhausted = ln.first_admitted.get(e.uid, 0) >= len(ln.rank)
        tested = room = False
        for p in pools:
            if win_check and ps.windowed_of[p] and not ps.now + wall_ref_s / tp_of[p] <= ps.close_of[p]:
                continue
            if academic_public and ps.public_of[p]:
                need = row.gpus * (run_ref_s / tp_of[p]) / 3600.0
                if not (float(ps.alloc[arow, site_of[p]]) if arow >= 0 else 0.0) >= need:
                    continue
            tested = True
            if ge_rows[p][g_of[p]] >= n_of[p]:
                if exhausted:
                    return ReasonCode.POWER_ENVELOPE
                if pw_of[p] <= head[site_of[p]]:
                    return None
                room = True
        if not tested:
            return None
        return ReasonCode.POWER_ENVELOPE if room else ReasonCode.CAPACITY

    def _walk(
        self, ps: _Pass, ln: _Lane, row: JobRow, e: _Entry, win_check: bool, academic_public: bool, arow: int
    ) -> tuple[int, IArr | tuple[int, ...], float, float | None, float] | _Miss | None:
        """The pool and nodes :meth:`_place_by_vectors` would pick, found by walking the lane's pools in score order.

        The first pool (by score, then best fit, then index) that the job's rules admit, with exact room and
        megawatts, its window and allocation tests passed, the EASY reservation kept and nodes picked.
        Pools without room or megawatts leave the lane for the rest of the epoch (a pass only takes).
        Returns (pool, nodes, walltime end, GPU-hours charged or None, W); ``_Miss.HELD`` when the reservation
        refused every admitted pool with room, megawatts and the job's tests passed, and the node picker was never
        asked (the vector placement's verdict then is RESERVATION: the lane holds every pool the entry admits,
        where it holds any, and its room and megawatts checks are exact); or None when nothing is found: the caller
        then runs the vector placement, which says why (or, where scores are not finite, decides).
        """
        alive = ln.alive
        # every alive pool ranked before the entry's first admitted one is closed to it: start there
        first = ln.first_admitted.get(e.uid, 0)
        if first >= len(ln.rank):
            return None
        i = bisect_left(alive, first, key=ln.rank.__getitem__) if first else 0
        admits = e.admits
        if admits is None:
            admits = e.admits = e.mask.tobytes().ljust(256, b"\0")
        flags: bytearray | None = None  # by position in alive: whether the entry admits the pool (bytearray lanes)
        unseen = True  # no admitted pool with room and megawatts met yet on this walk
        ge_rows, head, site_of = ps.ge_rows, ps.headroom_of, ps.site_of
        g_of, n_of, pw_of = ln.g, ln.n, ln.pw
        tp_of = ps.tp_infer_of if row.inference else ps.tp_train_of
        now = ps.now
        wall_ref_s = row.walltime_s * e.ref_tp
        run_ref_s = row.duration_s * e.ref_tp
        res = ps.reservation
        held = False  # some pool refused by the reservation
        picking = False  # some pool handed to the node picker (its refusals are the vector placement's to judge)
        while True:
            tied: list[tuple[float, int, float, float | None]] = []  # candidates whose scores tie (best fit decides)
            cluster = -1
            while i < len(alive):
                p = alive[i]
                if tied and ln.cluster[p] != cluster:
                    break  # past the tied cluster of the first candidate
                if not admits[p]:
                    if type(alive) is bytearray:  # jump to the next admitted pool
                        if flags is None:
                            flags = alive.translate(admits)
                        i = flags.find(1, i)
                        if i < 0:
                            i = len(alive)
                    else:
                        i += 1
                    continue
                g, n, s = g_of[p], n_of[p], site_of[p]
                if ge_rows[p][g] < n or pw_of[p] > head[s]:
                    del alive[i]
                    if flags is not None:
                        del flags[i]
                    continue
                if unseen:
                    unseen = False
                    ln.first_admitted[e.uid] = ln.rank[p]
                tp = tp_of[p]
                wall = now + wall_ref_s / tp
                if win_check and ps.windowed_of[p] and not wall <= ps.close_of[p]:
                    i += 1
                    continue
                need: float | None = None
                if academic_public:
                    need = row.gpus * (run_ref_s / tp) / 3600.0
                    if ps.public_of[p] and not (float(ps.alloc[arow, s]) if arow >= 0 else 0.0) >= need:
                        i += 1
                        continue
                if res is not None and not self._keeps_at(ps, res, p, s, g, n, wall, pw_of[p]):
                    held = True
                    i += 1
                    continue
                i += 1
                picking = True
                if ln.tied[p]:  # within the best-fit tie-break of its neighbours' scores: rank them exactly
                    cluster = ln.cluster[p]
                    tied.append((ln.score[p] + ps.tiebreak_at(p), p, wall, need))
                    continue
                nodes = self._pick_nodes(ps, res, p, g, n, wall)
                if nodes is not None:
                    return p, nodes, wall, need, pw_of[p]
            if unseen:
                ln.first_admitted[e.uid] = len(ln.rank)  # none left: later walks of the entry end at once
            if not tied:
                return _Miss.HELD if held and not picking else None
            for _, p, wall, need in sorted(tied):
                nodes = self._pick_nodes(ps, res, p, g_of[p], n_of[p], wall)
                if nodes is not None:
                    return p, nodes, wall, need, pw_of[p]
            # the node picker refused every tied candidate: walk on past the cluster

    @staticmethod
    def _keeps_at(ps: _Pass, res: Reservation, p: int, s: int, g: int, n: int, wall: float, power_w: float) -> bool:
        """:meth:`_keeps_reservation` for one pool that has room now (scalars)."""
        if not wall > res.start_s:
            return True
        if s == res.site and not power_w <= res.extra_power_w:
            return False
        if p == res.pool:  # nodes with room for g, less the reserved ones (distinct nodes) among them
            room = ps.ge_rows[p][g]
            nf = ps.scalar_views().node_free
            lo = ps.offset_of[p]
            for k in res.node_indices:
                if nf[lo + k] >= g:
                    room -= 1
            return room >= n
        return True

    @staticmethod
    def _pick_nodes(
        ps: _Pass, res: Reservation | None, p: int, g: int, n: int, wall: float
    ) -> IArr | tuple[int, ...] | None:
        """Best-fit nodes on pool ``p``; the reservation's nodes are off limits to a job still running at its start.

        One node with nothing excluded: :func:`best_fit_nodes`' choice (the lowest node at the tightest level
        of free GPUs that holds ``g``; the whole-node level for ``g`` = GPUs per node) read from the level
        counts, then sought from the pass's bound on that level's lowest node, which :meth:`_Pass.take` keeps.
        """
        exclude = ps.reserved_nodes() if (res is not None and p == res.pool and wall > res.start_s) else None
        lo = ps.offset_of[p]
        gpn = ps.gpn_of[p]
        if n > 1 or exclude is not None:
            return best_fit_nodes(ps.node_free[lo : lo + ps.nodes_of[p]], n, g, gpn, exclude, ps.ge[p])
        counts = ps.ge_rows[p]  # counts[k]: nodes with at least k free GPUs
        for k in range(g, gpn + 1):
            if counts[k] > (counts[k + 1] if k < gpn else 0):  # some node has exactly k free
                break
        else:
            return None
        firsts = ps.first_at.get(p)
        if firsts is None:
            firsts = ps.first_at[p] = [None] * (gpn + 1)
        # firsts[k]: no node below it has exactly k free GPUs (None: 0). A pass only takes GPUs, so a node
        # enters a level from above (take() lowers the bound) or leaves it: the lowest one at k moves up.
        nf = ps.scalar_views().node_free
        at = lo + (firsts[k] or 0)
        for _ in range(8):  # the node sought is mostly the bound itself or a few past it
            if nf[at] == k:
                break
            at += 1
        else:
            at += int(np.argmax(ps.node_free[at : lo + ps.nodes_of[p]] == k))
        firsts[k] = at - lo
        return (at - lo,)

    def _place_by_vectors(
        self,
        ps: _Pass,
        row: JobRow,
        e: _Entry,
        tix: int,
        mkey: tuple[object, ...] | None,
        win_check: bool,
        academic_public: bool,
        arow: int,
    ) -> list[Decision]:
        """Placement over whole pool vectors: the reference for :meth:`_walk`, and the path that names a failure.

        Narrows the entry's pools by the job's window and allocation tests, then takes the best score among
        pools with room and megawatts (cached per shape and kind, re-checked exactly on the pool picked).
        """
        ix = ps.ix
        now = ps.now
        cand = e.mask
        if win_check:
            ends = now + (row.walltime_s * e.ref_tp) / e.tp
            cand = cand & (~ix.pool_windowed | (ends <= ps.rules.pool_close_s))
            if not np.count_nonzero(cand):
                if ps.quiet:  # a quiet pass drops the sentence: the verdict (memoised for the pass) is all it keeps
                    return self._fail(ps, row, e, mkey, ReasonCode.WINDOW, "")
                names = ", ".join(sorted({ix.site_ids[int(s)] for s in ix.pool_site[e.mask & ix.pool_windowed]})[:5])
                return self._fail(
                    ps,
                    row,
                    e,
                    mkey,
                    ReasonCode.WINDOW,
                    f"the idle-capacity windows of {names} close before this non-preemptible job would end",
                )
        need_h: FArr | None = None
        if academic_public:
            need_h = row.gpus * ((row.duration_s * e.ref_tp) / e.tp) / 3600.0
            remaining = (ps.alloc[arow] if arow >= 0 else ps.lists.no_alloc)[ix.pool_site]
            cand = cand & (~ix.pool_public | (remaining >= need_h))
            if not np.count_nonzero(cand):
                if ps.quiet:
                    return self._fail(ps, row, e, mkey, ReasonCode.ALLOCATION, "")
                proj = row.project or "(none)"
                pub = e.mask & ix.pool_public
                names = ", ".join(sorted({ix.site_ids[int(s)] for s in ix.pool_site[pub]})[:5])
                return self._fail(
                    ps,
                    row,
                    e,
                    mkey,
                    ReasonCode.ALLOCATION,
                    f"project {proj} of {row.tenant} has no allocation left for "
                    f"{float(need_h[pub].min()):.0f} GPU-hours at {names}",
                )
        capok = e.capok
        if capok is None:
            capok = e.capok = ps.cap_ok(e)
        pows = e.pows
        if pows is None:
            pows = e.pows = [None, None, None, None]
        hit = pows[row.kind]
        if hit is None:
            pw_, powok_ = ps.pow_ok(row.gpus, row.kind)
            hit = pows[row.kind] = (pw_, powok_)
        pw, powok = hit
        res = ps.reservation
        while True:
            fit = cand & capok
            fit &= powok
            if e.first_fit:
                p = int(fit.argmax())
                found = bool(fit[p])
            else:
                # the objective, best fit as tie-break
                v = np.where(fit, ps.score(row, e).array() + ps.tiebreaks(), np.inf)
                p = int(v.argmin())
                found = bool(v[p] < np.inf)
            if not found:
                # exact, not the cache
                reason = ReasonCode.POWER_ENVELOPE if np.count_nonzero(cand & ps.room(e)) else ReasonCode.CAPACITY
                return self._fail(ps, row, e, mkey, reason, "" if ps.quiet else _no_room_message(row, e, reason))
            if res is not None:  # EASY backfill: start only what does not delay the reservation
                wall_end = now + (row.walltime_s * e.ref_tp) / e.tp
                kept = fit & self._keeps_reservation(ps, res, e, fit, wall_end, pw)
                if not np.count_nonzero(kept):
                    # exact room before saying so: a stale cached True must not turn "no room" (which
                    # may preempt) into "held behind the reservation" (which may not)
                    exact_cap = ps.room(e)
                    exact_pow = pw <= ps.headroom[ix.pool_site]
                    if np.count_nonzero(fit & ~(exact_cap & exact_pow)):
                        np.logical_and(capok, exact_cap, out=capok)
                        np.logical_and(powok, exact_pow, out=powok)
                        continue
                fit = kept
                if not np.count_nonzero(fit):
                    return self._held(ps, row, e)
                p = int(fit.argmax()) if e.first_fit else int(np.where(fit, v, np.inf).argmin())
            g, n = int(e.g[p]), int(e.n[p])
            # cached Trues may be stale where earlier starts took GPUs or megawatts: check this pool exactly
            if ps.ge[p, g] < n:
                capok[p] = False
                continue
            if pw[p] > ps.headroom[ps.site_of[p]]:
                powok[p] = False
                continue
            # the node picker has the last word: it is the one check that sees the reservation's nodes.
            # A pool it cannot serve is dropped for this job (never trusted on the counts alone).
            tp = float(e.tp[p])
            wall = now + (row.walltime_s * e.ref_tp) / tp
            after_r = res is not None and wall > res.start_s
            exclude = ps.reserved_nodes() if (after_r and res is not None and p == res.pool) else None
            lo = ps.offset_of[p]
            picked = best_fit_nodes(ps.node_free[lo : lo + ps.nodes_of[p]], n, g, ps.gpn_of[p], exclude, ps.ge[p])
            if picked is None:
                cand = cand.copy()
                cand[p] = False
                continue
            nodes = picked
            break
        need_gpu_h = None if need_h is None else float(need_h[p])
        out = self._start(ps, row, e, tix, p, g, n, nodes, wall, need_gpu_h, arow, float(pw[p]))
        # refresh this shape's cached masks at the pool just used (the next job is often alike)
        capok[p] = ps.ge[p, g] >= n
        powok[p] = pw[p] <= ps.headroom[ps.site_of[p]]
        return out

    def _held(self, ps: _Pass, row: JobRow, e: _Entry) -> list[Decision]:
        """The verdict of a job the EASY reservation holds back (room now, but starting would delay it)."""
        res = ps.reservation
        if ps.quiet or res is None:  # what _blocked returns for a RESERVATION refusal, without the sentence
            return []
        return self._blocked(
            ps,
            row,
            e,
            ReasonCode.RESERVATION,
            f"held behind reservation for job {res.job_id} "
            f"({res.site_id}/{res.pool_id} from {fmt_time(res.start_s, ps.now)})",
        )

    def _start(
        self,
        ps: _Pass,
        row: JobRow,
        e: _Entry,
        tix: int,
        p: int,
        g: int,
        n: int,
        nodes: IArr | tuple[int, ...],
        wall: float,
        need_gpu_h: float | None,
        arow: int,
        power: float,
    ) -> list[Decision]:
        """Start ``row`` on ``nodes`` of pool ``p`` (``n`` nodes x ``g`` GPUs) as placed (or defer it where a
        greener hour is coming)."""
        run_s = (row.duration_s * e.ref_tp) / (ps.tp_infer_of if row.inference else ps.tp_train_of)[p]
        if ps.deferral and (row.deadline_s is not None or ps.flex_s[tix] > 0):
            d = self._maybe_defer(ps, row, tix, p, run_s)
            if d is not None:
                return [d]
        start = self._commit(ps, row, tix, p, nodes, g, n, power, wall, run_s, need_gpu_h, arow)
        res = ps.reservation
        if res is not None and wall > res.start_s and ps.site_of[p] == res.site:
            res.extra_power_w -= power
        return [start]

    @staticmethod
    def _commit(
        ps: _Pass,
        row: JobRow,
        tix: int,
        p: int,
        nodes: IArr | tuple[int, ...],
        g: int,
        n: int,
        power: float,
        wall: float,
        run_s: float,
        need_gpu_h: float | None,
        arow: int,
        note: str = "",
    ) -> Start:
        """Take the nodes, megawatts, tenant GPUs and allocation for a start, and say where and why."""
        ix = ps.ix
        s = ps.site_of[p]
        ps.take(p, s, nodes, g, power)
        ps.in_use[tix] += row.gpus
        public = ps.public_of[p]
        if need_gpu_h is not None and public and arow >= 0:
            ps.alloc[arow, s] -= need_gpu_h
        node_t = nodes if isinstance(nodes, tuple) else tuple(nodes.tolist())
        if ps.events_wanted and ps.reservation is None:  # only an EASY reservation still to take reads them
            ps.new_events.setdefault(s, []).append((wall, p, node_t, g, power))
        carbon = ps.carbon_text[p]
        if carbon is None:
            carbon = ps.carbon_text[p] = f"{format(ps.intensity_of[p], '.0f')} gCO2/kWh"
        # format() for the number: compiled, an f-string with a format spec becomes one str.format call of the
        # whole template (1.4 us), with format() a join of its parts (0.4 us)
        msg = (
            f"{row.gpus}{ps.where_text[p]}{n} x {g}){ps.charge_text[p]}; "
            f"{row.score_key[1]}: {format(run_s / 3600, '.1f')} h, {carbon}{note}"
        )
        return Start(row.id, ix.site_ids[s], ix.pool_ids[p], n, g, msg, node_t)

    @staticmethod
    def _keeps_reservation(ps: _Pass, res: Reservation, e: _Entry, fit: BArr, wall_end: FArr, pw: FArr) -> BArr:
        """Pools where starting now does not delay the reservation (see hexagrid.scheduling.backfill)."""
        ix = ps.ix
        after = wall_end > res.start_s
        ok = ~(after & ps.reserved_site_pools()) | (pw <= res.extra_power_w)
        r = res.pool
        mask = ps.reserved_nodes()
        if after[r] and fit[r] and ok[r] and mask is not None:
            lo = int(ix.pool_offset[r])
            free = ps.node_free[lo : lo + int(ix.pool_nodes[r])]
            if int(np.count_nonzero((free >= e.g[r]) & ~mask)) < e.n[r]:
                ok[r] = False  # ok is this call's own array
        return ok

    def _fail(
        self, ps: _Pass, row: JobRow, e: _Entry, mkey: tuple[object, ...] | None, reason: ReasonCode, message: str
    ) -> list[Decision]:
        if mkey is None:
            if e.fail0 is None:
                e.fail0 = [None] * len(KINDS)
            if reason is ReasonCode.POWER_ENVELOPE:
                e.fail0[row.kind] = (reason, message)
            else:  # no free nodes for the shape: true whatever the job's kind
                e.fail0[:] = [(reason, message)] * len(KINDS)
        else:
            ps.failed[mkey] = (reason, message)
        return self._blocked(ps, row, e, reason, message)

    def _blocked(self, ps: _Pass, row: JobRow, e: _Entry, reason: ReasonCode, message: str) -> list[Decision]:
        """A job that cannot start: try preemption, then take the strict-order block or the EASY reservation.

        Its NotNow is left out in a quiet pass (whose caller drops it anyway), sparing the sentence."""
        if reason not in _TRANSIENT:
            return [] if ps.quiet else [NotNow(row.id, reason, message)]
        cfg = self.config
        # a failed preemption stays failed for the pass (until a preemption frees resources)
        if cfg.preemption and not row.preemptible and ps.preempt_budget > 0:
            pkey = (e.uid, row.kind, row.priority, row.tenant, row.project)
            if pkey not in ps.no_preempt:
                pre = self._try_preempt(ps, row, e)
                if pre:
                    return pre
                ps.no_preempt.add(pkey)
        if cfg.backfill == "none" and ps.blocker is None:
            ps.blocker = row.id
            return [] if ps.quiet else [NotNow(row.id, reason, message)]
        if cfg.backfill == "easy" and ps.reservation is None:
            res = self._reserve(ps, row, e)
            if res is not None:
                ps.reservation = res
                if ps.quiet:
                    return []
                return [
                    NotNow(
                        row.id,
                        reason,
                        f"{message}; reserved {res.site_id}/{res.pool_id} from {fmt_time(res.start_s, ps.now)}",
                        reserved_start_s=res.start_s,
                    )
                ]
        return [] if ps.quiet else [NotNow(row.id, reason, message)]

    def _reserve(self, ps: _Pass, row: JobRow, e: _Entry) -> Reservation | None:
        """The EASY reservation: earliest start over non-windowed candidate pools still online then (in scalars:
        the same tests and float operations as over pool vectors, on the few pools an entry admits)."""
        ix = ps.ix
        pools = e.pools
        if pools is None:
            pools = e.pools = np.flatnonzero(e.mask).tolist()
        windowed_of = ps.windowed_of
        cand = [p for p in pools if not windowed_of[p]]
        if e.has_public and ps.klass[ps.state.tenants.index[row.tenant]] == 0:
            arow = ps.state.alloc_row_for(row.tenant, row.project)
            left: list[float] | None = ps.alloc[arow].tolist() if arow >= 0 else None
            run_ref_s = row.duration_s * e.ref_tp
            tp_of = ps.tp_infer_of if row.inference else ps.tp_train_of
            public_of, site_of = ps.public_of, ps.site_of
            cand = [
                p
                for p in cand
                if not public_of[p]
                or (left[site_of[p]] if left is not None else 0.0) >= row.gpus * (run_ref_s / tp_of[p]) / 3600.0
            ]
        if not cand:
            return None
        g_of, n_of, w_of = e.g.tolist(), e.n.tolist(), ix.w_per_gpu_of[row.kind]
        gpus = row.gpus
        res = earliest_start(
            ix,
            row.id,
            ps.node_free,
            ps.headroom_of,
            ps.events_of,
            cand,
            [g_of[p] for p in cand],
            [n_of[p] for p in cand],
            [gpus * w_of[p] for p in cand],
            ps.now,
        )
        if res is not None and res.start_s >= ix.site_online_until_s[res.site]:
            return None
        return res

    # -------------------------------------------------------------- deferral
    def _maybe_defer(self, ps: _Pass, row: JobRow, tix: int, p: int, run_s: float) -> Defer | None:
        """Defer to the greenest forecast window that still meets the deadline (or the tenant's flexibility)."""
        now = ps.now
        if row.deadline_s is not None:
            latest = row.deadline_s - run_s
        else:
            flex = ps.flex_s[tix]
            if flex <= 0:
                return None
            latest = row.submit_s + flex
        hour0 = math.floor(now / 3600.0) * 3600.0
        horizon = self.config.deferral_horizon_h
        k_max = min(int((latest - hour0) // 3600.0), horizon - 1)
        if k_max < 1:
            return None
        zone_code = ps.pool_zone[p]
        run_h = max(1, math.ceil(run_s / 3600.0))
        length = max(1, min(run_h, horizon - k_max))
        key = (zone_code, length, k_max)
        hit = ps.forecasts.get(key)
        if hit is None:
            cs = ps.forecast_cumsum(zone_code, horizon)
            if cs is None or len(cs) < k_max + length + 1:
                hit = (0, 0.0, 0.0)
            else:
                hit = _greenest_start(cs[: k_max + length + 1].tolist(), length, k_max)
            ps.forecasts[key] = hit
        k, now_mean, best_mean = hit
        if k < 1 or not best_mean < now_mean * (1.0 - self.config.deferral_min_gain):
            return None
        until = hour0 + k * 3600.0
        if until > latest:  # k <= k_max keeps this from happening; kept as the rule's guard
            return None
        if row.deadline_s is not None:
            limit = f"deadline {fmt_time(row.deadline_s, now)}"
        else:
            limit = f"flexible until {fmt_time(latest, now)}"
        return Defer(
            row.id,
            until,
            ReasonCode.CARBON_DEFERRAL,
            f"deferred for carbon until {fmt_time(until, now)}, {limit} "
            f"({format(best_mean, '.0f')} vs {format(now_mean, '.0f')} gCO2/kWh forecast in {ps.ix.zones[zone_code]})",
        )

    # -------------------------------------------------------------- preemption for priority
    def _try_preempt(self, ps: _Pass, row: JobRow, e: _Entry) -> list[Decision]:
        """Evict lower-priority preemptible jobs from one pool and start ``row`` on what they free, now.

        Returns the victims' Preempts followed by the job's Start (drivers apply decisions in list
        order), or [] when no pool works. Guards against eviction ping-pong: only a non-preemptible
        job preempts (a preemptible one could be evicted in turn), victims have strictly lower
        priority and have run at least ``preemption_min_run_s``, the fewest victims that make the job
        fit are taken (nodes as the node picker sees them, and the site's megawatts), the pool losing
        the least work since checkpoints wins, and the job takes the freed nodes in this same pass so
        nothing else can. The EASY reservation's site is left alone.
        """
        state = ps.state
        if ps.min_victim_priority is None:
            ps.min_victim_priority = state.min_victim_priority()
        if row.priority <= ps.min_victim_priority:
            return []
        now = ps.now
        ix = ps.ix
        tix = ps.tindex[row.tenant]
        admitted = e.pools
        if admitted is None:
            admitted = e.pools = np.flatnonzero(e.mask).tolist()
        windowed_of, site_of = ps.windowed_of, ps.site_of
        # windows are for preemptible work (never evict to start there); the reservation keeps its nodes and megawatts
        res = ps.reservation
        res_site = -1 if res is None else res.site
        pools = [p for p in admitted if not windowed_of[p] and site_of[p] != res_site]
        arow = -1
        need_h: FArr | None = None
        if e.has_public:  # public pools only where the project's allocation covers the job
            arow = state.alloc_row_for(row.tenant, row.project) if ps.klass[tix] == 0 else -1
            need_h = row.gpus * ((row.duration_s * e.ref_tp) / e.tp) / 3600.0
            left: list[float] = (ps.alloc[arow] if arow >= 0 else ps.lists.no_alloc).tolist()
            need_of: list[float] = need_h.tolist()
            public_of = ps.public_of
            pools = [p for p in pools if not public_of[p] or left[site_of[p]] >= need_of[p]]
        started_by = now - self.config.preemption_min_run_s
        best: tuple[float, int, list[RunningJob], tuple[int, ...]] | None = None
        w_of = ix.w_per_gpu_of[row.kind]
        for p in pools:
            victims = [
                rj
                for rj in state.pool_jobs[p].values()
                if rj.preemptible
                and rj.priority < row.priority
                and rj.start_s <= started_by
                and rj.job_id not in ps.preempted
            ]
            if not victims:
                continue
            victims.sort(key=lambda r: (r.work_at_risk_gpu_s(now), r.job_id))
            # the pool's free GPUs per node: a list for a pool of a few nodes (no numpy call per victim), an array
            # for a large one (one vector search per victim, not a Python scan of its nodes)
            lo = ps.offset_of[p]
            free: list[int] | I16Arr = (
                ps.node_free[lo : lo + ps.nodes_of[p]].tolist()
                if ps.nodes_of[p] <= LIST_NODES
                else ps.node_free[lo : lo + ps.nodes_of[p]].copy()
            )
            headroom = ps.headroom_of[ps.site_of[p]]
            need_w = row.gpus * w_of[p]
            g, n, gpn = int(e.g[p]), int(e.n[p]), ps.gpn_of[p]
            chosen: list[RunningJob] = []
            lost = 0.0
            fits = False
            for rj in victims:
                _shift(free, rj.node_indices, rj.gpus_per_node)
                headroom += rj.power_w
                chosen.append(rj)
                lost += rj.work_at_risk_gpu_s(now)
                if best is not None and lost >= best[0]:
                    break
                if headroom >= need_w and best_fit_pool(free, n, g, gpn) is not None:
                    fits = True
                    break
            if not fits:
                continue
            # spare the victims the job does not need after all (most work at risk first)
            for rj in sorted(chosen, key=lambda r: (-r.work_at_risk_gpu_s(now), r.job_id)):
                if len(chosen) == 1:
                    break
                trial = list(free) if isinstance(free, list) else free.copy()
                _shift(trial, rj.node_indices, -rj.gpus_per_node)
                if headroom - rj.power_w >= need_w and best_fit_pool(trial, n, g, gpn) is not None:
                    free, headroom = trial, headroom - rj.power_w
                    chosen.remove(rj)
                    lost -= rj.work_at_risk_gpu_s(now)
            picked = best_fit_pool(free, n, g, gpn)
            if picked is not None and (best is None or lost < best[0]):
                best = (lost, p, chosen, picked)
        if best is None or len(best[2]) > ps.preempt_budget:
            return []
        lost, p, chosen, nodes = best
        ps.preempt_budget -= len(chosen)
        s = ps.site_of[p]
        lo = ps.offset_of[p]
        name = ix.pool_name(p)
        out: list[Decision] = []
        for rj in chosen:
            ps.preempted.add(rj.job_id)
            apply_nodes(
                ps.node_free, ps.ge, ps.pool_free, lo, p, np.array(rj.node_indices, dtype=np.int64), rj.gpus_per_node
            )
            ps.headroom[s] += rj.power_w
            ps.headroom_of[s] += rj.power_w
            vt = ps.tindex.get(rj.tenant)
            if vt is not None:
                ps.in_use[vt] -= rj.gpus
            out.append(
                Preempt(
                    rj.job_id,
                    ReasonCode.HIGHER_PRIORITY,
                    f"preempted on {name} for job {row.id} (priority {row.priority}); "
                    f"{format(rj.work_at_risk_gpu_s(now) / 3600, '.1f')} GPU-h since its last checkpoint lost",
                    for_job_id=row.id,
                )
            )
        ps.ge_rows[p] = ps.ge[p].tolist()
        ps.pool_free_of[p] = int(ps.pool_free[p])
        ps.first_at.pop(p, None)
        # the pass gave resources back: the "no room" memos assumed it only ever takes
        ps.cap_cache.clear()
        ps.pow_cache.clear()
        ps.lanes.clear()
        ps.failed.clear()
        ps.no_preempt.clear()
        ps.epoch = next(_EPOCHS)
        g, n = int(e.g[p]), int(e.n[p])
        tp = float(e.tp[p])
        run_s = (row.duration_s * e.ref_tp) / tp
        wall = now + (row.walltime_s * e.ref_tp) / tp
        power = row.gpus * float(ix.pool_w_per_gpu[row.kind, p])
        note = f"; after preempting {len(chosen)} lower-priority job(s)"
        need_gpu_h = None if need_h is None else float(need_h[p])
        out.append(self._commit(ps, row, tix, p, nodes, g, n, power, wall, run_s, need_gpu_h, arow, note))
        return out
