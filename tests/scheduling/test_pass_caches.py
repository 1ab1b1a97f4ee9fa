"""What the scheduler keeps across passes (or maintains as the state changes) equals what a fresh computation gives."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sched_fleets import T0, DictSignals, fleet, job, pool, site, tenant
from test_properties import NOWS, ZONES, configs, jobs, partly_filled, worlds

from hexagrid.domain import Defer, NotNow, Start
from hexagrid.scheduling import ClusterState, JobQueue, SchedulerConfig, order_queue
from hexagrid.scheduling import scheduler as scheduler_module
from hexagrid.scheduling.rules import PassRules
from hexagrid.scheduling.scheduler import Scheduler, carbon_intensity_by_pool

DAY = 86400.0


def windowed_state() -> ClusterState:
    f = fleet(
        site("a", pools=[pool("x", "H100", 8, 2), pool("y", "L40S", 4, 2)]),
        site("b", country="DE", pools=[pool("z", "A100", 8, 2)], online_until=date(2026, 1, 3)),
        site(
            "c",
            country="BE",
            kind="enterprise_idle",
            pools=[pool("w", "A100", 8, 1)],
            availability="Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00",
            online_from=date(2026, 1, 2),
        ),
    )
    return ClusterState.from_fleet(f, [tenant(), tenant("beta", fair_share_weight=3.0)])


@pytest.mark.parametrize("direction", [1, -1])
def test_pass_rules_shared_within_their_span_equal_fresh_rules(direction: int) -> None:
    """Times cross site online/offline bounds and window opens/closes, forwards and backwards."""
    ix = windowed_state().ix
    times = [T0 + k * 1800.0 for k in range(0, 7 * 48)]
    renewed = 0
    last = None
    for t in times[::direction]:
        shared, fresh = PassRules.at(ix, t), PassRules(ix, t)
        assert shared.valid_from_s <= t < shared.valid_until_s
        for name in ("online", "site_open", "site_close_s", "pool_online", "pool_open", "pool_close_s", "pass_ok"):
            assert np.array_equal(getattr(shared, name), getattr(fresh, name)), (name, t)
        assert shared.pass_key == fresh.pass_ok.tobytes()
        renewed += shared is not last
        last = shared
    assert 4 < renewed < len(times) // 4  # shared within spans, renewed at every change
    with pytest.raises(ValueError):
        PassRules.at(ix, T0).pass_ok[0] = False  # shared: read-only


def test_site_events_follow_starts_finishes_preemptions_and_copies() -> None:
    st = windowed_state()
    rng = np.random.default_rng(3)
    ix = st.ix
    copies: list[ClusterState] = []
    for k in range(60):
        if st.running and rng.random() < 0.4:
            jid = sorted(st.running)[int(rng.integers(len(st.running)))]
            (st.preempt_job if rng.random() < 0.5 else st.finish_job)(jid, T0 + k)
        else:
            p = int(rng.integers(ix.n_pools))
            free = st.node_free[ix.pool_offset[p] : ix.pool_offset[p + 1]]
            node = int(free.argmax())
            g = int(free[node])
            if g == 0:
                continue
            site_id, pool_id = ix.site_ids[int(ix.pool_site[p])], ix.pool_ids[p]
            st.start_job(job(f"j{k}", g), Start(f"j{k}", site_id, pool_id, 1, g, node_indices=(node,)), T0 + k)
        if k % 20 == 19:
            copies.append(st)
            st = st.copy()  # the copy changes from here on, the original must not
        for state in (st, *copies):
            for s in range(ix.n_sites):
                expected = [
                    (jid, (rj.walltime_end_s, rj.pool, rj.node_indices, rj.gpus_per_node, rj.power_w))
                    for jid, rj in state.running.items()
                    if rj.site == s
                ]
                assert list(state.site_events[s].items()) == expected  # the same releases, in start order


def fresh_fair_share(st: ClusterState) -> np.ndarray:
    """Slurm's classic factor from scratch, F = 2 ** (-U / S), with the state's float operations."""
    w = st.tenants.weight.tolist()
    u = st.tenants.usage_of
    return np.array(
        [
            2.0 ** (-(ui / sum(u) if sum(u) > 0 else 0.0) / (wi / sum(w))) if wi > 0 else 0.0
            for ui, wi in zip(u, w, strict=True)
        ]
    )


def test_fair_share_factors_are_renewed_when_usage_or_weights_change() -> None:
    st = windowed_state()
    assert np.array_equal(st.tenants.fair_share_factors(), fresh_fair_share(st))
    st.start_job(job("u", 8), Start("u", "a", "x", 1, 8, node_indices=(0,)), T0)
    assert np.array_equal(st.tenants.fair_share_factors(), fresh_fair_share(st))
    st.finish_job("u", T0 + 3600.0)
    assert np.array_equal(st.tenants.fair_share_factors(), fresh_fair_share(st))
    before = st.tenants.fair_share_factors()
    st.register_tenant(tenant("beta", fair_share_weight=0.5))  # the same id again: a new weight
    assert not np.array_equal(st.tenants.fair_share_factors(), before)
    assert np.array_equal(st.tenants.fair_share_factors(), fresh_fair_share(st))


def test_tenant_limits_are_renewed_when_a_tenant_registers_again() -> None:
    st = windowed_state()
    cap, flex = st.tenants.limits_of()
    assert (cap, flex) == (st.tenants.cap.tolist(), st.tenants.flex_s.tolist())
    st.register_tenant(tenant("beta", max_gpus=24, flexibility_h=6))  # the same id again: new limits
    i = st.tenants.index["beta"]
    cap, flex = st.tenants.limits_of()
    assert (cap[i], flex[i]) == (24, 6 * 3600.0)
    assert (cap, flex) == (st.tenants.cap.tolist(), st.tenants.flex_s.tolist())


@pytest.mark.parametrize("seed", range(6))
def test_short_queue_order_equals_the_vector_order(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ties in score and submit time (broken by id), unknown tenants, ages past the cap and in the future."""
    st = windowed_state()
    st.start_job(job("u", 8), Start("u", "a", "x", 1, 8, node_indices=(0,)), T0 - DAY)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    jobs = [
        job(
            f"{'abc'[int(rng.integers(3))]}{int(rng.integers(10**6))}-{k}",
            1,
            tenant=["acme", "beta", "ghost"][int(rng.integers(3))],
            submit_s=T0 - float(rng.choice([0.0, 60.0, 3 * DAY, 30 * DAY, -600.0])),
            priority=int(rng.choice([0, 0, 100, -1000, 1000])),
        )
        for k in range(n)
    ]
    q = JobQueue.from_specs(jobs)
    cfg = SchedulerConfig.preset("hexagrid")
    assert cfg.queue_order == "multifactor"
    short = order_queue(q, st, cfg, T0)
    monkeypatch.setattr(scheduler_module, "_SMALL_QUEUE", 0)
    assert short.tolist() == order_queue(q, st, cfg, T0).tolist()


