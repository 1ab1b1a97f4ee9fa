"""The hard rules as pool masks, in precedence order, and the sentences that name them.

Every rule is a boolean vector over pools. The static rules depend only on a job's signature
(:attr:`JobRow.skey`), its tenant's class and the fleet's structure, so :func:`static_rules` is
memoised per signature. The per-pass rules (online, window open) depend on ``now``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from hexagrid.domain.accelerators import CATALOG
from hexagrid.domain.decisions import ReasonCode
from hexagrid.domain.geography import Residency, haversine_km
from hexagrid.scheduling.config import SchedulerConfig
from hexagrid.scheduling.queue import JobRow
from hexagrid.scheduling.state import BArr, FArr, FleetIndex, IArr

__all__ = ["PassRules", "StaticRules", "fmt_time", "latency_ms", "static_rules"]

CLASS_NAMES = ("academic", "commercial")


def fmt_time(t_s: float, now_s: float | None = None) -> str:
    """``03:00 UTC`` on the same UTC day as ``now_s``, else ``2026-01-02 03:00 UTC``."""
    tm = time.gmtime(t_s)
    if now_s is not None and time.gmtime(now_s)[:3] == tm[:3]:
        return time.strftime("%H:%M UTC", tm)
    return time.strftime("%Y-%m-%d %H:%M UTC", tm)


def latency_ms(ix: FleetIndex, lat: float, lon: float, config: SchedulerConfig) -> FArr:
    """Estimated round-trip latency from each site to users at (lat, lon), in ms.

    Estimate: light in fibre covers about 200 km per ms and fibre paths run longer than the great
    circle, so 1 ms of round trip per 100 km (``latency_ms_per_100km``) plus a fixed base for
    access networks and queuing (``latency_base_ms``).
    """
    km = np.array(
        [haversine_km(la, lo, lat, lon) for la, lo in zip(ix.site_lat.tolist(), ix.site_lon.tolist(), strict=True)]
    )
    return config.latency_base_ms + config.latency_ms_per_100km * km / 100.0


def _residency_mask(ix: FleetIndex, residency: Residency) -> BArr:
    by_country = {c: residency.allows(c) for c in set(ix.pool_country)}
    return np.array([by_country[c] for c in ix.pool_country], dtype=np.bool_)


@dataclass
class StaticRules:
    """Pools a job signature admits, rule by rule, and its per-pool gang shape (``g`` GPUs on ``n`` nodes)."""

    rules: list[tuple[ReasonCode, BArr]]
    mask: BArr
    g: IArr  # GPUs per node on each pool (0 where the shape does not fit)
    n: IArr  # nodes on each pool
    site_latency_ms: FArr | None


def static_rules(ix: FleetIndex, row: JobRow, tclass: int, config: SchedulerConfig) -> StaticRules:
    """Rules 2-8 of the precedence (access .. latency) for a job signature and tenant class; memoised."""
    key = ("static", row.skey, tclass, config.latency_base_ms, config.latency_ms_per_100km)
    hit = ix.cache.get(key)
    if hit is not None:
        return hit
    spec = row.spec
    res = spec.resources
    access = (ix.pool_access == 2) | (ix.pool_access == tclass)
    residency = _residency_mask(ix, spec.residency)
    tier = ix.pool_tier >= spec.min_tier.rank
    acc_ok = np.array([res.accepts(a) for a in ix.acc_names], dtype=np.bool_)
    accel = acc_ok[ix.pool_acc]
    if row.gpn_req > 0:
        g = np.where(ix.pool_gpn >= row.gpn_req, row.gpn_req, 0)
        n = np.full(ix.n_pools, row.num_nodes, dtype=np.int64)
    else:
        single = row.gpus <= ix.pool_gpn
        whole = (row.gpus % ix.pool_gpn) == 0
        g = np.where(single, row.gpus, np.where(whole, ix.pool_gpn, 0))
        n = np.where(single, 1, row.gpus // ix.pool_gpn)
    g = g.astype(np.int64)
    n = n.astype(np.int64)
    shape = (g > 0) & (n <= ix.pool_nodes)
    max_price = math.inf if spec.max_price_eur_per_gpu_h is None else spec.max_price_eur_per_gpu_h
    price = ix.pool_price <= max_price
    rules: list[tuple[ReasonCode, BArr]] = [
        (ReasonCode.ACCESS, access),
        (ReasonCode.RESIDENCY, residency),
        (ReasonCode.SOVEREIGNTY, tier),
        (ReasonCode.ACCELERATOR, accel),
        (ReasonCode.GANG_SHAPE, shape),
        (ReasonCode.PRICE, price),
    ]
    lat_ms = None
    if spec.inference is not None:
        inf = spec.inference
        lat_ms = latency_ms(ix, inf.users_latitude, inf.users_longitude, config)
        rules.append((ReasonCode.LATENCY, lat_ms[ix.pool_site] <= inf.latency_target_ms))
    mask = np.ones(ix.n_pools, dtype=np.bool_)
    for _, m in rules:
        mask &= m
    out = StaticRules(rules, mask, g, n, lat_ms)
    ix.cache[key] = out
    return out


class PassRules:
    """What depends on ``now`` for every job alike: sites online, windows open and when they close."""

    def __init__(self, ix: FleetIndex, now_s: float) -> None:
        self.online = (ix.site_online_from_s <= now_s) & (now_s < ix.site_online_until_s)
        self.site_close_s = np.full(ix.n_sites, math.inf)
        self.site_open = np.ones(ix.n_sites, dtype=np.bool_)
        for s, sched in ix.site_schedule.items():
            close = sched.close_after(now_s)
            self.site_open[s] = close is not None
            self.site_close_s[s] = -math.inf if close is None else close
        self.pool_online = self.online[ix.pool_site]
        self.pool_open = self.site_open[ix.pool_site]
        self.pool_close_s = self.site_close_s[ix.pool_site]


def funnel(rules: list[tuple[ReasonCode, BArr]], start: BArr) -> tuple[ReasonCode | None, BArr]:
    """Apply rules in order; the first rule that leaves no candidate is the binding reason."""
    cand = start.copy()
    for reason, m in rules:
        nxt = cand & m
        if not nxt.any():
            return reason, cand
        cand = nxt
    return None, cand


def static_message(reason: ReasonCode, row: JobRow, tclass: int, ix: FleetIndex, survivors: BArr, now_s: float) -> str:
    """The sentence for a job no pool admits, naming the rule and the values involved."""
    spec = row.spec
    cls = CLASS_NAMES[tclass]
    where = row.where_desc
    names = ", ".join(sorted({ix.site_ids[int(s)] for s in ix.pool_site[survivors]})[:5])
    if reason is ReasonCode.ACCESS:
        return f"no site in the fleet admits {cls} tenants"
    if reason is ReasonCode.RESIDENCY:
        return f"no site within residency {spec.residency} admits {cls} tenants"
    if reason is ReasonCode.SOVEREIGNTY:
        return f"no {where}site of tier {spec.min_tier.value} or above admits {cls} tenants"
    if reason is ReasonCode.ACCELERATOR:
        return f"no {where}site of tier {spec.min_tier.value} or above offers {row.acc_desc} to {cls} tenants"
    if reason is ReasonCode.GANG_SHAPE:
        return (
            f"no {where}{row.acc_desc} pool can hold {row.gpus} GPUs{row.shape_desc()} "
            f"(nodes too small, too few, or {row.gpus} does not divide into whole nodes)"
        )
    if reason is ReasonCode.PRICE:
        return f"no {where}{row.acc_desc} pool at or below {spec.max_price_eur_per_gpu_h:g} EUR/GPU-h"
    if reason is ReasonCode.LATENCY:
        inf = spec.inference
        assert inf is not None
        return f"no eligible site within {inf.latency_target_ms:g} ms of users in {inf.users_region}"
    if reason is ReasonCode.OFFLINE:
        return f"every eligible site ({names}) is offline at {fmt_time(now_s)}"
    if reason is ReasonCode.WINDOW:
        return f"the idle-capacity window of every eligible site ({names}) is closed at {fmt_time(now_s)}"
    return f"no eligible pool ({reason.value})"


def accelerator_names(ix: FleetIndex, pools: IArr) -> str:
    return "/".join(sorted({ix.acc_names[int(a)] for a in ix.pool_acc[pools]}, key=lambda a: -CATALOG[a].tdp_w))
