"""EASY backfill's reservation: the earliest time the first blocked job could start, and on what.

The reservation is computed from running jobs' walltime limits (the latest they can end), as Slurm's
backfill does. It names one pool, a start time ``start_s``, the nodes the job will take then and the
site power left over at that time (``extra_power_w``). A later job may start now only if it does not
delay the reservation: it ends (by walltime) before ``start_s``, or it leaves the reserved nodes alone
and, at the reserved site, draws no more than ``extra_power_w``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Final

import numpy as np
import numpy.typing as npt

from hexagrid.scheduling.state import LIST_NODES, BArr, Event, FleetIndex, best_fit_pool

__all__ = ["Event", "Reservation", "earliest_start"]

_END: Final = itemgetter(0)  # an Event's walltime end


@dataclass
class Reservation:
    """Job ``job_id`` is promised ``node_indices`` of pool ``pool`` from ``start_s`` (POSIX s).

    ``extra_power_w`` shrinks as a pass backfills jobs at the reserved site that run past ``start_s``.
    """

    job_id: str
    pool: int
    site: int
    site_id: str
    pool_id: str
    start_s: float
    node_indices: tuple[int, ...]
    gpus_per_node: int
    power_w: float
    extra_power_w: float

    def reserved_mask(self, pool_nodes: int) -> BArr:
        m = np.zeros(pool_nodes, dtype=np.bool_)
        m[list(self.node_indices)] = True
        return m


def earliest_start(
    ix: FleetIndex,
    job_id: str,
    node_free: npt.NDArray[np.int16],
    site_headroom_w: Sequence[float],
    events_of: Callable[[int], list[Event]],
    pools: Sequence[int],
    g: Sequence[int],
    n: Sequence[int],
    power_w: Sequence[float],
    now_s: float,
) -> Reservation | None:
    """Earliest (time, pool) at which ``n[i]`` nodes with ``g[i]`` free GPUs and ``power_w[i]`` of site headroom exist.

    ``pools`` are the candidate pools in ascending order (hard rules already applied); ``events_of(site)``
    lists the site's running jobs as releases at their walltime ends (asked once per site). Ties go to the
    lower pool index. In scalars (a reservation looks at a few pools of a fleet's tens).
    Returns None when no candidate can ever fit (pool or envelope too small even when empty).
    """
    best: tuple[float, int, int] | None = None  # (time, pool, position)
    by_site: dict[int, list[Event]] = {}
    by_end: dict[int, list[Event]] = {}  # each site's releases in walltime order, sorted once
    site_of, nodes_of = ix.site_of, ix.nodes_of
    for pos, p in enumerate(pools):
        s = site_of[p]
        gp, npn, pw = g[pos], n[pos], power_w[pos]
        if pw > ix.site_cap_of[s] or npn > nodes_of[p]:
            continue
        evs = by_end.get(s)
        if evs is None:
            site_events = by_site[s] = events_of(s)
            evs = by_end[s] = sorted(site_events, key=_END)
        t = _pool_earliest(
            ix,
            p,
            s,
            gp,
            npn,
            pw,
            node_free,
            site_headroom_w[s],
            evs,
            now_s,
            None if best is None else best[0],
        )
        if t is not None and (best is None or t < best[0]):
            best = (t, p, pos)
    if best is None:
        return None
    t, p, pos = best
    s = site_of[p]
    free, headroom = _state_at(ix, p, s, node_free, site_headroom_w[s], by_site[s], t)
    # a large pool: one vector search over its nodes, not a Python scan
    nodes = best_fit_pool(
        free if len(free) <= LIST_NODES else np.array(free, dtype=np.int16), n[pos], g[pos], ix.gpn_of[p]
    )
    if nodes is None:  # _pool_earliest counted the same predicate at t, so this does not happen
        return None
    return Reservation(
        job_id,
        p,
        s,
        ix.site_ids[s],
        ix.pool_ids[p],
        t,
        nodes,
        g[pos],
        power_w[pos],
        headroom - power_w[pos],
    )


def _state_at(
    ix: FleetIndex, p: int, s: int, node_free: npt.NDArray[np.int16], headroom: float, events: Sequence[Event], t: float
) -> tuple[list[int], float]:
    lo = ix.offset_of[p]
    free: list[int] = node_free[lo : lo + ix.nodes_of[p]].tolist()
    for end, ep, nodes, gpn, pw in events:
        if end <= t:
            headroom += pw
            if ep == p:
                for j in nodes:
                    free[j] += gpn
    return free, headroom


def _pool_earliest(
    ix: FleetIndex,
    p: int,
    s: int,
    g: int,
    n: int,
    pw: float,
    node_free: npt.NDArray[np.int16],
    headroom: float,
    events: list[Event],
    now_s: float,
    not_after: float | None,
) -> float | None:
    """Replay the site's releases (``events``, in walltime order) until pool ``p`` holds the job; None if it
    never does. The count of nodes with ``g`` free GPUs is kept as releases land, not recounted."""
    lo = ix.offset_of[p]
    free: list[int] = node_free[lo : lo + ix.nodes_of[p]].tolist()
    fitting = sum(1 for f in free if f >= g)
    i, k = 0, len(events)
    t = now_s
    while True:
        while i < k and events[i][0] <= t:
            _, ep, nodes, gpn, epw = events[i]
            headroom += epw
            if ep == p:
                for j in nodes:
                    before = free[j]
                    free[j] = before + gpn
                    if before < g <= before + gpn:
                        fitting += 1
            i += 1
        if headroom >= pw and fitting >= n:
            return t
        if i >= k:
            return None
        t = events[i][0]
        if not_after is not None and t >= not_after:
            return None