def test_intensity_kept_while_the_zones_values_stay_the_same() -> None:
    st = windowed_state()
    sig = DictSignals({"FR": [50.0, 50.0, 80.0], "DE": [300.0, 300.0, 300.0]})  # BE not covered: the mean
    sched = Scheduler(SchedulerConfig.preset("hexagrid"))
    a = sched.intensity_at(st.ix, sig, T0)
    assert sched.intensity_at(st.ix, sig, T0 + 3600.0) is a  # the same values an hour later
    c = sched.intensity_at(st.ix, sig, T0 + 7200.0)
    assert c is not a
    for t, got in ((T0, a), (T0 + 7200.0, c)):
        assert np.array_equal(got.by_pool, carbon_intensity_by_pool(st.ix, sig, t))
        assert got.by_pool_of == got.by_pool.tolist()
        assert got.key == got.by_pool.tobytes()
    assert np.array_equal(sched.intensity_at(st.ix, None, T0).by_pool, np.zeros(st.ix.n_pools))


def looked_at_by_the_loop(
    bounds: scheduler_module._ScalarBounds | scheduler_module._VectorBounds, ps: scheduler_module._Pass, settled: bool
) -> list[int]:
    """The positions the quiet pass's loop hands to ``_one`` before any start: the bounds' candidates less the jobs
    whose tenant is at its cap and, once settled, those that cannot preempt and may not fit."""
    out = []
    for k in bounds.looked_at(0, settled):
        i = int(bounds.order[k])
        if ps.in_use[bounds.tix_l[i]] > bounds.cap_l[i]:
            continue
        if settled and not bounds.preempts_l[i] and not bounds.may_fit(i, 0):
            continue
        out.append(k)
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_quiet_pass_bounds_in_scalars_equal_the_vector_bounds(data: st.DataObject) -> None:
    """Short queues are bounded in scalars, long ones with vectors: both must say the same of every job (academic
    allocations on public pools, windows, caps, preemption, unknown tenants included), and decide the same."""
    fleet, tenants = data.draw(worlds())
    now = data.draw(st.sampled_from(NOWS))
    cfg = data.draw(configs)
    signals = DictSignals({z: [100.0 + 10 * k for k in range(96)] for z in sorted(set(ZONES.values()))}, now - 86400)
    state, _ = partly_filled(data, fleet, tenants, now, 0, 6)
    queue = JobQueue.from_specs([data.draw(jobs(f"q{i}", now)) for i in range(data.draw(st.integers(1, 30)))])
    sched = Scheduler(cfg)
    ps = scheduler_module._Pass(sched, state, signals, now)
    sg = scheduler_module._Signatures(ps, queue)
    floor = data.draw(st.sampled_from([math.inf, state.min_victim_priority(), 0.0]))
    scalar = scheduler_module._ScalarBounds(sched, ps, queue, sg, floor)
    vector = scheduler_module._VectorBounds(sched, ps, queue, sg, floor)
    for name in ("tix_l", "cap_l", "sig_l", "preempts_l"):
        assert getattr(scalar, name) == getattr(vector, name), name
    assert scalar.any_can_start() == vector.any_can_start()
    ps.materialise()
    order = scheduler_module.order_queue(queue, state, cfg, now)
    assert scalar.live_in(order.tolist()) == vector.live_in(order)
    for settled in (False, True):
        assert looked_at_by_the_loop(scalar, ps, settled) == looked_at_by_the_loop(vector, ps, settled)
    # and whole passes: every queue below forced through each form
    limit = scheduler_module._SCALAR_BOUNDS
    try:
        scheduler_module._SCALAR_BOUNDS = 10**6
        by_scalars = Scheduler(cfg).decide(state, queue, signals, now, explain_waiting=False)
        scheduler_module._SCALAR_BOUNDS = 0
        by_vectors = Scheduler(cfg).decide(state, queue, signals, now, explain_waiting=False)
    finally:
        scheduler_module._SCALAR_BOUNDS = limit
    assert by_scalars == by_vectors
    assert by_scalars == [d for d in Scheduler(cfg).decide(state, queue, signals, now) if not isinstance(d, NotNow)]


