"""Property tests: over random fleets, tenants, running jobs, queues, signals and policies, no decision
breaks a hard rule (checked by an independent checker written here from the domain model, not from the
scheduler's arrays), no GPU is given twice, backfill never delays its reservation, and identical inputs
give identical decisions."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sched_fleets import DictSignals

from hexagrid.domain import (
    CATALOG,
    Defer,
    Fleet,
    InferenceSpec,
    JobSpec,
    NodePool,
    NotNow,
    Preempt,
    Project,
    Resources,
    Site,
    Start,
    Tenant,
    haversine_km,
    runtime_s,
)
from hexagrid.energy.power import job_facility_power_w
from hexagrid.scheduling import ClusterState, Scheduler, SchedulerConfig, reservation_for

SAT = 1_767_441_600.0  # Saturday 2026-01-03 12:00 UTC
NOWS = [SAT, SAT + 2 * 86400, SAT + 2 * 86400 + 7 * 3600, SAT + 5 * 86400 + 3600]  # Sat noon, Mon noon, Mon 19h, ...
ZONES = {"FR": "FR", "DE": "DE", "SE": "SE-SE3", "GB": "GB"}
WINDOWS = ["Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00", "Mon-Sun 22:00-06:00", "Sat-Sun 00:00-24:00"]
ACCS = ["A100", "H100", "L40S"]


@st.composite
def sites(draw: st.DrawFn, i: int) -> Site:
    kind = draw(
        st.sampled_from(["public_supercomputer", "private_cloud", "private_cloud", "private_cloud", "enterprise_idle"])
    )
    country = draw(st.sampled_from(["FR", "FR", "DE", "SE", "GB"]))
    n_pools = draw(st.integers(1, 2))
    pools = [
        NodePool(
            id=f"p{k}",
            accelerator=draw(st.sampled_from(ACCS)),
            gpus_per_node=draw(st.sampled_from([4, 8])),
            nodes=draw(st.integers(1, 6)),
        )
        for k in range(n_pools)
    ]
    access = "academic" if kind == "public_supercomputer" else draw(st.sampled_from(["commercial", "both", "both"]))
    price = (
        {} if kind == "public_supercomputer" else {p.accelerator: draw(st.sampled_from([0.5, 1.5, 3.0])) for p in pools}
    )
    online_until = draw(st.sampled_from([None, None, None, None, datetime(2026, 1, 5).date()]))
    return Site(
        id=f"s{i}",
        name=f"s{i}",
        operator="op",
        kind=kind,
        country=country,
        region="r",
        latitude=draw(st.floats(42, 55)),
        longitude=draw(st.floats(-3, 18)),
        grid_zone=ZONES[country],
        power_mw=draw(st.sampled_from([0.01, 0.03, 0.06, 0.1, 1.0])),
        cooling="direct_liquid",
        pue=draw(st.sampled_from([1.1, 1.3, 1.5])),
        access=access,
        tier=draw(st.sampled_from(["standard", "eu_sovereign", "secnumcloud", "secnumcloud"])),
        pools=pools,
        price_eur_per_gpu_h=price,
        online_until=online_until,
        availability=draw(st.sampled_from(WINDOWS)) if kind == "enterprise_idle" else None,
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Fleet, list[Tenant]]:
    n = draw(st.integers(0, 3))
    anchor = Site(
        id="anchor",
        name="anchor",
        operator="op",
        kind="private_cloud",
        country="FR",
        region="r",
        latitude=48.8,
        longitude=2.3,
        grid_zone="FR",
        power_mw=draw(st.sampled_from([0.02, 0.05, 0.2])),
        cooling="direct_liquid",
        pue=1.2,
        access="both",
        tier="secnumcloud",
        pools=[
            NodePool(id="h", accelerator="H100", gpus_per_node=8, nodes=draw(st.integers(1, 5))),
            NodePool(id="a", accelerator="A100", gpus_per_node=4, nodes=draw(st.integers(1, 5))),
        ],
        price_eur_per_gpu_h={"H100": 2.0, "A100": 1.0},
    )
    fleet = Fleet(sites=[anchor, *(draw(sites(i)) for i in range(n))])  # one site most jobs can use
    public = [s.id for s in fleet.sites if s.kind.value == "public_supercomputer"]
    tenants = [
        Tenant.model_validate(
            {
                "id": "lab",
                "name": "lab",
                "class": "academic",
                "projects": [
                    Project(id="p", allocations_gpu_h={s: draw(st.sampled_from([0.0, 5.0, 500.0])) for s in public})
                ],
            }
        ),
        Tenant.model_validate(
            {
                "id": "corp",
                "name": "corp",
                "class": "commercial",
                "max_gpus": draw(st.sampled_from([None, 8, 32])),
                "flexibility_h": draw(st.sampled_from([0.0, 6.0])),
            }
        ),
        Tenant.model_validate({"id": "uni", "name": "uni", "class": "academic", "fair_share_weight": 3.0}),
    ]
    return fleet, tenants


@st.composite
def jobs(draw: st.DrawFn, jid: str, now_s: float) -> JobSpec:
    gpus = draw(st.sampled_from([1, 1, 2, 4, 4, 8, 8, 12, 16, 24, 32]))
    num_nodes = 1
    if gpus >= 8 and draw(st.booleans()):
        num_nodes = draw(st.sampled_from([n for n in (1, 2, 4) if gpus % n == 0]))
    kind = draw(st.sampled_from(["training", "fine_tuning", "inference", "batch"]))
    duration = draw(st.sampled_from([600.0, 3600.0, 5 * 3600.0, 2 * 86400.0]))
    spec = {
        "id": jid,
        "tenant": ["lab", "lab", "corp", "corp", "corp", "uni", "ghost"][draw(st.integers(0, 20)) % 7],
        "kind": kind,
        "resources": Resources(
            gpus=gpus,
            num_nodes=num_nodes,
            accelerators=tuple(draw(st.sampled_from([(), (), (), ("H100",), ("A100", "L40S")]))),
        ),
        "project": draw(st.sampled_from([None, "p"])),
        "submit_s": now_s - draw(st.sampled_from([0.0, 3600.0, 86400.0])),
        "expected_duration_s": duration,
        "walltime_s": duration * draw(st.sampled_from([1.0, 1.5])),
        "residency": draw(st.sampled_from(["FR", "EU", "ANY", "ANY", "ANY"])),
        "min_tier": draw(st.sampled_from(["standard"] * 5 + ["eu_sovereign", "secnumcloud"])),
        "max_price_eur_per_gpu_h": draw(st.sampled_from([None, None, None, 1.0, 2.0])),
        "preemptible": draw(st.booleans()),
        "priority": draw(st.sampled_from([-5, 0, 5, 50])),
        "checkpoint_interval_s": draw(st.sampled_from([None, 900.0])),
        "objective": draw(st.sampled_from(["cost", "carbon", "time", "balanced"])),
    }
    if draw(st.booleans()):
        spec["deadline_s"] = now_s + duration * 2 + draw(st.sampled_from([3600.0, 12 * 3600.0]))
    if kind == "inference" and draw(st.booleans()):
        spec["inference"] = InferenceSpec(
            users_latitude=48.86, users_longitude=2.35, latency_target_ms=draw(st.sampled_from([8.0, 20.0, 200.0]))
        )
    return JobSpec(**spec)


configs = st.one_of(
    st.sampled_from([SchedulerConfig.preset(n) for n in SchedulerConfig.preset_names()]),
    st.builds(
        SchedulerConfig,
        queue_order=st.sampled_from(["fifo", "priority", "multifactor"]),
        backfill=st.sampled_from(["none", "greedy", "easy"]),
        placement=st.sampled_from(["first_fit", "objective"]),
        carbon_deferral=st.booleans(),
        preemption=st.booleans(),
    ),
)


class Checker:
    """Replays a pass's Starts against the domain model, tracking free GPUs, power, caps and allocations itself."""

    def __init__(self, fleet: Fleet, tenants: list[Tenant], running: list[tuple[JobSpec, Start]], now_s: float):
        self.fleet = fleet
        self.tenants = {t.id: t for t in tenants}
        self.now = now_s
        self.free: dict[tuple[str, str, int], int] = {}
        self.draw_w = {s.id: 0.0 for s in fleet.sites}
        self.in_use = dict.fromkeys(self.tenants, 0)
        self.alloc = {(t.id, p.id, s): h for t in tenants for p in t.projects for s, h in p.allocations_gpu_h.items()}
        for s in fleet.sites:
            for p in s.pools:
                for k in range(p.nodes):
                    self.free[(s.id, p.id, k)] = p.gpus_per_node
        self.held: dict[str, tuple[JobSpec, Start]] = {}
        for spec, start in running:
            self.take(spec, start)

    def release(self, job_id: str) -> None:
        """A Preempt: the victim gives its GPUs, power and tenant GPUs back."""
        spec, start = self.held.pop(job_id)
        s, p = self.pool(start)
        for k in start.node_indices:
            self.free[(s.id, p.id, k)] += start.gpus_per_node
        self.draw_w[s.id] -= job_facility_power_w(CATALOG[p.accelerator], start.gpus, p.gpus_per_node, spec.kind, s.pue)
        self.in_use[spec.tenant] -= start.gpus

    def pool(self, start: Start) -> tuple[Site, NodePool]:
        s = self.fleet.site(start.site_id)
        return s, next(p for p in s.pools if p.id == start.pool_id)

    def project(self, spec: JobSpec) -> str | None:
        t = self.tenants[spec.tenant]
        if spec.project is None and len(t.projects) == 1:
            return t.projects[0].id
        return spec.project

    def take(self, spec: JobSpec, start: Start) -> None:
        s, p = self.pool(start)
        acc = CATALOG[p.accelerator]
        self.held[spec.id] = (spec, start)
        for k in start.node_indices:
            self.free[(s.id, p.id, k)] -= start.gpus_per_node
        self.draw_w[s.id] += job_facility_power_w(acc, start.gpus, p.gpus_per_node, spec.kind, s.pue)
        self.in_use[spec.tenant] += start.gpus
        if s.kind.value == "public_supercomputer":
            key = (spec.tenant, self.project(spec), s.id)
            if key in self.alloc:
                self.alloc[key] -= (
                    start.gpus * runtime_s(spec.expected_duration_s, acc, spec.kind.value == "inference") / 3600
                )

    def check(self, spec: JobSpec, start: Start) -> None:
        """Every hard rule, from the domain model, then take the resources."""
        s, p = self.pool(start)
        acc = CATALOG[p.accelerator]
        t = self.tenants[spec.tenant]
        inference = spec.kind.value == "inference"
        assert s.access.admits(t.tenant_class), "access"
        assert spec.residency.allows(s.country), "residency"
        assert s.tier.satisfies(spec.min_tier), "sovereignty"
        assert spec.resources.accepts(p.accelerator), "accelerator"
        assert start.gpus == spec.resources.gpus and start.gpus_per_node <= p.gpus_per_node, "gang shape"
        if spec.resources.num_nodes > 1:
            assert start.nodes == spec.resources.num_nodes, "gang shape"
        assert len(set(start.node_indices)) == start.nodes and all(0 <= k < p.nodes for k in start.node_indices)
        if spec.max_price_eur_per_gpu_h is not None:
            assert s.price_for(p.accelerator) <= spec.max_price_eur_per_gpu_h, "price"
        day = datetime.fromtimestamp(self.now, UTC).date()
        assert (s.online_from is None or s.online_from <= day) and (s.online_until is None or day < s.online_until)
        if s.schedule is not None:
            assert s.schedule.is_open(self.now), "window closed"
            if not spec.preemptible:
                close = s.schedule.close_after(self.now)
                assert close is not None and self.now + runtime_s(spec.walltime_limit_s, acc, inference) <= close
        if spec.inference is not None:
            km = haversine_km(s.latitude, s.longitude, spec.inference.users_latitude, spec.inference.users_longitude)
            assert 5.0 + km / 100.0 <= spec.inference.latency_target_ms + 1e-9, "latency"
        if s.kind.value == "public_supercomputer":
            need = start.gpus * runtime_s(spec.expected_duration_s, acc, inference) / 3600
            assert self.alloc.get((spec.tenant, self.project(spec), s.id), 0.0) >= need - 1e-9, "allocation"
        cap = t.max_gpus
        assert cap is None or self.in_use[spec.tenant] + start.gpus <= cap, "tenant cap"
        need_w = job_facility_power_w(acc, start.gpus, p.gpus_per_node, spec.kind, s.pue)
        assert self.draw_w[s.id] + need_w <= s.power_mw * 1e6 * (1 + 1e-9), "power envelope"
        self.take(spec, start)
        assert all(self.free[(s.id, p.id, k)] >= 0 for k in start.node_indices), "a GPU given twice"


