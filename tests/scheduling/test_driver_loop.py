"""Many passes applied like a driver would (start_job / finish_job / preempt_job, in decision order).

Over random fleets, tenants, policies and arrivals: no pass raises, the per-pool level counts stay in
step with the free GPUs per node, and priority preemption cannot thrash: every eviction is for a
non-preemptible job of higher priority that starts in the same pass on what the victims free, a
preemptor evicts in one pass only, and a job is never evicted before it has run the minimum run.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import NOWS, configs, jobs, worlds

from hexagrid.domain import Defer, JobSpec, Preempt, ReasonCode, Start
from hexagrid.scheduling import ClusterState, Scheduler, SchedulerConfig

HEX = SchedulerConfig.preset("hexagrid")


def assert_levels_match(state: ClusterState) -> None:
    ix = state.ix
    for p in range(ix.n_pools):
        free = state.node_free[ix.pool_offset[p] : ix.pool_offset[p + 1]]
        expect = [int(np.count_nonzero(free >= k)) for k in range(state.ge.shape[1])]
        assert state.ge[p].tolist() == expect, f"level counts of pool {p} out of step with its nodes"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), cfg=st.one_of(st.just(HEX), configs))
def test_passes_applied_by_a_driver_never_crash_and_never_thrash(data: st.DataObject, cfg: SchedulerConfig) -> None:
    fleet, tenants = data.draw(worlds())
    now = data.draw(st.sampled_from(NOWS))
    state = ClusterState.from_fleet(fleet, tenants)
    sched = Scheduler(cfg)
    specs: dict[str, JobSpec] = {}
    queue: dict[str, JobSpec] = {}
    woken: dict[str, float] = {}
    preemptors: set[str] = set()
    last_start: dict[str, float] = {}
    n = 0
    for _ in range(data.draw(st.integers(4, 12))):
        for _ in range(data.draw(st.integers(0, 6))):
            j = data.draw(jobs(f"j{n}", now))
            n += 1
            specs[j.id] = queue[j.id] = j
        for jid, t in list(woken.items()):
            if t <= now:
                queue[jid] = specs[jid]
                del woken[jid]
        for jid, rj in list(state.running.items()):
            if rj.expected_end_s <= now:
                state.finish_job(jid, now)
        decisions = sched.decide(state, list(queue.values()), None, now)
        pass_preemptors: set[str] = set()
        for i, d in enumerate(decisions):
            if isinstance(d, Preempt):
                if d.reason is ReasonCode.HIGHER_PRIORITY:
                    boss = specs[d.for_job_id or ""]
                    victim = specs[d.job_id]
                    assert not boss.preemptible and victim.preemptible and victim.priority < boss.priority
                    assert now - last_start[d.job_id] >= cfg.preemption_min_run_s
                    assert any(isinstance(x, Start) and x.job_id == boss.id for x in decisions[i:])
                    assert boss.id not in preemptors, "a preemptor evicted jobs in two passes"
                    pass_preemptors.add(boss.id)
                state.preempt_job(d.job_id, now)
                queue[d.job_id] = specs[d.job_id]
            elif isinstance(d, Start):
                state.start_job(specs[d.job_id], d, now)
                last_start[d.job_id] = now
                del queue[d.job_id]
            elif isinstance(d, Defer):
                woken[d.job_id] = d.until_s
                del queue[d.job_id]
        preemptors |= pass_preemptors
        assert_levels_match(state)
        assert int(state.node_free.min(initial=0)) >= 0
        now += data.draw(st.sampled_from([1.0, 60.0, 900.0, 3600.0]))
