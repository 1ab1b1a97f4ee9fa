"""Fast forms of a lane's inputs must equal what they replaced, bit for bit: the lane order built in scalars
(pools in stable score order, clusters of pools within the best-fit tie-break, ranks, no order where a score is
not finite) and the pool scores built from intensity-free terms kept per fleet index."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sched_fleets import DictSignals, fleet, pool, site, tenant
from source_scheduler import scheduler_source
from test_properties import NOWS

from hexagrid.domain.kinds import Objective
from hexagrid.scheduling import ClusterState, Scheduler, SchedulerConfig
from hexagrid.scheduling.scheduler import _TIE_EPS, _Pass
from hexagrid.scheduling.state import KINDS


def _vector_lane(
    scores: np.ndarray, pass_ok: np.ndarray, g: np.ndarray, n: np.ndarray, nodes: np.ndarray
) -> dict[str, Any]:
    """The vector form (the scheduler's before the scalar one), as the reference."""
    pools = np.flatnonzero(pass_ok & (g > 0) & (n <= nodes))
    cluster = np.arange(len(scores))
    tied = np.zeros(len(scores), dtype=np.bool_)
    sc = scores[pools]
    order = pools[np.argsort(sc, kind="stable")]
    if not np.isfinite(sc).all():
        order = order[:0]
    ss = scores[order]
    gap = np.diff(ss) > 2 * _TIE_EPS * (1.0 + np.abs(ss[1:]))
    cid = np.concatenate(([0], np.cumsum(gap)))[: len(order)]
    cluster[order] = cid
    tied[order] = np.bincount(cid)[cid] > 1
    rank = np.full(len(scores), len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return {"order": order.tolist(), "rank": rank.tolist(), "cluster": cluster.tolist(), "tied": tied.tolist()}


# scores a few tie-breaks apart (or exactly equal), now and then not finite
_SCORES = st.sampled_from([0.0, -0.0, 0.5, 0.5 + 1e-6, 0.5 + 3e-6, 0.5 + 5e-6, 1.0, 1.0 + 2.5e-6, 2.0, np.inf, np.nan])


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n_pools=st.integers(1, 12))
def test_scalar_lane_order_equals_the_vector_form(data: st.DataObject, n_pools: int) -> None:
    scores = np.array(data.draw(st.lists(_SCORES, min_size=n_pools, max_size=n_pools)))
    if data.draw(st.booleans()):  # mostly finite: the case the walk uses
        scores = np.where(np.isfinite(scores), scores, 3.0)
    pass_ok = np.array(data.draw(st.lists(st.booleans(), min_size=n_pools, max_size=n_pools)))
    g = np.array(data.draw(st.lists(st.integers(0, 8), min_size=n_pools, max_size=n_pools)), dtype=np.int64)
    n = np.array(data.draw(st.lists(st.integers(1, 4), min_size=n_pools, max_size=n_pools)), dtype=np.int64)
    nodes = np.array(data.draw(st.lists(st.integers(1, 4), min_size=n_pools, max_size=n_pools)), dtype=np.int64)
    w = np.array(data.draw(st.lists(st.floats(100.0, 900.0), min_size=n_pools, max_size=n_pools)))
    first_fit = data.draw(st.booleans())
    ix = SimpleNamespace(pool_nodes=nodes, w_per_gpu_of=[w.tolist()] * 2, pool_w_per_gpu=np.array([w, w]))
    score = scheduler_source._Score(scores.tolist())
    ps = SimpleNamespace(ix=ix, pass_ok=pass_ok, score=lambda _row, _e: score)
    e = SimpleNamespace(g=g, n=n, first_fit=first_fit, shape_pools=None)
    row = SimpleNamespace(gpus=3, kind=1)
    # in scalars (as for fleets of tens of pools) or in vector form (as for fleets of hundreds)
    vector = data.draw(st.booleans())
    # stand-ins for the pass, entry and job: the lane order runs from source (a compiled class checks types)
    with mock.patch.object(scheduler_source, "_VECTOR_LANES", -1 if vector else scheduler_source._VECTOR_LANES):
        lo = scheduler_source._LaneOrder(ps, row, e)
        again = scheduler_source._LaneOrder(ps, row, e)
    want = _vector_lane(np.zeros(n_pools) if first_fit else scores, pass_ok, g, n, nodes)
    if first_fit:  # pools in index order, no clusters
        want["order"] = np.flatnonzero(pass_ok & (g > 0) & (n <= nodes)).tolist()
        want["rank"] = [want["order"].index(p) if p in want["order"] else len(want["order"]) for p in range(n_pools)]
        want["cluster"], want["tied"] = list(range(n_pools)), [False] * n_pools
    assert {"order": lo.order, "rank": lo.rank, "cluster": lo.cluster, "tied": lo.tied} == want
    assert lo.g == g.tolist() and lo.n == n.tolist()
    assert lo.pw == (3 * w).tolist()
    assert lo.score == [] if first_fit else np.array_equal(lo.score, scores, equal_nan=True)
    # the entry keeps its shape's lists: a second lane of the same entry reads them, and says the same
    assert (again.order, again.rank, again.cluster, again.tied) == (lo.order, lo.rank, lo.cluster, lo.tied)


def _reference_score(ix: Any, kind: int, objective: Objective, intensity: np.ndarray, w: Any) -> np.ndarray:
    """The pool score as the scheduler computed it before it kept the intensity-free terms per fleet index."""
    inference = KINDS[kind].value == "inference"
    factor = (ix.ref_tp_infer if inference else ix.ref_tp_train) / (ix.pool_tp_infer if inference else ix.pool_tp_train)
    terms = {"cost": ix.pool_price * factor, "carbon": ix.pool_w_per_gpu[kind] * factor * intensity, "time": factor}
    norm = {k: v / v.max() if v.max() > 0 else np.zeros_like(v) for k, v in terms.items()}
    balanced = (w.cost * norm["cost"] + w.carbon * norm["carbon"] + w.time * norm["time"]) / (
        (w.cost + w.carbon + w.time) or 1.0
    )
    return balanced if objective is Objective.BALANCED else norm[objective.value] + 0.01 * balanced


def test_base_scores_keep_only_the_intensity_free_terms_across_hours() -> None:
    """Scores from passes at hours of other intensities (one fleet index, its kept cost and time terms) equal
    the whole computation's, bit for bit."""
    sites = [site("a", zone="FR", pools=[pool("h", "H100"), pool("l", "L40S")]), site("b", zone="DE", pools=[pool()])]
    state = ClusterState.from_fleet(fleet(*sites), [tenant("t")])
    now = NOWS[0]
    rng = np.random.default_rng(3)
    signals = DictSignals({"FR": rng.uniform(10, 500, 96), "DE": rng.uniform(10, 500, 96)}, start_s=now - 24 * 3600)
    sched = Scheduler(SchedulerConfig())
    for hour in range(4):
        ps = _Pass(sched, state, signals, now + hour * 3600.0)
        ps.materialise()
        for kind in range(len(KINDS)):
            for objective in Objective:
                want = _reference_score(state.ix, kind, objective, ps.intensity, sched.config.objective_weights)
                got = ps.base_score(kind, objective)
                assert got.array().tobytes() == want.tobytes()
                assert got.of == got.array().tolist()