def partly_filled(
    data: st.DataObject, fleet: Fleet, tenants: list[Tenant], now: float, least: int, most: int
) -> tuple[ClusterState, list[tuple[JobSpec, Start]]]:
    """The state after a first pass half an hour earlier (``least`` to ``most`` jobs) started what it could,
    and the jobs it started: part of the fleet is busy."""
    state = ClusterState.from_fleet(fleet, tenants)
    first = [data.draw(jobs(f"r{i}", now - 1800)) for i in range(data.draw(st.integers(least, most)))]
    running: list[tuple[JobSpec, Start]] = []
    specs = {j.id: j for j in first}
    for d in Scheduler(SchedulerConfig(backfill="greedy", carbon_deferral=False)).decide(
        state, first, None, now - 1800
    ):
        if isinstance(d, Start):
            state.start_job(specs[d.job_id], d, now - 1800)
            running.append((specs[d.job_id], d))
    return state, running


def snapshot(state: ClusterState) -> tuple[object, ...]:
    return (
        state.node_free.tobytes(),
        state.ge.tobytes(),
        state.site_draw_w.tobytes(),
        state.tenants.in_use.tobytes(),
        state.tenants.usage.tobytes(),
        state.alloc_remaining_gpu_h.tobytes(),
        sorted(state.running),
    )


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_no_decision_breaks_a_hard_rule_and_passes_are_deterministic(data: st.DataObject) -> None:
    fleet, tenants = data.draw(worlds())
    now = data.draw(st.sampled_from(NOWS))
    cfg = data.draw(configs)
    hours = 96
    signals = DictSignals(
        {
            z: data.draw(st.lists(st.floats(10, 500), min_size=hours, max_size=hours))
            for z in sorted(set(ZONES.values()))
        },
        start_s=now - 24 * 3600,
    )
    state, running = partly_filled(data, fleet, tenants, now, 0, 6)
    queue = [data.draw(jobs(f"q{i}", now)) for i in range(data.draw(st.integers(1, 14)))]
    qspecs = {j.id: j for j in queue}
    before = snapshot(state)
    sched = Scheduler(cfg)
    decisions = sched.decide(state, queue, signals, now)
    assert snapshot(state) == before, "decide mutated the state"
    assert sched.decide(state, queue, signals, now) == decisions
    assert Scheduler(cfg).decide(state, list(queue), signals, now) == decisions
    # leaving NotNow out skips jobs in bulk, and must not change a single other decision or their order
    quiet = Scheduler(cfg).decide(state, queue, signals, now, explain_waiting=False)
    assert quiet == [d for d in decisions if not isinstance(d, NotNow)]
    # a quiet pass builds no sentences for NotNow: whatever it leaves to later passes must not lose one
    after_quiet = Scheduler(cfg)
    assert after_quiet.decide(state, queue, signals, now, explain_waiting=False) == quiet
    assert after_quiet.decide(state, queue, signals, now) == decisions
    # entries a scheduler keeps across passes (other times, other windows open) change nothing either
    later = now + data.draw(st.sampled_from([3600.0, 7 * 3600.0, 3 * 86400.0]))
    assert sched.decide(state, queue, signals, later) == Scheduler(cfg).decide(state, queue, signals, later)
    # exactly one decision per queued job; Preempts only name running jobs, once
    per_job = [d.job_id for d in decisions if not isinstance(d, Preempt)]
    assert sorted(per_job) == sorted(qspecs)
    pre = [d.job_id for d in decisions if isinstance(d, Preempt)]
    assert len(pre) == len(set(pre)) and set(pre) <= set(state.running)
    checker = Checker(fleet, tenants, running, now)
    rspecs = {spec.id: spec for spec, _ in running}
    for d in decisions:
        if isinstance(d, Preempt):
            checker.release(d.job_id)
            if d.reason.value == "higher_priority":  # the preemptor outranks it, cannot be evicted, starts now
                victim, boss = rspecs[d.job_id], qspecs[d.for_job_id or ""]
                assert victim.preemptible and victim.priority < boss.priority and not boss.preemptible
                assert now - state.running[d.job_id].start_s >= cfg.preemption_min_run_s
                assert any(isinstance(x, Start) and x.job_id == boss.id for x in decisions[decisions.index(d) :])
        if isinstance(d, Start):
            checker.check(qspecs[d.job_id], d)
        elif isinstance(d, Defer):
            spec = qspecs[d.job_id]
            assert d.until_s > now
            if spec.deadline_s is not None:  # the latest start on the fastest pool bounds every pool's
                inference = spec.kind.value == "inference"
                min_run = min(
                    runtime_s(spec.expected_duration_s, CATALOG[p.accelerator], inference)
                    for s in fleet.sites
                    for p in s.pools
                )
                assert d.until_s <= spec.deadline_s - min_run + 1e-6
            else:
                assert d.until_s <= spec.submit_s + checker.tenants[spec.tenant].flexibility_h * 3600
        elif isinstance(d, NotNow):
            assert d.message and d.reason is not None
    # the driver can apply every decision in order: nothing double-booked
    applied = state.copy()
    for d in decisions:
        if isinstance(d, Preempt):
            applied.preempt_job(d.job_id, now)
        elif isinstance(d, Start):
            applied.start_job(qspecs[d.job_id], d, now)
    assert int(applied.node_free.min(initial=0)) >= 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_easy_backfill_never_delays_the_reservation(data: st.DataObject) -> None:
    fleet, tenants = data.draw(worlds())
    now = data.draw(st.sampled_from(NOWS))
    cfg = SchedulerConfig(
        queue_order=data.draw(st.sampled_from(["fifo", "priority", "multifactor"])),
        backfill="easy",
        placement=data.draw(st.sampled_from(["first_fit", "objective"])),
        carbon_deferral=False,
        preemption=False,
    )
    state, _ = partly_filled(data, fleet, tenants, now, 1, 8)
    queue = [data.draw(jobs(f"q{i}", now)) for i in range(data.draw(st.integers(2, 12)))]
    qspecs = {j.id: j for j in queue}
    decisions = Scheduler(cfg).decide(state, queue, None, now)
    heads = [d for d in decisions if isinstance(d, NotNow) and d.reserved_start_s is not None]
    assert len(heads) <= 1
    if not heads:
        return
    head = heads[0]
    t_res = head.reserved_start_s
    assert t_res is not None and t_res >= now
    at = decisions.index(head)
    before_head = state.copy()
    for d in decisions[:at]:
        if isinstance(d, Start):
            before_head.start_job(qspecs[d.job_id], d, now)
    r0 = reservation_for(before_head, qspecs[head.job_id], now, cfg)
    assert r0 is not None and r0.start_s == t_res
    after = before_head.copy()
    for d in decisions[at:]:
        if isinstance(d, Start):
            after.start_job(qspecs[d.job_id], d, now)
    r1 = reservation_for(after, qspecs[head.job_id], now, cfg)
    assert r1 is not None and r1.start_s <= t_res
    assert not math.isnan(t_res) and np.isfinite(t_res)