@settings(max_examples=60, deadline=None)
@given(
    hours=st.sampled_from([0.0, 1.0, 3.0, 40.0]),
    durations=st.lists(st.sampled_from([600.0, 3600.0, 4 * 3600.0, 30 * 3600.0]), min_size=1, max_size=8),
    preemptible=st.lists(st.booleans(), min_size=8, max_size=8),
    now=st.sampled_from([T0 + 5 * 3600.0, T0 + 23 * 3600.0, T0 + 12 * 3600.0]),
)
def test_scalar_bounds_apply_allocations_and_windows_as_the_vectors_do(
    hours: float, durations: list[float], preemptible: list[bool], now: float
) -> None:
    """Only public and windowed pools, so every job's bound rests on its allocation or its window's closing."""
    f = fleet(
        site("hpc", kind="public_supercomputer", access="academic", pools=[pool("x", "H100", 8, 1)]),
        site(
            "idle",
            kind="enterprise_idle",
            access="both",
            pools=[pool("w", "A100", 8, 1)],
            availability="Mon-Sun 22:00-06:00",
        ),
    )
    lab = tenant("lab", "academic", projects=[{"id": "p", "allocations_gpu_h": {"hpc": hours}}])
    state = ClusterState.from_fleet(f, [lab])
    specs = [
        job(f"j{k}", 4, tenant="lab", project="p", duration_s=d, preemptible=preemptible[k])
        for k, d in enumerate(durations)
    ]
    queue = JobQueue.from_specs(specs)
    sched = Scheduler(SchedulerConfig.preset("hexagrid"))
    ps = scheduler_module._Pass(sched, state, None, now)
    sg = scheduler_module._Signatures(ps, queue)
    scalar = scheduler_module._ScalarBounds(sched, ps, queue, sg, math.inf)
    vector = scheduler_module._VectorBounds(sched, ps, queue, sg, math.inf)
    assert scalar.any_can_start() == vector.any_can_start()
    ps.materialise()
    order = scheduler_module.order_queue(queue, state, sched.config, now)
    assert scalar.live_in(order.tolist()) == vector.live_in(order)
    assert looked_at_by_the_loop(scalar, ps, True) == looked_at_by_the_loop(vector, ps, True)


