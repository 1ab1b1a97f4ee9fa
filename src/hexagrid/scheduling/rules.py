"""The hard rules as pool masks, in precedence order, and the sentences that name them.

Every rule is a boolean vector over pools. The static rules depend only on a job's signature
(:attr:`JobRow.skey`), its tenant's class and the fleet's structure, so they are memoised per
signature (:func:`static_masks` builds many signatures' masks at once). The per-pass rules (online,
window open) depend on ``now``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from hexagrid.domain.accelerators import CATALOG
from hexagrid.domain.decisions import ReasonCode
from hexagrid.domain.geography import Residency
from hexagrid.scheduling.config import SchedulerConfig
from hexagrid.scheduling.queue import JobRow
from hexagrid.scheduling.state import BArr, FArr, FleetIndex, IArr

__all__ = ["PassRules", "StaticRules", "fmt_time", "latency_ms", "static_masks", "static_rules"]

CLASS_NAMES = ("academic", "commercial")


_DATES: dict[int, str] = {}  # "2026-01-02 " by POSIX day: few distinct, asked for once per deferral


def fmt_time(t_s: float, now_s: float | None = None) -> str:
    """``03:00 UTC`` on the same UTC day as ``now_s``, else ``2026-01-02 03:00 UTC``.

    Hours and minutes by arithmetic on the whole seconds (``time.gmtime`` floors them too), the date
    from ``time.strftime`` once per day: a pass writes two times into each of thousands of deferrals.
    """
    if not 0.0 <= t_s < 1e11:  # before 1970 or past year 5000: time's own formatting (and errors)
        tm = time.gmtime(t_s)
        if now_s is not None and t_s // 86400 == now_s // 86400:  # the same UTC day (POSIX days are 86,400 s)
            return time.strftime("%H:%M UTC", tm)
        return time.strftime("%Y-%m-%d %H:%M UTC", tm)
    day, sec = divmod(int(t_s), 86400)
    hm = f"{format(sec // 3600, '02d')}:{format(sec % 3600 // 60, '02d')} UTC"  # format(): see Scheduler._commit
    if now_s is not None and t_s // 86400 == now_s // 86400:
        return hm
    date = _DATES.get(day)
    if date is None:
        if len(_DATES) > 100_000:
            _DATES.clear()
        date = _DATES[day] = time.strftime("%Y-%m-%d ", time.gmtime(day * 86400))
    return date + hm


def latency_ms(ix: FleetIndex, lat: float, lon: float, config: SchedulerConfig) -> FArr:
    """Estimated round-trip latency from each site to users at (lat, lon), in ms.

    Estimate: light in fibre covers about 200 km per ms and fibre paths run longer than the great
    circle, so 1 ms of round trip per 100 km (``latency_ms_per_100km``) plus a fixed base for
    access networks and queuing (``latency_base_ms``). Distance is the great circle of
    ``hexagrid.domain.haversine_km``, vectorised over sites (same formula, same Earth radius).
    """
    p1, p2 = np.radians(ix.site_lat), math.radians(lat)
    dp, dl = p2 - p1, np.radians(lon - ix.site_lon)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dl / 2) ** 2
    km = 2 * 6371.0 * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    return config.latency_base_ms + config.latency_ms_per_100km * km / 100.0


def _component(ix: FleetIndex, key: tuple[object, ...], build: Callable[[], Any]) -> Any:
    hit = ix.cache.get(key)
    if hit is None:
        hit = ix.cache[key] = build()
    return hit


def _residency_mask(ix: FleetIndex, residency: Residency) -> BArr:
    by_country = {c: residency.allows(c) for c in set(ix.pool_country)}
    return np.array([by_country[c] for c in ix.pool_country], dtype=np.bool_)


def _shape(ix: FleetIndex, gpus: int, num_nodes: int, gpn_req: int) -> tuple[IArr, IArr, BArr]:
    """Per pool: GPUs per node ``g`` and nodes ``n`` the job takes there, and whether that shape fits at all."""
    if gpn_req > 0:
        g = np.where(ix.pool_gpn >= gpn_req, gpn_req, 0)
        n = np.full(ix.n_pools, num_nodes, dtype=np.int64)
    else:
        single = gpus <= ix.pool_gpn
        whole = (gpus % ix.pool_gpn) == 0
        g = np.where(single, gpus, np.where(whole, ix.pool_gpn, 0))
        n = np.where(single, 1, gpus // ix.pool_gpn)
    g = g.astype(np.int64)
    n = n.astype(np.int64)
    return g, n, (g > 0) & (n <= ix.pool_nodes)


@dataclass
class StaticRules:
    """Pools a job signature admits, rule by rule, and its per-pool gang shape (``g`` GPUs on ``n`` nodes)."""

    rules: list[tuple[ReasonCode, BArr]]
    mask: BArr
    g: IArr  # GPUs per node on each pool (0 where the shape does not fit)
    n: IArr  # nodes on each pool
    site_latency_ms: FArr | None


def static_masks(
    ix: FleetIndex,
    rows: Sequence[JobRow],
    tclasses: Sequence[int],
    config: SchedulerConfig,
    skeys: Sequence[tuple[object, ...]] | None = None,
) -> tuple[BArr, list[IArr], list[IArr], list[FArr | None]]:
    """The pools each (signature, tenant class) admits under rules 2-8 (access .. latency), many at once.

    Rules are grouped by what they depend on — (tenant class, residency, tier), (accelerators, price),
    shape, users' position — and each group's mask is memoised in the fleet index. Each distinct group
    mask is looked up once per call and the signatures' masks are gathered and ANDed as one matrix
    (signature x pool), so a signature costs a few dictionary lookups rather than vector operations.
    The group keys are read from the rows' signatures (``skeys``, :attr:`JobRow.skey`, where the caller
    has them): one tuple unpacked, no reads of the pydantic spec but for a group's first row.
    Returns the masks, each signature's per-pool gang shape (g, n: arrays shared by signatures of one
    shape) and its sites' latency (None without users' position).
    """
    if skeys is None:
        skeys = [row.skey for row in rows]
    groups: tuple[dict[object, int], ...] = ({}, {}, {}, {})  # who, what, shape, near: key -> position
    who: list[BArr] = []
    what: list[BArr] = []
    shapes: list[tuple[IArr, IArr, BArr]] = []
    near: list[tuple[FArr, BArr]] = [(np.zeros(ix.n_sites), np.ones(ix.n_pools, dtype=np.bool_))]  # 0: no users
    at: list[list[int]] = [[], [], [], []]
    at_who, at_what, at_shape, at_near = at
    lat_model = (config.latency_base_ms, config.latency_ms_per_100km)
    for row, tclass, skey in zip(rows, tclasses, skeys):
        # the signature's layout: see hexagrid.scheduling.queue._signature
        sig: Any = skey
        accs, mem, gpus, num_nodes, gpn_req, scope, countries, rank, max_price, users, _ = sig
        key: object = (tclass, scope, countries, rank)
        k = groups[0].get(key)
        if k is None:
            k = groups[0][key] = len(who)
            who_key = ("who", tclass, (scope, countries), rank)
            who.append(_component(ix, who_key, partial(_who_mask, ix, tclass, row.spec.residency, rank)))
        at_who.append(k)
        key = (accs, mem, max_price)
        k = groups[1].get(key)
        if k is None:
            k = groups[1][key] = len(what)
            what.append(_component(ix, ("what", accs, mem, max_price), partial(_what_mask, ix, row, max_price)))
        at_what.append(k)
        key = (gpus, num_nodes, gpn_req)
        k = groups[2].get(key)
        if k is None:
            k = groups[2][key] = len(shapes)
            shapes.append(
                _component(ix, ("shape", gpus, num_nodes, gpn_req), partial(_shape, ix, gpus, num_nodes, gpn_req))
            )
        at_shape.append(k)
        k = 0
        if users is not None:  # (latitude, longitude, latency target)
            k = groups[3].get(users, -1)
            if k < 0:
                k = groups[3][users] = len(near)
                lat, lon, target = users
                near_key = ("near", lat, lon, target, *lat_model)
                near.append(_component(ix, near_key, partial(_near, ix, lat, lon, target, config)))
        at_near.append(k)
    masks = np.stack(who)[at[0]] & np.stack(what)[at[1]] & np.stack([m for _, _, m in shapes])[at[2]]
    if len(near) > 1:
        masks &= np.stack([m for _, m in near])[at[3]]
    if len(ix.cache) > 200_000:  # bounded memo: a long run with ever-new price caps must not grow without end
        ix.cache.clear()
    return (
        masks,
        [shapes[k][0] for k in at[2]],
        [shapes[k][1] for k in at[2]],
        [near[k][0] if k else None for k in at[3]],
    )


def _who_mask(ix: FleetIndex, tclass: int, residency: Residency, rank: int) -> BArr:
    rkey = (residency.scope, residency.countries)
    by_residency = _component(ix, ("residency", rkey), partial(_residency_mask, ix, residency))
    return _access_mask(ix, tclass) & by_residency & (ix.pool_tier >= rank)


def _what_mask(ix: FleetIndex, row: JobRow, max_price: float) -> BArr:
    return _accel_mask(ix, row) & (ix.pool_price <= max_price)


def _access_mask(ix: FleetIndex, tclass: int) -> BArr:
    return (ix.pool_access == 2) | (ix.pool_access == tclass)


def _accel_mask(ix: FleetIndex, row: JobRow) -> BArr:
    res = row.spec.resources
    return np.array([res.accepts(a) for a in ix.acc_names], dtype=np.bool_)[ix.pool_acc]


def _near(ix: FleetIndex, lat: float, lon: float, target_ms: float, config: SchedulerConfig) -> tuple[FArr, BArr]:
    lat_ms = latency_ms(ix, lat, lon, config)
    return lat_ms, lat_ms[ix.pool_site] <= target_ms


def static_rules(ix: FleetIndex, row: JobRow, tclass: int, config: SchedulerConfig) -> StaticRules:
    """Rules 2-8 of the precedence (access .. latency) one by one, for the funnel and for ``explain``."""
    spec = row.spec
    max_price = math.inf if spec.max_price_eur_per_gpu_h is None else spec.max_price_eur_per_gpu_h
    g, n, shape = _component(
        ix, ("shape", row.gpus, row.num_nodes, row.gpn_req), lambda: _shape(ix, row.gpus, row.num_nodes, row.gpn_req)
    )
    rkey = (spec.residency.scope, spec.residency.countries)
    res = spec.resources
    rank = spec.min_tier.rank
    rules: list[tuple[ReasonCode, BArr]] = [
        (ReasonCode.ACCESS, _component(ix, ("access", tclass), lambda: _access_mask(ix, tclass))),
        (ReasonCode.RESIDENCY, _component(ix, ("residency", rkey), lambda: _residency_mask(ix, spec.residency))),
        (ReasonCode.SOVEREIGNTY, _component(ix, ("tier", rank), lambda: ix.pool_tier >= rank)),
        (
            ReasonCode.ACCELERATOR,
            _component(ix, ("acc", res.accelerators, res.min_gpu_memory_gb), lambda: _accel_mask(ix, row)),
        ),
        (ReasonCode.GANG_SHAPE, shape),
        (ReasonCode.PRICE, _component(ix, ("price", max_price), lambda: ix.pool_price <= max_price)),
    ]
    lat_ms = None
    if spec.inference is not None:
        inf = spec.inference
        lat_ms, near = _component(
            ix,
            (
                "near",
                inf.users_latitude,
                inf.users_longitude,
                inf.latency_target_ms,
                config.latency_base_ms,
                config.latency_ms_per_100km,
            ),
            lambda: _near(ix, inf.users_latitude, inf.users_longitude, inf.latency_target_ms, config),
        )
        rules.append((ReasonCode.LATENCY, near))
    mask = np.ones(ix.n_pools, dtype=np.bool_)
    for _, m in rules:
        mask &= m
    return StaticRules(rules, mask, g, n, lat_ms)


class PassRules:
    """What depends on ``now`` for every job alike: sites online, windows open and when they close.

    Piecewise constant in ``now``: nothing changes between ``valid_from_s`` and ``valid_until_s`` (no site
    comes online or goes offline, no window opens or closes), so :meth:`at` hands the passes of that span
    one shared instance, whose arrays are read-only. ``pass_ok`` (pools online and open) and its bytes
    ``pass_key`` are the part the scheduler keys its memos by.
    """

    def __init__(self, ix: FleetIndex, now_s: float) -> None:
        self.online = (ix.site_online_from_s <= now_s) & (now_s < ix.site_online_until_s)
        self.site_close_s = np.full(ix.n_sites, math.inf)
        self.site_open = np.ones(ix.n_sites, dtype=np.bool_)
        # the online test flips only where ``now`` crosses a site's bound
        bounds = np.concatenate((ix.site_online_from_s, ix.site_online_until_s))
        past, future = bounds[bounds <= now_s], bounds[bounds > now_s]
        self.valid_from_s = float(past.max()) if len(past) else -math.inf
        self.valid_until_s = float(future.min()) if len(future) else math.inf
        for s, sched in ix.site_schedule.items():
            # one computation per open or closed span, shared by every pass inside it (a pure memo)
            span = ix.cache.get(("window-span", s))
            if span is None or not span[0] <= now_s < span[1]:
                span = ix.cache[("window-span", s)] = sched.span_at(now_s)
            since, until, is_open = span
            self.site_open[s] = is_open
            self.site_close_s[s] = until if is_open else -math.inf
            self.valid_from_s = max(self.valid_from_s, since)
            self.valid_until_s = min(self.valid_until_s, until)
        self.pool_online = self.online[ix.pool_site]
        self.pool_open = self.site_open[ix.pool_site]
        self.pool_close_s = self.site_close_s[ix.pool_site]
        self.close_of: list[float] = self.pool_close_s.tolist()  # the same, for scalar reads (not to be written)
        self.pass_ok = self.pool_online & self.pool_open
        self.pass_key = self.pass_ok.tobytes()
        #: pools of sites whose idle-capacity window is closed: their jobs must leave
        self.closed_pools: list[int] = [
            p for s in ix.site_schedule if not self.site_open[s] for p in ix.pools_of_site[s].tolist()
        ]
        shared = (self.online, self.site_open, self.site_close_s, self.pool_online, self.pool_open, self.pool_close_s)
        for a in (*shared, self.pass_ok):
            a.setflags(write=False)

    @classmethod
    def at(cls, ix: FleetIndex, now_s: float) -> PassRules:
        """The rules at ``now_s``: the fleet's last ones when ``now_s`` is within their span, else new ones."""
        hit: PassRules | None = ix.cache.get(cls)
        if hit is None or not hit.valid_from_s <= now_s < hit.valid_until_s:
            hit = ix.cache[cls] = cls(ix, now_s)
        return hit


