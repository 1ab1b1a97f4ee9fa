"""``Scheduler.decide``: one pure pass over the queue — order, eligibility, placement, backfill, deferral, preemption.

A pass copies the few arrays it changes (free GPUs per node, per-pool level counts, site headroom,
tenants' GPUs in use, allocations) and walks the queue in policy order. For each job it narrows the
fleet's pools with vector masks (memoised per job signature), scores the survivors by the job's
objective and packs the job best-fit. Failures that only get worse as a pass fills the fleet
(capacity, power, allocation) are memoised per signature too, so a refused job costs a dict lookup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hexagrid.domain.decisions import Decision, Defer, NotNow, Preempt, ReasonCode, Start
from hexagrid.domain.jobs import JobSpec
from hexagrid.domain.kinds import Objective
from hexagrid.domain.signals import CarbonSignals
from hexagrid.errors import InputError
from hexagrid.scheduling.backfill import Event, Reservation, earliest_start
from hexagrid.scheduling.config import SchedulerConfig
from hexagrid.scheduling.queue import JobQueue, JobRow
from hexagrid.scheduling.rules import PassRules, fmt_time, funnel, static_message, static_rules
from hexagrid.scheduling.state import KINDS, BArr, ClusterState, FArr, FleetIndex, IArr, apply_nodes, best_fit_nodes

__all__ = ["Scheduler", "carbon_intensity_by_pool", "order_queue"]

_TIE_EPS = 1e-6  # best-fit tie-break weight: far below any real score difference
_TRANSIENT = (ReasonCode.CAPACITY, ReasonCode.POWER_ENVELOPE)


def carbon_intensity_by_pool(ix: FleetIndex, signals: CarbonSignals | None, now_s: float) -> FArr:
    """gCO2/kWh in force at ``now_s`` for each pool's grid zone.

    Zones the signals do not cover get the mean of those they do (an estimate, so a missing zone is
    neither favoured nor excluded); without signals every pool gets 0 and carbon stops mattering.
    """
    if signals is None:
        return np.zeros(ix.n_pools)
    covered = signals.zones()
    vals = {z: float(signals.intensity_g_per_kwh(z, now_s)) for z in ix.zones if z in covered}
    fill = float(np.mean(list(vals.values()))) if vals else 0.0
    by_zone = np.array([vals.get(z, fill) for z in ix.zones])
    return by_zone[ix.site_zone_code[ix.pool_site]]


def order_queue(q: JobQueue, state: ClusterState, config: SchedulerConfig, now_s: float) -> IArr:
    """Queue positions in the order the pass considers them; ties by submit time, then job id.

    ``multifactor`` is Slurm's classic multifactor priority: ``w_age * age + w_fs * F + w_qos * qos``
    with each factor in [0, 1]; ``F = 2 ** (-U / S)`` where ``U`` is the tenant's share of the
    fleet's decayed usage and ``S`` its normalised fair-share weight (fair-share factor of Slurm's
    classic algorithm); ``qos`` maps priority -1000..1000 onto 0..1.
    """
    n = len(q)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if config.queue_order == "fifo":
        return np.lexsort((q.ids, q.submit_s))
    if config.queue_order == "priority":
        return np.lexsort((q.ids, q.submit_s, -q.priority))
    tn = state.tenants
    weights = tn.weight
    shares = weights / weights.sum() if len(weights) and weights.sum() > 0 else weights
    usage = state.tenant_usage_share()
    with np.errstate(divide="ignore", invalid="ignore"):
        fs = np.where(shares > 0, np.exp2(-usage / np.where(shares > 0, shares, 1.0)), 0.0)
    tix = np.fromiter((tn.index.get(r.tenant, -1) for r in q.rows), dtype=np.int64, count=n)
    fs_job = np.where(tix >= 0, fs[np.maximum(tix, 0)] if len(fs) else 0.0, 0.0)
    age = np.clip((now_s - q.submit_s) / config.max_age_s, 0.0, 1.0)
    qos = (q.priority + 1000.0) / 2000.0
    score = config.weight_age * age + config.weight_fair_share * fs_job + config.weight_qos * qos
    return np.lexsort((q.ids, q.submit_s, -score))


@dataclass(slots=True)
class _Entry:
    """A signature's candidate pools for this pass, with their per-pool vectors gathered once."""

    uid: int
    reason: ReasonCode | None
    message: str
    idx: IArr
    g: IArr
    n: IArr
    site: IArr
    w_per_gpu: FArr
    tp: FArr
    ref_tp: float
    public: BArr
    has_public: bool
    windowed: BArr
    has_window: bool
    close_s: FArr
    score: FArr
    first: bool  # first_fit placement