@pytest.mark.parametrize("explain", [False, True, None])
def test_a_kept_queue_and_scheduler_decide_as_fresh_ones_across_pool_changes(explain: bool | None) -> None:
    """A driver's JobQueue and Scheduler kept over passes in which sites go offline, come online and windows
    open and close (the kept entries by the queue's signature codes are per pool state), and a second queue with
    other codes given to the same scheduler: every pass decides as a fresh scheduler over a fresh queue.
    ``None``: quiet and explaining passes alternate (quiet passes keep the OFFLINE and WINDOW entries, whose
    sentences name a time; an explaining pass must not reuse them)."""
    state = windowed_state()
    kept, q = Scheduler(SchedulerConfig.preset("hexagrid")), JobQueue()
    other = JobQueue()
    n = 0
    for k in range(0, 4 * 24):
        now = T0 + k * 3600.0
        for gpus, acc, tn in ((8, ("A100",), "acme"), (4, (), "beta"), (8, (), "acme"), (16, ("A100",), "beta")):
            spec = job(f"j{n}", gpus, tenant=tn, accelerators=acc, duration_s=5 * 3600.0, submit_s=now)
            n += 1
            (q if n % 3 else other).add(spec)
        for jid, rj in list(state.running.items()):
            if rj.expected_end_s <= now:
                state.finish_job(jid, now)
        for queue in (q, other) if k % 2 else (q,):
            explains = bool(k % 2) if explain is None else explain
            got = kept.decide(state, queue, None, now, explain_waiting=explains)
            fresh = Scheduler(SchedulerConfig.preset("hexagrid")).decide(
                state, JobQueue.from_specs(list(queue)), None, now, explain_waiting=explains
            )
            assert got == fresh, (k, [d for d in got if d not in fresh])
            for d in got:
                if isinstance(d, Start):
                    state.start_job(queue.get(d.job_id).spec, d, now)  # type: ignore[union-attr]
                    queue.remove(d.job_id)
    assert n > 300 and len(state.running) > 0


