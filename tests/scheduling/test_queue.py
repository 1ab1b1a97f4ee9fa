"""The queue a driver keeps across passes: columns stay in step with rows, and the pass order is the documented one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sched_fleets import T0, fleet, job, site, tenant

from hexagrid.benchmarks.scheduler import BENCH_NOW_S, synthetic_fleet, synthetic_queue
from hexagrid.errors import InputError
from hexagrid.scheduling import ClusterState, JobQueue, SchedulerConfig
from hexagrid.scheduling.queue import JobRow
from hexagrid.scheduling.scheduler import order_queue


@settings(max_examples=80, deadline=None)
@given(
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 30), st.integers(0, 3), st.integers(1, 16)), max_size=80),
    read_at=st.integers(0, 80),
)
def test_add_and_remove_keep_every_column_in_step_with_the_rows(
    ops: list[tuple[bool, int, int, int]], read_at: int
) -> None:
    """The code lists are kept from the start; the numpy columns from their first read (``read_at`` operations in,
    or only at the end), by every add and remove after it."""
    q = JobQueue()
    present: dict[str, object] = {}
    for n, (add, k, when, gpus) in enumerate(ops):
        if n == read_at:
            assert q.submit_s.tolist() == [r.submit_s for r in q.rows]  # the columns are built here
            if k % 2:
                assert q.ids.tolist() == [r.id for r in q.rows]
        jid = f"job-{k:03d}" + "x" * (k % 7)  # ids of several lengths: the id column widens
        tn = ("acme", "beta", "gamma")[k % 3]
        if add and jid not in present:
            present[jid] = q.add(job(jid, gpus, submit_s=T0 + when, priority=k - 15, tenant=tn))
        elif not add:
            assert (q.remove(jid) is not None) == (jid in present)
            present.pop(jid, None)
    assert sorted(r.id for r in q.rows) == sorted(present)
    assert [q.tenant_names[c] for c in q.tenant_code_l] == [r.tenant for r in q.rows]
    assert [q.skey_rows[c].skey for c in q.skey_code_l] == [r.skey for r in q.rows]
    assert [q.accounts[c] for c in q.account_code_l] == [(r.tenant, r.project) for r in q.rows]
    assert q.account_code.tolist() == q.account_code_l and q.tenant_code.tolist() == q.tenant_code_l
    assert q.skey_code.tolist() == q.skey_code_l
    assert q.walltime_s.tolist() == [r.walltime_s for r in q.rows]
    assert q.preemptible.tolist() == [r.preemptible for r in q.rows]
    assert q.ids.tolist() == [r.id for r in q.rows]
    assert q.submit_s.tolist() == [r.submit_s for r in q.rows]
    assert q.priority.tolist() == [float(r.priority) for r in q.rows]
    assert q.gpus.tolist() == [r.gpus for r in q.rows]
    assert q.work_gpu_s.tolist() == [r.gpus * r.duration_s for r in q.rows]
    assert [q.tenant_names[c] for c in q.tenant_code.tolist()] == [r.tenant for r in q.rows]
    assert [q.skey_rows[c].skey for c in q.skey_code.tolist()] == [r.skey for r in q.rows]
    assert sorted(j.id for j in q) == sorted(present)


def test_a_job_id_queued_twice_is_refused() -> None:
    q = JobQueue()
    q.add(job("a"))
    with pytest.raises(InputError, match="'a' is already queued"):
        q.add(job("a"))
    with pytest.raises(InputError, match="'b' appears more than once"):
        JobQueue.from_specs([job("b"), job("b")])


@settings(max_examples=80, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 99_999), st.integers(0, 3), st.integers(-2, 2)), min_size=1, max_size=60),
    policy=st.sampled_from(["fifo", "priority", "multifactor"]),
)
def test_pass_order_is_key_then_submit_time_then_job_id(data: list[tuple[int, int, int]], policy: str) -> None:
    """Only runs of equal keys are sorted by id; the result must equal one lexsort on all three keys."""
    specs = {}
    for k, when, prio in data:
        specs[f"j{k}"] = job(f"j{k}", 1, submit_s=T0 + 60.0 * when, priority=prio)
    q = JobQueue.from_specs(specs.values())
    state = ClusterState.from_fleet(fleet(site("s")), [tenant()])
    cfg = SchedulerConfig(queue_order=policy)  # type: ignore[arg-type]
    got = order_queue(q, state, cfg, T0 + 3600.0)
    if policy == "fifo":
        want = np.lexsort((q.ids, q.submit_s))
    elif policy == "priority":
        want = np.lexsort((q.ids, q.submit_s, -q.priority))
    else:  # one tenant: the fair-share term is the same for every job, age and QoS order them
        age = np.clip((T0 + 3600.0 - q.submit_s) / cfg.max_age_s, 0.0, 1.0)
        fs = cfg.weight_fair_share * 1.0  # no usage yet: factor 2**0
        score = cfg.weight_age * age + fs + cfg.weight_qos * (q.priority + 1000.0) / 2000.0
        want = np.lexsort((q.ids, q.submit_s, -score))
    assert got.tolist() == want.tolist()


def test_bulk_signature_codes_match_the_rows_signatures() -> None:
    """``from_specs`` codes the signature built with each row; it must be the one :attr:`JobRow.skey` reads back."""
    rng = np.random.default_rng(3)
    _, tenants = synthetic_fleet(20_000, rng)
    specs = synthetic_queue(2_000, tenants, BENCH_NOW_S, rng)
    cache: dict[str, JobRow] = {}
    for q in (JobQueue.from_specs(specs, cache), JobQueue.from_specs(specs, cache), JobQueue.from_specs(specs)):
        keys = list(q.skey_codes)
        assert [keys[c] for c in q.skey_code.tolist()] == [r.skey for r in q.rows]
        assert [q.skey_rows[c].skey for c in range(len(keys))] == keys
        assert len(keys) > 100


def test_a_row_holds_what_the_spec_says() -> None:
    """``derive`` reads the spec's fields from the models' ``__dict__`` (by name): each row field must equal
    the attribute it stands for, for specs that set every field the row and its signature read."""
    rng = np.random.default_rng(5)
    _, tenants = synthetic_fleet(20_000, rng)
    specs = synthetic_queue(500, tenants, BENCH_NOW_S, rng)
    specs.append(
        job("full", 16, num_nodes=2, project="p", deadline_s=T0 + 9e4, max_price_eur_per_gpu_h=3.0, walltime_s=7200.0)
    )
    cache: dict[str, JobRow] = {}
    q = JobQueue.from_specs(specs, cache)
    assert [cache[s.id] for s in specs] == q.rows
    for s, r in zip(specs, q.rows, strict=True):
        res = s.resources
        assert (r.spec, r.id, r.tenant, r.project, r.priority, r.submit_s) == (
            s,
            s.id,
            s.tenant,
            s.project,
            s.priority,
            s.submit_s,
        )
        assert (r.duration_s, r.walltime_s, r.deadline_s, r.preemptible) == (
            s.expected_duration_s,
            s.walltime_limit_s,
            s.deadline_s,
            s.preemptible,
        )
        assert (r.checkpoint_interval_s, r.objective, r.gpus, r.num_nodes) == (
            s.checkpoint_interval_s,
            s.objective,
            res.gpus,
            res.num_nodes,
        )
        assert r.gpn_req == (res.gpus_per_node or (res.gpus // res.num_nodes if res.num_nodes > 1 else 0))
        users = None if s.inference is None else (s.inference.users_latitude, s.inference.users_longitude)
        assert r.score_key[1:] == (
            s.objective.value,
            None if users is None else (*users, s.inference.latency_target_ms),
        )  # type: ignore[union-attr]
        assert r.skey[:2] == (res.accelerators, res.min_gpu_memory_gb)
        assert r.skey[5:9] == (
            s.residency.scope,
            s.residency.countries,
            s.min_tier.rank,
            s.max_price_eur_per_gpu_h or np.inf,
        )