class _Pass:
    """The working copy of one pass: mutable arrays plus per-pass vectors and memo tables."""

    def __init__(self, sched: Scheduler, state: ClusterState, signals: CarbonSignals | None, now_s: float) -> None:
        cfg = sched.config
        ix = state.ix
        self.cfg = cfg
        self.state = state
        self.ix = ix
        self.now = now_s
        self.signals = signals
        self.rules = PassRules(ix, now_s)
        self.pass_ok = self.rules.pool_online & self.rules.pool_open
        self.node_free = state.node_free.copy()
        self.ge = state.ge.copy()
        self.pool_free = state.pool_free_gpus.copy()
        self.headroom = ix.site_cap_w - state.site_draw_w
        self.in_use = state.tenants.in_use.copy()
        self.cap = state.tenants.cap
        self.klass = state.tenants.klass
        self.alloc = state.alloc_remaining_gpu_h.copy()
        self.no_alloc = np.zeros(ix.n_sites)
        self.intensity = carbon_intensity_by_pool(ix, signals, now_s)
        self.entries: dict[tuple[object, ...], _Entry] = {}
        self.failed: dict[tuple[object, ...], tuple[ReasonCode, str]] = {}
        self.scores: dict[tuple[int, Objective], FArr] = {}
        self.forecasts: dict[tuple[int, int, int], tuple[int, float, float]] = {}
        self.new_events: dict[int, list[Event]] = {}
        self.reservation: Reservation | None = None
        self.reserved_mask: BArr | None = None
        self.blocker: str | None = None
        self.preempted: set[str] = set()
        self.preempt_budget = cfg.max_preemptions_per_pass
        self.min_victim_priority: float | None = None

    # -------------------------------------------------------------- per-pass vectors
    def base_score(self, kind: int, objective: Objective) -> FArr:
        """Score per pool for work of ``kind`` (lower is better), each term over its fleet-wide maximum.

        Per reference GPU-hour of work: cost = price x runtime factor; carbon = facility W per GPU x
        runtime factor x zone intensity; time = runtime factor (faster accelerators finish sooner).
        """
        key = (kind, objective)
        hit = self.scores.get(key)
        if hit is not None:
            return hit
        ix = self.ix
        inference = KINDS[kind].value == "inference"
        tp = ix.pool_tp_infer if inference else ix.pool_tp_train
        ref = ix.ref_tp_infer if inference else ix.ref_tp_train
        factor = ref / tp
        terms = {
            "cost": ix.pool_price * factor,
            "carbon": ix.pool_w_per_gpu[kind] * factor * self.intensity,
            "time": factor,
        }
        norm = {k: v / v.max() if v.max() > 0 else np.zeros_like(v) for k, v in terms.items()}
        w = self.cfg.objective_weights
        total_w = w.cost + w.carbon + w.time
        balanced = (w.cost * norm["cost"] + w.carbon * norm["carbon"] + w.time * norm["time"]) / (total_w or 1.0)
        # a named objective first, the balanced mix as its tie-break
        score = balanced if objective is Objective.BALANCED else norm[objective.value] + 0.01 * balanced
        self.scores[key] = score
        return score

    def entry(self, row: JobRow, tclass: int) -> _Entry:
        key = (row.skey, tclass, row.kind, row.objective)
        e = self.entries.get(key)
        if e is not None:
            return e
        ix = self.ix
        st = static_rules(ix, row, tclass, self.cfg)
        rules = [*st.rules, (ReasonCode.OFFLINE, self.rules.pool_online), (ReasonCode.WINDOW, self.rules.pool_open)]
        reason, survivors = funnel(rules, np.ones(ix.n_pools, dtype=np.bool_))
        idx = np.flatnonzero(st.mask & self.pass_ok)
        message = "" if reason is None else static_message(reason, row, tclass, ix, survivors, self.now)
        inference = row.inference
        score = self.base_score(row.kind, row.objective)[idx]
        if st.site_latency_ms is not None and row.spec.inference is not None:
            lat = st.site_latency_ms[ix.pool_site[idx]] / row.spec.inference.latency_target_ms
            score = score + self.cfg.inference_distance_weight * lat
        e = _Entry(
            uid=len(self.entries),
            reason=reason,
            message=message,
            idx=idx,
            g=st.g[idx],
            n=st.n[idx],
            site=ix.pool_site[idx],
            w_per_gpu=ix.pool_w_per_gpu[row.kind][idx],
            tp=(ix.pool_tp_infer if inference else ix.pool_tp_train)[idx],
            ref_tp=ix.ref_tp_infer if inference else ix.ref_tp_train,
            public=ix.pool_public[idx],
            has_public=bool(ix.pool_public[idx].any()),
            windowed=ix.pool_windowed[idx],
            has_window=bool(ix.pool_windowed[idx].any()),
            close_s=self.rules.pool_close_s[idx],
            score=score,
            first=self.cfg.placement == "first_fit",
        )
        self.entries[key] = e
        return e

    # -------------------------------------------------------------- events for reservations
    def events_by_site(self) -> dict[int, list[Event]]:
        out: dict[int, list[Event]] = {}
        for rj in self.state.running.values():
            out.setdefault(rj.site, []).append(
                (rj.walltime_end_s, rj.pool, rj.node_indices, rj.gpus_per_node, rj.power_w)
            )
        for s, evs in self.new_events.items():
            out.setdefault(s, []).extend(evs)
        return out


