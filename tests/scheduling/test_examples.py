"""The scheduler's behaviour as the product describes it, on small hand-written fleets."""

from __future__ import annotations

import pytest
from sched_fleets import T0, DictSignals, fleet, job, pool, site, tenant

from hexagrid.domain import Defer, InferenceSpec, JobSpec, NotNow, Preempt, Project, ReasonCode, Resources, Start
from hexagrid.energy.power import job_facility_power_w
from hexagrid.errors import InputError, NotFound
from hexagrid.scheduling import ClusterState, Scheduler, SchedulerConfig, explain, reservation_for

HEX = SchedulerConfig.preset("hexagrid")


def by_job(decisions: list) -> dict[str, object]:
    return {d.job_id: d for d in decisions if not isinstance(d, Preempt)}


def flat(values: dict[str, float], hours: int = 72) -> DictSignals:
    return DictSignals({z: [v] * hours for z, v in values.items()})


# ----------------------------------------------------------------------------- residency, access, tiers
def test_fr_only_fine_tuning_never_goes_to_a_free_greener_swedish_site() -> None:
    f = fleet(
        site("fr-cloud", pools=[pool(nodes=2)]), site("se-cloud", country="SE", zone="SE-SE3", pools=[pool(nodes=16)])
    )
    st = ClusterState.from_fleet(f, [tenant()])
    signals = flat({"FR": 99.4, "SE-SE3": 23.0})
    first = job("ft-1", 16, residency="FR", kind="fine_tuning", objective="carbon")
    second = job("ft-2", 16, residency="FR", kind="fine_tuning", objective="carbon")
    d = by_job(Scheduler(HEX).decide(st, [first, second], signals, T0))
    assert isinstance(d["ft-1"], Start) and d["ft-1"].site_id == "fr-cloud"
    assert isinstance(d["ft-2"], NotNow) and d["ft-2"].reason is ReasonCode.CAPACITY
    assert d["ft-2"].message.startswith("no FR site with 16 free GPUs")
    # the same job without the residency rule goes to the greener Swedish site
    free = job("any-1", 16, kind="fine_tuning", objective="carbon")
    assert by_job(Scheduler(HEX).decide(st, [free], signals, T0))["any-1"].site_id == "se-cloud"
    verdicts = {v.site_id: v for v in explain(second, st, now_s=T0)}
    assert (
        verdicts["se-cloud"].reason is ReasonCode.RESIDENCY
        and "outside the job's residency FR" in verdicts["se-cloud"].message
    )


def test_eu_residency_admits_eu_countries_only() -> None:
    f = fleet(site("de", country="DE"), site("gb", country="GB"))
    st = ClusterState.from_fleet(f, [tenant()])
    d = by_job(Scheduler(HEX).decide(st, [job("j", 8, residency="EU")], None, T0))
    assert d["j"].site_id == "de"
    only_gb = ClusterState.from_fleet(fleet(site("gb", country="GB")), [tenant()])
    nn = by_job(Scheduler(HEX).decide(only_gb, [job("j", 8, residency="EU")], None, T0))["j"]
    assert isinstance(nn, NotNow) and nn.reason is ReasonCode.RESIDENCY


def jean_zay_fleet(allocation_gpu_h: float = 1000.0):
    jz = site(
        "jean-zay",
        kind="public_supercomputer",
        access="academic",
        tier="eu_sovereign",
        pools=[pool("h100", "H100", 4, 8)],
        power_mw=5.5,
    )
    cloud = site("cloud", pools=[pool("h100", "H100", 8, 4)])
    lab = tenant("lab", "academic", projects=[Project(id="llm", allocations_gpu_h={"jean-zay": allocation_gpu_h})])
    return fleet(jz, cloud), [lab, tenant("corp")]


