"""ClusterState: arrays built from a fleet, and the driver's mutators keep them consistent."""

from __future__ import annotations

import numpy as np
import pytest
from sched_fleets import T0, fleet, job, pool, site, tenant

from hexagrid.domain import CATALOG, JobKind, Start
from hexagrid.energy.power import job_facility_power_w
from hexagrid.errors import ConflictError, InputError, NotFound
from hexagrid.scheduling import ClusterState
from hexagrid.scheduling.state import MAX_GPUS_PER_NODE


def brute_ge(state: ClusterState) -> np.ndarray:
    ix = state.ix
    out = np.zeros((ix.n_pools, MAX_GPUS_PER_NODE + 1), dtype=np.int64)
    for p in range(ix.n_pools):
        free = state.node_free[ix.pool_offset[p] : ix.pool_offset[p + 1]]
        for k in range(MAX_GPUS_PER_NODE + 1):
            out[p, k] = int((free >= k).sum())
    return out


def assert_ge_consistent(state: ClusterState) -> None:
    """``ge_rows`` (read first: it settles the booked changes too) and ``ge`` both count the free nodes."""
    want = brute_ge(state)
    assert state.ge_rows() == want.tolist()
    assert (state.ge == want).all()


def two_site_state() -> ClusterState:
    f = fleet(
        site("a", pools=[pool("x", "H100", 8, 3), pool("y", "L40S", 4, 2)], pue=1.3),
        site("b", country="DE", pools=[pool("z", "A100", 8, 2)]),
    )
    return ClusterState.from_fleet(f, [tenant(), tenant("capped", max_gpus=16)])


def test_from_fleet_builds_vectors_per_site_pool_and_node() -> None:
    st = two_site_state()
    ix = st.ix
    assert (ix.n_sites, ix.n_pools, ix.n_nodes) == (2, 3, 7)
    assert ix.pool_site.tolist() == [0, 0, 1]
    assert ix.pool_offset.tolist() == [0, 3, 5, 7]
    assert st.node_free.tolist() == [8, 8, 8, 4, 4, 8, 8]
    assert st.free_gpus == st.total_gpus == 48
    assert_ge_consistent(st)
    expected = job_facility_power_w(CATALOG["H100"], 1, 8, JobKind.TRAINING, 1.3)
    assert ix.pool_w_per_gpu[0, 0] == pytest.approx(expected)


def test_start_finish_and_preempt_keep_every_array_consistent() -> None:
    st = two_site_state()
    g = job("g", 16, num_nodes=2, duration_s=7200.0, preemptible=True, checkpoint_interval_s=600.0)
    s = job("s", 3, duration_s=3600.0)
    rg = st.start_job(g, Start("g", "a", "x", 2, 8, node_indices=(0, 2)), T0)
    rs = st.start_job(s, Start("s", "a", "x", 1, 3), T0)  # no node indices: best fit picks node 1
    assert rs.node_indices == (1,)
    assert st.node_free[:3].tolist() == [0, 5, 0]
    assert_ge_consistent(st)
    assert st.site_draw_w[0] == pytest.approx(rg.power_w + rs.power_w)
    assert rg.expected_end_s == pytest.approx(T0 + 7200.0 / 2.5)
    assert st.tenants.in_use[st.tenants.index["acme"]] == 19
    lost = st.preempt_job("g", T0 + 1000.0)
    assert lost.lost_work_gpu_s == pytest.approx(16 * 400.0)  # checkpoint at T0 + 600
    st.finish_job("s", T0 + 100.0)
    assert st.free_gpus == 48 and st.site_draw_w[0] == pytest.approx(0.0, abs=1e-6)
    assert_ge_consistent(st)
    assert st.tenants.in_use.tolist() == [0, 0]
    # usage is what really ran, 16 GPUs x 1000 s + 3 GPUs x 100 s, give or take the decay over those
    # seconds (the expected usage was charged at the start, the correction at the end; half-life 7 days)
    assert st.tenants.usage[0] == pytest.approx(16 * 1000.0 + 3 * 100.0, rel=5e-3)


def test_copy_is_independent() -> None:
    st = two_site_state()
    cp = st.copy()
    cp.start_job(job("j", 8), Start("j", "b", "z", 1, 8), T0)
    assert st.free_gpus == 48 and cp.free_gpus == 40 and not st.running
    assert_ge_consistent(st)  # the copy's level rows are its own
    assert_ge_consistent(cp)
    assert st.ge_rows() != cp.ge_rows()


def test_mutator_errors_name_the_problem() -> None:
    st = two_site_state()
    with pytest.raises(NotFound, match="pool a/nope is not in the fleet"):
        st.start_job(job("j", 8), Start("j", "a", "nope", 1, 8), T0)
    with pytest.raises(NotFound, match="tenant 'ghost'"):
        st.start_job(job("j", 8, tenant="ghost"), Start("j", "a", "x", 1, 8), T0)
    st.start_job(job("j", 8), Start("j", "a", "x", 1, 8, node_indices=(0,)), T0)
    with pytest.raises(ConflictError, match="already running"):
        st.start_job(job("j", 8), Start("j", "a", "x", 1, 8), T0)
    with pytest.raises(ConflictError, match="fewer than 8 free GPUs"):
        st.start_job(job("k", 8), Start("k", "a", "x", 1, 8, node_indices=(0,)), T0)
    with pytest.raises(InputError, match="node_indices"):
        st.start_job(job("k", 8), Start("k", "a", "x", 1, 8, node_indices=(7,)), T0)
    with pytest.raises(InputError, match="node_indices"):
        st.start_job(job("k", 8), Start("k", "a", "x", 1, 8, node_indices=(-1,)), T0)
    with pytest.raises(InputError, match="node_indices"):
        st.start_job(job("k", 16), Start("k", "a", "x", 2, 8, node_indices=(1,)), T0)
    with pytest.raises(NotFound, match="job 'zz' is not running"):
        st.finish_job("zz", T0)
    with pytest.raises(InputError, match="fair_share_half_life_s"):
        ClusterState(st.ix, fair_share_half_life_s=0)


def test_fair_share_usage_decays_with_the_half_life() -> None:
    st = ClusterState.from_fleet(fleet(site("s")), [tenant("a"), tenant("b")], fair_share_half_life_s=3600.0)
    st.start_job(job("x", 8, tenant="a"), Start("x", "s", "p0", 1, 8), T0)
    st.finish_job("x", T0 + 3600.0)
    st.start_job(job("y", 8, tenant="b"), Start("y", "s", "p0", 1, 8), T0 + 3600.0)
    st.finish_job("y", T0 + 7200.0)
    share = st.tenant_usage_share()
    # a's usage ended an hour (one half-life) before b's: it now counts half as much
    assert share[0] / share[1] == pytest.approx(0.5, rel=1e-6)