def funnel(rules: list[tuple[ReasonCode, BArr]], start: BArr) -> tuple[ReasonCode | None, BArr]:
    """Apply rules in order; the first rule that leaves no candidate is the binding reason."""
    cand = start.copy()
    for reason, m in rules:
        nxt = cand & m
        if not np.count_nonzero(nxt):
            return reason, cand
        cand = nxt
    return None, cand


def static_message(reason: ReasonCode, row: JobRow, tclass: int, ix: FleetIndex, survivors: BArr, now_s: float) -> str:
    """The sentence for a job no pool admits, naming the rule and the values involved."""
    spec = row.spec
    cls = CLASS_NAMES[tclass]
    where = row.where_desc
    if reason is ReasonCode.ACCESS:
        return f"no site in the fleet admits {cls} tenants"
    if reason is ReasonCode.RESIDENCY:
        return f"no site within residency {spec.residency} admits {cls} tenants"
    if reason is ReasonCode.SOVEREIGNTY:
        return f"no {where}site of tier {spec.min_tier.value} or above admits {cls} tenants"
    if reason is ReasonCode.ACCELERATOR:
        return f"no {where}site of tier {spec.min_tier.value} or above offers {row.acc_desc} to {cls} tenants"
    acc = "" if row.acc_desc == "GPUs" else f"{row.acc_desc} "
    if reason is ReasonCode.GANG_SHAPE:
        return (
            f"no {where}{acc}pool can hold {row.gpus} GPUs{row.shape_desc()} "
            f"(nodes too small, too few, or {row.gpus} does not divide into whole nodes)"
        )
    if reason is ReasonCode.PRICE:
        return f"no {where}{acc}pool at or below {spec.max_price_eur_per_gpu_h:g} EUR/GPU-h"
    if reason is ReasonCode.LATENCY:
        inf = spec.inference
        assert inf is not None
        return f"no eligible site within {inf.latency_target_ms:g} ms of users in {inf.users_region}"
    if reason in (ReasonCode.OFFLINE, ReasonCode.WINDOW):
        names = ", ".join(sorted({ix.site_ids[int(s)] for s in ix.pool_site[survivors]})[:5])
        if reason is ReasonCode.OFFLINE:
            return f"every eligible site ({names}) is offline at {fmt_time(now_s)}"
        return f"the idle-capacity window of every eligible site ({names}) is closed at {fmt_time(now_s)}"
    return f"no eligible pool ({reason.value})"


def accelerator_names(ix: FleetIndex, pools: IArr) -> str:
    return "/".join(sorted({ix.acc_names[int(a)] for a in ix.pool_acc[pools]}, key=lambda a: -CATALOG[a].tdp_w))