def test_academic_job_runs_on_jean_zay_and_is_charged_to_its_project() -> None:
    f, tenants = jean_zay_fleet(1000.0)
    st = ClusterState.from_fleet(f, tenants)
    spec = job("lab-1", 8, tenant="lab", project="llm", duration_s=7200.0, objective="cost")
    d = by_job(Scheduler(HEX).decide(st, [spec], None, T0))["lab-1"]
    assert isinstance(d, Start) and d.site_id == "jean-zay" and (d.nodes, d.gpus_per_node) == (2, 4)
    assert "charged to the project's allocation" in d.message
    row = st.alloc_rows[("lab", "llm")]
    before = st.alloc_remaining_gpu_h[row, st.ix.site_index["jean-zay"]]
    st.start_job(spec, d, T0)
    runtime_h = 7200.0 / 2.5 / 3600.0  # H100 trains 2.5x the reference A100
    charged = before - st.alloc_remaining_gpu_h[row, st.ix.site_index["jean-zay"]]
    assert charged == pytest.approx(8 * runtime_h)
    # finishing early refunds what was not used
    st.finish_job("lab-1", T0 + 1800.0)
    used = before - st.alloc_remaining_gpu_h[row, st.ix.site_index["jean-zay"]]
    assert used == pytest.approx(8 * 0.5)


def test_academic_job_without_allocation_left_is_not_eligible_on_the_public_site() -> None:
    f, tenants = jean_zay_fleet(1.0)
    st = ClusterState.from_fleet(f, tenants)
    spec = job("lab-2", 8, tenant="lab", project="llm", duration_s=7200.0)
    verdicts = {v.site_id: v for v in explain(spec, st, now_s=T0)}
    assert verdicts["jean-zay"].reason is ReasonCode.ALLOCATION
    assert "project llm has 1 GPU-hours left" in verdicts["jean-zay"].message
    # the cloud admits commercial tenants only (site() default), so nothing is left
    d = by_job(Scheduler(HEX).decide(st, [spec], None, T0))["lab-2"]
    assert isinstance(d, NotNow) and d.reason is ReasonCode.ALLOCATION
    assert "no allocation left" in d.message


def test_a_job_too_big_for_the_allocation_does_not_hold_back_a_smaller_one_of_the_same_shape() -> None:
    """Refusals are remembered within a pass only for jobs they apply to: the allocation test depends on GPU-hours."""
    f, tenants = jean_zay_fleet(20.0)  # 20 GPU-hours left
    st = ClusterState.from_fleet(f, tenants)
    cfg = HEX.model_copy(update={"queue_order": "fifo"})
    big = job("big", 8, tenant="lab", project="llm", duration_s=36000.0, submit_s=T0 - 60)  # 32 GPU-h on H100
    small = job("small", 8, tenant="lab", project="llm", duration_s=3600.0)  # 3.2 GPU-h
    d = by_job(Scheduler(cfg).decide(st, [big, small], None, T0))
    assert isinstance(d["big"], NotNow) and d["big"].reason is ReasonCode.ALLOCATION
    assert isinstance(d["small"], Start) and d["small"].site_id == "jean-zay"


def test_commercial_job_never_lands_on_a_public_supercomputer() -> None:
    f, tenants = jean_zay_fleet()
    st = ClusterState.from_fleet(f, tenants)
    # fill the commercial cloud, leave Jean Zay idle
    queue = [job(f"c{i}", 8, tenant="corp") for i in range(6)]
    d = by_job(Scheduler(HEX).decide(st, queue, None, T0))
    starts = [x for x in d.values() if isinstance(x, Start)]
    assert len(starts) == 4 and all(s.site_id == "cloud" for s in starts)
    assert {x.reason for x in d.values() if isinstance(x, NotNow)} == {ReasonCode.CAPACITY}
    verdict = {v.site_id: v for v in explain(queue[0], st, now_s=T0)}["jean-zay"]
    assert verdict.reason is ReasonCode.ACCESS and "not commercial ones" in verdict.message
    only_public = ClusterState.from_fleet(fleet(f.sites[0]), tenants)
    nn = by_job(Scheduler(HEX).decide(only_public, [queue[0]], None, T0))["c0"]
    assert isinstance(nn, NotNow) and nn.reason is ReasonCode.ACCESS


def test_sovereignty_tier_is_a_minimum() -> None:
    f = fleet(site("std", tier="standard"), site("snc", tier="secnumcloud", price={"H100": 9.0}))
    st = ClusterState.from_fleet(f, [tenant()])
    d = by_job(Scheduler(HEX).decide(st, [job("s", 8, min_tier="eu_sovereign", objective="cost")], None, T0))
    assert d["s"].site_id == "snc"
    nn = by_job(
        Scheduler(HEX).decide(
            ClusterState.from_fleet(fleet(site("std")), [tenant()]), [job("s", 8, min_tier="secnumcloud")], None, T0
        )
    )["s"]
    assert nn.reason is ReasonCode.SOVEREIGNTY