class Scheduler:
    """The policy object drivers hold; ``decide`` is pure (it memoises derived rows and masks only)."""

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()
        self._rows: dict[str, JobRow] = {}

    def decide(
        self, state: ClusterState, queue: Sequence[JobSpec] | JobQueue, signals: CarbonSignals | None, now_s: float
    ) -> list[Decision]:
        """One decision per queued job (Start, Defer or NotNow), plus Preempts for running jobs.

        Deterministic: the same state, queue, signals and time give the same decisions in the same order.
        """
        if not math.isfinite(now_s):
            raise InputError(f"now_s must be a finite POSIX time in seconds, got {now_s}")
        if isinstance(queue, JobQueue):
            q = queue
        else:
            q = JobQueue.from_specs(queue, self._rows)
            if len(self._rows) > 4 * max(len(q), 1024):  # forget rows of jobs long gone
                self._rows = {r.id: r for r in q.rows}
        if len(set(q.ids.tolist())) != len(q):
            seen: set[str] = set()
            dup = next(i for i in q.ids.tolist() if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise InputError(f"queue: job id {dup!r} appears more than once; each queued job needs a unique id")
        ps = _Pass(self, state, signals, now_s)
        out: list[Decision] = []
        if self.config.preemption or state.ix.site_schedule:
            out.extend(self._window_preemptions(ps))
        for i in order_queue(q, state, self.config, now_s).tolist():
            out.extend(self._one(ps, q.rows[i]))
        return out

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
    def _one(self, ps: _Pass, row: JobRow) -> list[Decision]:
        tix = ps.state.tenants.index.get(row.tenant)
        if tix is None:
            return [
                NotNow(row.id, ReasonCode.UNKNOWN_TENANT, f"tenant {row.tenant!r} is not registered with the scheduler")
            ]
        tclass = int(ps.klass[tix])
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
                    f"tenant {row.tenant} is at its cap: {int(ps.in_use[tix])} of {int(ps.cap[tix])} "
                    f"GPUs in use, the job needs {row.gpus}",
                )
            ]
        academic_public = e.has_public and tclass == 0
        arow = ps.state.alloc_row_for(row.tenant, row.project) if academic_public else -1
        win_check = e.has_window and not row.preemptible
        mkey = (e.uid, arow, row.walltime_s if win_check else 0.0)
        failed = ps.failed.get(mkey)
        if failed is not None:
            return self._blocked(ps, row, e, failed[0], failed[1])

        now = ps.now
        cand: BArr | None = None
        if win_check:
            ends = now + (row.walltime_s * e.ref_tp) / e.tp
            cand = ~e.windowed | (ends <= e.close_s)
            if not cand.any():
                names = ", ".join(sorted({ps.ix.site_ids[int(s)] for s in e.site[e.windowed]})[:5])
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
            remaining = ps.alloc[arow][e.site] if arow >= 0 else ps.no_alloc[e.site]
            ok = ~e.public | (remaining >= need_h)
            cand = ok if cand is None else cand & ok
            if not cand.any():
                proj = row.project or "(none)"
                names = ", ".join(sorted({ps.ix.site_ids[int(s)] for s in e.site[e.public]})[:5])
                return self._fail(
                    ps,
                    row,
                    e,
                    mkey,
                    ReasonCode.ALLOCATION,
                    f"project {proj} of {row.tenant} has no allocation left for "
                    f"{float(need_h[e.public].min()):.0f} GPU-hours at {names}",
                )
        fit = ps.ge[e.idx, e.g] >= e.n
        if cand is not None:
            fit &= cand
        if not fit.any():
            return self._fail(
                ps,
                row,
                e,
                mkey,
                ReasonCode.CAPACITY,
                f"no {row.where_desc}site with {row.gpus} free {row.acc_desc}{row.shape_desc()}",
            )
        pw = row.gpus * e.w_per_gpu
        fit &= pw <= ps.headroom[e.site]
        if not fit.any():
            return self._fail(
                ps,
                row,
                e,
                mkey,
                ReasonCode.POWER_ENVELOPE,
                f"no {row.where_desc}site with {row.gpus} free {row.acc_desc}{row.shape_desc()} "
                f"within its power envelope",
            )
        # EASY backfill: do not delay the reservation
        res = ps.reservation
        after_r = False
        wall_end: FArr | None = None
        if res is not None:
            wall_end = now + (row.walltime_s * e.ref_tp) / e.tp
            after = wall_end > res.start_s
            at_site = e.site == res.site
            if after.any() and at_site.any():
                ok = ~(after & at_site) | (pw <= res.extra_power_w)
                pos_r = np.flatnonzero(e.idx == res.pool)
                if len(pos_r) and after[pos_r[0]] and fit[pos_r[0]]:
                    j = int(pos_r[0])
                    assert ps.reserved_mask is not None
                    sl = ps.state.pool_slice(res.pool)
                    free = ps.node_free[sl]
                    nfree = int(np.count_nonzero((free >= e.g[j]) & ~ps.reserved_mask))
                    if nfree < e.n[j]:
                        ok[j] = False
                fit &= ok
                if not fit.any():
                    return self._blocked(
                        ps,
                        row,
                        e,
                        ReasonCode.RESERVATION,
                        f"held behind reservation for job {res.job_id} "
                        f"({res.site_id}/{res.pool_id} from {fmt_time(res.start_s, now)})",
                        remember=False,
                    )
        # placement: objective score with best-fit tie-break, or the first eligible pool
        if e.first:
            j = int(fit.argmax())
        else:
            frac = ps.pool_free[e.idx] / ps.ix.pool_gpus[e.idx]
            j = int(np.where(fit, e.score + _TIE_EPS * frac, np.inf).argmin())
        p = int(e.idx[j])
        s = int(e.site[j])
        g, n = int(e.g[j]), int(e.n[j])
        run_s = (row.duration_s * e.ref_tp) / float(e.tp[j])
        # carbon-aware deferral: only jobs with slack, never past their latest start
        if self.config.carbon_deferral and ps.signals is not None:
            d = self._maybe_defer(ps, row, tix, p, run_s)
            if d is not None:
                return [d]
        after_r = res is not None and wall_end is not None and bool(wall_end[j] > res.start_s)
        exclude = ps.reserved_mask if (after_r and res is not None and p == res.pool) else None
        sl = ps.state.pool_slice(p)
        nodes = best_fit_nodes(ps.node_free[sl], n, g, int(ps.ix.pool_gpn[p]), exclude)
        assert nodes is not None, "a pool that passed the gang check must yield nodes"
        apply_nodes(ps.node_free, ps.ge, ps.pool_free, sl.start, p, nodes, -g)
        power = float(pw[j])
        ps.headroom[s] -= power
        ps.in_use[tix] += row.gpus
        if need_h is not None and e.public[j] and arow >= 0:
            ps.alloc[arow, s] -= float(need_h[j])
        if after_r and res is not None and s == res.site:
            res.extra_power_w -= power
        wall = now + (row.walltime_s * e.ref_tp) / float(e.tp[j])
        ps.new_events.setdefault(s, []).append((wall, p, tuple(nodes.tolist()), g, power))
        ix = ps.ix
        charge = " charged to the project's allocation" if e.public[j] else f", {float(ix.pool_price[p]):.2f} EUR/GPU-h"
        msg = (
            f"{row.gpus} {ix.pool_acc_name[p]} on {ix.site_ids[s]}/{ix.pool_ids[p]} "
            f"({n} x {g}){charge}; {row.objective.value}: {run_s / 3600:.1f} h, "
            f"{float(ps.intensity[p]):.0f} gCO2/kWh"
        )
        return [Start(row.id, ix.site_ids[s], ix.pool_ids[p], n, g, msg, tuple((nodes).tolist()))]

    def _fail(
        self, ps: _Pass, row: JobRow, e: _Entry, mkey: tuple[object, ...], reason: ReasonCode, message: str
    ) -> list[Decision]:
        ps.failed[mkey] = (reason, message)
        return self._blocked(ps, row, e, reason, message)

    def _blocked(
        self, ps: _Pass, row: JobRow, e: _Entry, reason: ReasonCode, message: str, remember: bool = True
    ) -> list[Decision]:
        """A job that cannot start: try preemption, then take the strict-order block or the EASY reservation."""
        if reason not in _TRANSIENT:
            return [NotNow(row.id, reason, message)]
        cfg = self.config
        if cfg.preemption and ps.preempt_budget > 0:
            pre = self._try_preempt(ps, row, e)
            if pre:
                return [
                    *pre,
                    NotNow(
                        row.id,
                        ReasonCode.PREEMPTION_PENDING,
                        f"waiting for {len(pre)} preemptible job(s) to stop: {message}",
                    ),
                ]
        if cfg.backfill == "none" and ps.blocker is None:
            ps.blocker = row.id
            return [NotNow(row.id, reason, message)]
        if cfg.backfill == "easy" and ps.reservation is None:
            res = self._reserve(ps, row, e)
            if res is not None:
                ps.reservation = res
                ps.reserved_mask = res.reserved_mask(int(ps.ix.pool_nodes[res.pool]))
                return [
                    NotNow(
                        row.id,
                        reason,
                        f"{message}; reserved {res.site_id}/{res.pool_id} from {fmt_time(res.start_s, ps.now)}",
                        reserved_start_s=res.start_s,
                    )
                ]
        return [NotNow(row.id, reason, message)]

    def _reserve(self, ps: _Pass, row: JobRow, e: _Entry) -> Reservation | None:
        """The EASY reservation: earliest start over non-windowed candidate pools still online then."""
        keep = ~e.windowed
        if e.has_public and int(ps.klass[ps.state.tenants.index[row.tenant]]) == 0:
            arow = ps.state.alloc_row_for(row.tenant, row.project)
            need = row.gpus * ((row.duration_s * e.ref_tp) / e.tp) / 3600.0
            remaining = ps.alloc[arow][e.site] if arow >= 0 else ps.no_alloc[e.site]
            keep &= ~e.public | (remaining >= need)
        if not keep.any():
            return None
        res = earliest_start(
            ps.ix,
            row.id,
            ps.node_free,
            ps.headroom,
            ps.events_by_site(),
            e.idx[keep],
            e.g[keep],
            e.n[keep],
            row.gpus * e.w_per_gpu[keep],
            ps.now,
        )
        if res is not None and res.start_s >= ps.ix.site_online_until_s[res.site]:
            return None
        return res

    # -------------------------------------------------------------- deferral
    def _maybe_defer(self, ps: _Pass, row: JobRow, tix: int, p: int, run_s: float) -> Defer | None:
        """Defer to the greenest forecast window that still meets the deadline (or the tenant's flexibility)."""
        now = ps.now
        if row.deadline_s is not None:
            latest = row.deadline_s - run_s
            limit = f"deadline {fmt_time(row.deadline_s, now)}"
        else:
            flex = float(ps.state.tenants.flex_s[tix])
            if flex <= 0:
                return None
            latest = row.submit_s + flex
            limit = f"flexible until {fmt_time(latest, now)}"
        hour0 = math.floor(now / 3600.0) * 3600.0
        horizon = self.config.deferral_horizon_h
        k_max = min(int((latest - hour0) // 3600.0), horizon - 1)
        if k_max < 1:
            return None
        zone_code = int(ps.ix.site_zone_code[ps.ix.pool_site[p]])
        run_h = max(1, math.ceil(run_s / 3600.0))
        length = max(1, min(run_h, horizon - k_max))
        key = (zone_code, length, k_max)
        hit = ps.forecasts.get(key)
        if hit is None:
            assert ps.signals is not None
            zone = ps.ix.zones[zone_code]
            if zone not in ps.signals.zones():
                ps.forecasts[key] = hit = (0, 0.0, 0.0)
            else:
                fc = np.asarray(ps.signals.forecast_g_per_kwh(zone, now, horizon), dtype=np.float64)
                if len(fc) < k_max + length:
                    ps.forecasts[key] = hit = (0, 0.0, 0.0)
                else:
                    cs = np.concatenate([[0.0], np.cumsum(fc)])
                    means = (cs[length : k_max + length + 1] - cs[: k_max + 1]) / length
                    k = int(means.argmin())
                    hit = (k, float(means[0]), float(means[k]))
                    ps.forecasts[key] = hit
        k, now_mean, best_mean = hit
        if k < 1 or not best_mean < now_mean * (1.0 - self.config.deferral_min_gain):
            return None
        until = hour0 + k * 3600.0
        if until > latest:  # k <= k_max keeps this from happening; kept as the rule's guard
            return None
        return Defer(
            row.id,
            until,
            ReasonCode.CARBON_DEFERRAL,
            f"deferred for carbon until {fmt_time(until, now)}, {limit} "
            f"({best_mean:.0f} vs {now_mean:.0f} gCO2/kWh forecast in {ps.ix.zones[zone_code]})",
        )

    # -------------------------------------------------------------- preemption for priority
    def _try_preempt(self, ps: _Pass, row: JobRow, e: _Entry) -> list[Preempt]:
        """Evict lower-priority preemptible jobs from one candidate pool, losing the least work since checkpoints."""
        state = ps.state
        if ps.min_victim_priority is None:
            prios = [rj.priority for rj in state.running.values() if rj.preemptible]
            ps.min_victim_priority = float(min(prios)) if prios else math.inf
        if row.priority <= ps.min_victim_priority:
            return []
        now = ps.now
        best: tuple[float, int, list[str]] | None = None
        for j, p in enumerate(e.idx.tolist()):
            victims = [
                rj
                for rj in state.pool_jobs[p].values()
                if rj.preemptible and rj.priority < row.priority and rj.job_id not in ps.preempted
            ]
            if not victims:
                continue
            victims.sort(key=lambda r: (r.work_at_risk_gpu_s(now), r.job_id))
            sl = state.pool_slice(p)
            free = ps.node_free[sl].copy()
            s = int(e.site[j])
            headroom = float(ps.headroom[s])
            need_w = row.gpus * float(e.w_per_gpu[j])
            g, n = int(e.g[j]), int(e.n[j])
            chosen: list[str] = []
            lost = 0.0
            for rj in victims:
                free[list(rj.node_indices)] += rj.gpus_per_node
                headroom += rj.power_w
                chosen.append(rj.job_id)
                lost += rj.work_at_risk_gpu_s(now)
                if best is not None and lost >= best[0]:
                    break
                if headroom >= need_w and int(np.count_nonzero(free >= g)) >= n:
                    if best is None or lost < best[0]:
                        best = (lost, p, list(chosen))
                    break
        if best is None or len(best[2]) > ps.preempt_budget:
            return []
        lost, p, chosen = best
        ps.preempt_budget -= len(chosen)
        ps.preempted.update(chosen)
        name = ps.ix.pool_name(p)
        return [
            Preempt(
                jid,
                ReasonCode.HIGHER_PRIORITY,
                f"preempted on {name} for job {row.id} (priority {row.priority}); "
                f"{state.running[jid].work_at_risk_gpu_s(now) / 3600:.1f} GPU-h since its last checkpoint lost",
                for_job_id=row.id,
            )
            for jid in chosen
        ]