def test_pair_entries_are_kept_across_passes_over_one_queue() -> None:
    """The entries kept by a queue's signature codes survive from pass to pass while the pools online and open
    stay the same (compiled, the entry sets' tuple is a new object at every call: identity is the dicts'),
    are kept per pool state (windows open and close daily), and are renewed for another queue."""
    state = windowed_state()
    sched, q = Scheduler(SchedulerConfig.preset("hexagrid")), JobQueue()
    key = PassRules.at(state.ix, T0).pass_key
    first = sched.pair_entries(q, sched.entries_for(state.ix, key))
    first[0][0] = first[1][0] = None  # type: ignore[assignment]
    again = sched.pair_entries(q, sched.entries_for(state.ix, key))
    assert again[0] is first[0] and again[1] is first[1] and first[0] is not first[1]
    other_key = PassRules.at(state.ix, T0 + 2 * DAY).pass_key
    assert other_key != key
    assert sched.pair_entries(q, sched.entries_for(state.ix, other_key))[0] == {}
    back = sched.pair_entries(q, sched.entries_for(state.ix, key))  # pool states alternate: each keeps its tables
    assert back[0] is first[0] and back[1] is first[1]
    assert sched.pair_entries(JobQueue(), sched.entries_for(state.ix, key))[0] == {}


class _HourlyCounting(DictSignals):
    """DictSignals that offer ``hour_span`` (or not) and count how often the scheduler reads them."""

    def __init__(self, hourly: dict[str, list[float]], spans: bool) -> None:
        super().__init__(hourly)
        self.spans = spans
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        if name == "hour_span" and self.spans:
            return lambda t: (self.start_s + self._hour(t) * 3600.0, self.start_s + (self._hour(t) + 1) * 3600.0)
        raise AttributeError(name)

    def intensity_g_per_kwh(self, zone: str, t_s: float) -> float:
        self.reads += 1
        return super().intensity_g_per_kwh(zone, t_s)

    def forecast_g_per_kwh(self, zone: str, issued_s: float, hours: int) -> np.ndarray:
        self.reads += 1
        return super().forecast_g_per_kwh(zone, issued_s, hours)


def test_signals_with_an_hour_span_are_read_once_per_hour_with_the_same_decisions() -> None:
    """Passes within one hour share the intensities and forecasts; a new hour reads them again, and a
    scheduler over signals without ``hour_span`` (read every pass) decides the same."""
    values = [100.0] * 6 + [20.0] * 3 + [100.0] * 63  # a dip from 06:00
    st = ClusterState.from_fleet(fleet(site("s", pools=[pool(acc="A100", nodes=64)])), [tenant()])
    spanned, plain = _HourlyCounting({"FR": values}, True), _HourlyCounting({"FR": values}, False)
    a, b = Scheduler(SchedulerConfig.preset("hexagrid")), Scheduler(SchedulerConfig.preset("hexagrid"))
    times = [T0 + 60.0 * k for k in range(10)] + [T0 + 3600.0 + 60.0 * k for k in range(10)]
    for k, now in enumerate(times):
        queue = [job(f"d{k}", 8, deadline_s=T0 + 18 * 3600), job(f"n{k}", 8)]  # one to defer, one to start
        got, want = a.decide(st, queue, spanned, now), b.decide(st, queue, plain, now)
        assert got == want
        assert any(isinstance(d, Defer) for d in got) and any(isinstance(d, Start) for d in got)
    assert spanned.reads == 2 * 2  # one intensity and one forecast an hour, two hours
    assert plain.reads == 2 * len(times)


