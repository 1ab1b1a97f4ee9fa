"""``explain``: for one job, which rule each site fails (or that it could start there now).

The same rule masks as ``decide``, evaluated site by site in the documented precedence, so the
server's explain endpoint and the CLI tell the user exactly what the scheduler sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hexagrid.domain.decisions import ReasonCode
from hexagrid.domain.jobs import JobSpec
from hexagrid.domain.signals import CarbonSignals
from hexagrid.scheduling.backfill import Reservation
from hexagrid.scheduling.config import SchedulerConfig
from hexagrid.scheduling.queue import JobRow
from hexagrid.scheduling.rules import CLASS_NAMES, PassRules, fmt_time, static_rules
from hexagrid.scheduling.scheduler import Scheduler, _Pass
from hexagrid.scheduling.state import BArr, ClusterState

__all__ = ["SiteVerdict", "explain", "reservation_for"]

_ACCESS_NAMES = ("academic", "commercial", "academic and commercial")


@dataclass(frozen=True, slots=True)
class SiteVerdict:
    """Whether ``job`` could start at ``site_id`` now; if not, the first rule (in precedence) it fails there."""

    site_id: str
    eligible: bool
    reason: ReasonCode | None
    message: str


def explain(
    job: JobSpec,
    state: ClusterState,
    signals: CarbonSignals | None = None,
    now_s: float = 0.0,
    config: SchedulerConfig | None = None,
) -> list[SiteVerdict]:
    """One verdict per site of the fleet, in fleet order. ``signals`` is accepted for symmetry with decide."""
    del signals  # eligibility does not depend on carbon; placement and deferral do
    cfg = config or SchedulerConfig()
    ix = state.ix
    row = JobRow.from_spec(job)
    tix = state.tenants.index.get(job.tenant)
    if tix is None:
        msg = f"tenant {job.tenant!r} is not registered with the scheduler"
        return [SiteVerdict(s, False, ReasonCode.UNKNOWN_TENANT, msg) for s in ix.site_ids]
    tclass = int(state.tenants.klass[tix])
    st = static_rules(ix, row, tclass, cfg)
    pr = PassRules(ix, now_s)
    inference = row.inference
    tp = ix.pool_tp_infer if inference else ix.pool_tp_train
    ref = ix.ref_tp_infer if inference else ix.ref_tp_train
    run_s = (row.duration_s * ref) / tp
    wall_end = now_s + (row.walltime_s * ref) / tp
    window_fit = ~ix.pool_windowed | np.asarray(row.preemptible) | (wall_end <= pr.pool_close_s)
    need_h = row.gpus * run_s / 3600.0
    arow = state.alloc_row_for(job.tenant, job.project)
    remaining = state.alloc_remaining_gpu_h[arow][ix.pool_site] if arow >= 0 else np.zeros(ix.n_pools)
    alloc = ~ix.pool_public | (remaining >= need_h)
    in_use, cap = int(state.tenants.in_use[tix]), int(state.tenants.cap[tix])
    cap_ok = np.full(ix.n_pools, in_use + row.gpus <= cap)
    capacity = state.ge[np.arange(ix.n_pools), st.g] >= st.n
    pw = row.gpus * ix.pool_w_per_gpu[row.kind]
    headroom = ix.site_cap_w - state.site_draw_w
    power = pw <= headroom[ix.pool_site]
    rules: list[tuple[ReasonCode, BArr]] = [
        *st.rules,
        (ReasonCode.OFFLINE, pr.pool_online),
        (ReasonCode.WINDOW, pr.pool_open & window_fit),
        (ReasonCode.ALLOCATION, alloc),
        (ReasonCode.TENANT_CAP, cap_ok),
        (ReasonCode.CAPACITY, capacity),
        (ReasonCode.POWER_ENVELOPE, power),
    ]
    out: list[SiteVerdict] = []
    for s, sid in enumerate(ix.site_ids):
        pools = ix.pools_of_site[s]
        cand = np.ones(len(pools), dtype=np.bool_)
        verdict: SiteVerdict | None = None
        for reason, m in rules:
            nxt = cand & m[pools]
            if not nxt.any():
                msg = _site_message(
                    reason,
                    s,
                    pools[cand],
                    row,
                    tclass,
                    state,
                    now_s,
                    need_h,
                    remaining,
                    pw,
                    headroom,
                    st.site_latency_ms,
                    in_use,
                    cap,
                    pr,
                )
                verdict = SiteVerdict(sid, False, reason, msg)
                break
            cand = nxt
        if verdict is None:
            ok = pools[cand]
            names = ", ".join(ix.pool_ids[int(p)] for p in ok)
            verdict = SiteVerdict(sid, True, None, f"{sid}: {job.id} could start now on {names}")
        out.append(verdict)
    return out


def _site_message(
    reason: ReasonCode,
    s: int,
    pools: np.ndarray,
    row: JobRow,
    tclass: int,
    state: ClusterState,
    now_s: float,
    need_h: np.ndarray,
    remaining: np.ndarray,
    pw: np.ndarray,
    headroom: np.ndarray,
    lat_ms: np.ndarray | None,
    in_use: int,
    cap: int,
    pr: PassRules,
) -> str:
    ix = state.ix
    sid = ix.site_ids[s]
    spec = row.spec
    accs = "/".join(sorted({ix.pool_acc_name[int(p)] for p in pools}))
    if reason is ReasonCode.ACCESS:
        return f"{sid} admits {_ACCESS_NAMES[int(ix.site_access[s])]} tenants, not {CLASS_NAMES[tclass]} ones"
    if reason is ReasonCode.RESIDENCY:
        return f"{sid} is in {ix.site_country[s]}, outside the job's residency {spec.residency}"
    if reason is ReasonCode.SOVEREIGNTY:
        return f"{sid} is tier {ix.site_tier_name[s]}, below the job's minimum {spec.min_tier.value}"
    if reason is ReasonCode.ACCELERATOR:
        return f"{sid} has {accs}, the job accepts {row.acc_desc}"
    if reason is ReasonCode.GANG_SHAPE:
        shapes = ", ".join(f"{int(ix.pool_nodes[p])} x {int(ix.pool_gpn[p])}" for p in pools)
        return f"no pool of {sid} ({shapes} nodes x GPUs) can hold {row.gpus} GPUs{row.shape_desc()}"
    if reason is ReasonCode.PRICE:
        price = float(ix.pool_price[pools].min())
        return f"{sid} charges {price:.2f} EUR/GPU-h, above the job's {spec.max_price_eur_per_gpu_h:g}"
    if reason is ReasonCode.LATENCY:
        assert spec.inference is not None and lat_ms is not None
        return (
            f"{sid} is about {float(lat_ms[s]):.0f} ms from users in {spec.inference.users_region} "
            f"(estimate), above the {spec.inference.latency_target_ms:g} ms target"
        )
    if reason is ReasonCode.OFFLINE:
        return f"{sid} is not online at {fmt_time(now_s)}"
    if reason is ReasonCode.WINDOW:
        if not pr.site_open[s]:
            return f"{sid}'s idle-capacity window is closed at {fmt_time(now_s)}"
        return (
            f"{sid}'s idle-capacity window closes at {fmt_time(float(pr.site_close_s[s]), now_s)}, before this "
            f"non-preemptible job would end"
        )
    if reason is ReasonCode.ALLOCATION:
        proj = row.project or "(none)"
        return (
            f"project {proj} has {float(remaining[pools].max()):.0f} GPU-hours left at {sid}, "
            f"the job needs {float(need_h[pools].min()):.0f}"
        )
    if reason is ReasonCode.TENANT_CAP:
        return f"tenant {row.tenant} is at its cap: {in_use} of {cap} GPUs in use, the job needs {row.gpus}"
    if reason is ReasonCode.CAPACITY:
        free = int(state.pool_free_gpus[pools].sum())
        return f"{sid} has {free} free {accs} GPUs now, not {row.gpus} in the job's shape{row.shape_desc()}"
    if reason is ReasonCode.POWER_ENVELOPE:
        return (
            f"{sid} has the free GPUs but not the power: {float(headroom[s]) / 1e6:.2f} MW left in its "
            f"envelope, the job needs {float(pw[pools].min()) / 1e6:.2f} MW"
        )
    return f"{sid}: {reason.value}"


def reservation_for(
    state: ClusterState, job: JobSpec, now_s: float, config: SchedulerConfig | None = None
) -> Reservation | None:
    """The reservation EASY backfill would give ``job`` if it were the first blocked job at ``now_s``."""
    sched = Scheduler(config)
    tix = state.tenants.index.get(job.tenant)
    if tix is None:
        return None
    ps = _Pass(sched, state, None, now_s)
    ps.materialise()
    row = JobRow.from_spec(job)
    e = ps.entry(row, int(state.tenants.klass[tix]))
    if e.reason is not None:
        return None
    return sched._reserve(ps, row, e)