# ----------------------------------------------------------------------------- power
def test_512_gpu_job_waits_on_power_envelope_when_gpus_are_free_but_megawatts_are_not() -> None:
    big = pool("h100", "H100", 8, 80)  # 640 GPUs, all free
    need_w = job_facility_power_w(
        __import__("hexagrid.domain", fromlist=["CATALOG"]).CATALOG["H100"],
        512,
        8,
        __import__("hexagrid.domain", fromlist=["JobKind"]).JobKind.TRAINING,
        1.2,
    )
    f = fleet(site("mw-short", pools=[big], power_mw=need_w / 1e6 * 0.9, pue=1.2))
    st = ClusterState.from_fleet(f, [tenant()])
    spec = job("big", 512, num_nodes=64, residency="FR", accelerators=["H100"])
    d = by_job(Scheduler(HEX).decide(st, [spec], None, T0))["big"]
    assert isinstance(d, NotNow) and d.reason is ReasonCode.POWER_ENVELOPE
    assert d.message == "no FR site with 512 free H100 (64 nodes x 8) within its power envelope"
    v = explain(spec, st, now_s=T0)[0]
    assert v.reason is ReasonCode.POWER_ENVELOPE and "not the power" in v.message
    # with the envelope 20% above the job's facility power it starts, and the draw is recorded
    ok = ClusterState.from_fleet(fleet(site("mw-ok", pools=[big], power_mw=need_w / 1e6 * 1.2, pue=1.2)), [tenant()])
    start = by_job(Scheduler(HEX).decide(ok, [spec], None, T0))["big"]
    assert isinstance(start, Start) and start.gpus == 512
    ok.start_job(spec, start, T0)
    assert ok.site_draw_w[0] == pytest.approx(need_w)