def test_trace_forecasts_agree_within_their_hour_spans() -> None:
    """The ``hour_span`` contract of the energy package's forecasts: it holds the time asked about, and the
    intensity and the forecast issued are the same anywhere inside it, its ends included (a fractional
    anchor moves the data hours off the clock's hours, on which the noisy forecast also draws)."""
    from hexagrid.energy.carbon import load_carbon
    from hexagrid.energy.forecast import NoisyForecast, PerfectForecast, PersistenceForecast

    trace = load_carbon("builtin:2022")
    rng = np.random.default_rng(3)
    for cls in (PerfectForecast, PersistenceForecast, NoisyForecast):
        sig = cls(trace, anchor=T0 + 1234.5)
        zone = sorted(sig.zones())[0]
        lengths = []
        for t in (T0 + rng.uniform(0, 5 * 86400, 100)).tolist():
            lo, hi = sig.hour_span(t)
            assert lo <= t < hi
            lengths.append(hi - lo)
            want = (sig.intensity_g_per_kwh(zone, t), sig.forecast_g_per_kwh(zone, t, 48))
            for u in (lo, math.nextafter(hi, -math.inf), (lo + hi) / 2):
                got = (sig.intensity_g_per_kwh(zone, u), sig.forecast_g_per_kwh(zone, u, 48))
                assert got[0] == want[0] and np.array_equal(got[1], want[1]), (cls.__name__, t, u)
            # just past the end is the next hour: the intensity's data hour has moved on
            assert sig._h0(hi) != sig._h0(t) or math.floor(hi / 3600.0) != math.floor(t / 3600.0)
        assert min(lengths) > 1000.0  # whole hours, or the parts of an hour the two clocks share


def test_a_pass_copies_the_rows_it_changes_and_keeps_lists_and_arrays_in_step() -> None:
    """A pass reads the state's level rows until it takes from a pool (then copies that row), and keeps its free
    GPUs and watts as lists, built as arrays only when a vector form asks: the state is never written, and lists
    and arrays agree whenever the arrays are built (before, between or after the takes)."""
    state = windowed_state()
    rows_before = [list(r) for r in state.ge_rows()]
    free_before, draw_before = (list(x) for x in state.free_lists())
    for build_after in range(4):
        ps = scheduler_module._Pass(Scheduler(SchedulerConfig.preset("hexagrid")), state, None, T0)
        ps.materialise()
        takes = [(0, (0,), 4), (0, (1,), 8), (1, (0,), 2)]  # (pool, nodes, GPUs per node)
        for k, (p, nodes, g) in enumerate(takes):
            if k == build_after:
                assert ps.pool_free.tolist() == ps.pool_free_of and ps.headroom.tolist() == ps.headroom_of
            ps.take(p, int(ps.site_of[p]), nodes, g, 1000.0 * g)
        assert ps.pool_free.tolist() == ps.pool_free_of
        assert ps.headroom.tolist() == ps.headroom_of
        assert ps.ge_rows == ps.ge.tolist()
        assert ps.pool_free_of[0] == free_before[0] - 12 and ps.pool_free_of[1] == free_before[1] - 2
        assert [list(r) for r in state.ge_rows()] == rows_before == state.ge.tolist()
        assert [list(x) for x in state.free_lists()] == [free_before, draw_before]


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.sampled_from([10.0, 20.0, 20.0, 35.5, 0.0, math.nan, math.inf]), min_size=2, max_size=30),
    data=st.data(),
)
def test_greenest_start_in_scalars_equals_numpy_argmin(values: list[float], data: st.DataObject) -> None:
    """The deferral's choice of start hour: the same hour (first among equal means, or the first NaN) and the same
    floats as the vector form it replaced."""
    fc = np.array(values)
    cs = np.zeros(len(fc) + 1)
    np.cumsum(fc, out=cs[1:])
    length = data.draw(st.integers(1, len(fc) - 1))
    k_max = data.draw(st.integers(1, len(fc) - length))
    with np.errstate(invalid="ignore"):  # inf - inf in the sums: a NaN mean, as the scheduler meets it
        means = (cs[length : k_max + length + 1] - cs[: k_max + 1]) / length
    k = int(means.argmin())
    got = scheduler_module._greenest_start(cs[: k_max + length + 1].tolist(), length, k_max)
    assert got[0] == k
    np.testing.assert_array_equal(np.array(got[1:]), np.array([means[0], means[k]]))