def test_power_headroom_is_shared_by_all_pools_of_a_site() -> None:
    f = fleet(site("s", pools=[pool("a", "H100", 8, 4), pool("b", "H100", 8, 4)], power_mw=0.03, pue=1.2))
    st = ClusterState.from_fleet(f, [tenant()])
    d = Scheduler(HEX).decide(st, [job(f"j{i}", 8) for i in range(5)], None, T0)
    starts = [x for x in d if isinstance(x, Start)]
    per_job = job_facility_power_w(
        __import__("hexagrid.domain", fromlist=["CATALOG"]).CATALOG["H100"],
        8,
        8,
        __import__("hexagrid.domain", fromlist=["JobKind"]).JobKind.TRAINING,
        1.2,
    )
    assert len(starts) == int(30_000 // per_job)
    assert all(x.reason is ReasonCode.POWER_ENVELOPE for x in d if isinstance(x, NotNow))


# ----------------------------------------------------------------------------- gang shape and packing
def test_gang_takes_whole_nodes_in_one_pool_and_partial_jobs_pack_best_fit() -> None:
    f = fleet(site("s", pools=[pool("a", "H100", 8, 2), pool("b", "H100", 8, 2)]))
    st = ClusterState.from_fleet(f, [tenant()])
    d = by_job(
        Scheduler(SchedulerConfig.preset("backfill")).decide(
            st, [job("g3", 24, num_nodes=3), job("s3", 3, submit_s=T0 + 1), job("s5", 5, submit_s=T0 + 2)], None, T0
        )
    )
    assert d["g3"].reason is ReasonCode.GANG_SHAPE  # four nodes exist, but no pool has three
    assert d["g3"].message.startswith("no pool can hold 24 GPUs (3 nodes x 8)")
    assert (d["s3"].pool_id, d["s3"].node_indices) == ("a", (0,))
    assert (d["s5"].pool_id, d["s5"].node_indices) == ("a", (0,))  # the fullest node that fits: packed
    nn = by_job(Scheduler(HEX).decide(st, [job("g", 12)], None, T0))["g"]  # 12 does not divide into 8-GPU nodes
    assert nn.reason is ReasonCode.GANG_SHAPE


# ----------------------------------------------------------------------------- queue order, caps, tenants
def test_unknown_tenant_and_tenant_cap() -> None:
    st = ClusterState.from_fleet(fleet(site("s")), [tenant("capped", max_gpus=8)])
    d = by_job(
        Scheduler(HEX).decide(
            st,
            [job("a", 8, tenant="capped"), job("b", 8, tenant="capped", submit_s=T0 + 1), job("c", 8, tenant="ghost")],
            None,
            T0,
        )
    )
    assert isinstance(d["a"], Start)
    assert d["b"].reason is ReasonCode.TENANT_CAP and "8 of 8 GPUs in use" in d["b"].message
    assert d["c"].reason is ReasonCode.UNKNOWN_TENANT
    st.register_tenant(tenant("ghost"))
    assert isinstance(by_job(Scheduler(HEX).decide(st, [job("c", 8, tenant="ghost")], None, T0))["c"], Start)


def test_multifactor_fair_share_puts_the_heavy_user_last() -> None:
    st = ClusterState.from_fleet(fleet(site("s", pools=[pool(nodes=2)])), [tenant("heavy"), tenant("light")])
    hog = job("hog", 16, tenant="heavy", duration_s=86400.0)
    st.start_job(hog, Start("hog", "s", "p0", 2, 8), T0 - 86400)
    st.finish_job("hog", T0)
    queue = [job("h", 8, tenant="heavy", submit_s=T0 - 100), job("l", 8, tenant="light", submit_s=T0)]
    fifo = Scheduler(SchedulerConfig.preset("fifo")).decide(st, queue, None, T0)
    assert [d.job_id for d in fifo] == ["h", "l"]
    fair = Scheduler(HEX).decide(st, queue, None, T0)
    assert [d.job_id for d in fair] == ["l", "h"]
    prio = Scheduler(SchedulerConfig(queue_order="priority")).decide(
        st, [*queue, job("vip", 8, tenant="heavy", priority=100, submit_s=T0 + 5)], None, T0
    )
    assert prio[0].job_id == "vip"


def test_strict_fifo_holds_later_jobs_behind_the_first_blocked_one() -> None:
    st = ClusterState.from_fleet(fleet(site("s", pools=[pool(nodes=2)])), [tenant()])
    queue = [job("big", 24, submit_s=T0), job("small", 8, submit_s=T0 + 1)]
    d = by_job(Scheduler(SchedulerConfig.preset("fifo")).decide(st, queue, None, T0))
    assert d["big"].reason is ReasonCode.GANG_SHAPE  # 3 nodes in a 2-node pool: never fits, holds nobody
    st.start_job(job("run", 8), Start("run", "s", "p0", 1, 8), T0)
    queue = [job("two", 16, submit_s=T0), job("small", 8, submit_s=T0 + 1)]
    d = by_job(Scheduler(SchedulerConfig.preset("fifo")).decide(st, queue, None, T0))
    assert d["two"].reason is ReasonCode.CAPACITY
    assert d["small"].reason is ReasonCode.RESERVATION and "held behind job two" in d["small"].message
    greedy = by_job(Scheduler(SchedulerConfig(backfill="greedy")).decide(st, queue, None, T0))
    assert isinstance(greedy["small"], Start)


# ----------------------------------------------------------------------------- EASY backfill
def test_easy_backfill_starts_short_jobs_and_holds_long_ones_behind_the_reservation() -> None:
    st = ClusterState.from_fleet(fleet(site("s", pools=[pool(acc="A100", nodes=4)])), [tenant()])
    run = job("run", 16, num_nodes=2, duration_s=3600.0)
    st.start_job(run, Start("run", "s", "p0", 2, 8), T0)  # nodes 0, 1 busy until T0 + 3600
    head = job("head", 32, num_nodes=4, submit_s=T0)
    short = job("short", 8, duration_s=1800.0, submit_s=T0 + 1)
    long = job("long", 8, duration_s=7200.0, submit_s=T0 + 2)
    cfg = SchedulerConfig.preset("backfill")
    d = by_job(Scheduler(cfg).decide(st, [head, short, long], None, T0))
    assert d["head"].reason is ReasonCode.CAPACITY and d["head"].reserved_start_s == T0 + 3600
    assert isinstance(d["short"], Start)
    assert d["long"].reason is ReasonCode.RESERVATION and "held behind reservation for job head" in d["long"].message
    res = reservation_for(st, head, T0, cfg)
    assert res is not None and res.start_s == T0 + 3600 and res.node_indices == (0, 1, 2, 3)
    # without backfill restrictions the long job would have delayed the head job
    greedy = by_job(
        Scheduler(SchedulerConfig(queue_order="fifo", backfill="greedy")).decide(st, [head, short, long], None, T0)
    )
    assert isinstance(greedy["long"], Start)


def test_backfill_may_use_nodes_the_reservation_does_not_need() -> None:
    st = ClusterState.from_fleet(fleet(site("s", pools=[pool(acc="A100", nodes=4)])), [tenant()])
    st.start_job(job("run", 8, duration_s=3600.0), Start("run", "s", "p0", 1, 8), T0)
    head = job("head", 24, num_nodes=3, submit_s=T0)  # 3 of the 4 nodes, free at T0 + 3600... or now
    long = job("long", 8, duration_s=7200.0, submit_s=T0 + 1)
    d = by_job(Scheduler(SchedulerConfig.preset("backfill")).decide(st, [head, long], None, T0))
    assert isinstance(d["head"], Start)  # 3 free nodes now
    assert d["long"].reason is ReasonCode.CAPACITY


# ----------------------------------------------------------------------------- carbon-aware deferral
def dip_signals(zone: str = "FR", dip_at_h: int = 6) -> DictSignals:
    values = [100.0] * 72
    for h in range(dip_at_h, dip_at_h + 3):
        values[h] = 20.0
    return DictSignals({zone: values})


def test_job_with_slack_is_deferred_to_the_greener_window_before_its_deadline() -> None:
    st = ClusterState.from_fleet(fleet(site("s", pools=[pool(acc="A100")])), [tenant()])
    spec = job("flex", 8, duration_s=3600.0, deadline_s=T0 + 18 * 3600)
    d = by_job(Scheduler(HEX).decide(st, [spec], dip_signals(), T0))["flex"]
    assert isinstance(d, Defer) and d.reason is ReasonCode.CARBON_DEFERRAL
    assert d.until_s == T0 + 6 * 3600
    assert d.message.startswith("deferred for carbon until 06:00 UTC, deadline 18:00 UTC")
    # at the deferred time the job starts
    assert isinstance(by_job(Scheduler(HEX).decide(st, [spec], dip_signals(), d.until_s))["flex"], Start)


def test_deferral_never_passes_the_latest_start_and_needs_slack_or_opt_in() -> None:
    st = ClusterState.from_fleet(
        fleet(site("s", pools=[pool(acc="A100")])), [tenant(), tenant("flexi", flexibility_h=12)]
    )
    tight = job("tight", 8, duration_s=3600.0, deadline_s=T0 + 6 * 3600)  # latest start T0 + 5 h < the dip
    no_deadline = job("nodl", 8, duration_s=3600.0)
    opted_in = job("opt", 8, duration_s=3600.0, tenant="flexi")
    d = by_job(Scheduler(HEX).decide(st, [tight, no_deadline, opted_in], dip_signals(), T0))
    assert isinstance(d["tight"], Start) and isinstance(d["nodl"], Start)
    assert isinstance(d["opt"], Defer) and d["opt"].until_s <= opted_in.submit_s + 12 * 3600
    off = by_job(Scheduler(SchedulerConfig.preset("backfill")).decide(st, [opted_in], dip_signals(), T0))
    assert isinstance(off["opt"], Start)


def test_carbon_objective_picks_the_greener_zone_and_cost_the_cheaper_site() -> None:
    f = fleet(site("fr", price={"H100": 3.0}), site("de", country="DE", price={"H100": 1.5}))
    st = ClusterState.from_fleet(f, [tenant()])
    sig = flat({"FR": 99.4, "DE": 482.0})
    d = by_job(Scheduler(HEX).decide(st, [job("c", 8, objective="carbon"), job("e", 8, objective="cost")], sig, T0))
    assert d["c"].site_id == "fr" and d["e"].site_id == "de"


# ----------------------------------------------------------------------------- inference near users
def test_inference_goes_near_its_users_within_the_latency_target() -> None:
    paris = site("paris", lat=48.86, lon=2.35)
    marseille = site("marseille", lat=43.30, lon=5.37, price={"H100": 1.0})
    st = ClusterState.from_fleet(fleet(paris, marseille), [tenant()])
    spec = JobSpec(
        id="chat",
        tenant="acme",
        kind="inference",
        resources=Resources(gpus=1),
        expected_duration_s=3600,
        inference=InferenceSpec(users_latitude=48.86, users_longitude=2.35, latency_target_ms=10),
    )
    d = by_job(Scheduler(HEX).decide(st, [spec], None, T0))["chat"]
    assert d.site_id == "paris"  # Marseille is ~660 km: about 11.6 ms round trip, above 10 ms
    v = {x.site_id: x for x in explain(spec, st, now_s=T0)}["marseille"]
    assert v.reason is ReasonCode.LATENCY and "(estimate)" in v.message


# ----------------------------------------------------------------------------- idle-capacity windows
SAT = 1_767_441_600.0  # 2026-01-03 12:00 UTC, a Saturday
MON_NOON = SAT + 2 * 86400  # Monday 12:00 UTC (13:00 in Paris): the weekday window is closed


def window_state() -> ClusterState:
    idle = site(
        "idle",
        kind="enterprise_idle",
        access="both",
        availability="Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00",
        pools=[pool(acc="A100", nodes=2)],
    )
    return ClusterState.from_fleet(fleet(idle), [tenant()])


def test_windows_admit_preemptible_jobs_or_jobs_that_end_before_the_window_closes() -> None:
    st = window_state()
    fits = job("fits", 8, duration_s=3600.0)
    too_long = job("long", 8, duration_s=3 * 86400.0)
    preemptible = job("pre", 8, duration_s=3 * 86400.0, preemptible=True)
    d = by_job(Scheduler(HEX).decide(st, [fits, too_long, preemptible], None, SAT))
    assert isinstance(d["fits"], Start) and isinstance(d["pre"], Start)
    assert d["long"].reason is ReasonCode.WINDOW
    closed = by_job(Scheduler(HEX).decide(st, [fits], None, MON_NOON))["fits"]
    assert closed.reason is ReasonCode.WINDOW and "closed" in closed.message


def test_a_closed_window_preempts_the_jobs_still_running_there() -> None:
    st = window_state()
    pre = job("pre", 8, duration_s=3 * 86400.0, preemptible=True)
    st.start_job(pre, Start("pre", "idle", "p0", 1, 8), SAT)
    d = Scheduler(HEX).decide(st, [], None, MON_NOON)
    assert d == [Preempt("pre", ReasonCode.WINDOW_CLOSING, d[0].message)]
    assert "idle-capacity window of idle closed" in d[0].message


# ----------------------------------------------------------------------------- preemption for priority
def test_higher_priority_job_preempts_the_victims_that_lose_least_work() -> None:
    st = ClusterState.from_fleet(fleet(site("s", pools=[pool(acc="A100", nodes=2)])), [tenant()])
    old = job("old", 8, duration_s=86400.0, preemptible=True, checkpoint_interval_s=3600.0, priority=-5)
    fresh = job("fresh", 8, duration_s=86400.0, preemptible=True, checkpoint_interval_s=3600.0, priority=-5)
    st.start_job(old, Start("old", "s", "p0", 1, 8), T0 - 3000)  # 3000 s since its start (no checkpoint yet)
    st.start_job(fresh, Start("fresh", "s", "p0", 1, 8), T0 - 3700)  # checkpointed 100 s ago
    urgent = job("urgent", 8, priority=50)
    d = Scheduler(HEX).decide(st, [urgent], None, T0)
    pre = [x for x in d if isinstance(x, Preempt)]
    assert [p.job_id for p in pre] == ["fresh"] and pre[0].for_job_id == "urgent"
    assert pre[0].reason is ReasonCode.HIGHER_PRIORITY
    # the preemptor starts in the same pass, right after its victims, on the nodes they free
    started = by_job(d)["urgent"]
    assert isinstance(started, Start) and d.index(started) > d.index(pre[0])
    assert started.node_indices == st.running["fresh"].node_indices
    lost = st.preempt_job("fresh", T0)
    assert lost.lost_work_gpu_s == pytest.approx(8 * 100.0)
    st.start_job(urgent, started, T0)  # the driver applies the decisions in order
    # an equal-priority job preempts nobody
    assert not [x for x in Scheduler(HEX).decide(st, [job("peer", 8, priority=-5)], None, T0) if isinstance(x, Preempt)]


@pytest.mark.parametrize("nodes", [2, 80])  # 80 > LIST_NODES: the victim search and the reservation on arrays
def test_victims_and_reservation_on_a_pool_of_few_or_many_nodes(nodes: int) -> None:
    st = ClusterState.from_fleet(fleet(site("s", pools=[pool(acc="A100", nodes=nodes)])), [tenant()])
    for k in range(nodes - 2):  # every node but the last two held by jobs nothing may preempt
        st.start_job(
            job(f"fill{k}", 8, duration_s=7200.0 + k), Start(f"fill{k}", "s", "p0", 1, 8, node_indices=(k,)), T0
        )
    old = job("old", 8, duration_s=86400.0, preemptible=True, checkpoint_interval_s=3600.0, priority=-5)
    fresh = job("fresh", 8, duration_s=86400.0, preemptible=True, checkpoint_interval_s=3600.0, priority=-5)
    st.start_job(old, Start("old", "s", "p0", 1, 8, node_indices=(nodes - 2,)), T0 - 3000)
    st.start_job(fresh, Start("fresh", "s", "p0", 1, 8, node_indices=(nodes - 1,)), T0 - 3700)
    d = Scheduler(HEX).decide(st, [job("urgent", 8, priority=50)], None, T0)
    assert [x.job_id for x in d if isinstance(x, Preempt)] == ["fresh"]  # the one that loses least work
    started = by_job(d)["urgent"]
    assert isinstance(started, Start) and started.node_indices == (nodes - 1,)
    # an equal-priority job preempts nobody: it waits, with the reservation on the node freed first
    waiting = by_job(Scheduler(HEX).decide(st, [job("peer", 8, priority=-5)], None, T0))["peer"]
    assert isinstance(waiting, NotNow) and waiting.reason is ReasonCode.CAPACITY
    assert waiting.reserved_start_s == min(rj.walltime_end_s for rj in st.running.values())


def test_preemption_guards_against_ping_pong() -> None:
    """No eviction for a preemptible job, none of a job that just started, and victims only as many as needed."""
    st = ClusterState.from_fleet(fleet(site("s", pools=[pool(acc="A100", nodes=3)])), [tenant()])
    a = job("a", 8, duration_s=86400.0, preemptible=True, priority=-5)
    b = job("b", 8, duration_s=86400.0, preemptible=True, priority=-5)
    c = job("c", 8, duration_s=86400.0, preemptible=True, priority=-5)
    st.start_job(a, Start("a", "s", "p0", 1, 8), T0 - 7200)
    st.start_job(b, Start("b", "s", "p0", 1, 8), T0 - 7200)
    st.start_job(c, Start("c", "s", "p0", 1, 8), T0 - 60)  # started a minute ago: protected
    sched = Scheduler(HEX)
    # a preemptible high-priority job could be evicted in turn: it waits instead
    d = sched.decide(st, [job("hp", 8, priority=50, preemptible=True)], None, T0)
    assert not [x for x in d if isinstance(x, Preempt)] and by_job(d)["hp"].reason is ReasonCode.CAPACITY
    # 16 GPUs need two nodes: a and b are old enough, c is not; exactly those two are evicted
    d = sched.decide(st, [job("big", 16, priority=50)], None, T0)
    assert sorted(x.job_id for x in d if isinstance(x, Preempt)) == ["a", "b"]
    assert isinstance(by_job(d)["big"], Start)
    # 24 GPUs would need c too: nobody is evicted
    d = sched.decide(st, [job("huge", 24, priority=50)], None, T0)
    assert not [x for x in d if isinstance(x, Preempt)]
    # the minimum run is a setting
    d = Scheduler(HEX.model_copy(update={"preemption_min_run_s": 0.0})).decide(
        st, [job("huge", 24, priority=50)], None, T0
    )
    assert sorted(x.job_id for x in d if isinstance(x, Preempt)) == ["a", "b", "c"]
    # 8 GPUs need one victim only
    d = sched.decide(st, [job("one", 8, priority=50)], None, T0)
    assert len([x for x in d if isinstance(x, Preempt)]) == 1 and isinstance(by_job(d)["one"], Start)


def test_quiet_pass_still_lets_a_blocked_job_preempt_after_the_reservation_is_taken() -> None:
    """``explain_waiting=False`` skips jobs that cannot start, but never one that may preempt its way in."""
    f = fleet(site("a", pools=[pool(acc="A100", nodes=2)]), site("b", pools=[pool(acc="A100", nodes=2)]))
    st = ClusterState.from_fleet(f, [tenant()])
    for sid, dur in (("a", 3600.0), ("b", 86400.0)):
        for k in range(2):
            j = job(f"{sid}{k}", 8, duration_s=dur, preemptible=True, priority=-5)
            st.start_job(j, Start(j.id, sid, "p0", 1, 8), T0 - 7200 + (dur - 3600.0 if sid == "a" else 0.0))
    cfg = HEX.model_copy(update={"queue_order": "fifo"})
    wide = job("wide", 16, preemptible=True, submit_s=T0 - 100)  # first: blocked, cannot preempt, reserves site a
    urgent = job("urgent", 8, priority=50)  # no GPU free anywhere, but it outranks site b's jobs
    explained = Scheduler(cfg).decide(st, [wide, urgent], None, T0)
    assert "reserved a/p0" in by_job(explained)["wide"].message
    quiet = Scheduler(cfg).decide(st, [wide, urgent], None, T0, explain_waiting=False)
    assert quiet == [d for d in explained if not isinstance(d, NotNow)]
    assert [type(d).__name__ for d in quiet] == ["Preempt", "Start"]
    assert quiet[0].job_id in {"b0", "b1"} and quiet[1].job_id == "urgent" and quiet[1].site_id == "b"


def test_a_job_with_no_room_left_may_preempt_even_where_a_cached_view_still_showed_room() -> None:
    """Earlier starts of other shapes fill the reservation's pool during the pass; a later job must be
    told "no room" (and preempt elsewhere), not "held behind the reservation" on room that is gone."""
    f = fleet(site("b", pools=[pool(acc="A100", nodes=2)]), site("c", pools=[pool(acc="A100", nodes=1)]))
    st = ClusterState.from_fleet(f, [tenant()])
    hold = job("hold", 8, duration_s=36000.0)
    st.start_job(hold, Start("hold", "b", "p0", 1, 8, node_indices=(0,)), T0 - 100)
    victim = job("victim", 8, duration_s=86400.0, preemptible=True, priority=-5)
    st.start_job(victim, Start("victim", "c", "p0", 1, 8), T0 - 7200)
    cfg = HEX.model_copy(update={"queue_order": "fifo", "deferral": False})
    queue = [
        job("wide", 16, num_nodes=2, preemptible=True, submit_s=T0 - 40),  # reserves both nodes of b
        job("one", 1, duration_s=3600.0, submit_s=T0 - 30),  # ends before the reservation: backfills b
        job("seven", 7, duration_s=3600.0, submit_s=T0 - 20),  # fills b's last node
        job("urgent", 1, duration_s=72000.0, priority=50, submit_s=T0 - 10),
    ]
    for quiet in (False, True):
        d = Scheduler(cfg).decide(st, queue, None, T0, explain_waiting=not quiet)
        got = by_job(d)
        assert got["one"].site_id == "b" and got["seven"].site_id == "b"
        assert [x.job_id for x in d if isinstance(x, Preempt)] == ["victim"]
        assert isinstance(got["urgent"], Start) and got["urgent"].site_id == "c"


# ----------------------------------------------------------------------------- scenario, config, input errors
def test_built_in_scenario_places_academic_work_on_public_sites() -> None:
    from hexagrid.scenarios.loader import load_scenario

    sc = load_scenario("france-2026")
    st = ClusterState.from_fleet(sc.fleet, sc.tenants)
    spec = job(
        "climate",
        16,
        tenant="climate-ml-toulouse",
        project="weather-emulator",
        residency="FR",
        objective="cost",
        num_nodes=4,
    )
    d = by_job(Scheduler(HEX).decide(st, [spec], None, T0))["climate"]
    assert isinstance(d, Start) and d.site_id in {"jean-zay", "alice-recoque"}
    verdicts = {v.site_id: v for v in explain(job("c", 8, tenant="llm-platform"), st, now_s=T0)}
    assert verdicts["jean-zay"].reason is ReasonCode.ACCESS


def test_presets_and_config_errors() -> None:
    assert SchedulerConfig.preset_names() == ["fifo", "backfill", "hexagrid"]
    assert SchedulerConfig.preset("fifo").backfill == "none"
    with pytest.raises(NotFound, match="presets: fifo, backfill, hexagrid"):
        SchedulerConfig.preset("slurm")
    with pytest.raises(ValueError, match="queue_order"):
        SchedulerConfig(queue_order="lifo")  # type: ignore[arg-type]


def test_duplicate_job_ids_and_bad_time_are_input_errors() -> None:
    st = ClusterState.from_fleet(fleet(site("s")), [tenant()])
    with pytest.raises(InputError, match="job id 'a' appears more than once"):
        Scheduler(HEX).decide(st, [job("a"), job("a")], None, T0)
    with pytest.raises(InputError, match="now_s must be a finite"):
        Scheduler(HEX).decide(st, [job("a")], None, float("nan"))
