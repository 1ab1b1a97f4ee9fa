"""The simulation driver: replays jobs over a fleet, calling the scheduler exactly as the live controller does.

Loop: advance the clock to the next instant that holds an event (the next arrival from the job stream or
the top of the heap), apply every event at that instant (finishes, failures, window and site changes,
signal hours, arrivals, deferral wake-ups), then run ONE scheduling pass if anything changed — events at
one instant are coalesced — and apply its decisions to the cluster state: starts schedule their finish
(or failure), preemptions put the job back in the queue with the work since its last checkpoint lost,
deferrals park the job until its wake-up. A periodic tick re-runs the pass while jobs wait, so that
time-dependent rules (windows, deadlines, reservations) are re-evaluated even when nothing arrives.

Arrivals are not pushed on the heap: jobs come sorted by submit time from an iterator, and the loop
merges that stream with the heap, so a million-job trace costs no million heap entries and no million
``JobSpec`` objects at once. Every start is re-checked by an independent :class:`ConstraintChecker`.
Run segments (job, pool, start, end, GPUs) are kept as flat arrays; energy, carbon, cost and heat are
accounted vectorised at the end (:mod:`hexagrid.simulation.metrics`).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from hexagrid.domain import CarbonSignals, Defer, JobSpec, NotNow, Preempt, Start, Tenant
from hexagrid.errors import HexagridError
from hexagrid.gcpause import gc_paused
from hexagrid.scheduling.queue import JobQueue, JobRow
from hexagrid.scheduling.state import ClusterState
from hexagrid.simulation.checker import ConstraintChecker
from hexagrid.simulation.engine import Clock, EventKind, EventQueue
from hexagrid.simulation.fleetindex import KIND_CODE_BY_ID, KIND_CODES, FleetIndex
from hexagrid.simulation.runtime import RuntimeModel, speed_factor
from hexagrid.simulation.windows import WindowTimeline

__all__ = ["DecideFn", "RunResult", "SimConfig", "Simulator"]


class DecideFn(Protocol):
    """What the driver needs of a scheduler: ``Scheduler.decide`` (asked to leave NotNow decisions out)."""

    def __call__(self, state: Any, queue: Any, signals: Any, now_s: float, *, explain_waiting: bool) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Knobs of one run. Times in seconds."""

    tick_s: float = 900.0  # periodic pass while jobs wait (15 min of simulated time)
    signal_step_s: float = 3600.0  # carbon/price signals change hourly
    restart_cost_s: float = 300.0  # reload after a preemption or a failure (estimate: 5 min)
    failure_rate_per_gpu_h: float = 0.0  # off by default; e.g. 1e-5 = one failure per 100,000 GPU-hours
    horizon_s: float = 60 * 86400.0  # stop this long after the last arrival even if jobs still wait
    #: batch passes: at most one per this many seconds (0 = a pass at every instant with a change). Like
    #: Slurm's scheduling interval; large runs use it to bound the number of passes.
    min_pass_interval_s: float = 0.0
    seed: int = 0

    def __reduce__(self) -> tuple[type[SimConfig], tuple[Any, ...]]:
        # pickled to each policy's worker process; compiled by mypyc, a frozen dataclass unpickles only this way
        return (SimConfig, tuple(getattr(self, f.name) for f in fields(self)))


@dataclass
class RunResult:
    """What one run produced: per-job arrays (index = arrival order), run segments, pass samples, checks."""

    n_jobs: int
    start_s: float
    end_s: float
    job_ids: list[str]
    tenant_ids: list[str]
    submit_s: npt.NDArray[np.float64]
    first_start_s: npt.NDArray[np.float64]
    end_time_s: npt.NDArray[np.float64]
    ref_duration_s: npt.NDArray[np.float64]
    gpus: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    tenant: npt.NDArray[np.int32]
    deadline_s: npt.NDArray[np.float64]
    preemptions: npt.NDArray[np.int32]
    failures: npt.NDArray[np.int32]
    last_pool: npt.NDArray[np.int32]
    run_s: npt.NDArray[np.float64]
    seg_job: npt.NDArray[np.int64]
    seg_pool: npt.NDArray[np.int64]
    seg_start_s: npt.NDArray[np.float64]
    seg_end_s: npt.NDArray[np.float64]
    seg_gpus: npt.NDArray[np.int64]
    pass_time_s: npt.NDArray[np.float64]
    pass_queue_len: npt.NDArray[np.int64]
    site_peak_facility_w: npt.NDArray[np.float64]
    events: int
    passes: int
    decisions: dict[str, int]
    violations: dict[str, Any]


_PERIODIC, _BATCH, _AGAIN = 0, 1, 2  # TICK targets: the periodic tick, a batched pass, a re-pass after preemptions
# event kinds as plain ints, as the heap holds them
_FINISH, _FAILURE, _TICK, _SIGNAL, _WAKE = (
    int(EventKind.FINISH),
    int(EventKind.FAILURE),
    int(EventKind.TICK),
    int(EventKind.SIGNAL),
    int(EventKind.WAKE),
)
_WINDOW_CLOSE, _WINDOW_OPEN, _SITE_OFFLINE, _SITE_ONLINE = (
    int(EventKind.WINDOW_CLOSE),
    int(EventKind.WINDOW_OPEN),
    int(EventKind.SITE_OFFLINE),
    int(EventKind.SITE_ONLINE),
)
_JOB_ENDS: Final = frozenset((_FINISH, _FAILURE))
#: a running job's segment: (pool, start, restarting, job, gpus, site, facility watts); a plain tuple, unpacked
#: by position (a named tuple's field reads are descriptor calls on the replay's hot path)
_Segment = tuple[int, float, bool, JobSpec, int, int, float]


def _column(typecode: str, fill: int | float, n: int) -> memoryview[Any]:
    """``n`` items of ``fill`` in a typed array of ``typecode``, as a memoryview over it (``fill`` an int for the
    integer codes: typed ``float`` alone, compiled code would pass 0 as 0.0, which an int array refuses)."""
    return memoryview(array(typecode, [fill]) * n)


def _np(buf: array[Any] | memoryview[Any], dtype: type, n: int | None = None) -> npt.NDArray[Any]:
    """The first ``n`` items (all by default) of a typed array as a numpy array of its item type."""
    n = len(buf) if n is None else n
    return np.frombuffer(buf, dtype=dtype, count=n).copy() if n else np.zeros(0, dtype=dtype)


@dataclass
class Simulator:
    """One policy over one fleet. ``state_factory()`` builds a fresh ``ClusterState``; ``decide`` is the scheduler."""

    index: FleetIndex
    tenants: list[Tenant]
    state_factory: Callable[[], ClusterState]
    decide: DecideFn
    signals: CarbonSignals | None
    start_s: float
    config: SimConfig = field(default_factory=SimConfig)
    clock: Clock | None = None  # None: simulated time, which jumps (no clock object is advanced)
    progress: Callable[[int], None] | None = None  # called with the number of jobs finished so far

    def run(self, n_jobs: int, jobs: Iterator[JobSpec]) -> RunResult:
        """Replay ``n_jobs`` jobs from ``jobs`` (sorted by ``submit_s``, POSIX seconds) to completion or horizon.

        The cyclic garbage collector is paused for the replay, as the scheduler pauses it for a pass: the
        replay keeps a million live objects and makes almost no cycles, so each collection rescans them
        for nothing (a national run of 300,000 jobs: 50 s -> 41 s, the same peak RSS).
        """
        with gc_paused():
            return self._replay(n_jobs, jobs)

    def _replay(self, n_jobs: int, jobs: Iterator[JobSpec]) -> RunResult:
        cfg = self.config
        idx = self.index
        model = RuntimeModel(cfg.restart_cost_s)
        rng = np.random.default_rng(cfg.seed)
        # typed: compiled, the state's and checker's methods are then native calls (an Any, or a bound method kept
        # in a local, is a generic call that parses its arguments every time)
        state: ClusterState = self.state_factory()
        timelines = {
            si: WindowTimeline(sc, self.start_s)
            for si, sc in enumerate(s.schedule for s in idx.sites)
            if sc is not None and not sc.always_open()
        }
        checker = ConstraintChecker(idx, {t.id: t for t in self.tenants}, timelines)
        heap = EventQueue()
        queue = JobQueue()  # kept across passes: rows and columns are derived once per job
        pool_of = idx.pool_index()
        tenant_code: dict[str, int] = {t.id: i for i, t in enumerate(self.tenants)}
        tenant_ids = [t.id for t in self.tenants]
        # reference seconds of work per wall second, by pool and kind code
        speed_of = [[speed_factor(acc, kind) for kind in KIND_CODES] for acc in idx.pool_accelerator]

        # per-job columns, indexed by arrival order: typed arrays, read and written through memoryviews, whose
        # items are plain floats and ints (a numpy scalar access costs several times more, and the loop does ~15 a
        # job; an array's own item assignment parses its argument like a function call, a memoryview's does not)
        nan = math.nan
        submit: memoryview[float] = _column("d", nan, n_jobs)
        first_start: memoryview[float] = _column("d", nan, n_jobs)
        end_time: memoryview[float] = _column("d", nan, n_jobs)
        ref_dur: memoryview[float] = _column("d", 0.0, n_jobs)
        gpus_a: memoryview[int] = _column("q", 0, n_jobs)
        kind_a: memoryview[int] = _column("b", 0, n_jobs)
        tenant_a: memoryview[int] = _column("i", -1, n_jobs)
        deadline: memoryview[float] = _column("d", nan, n_jobs)
        preempt_n: memoryview[int] = _column("i", 0, n_jobs)
        fail_n: memoryview[int] = _column("i", 0, n_jobs)
        last_pool: memoryview[int] = _column("i", -1, n_jobs)
        run_s: memoryview[float] = _column("d", 0.0, n_jobs)
        remaining: memoryview[float] = _column("d", 0.0, n_jobs)  # reference seconds of work left
        # bumps on every stop: stale FINISH/FAILURE events are dropped
        gen: memoryview[int] = _column("q", 0, n_jobs)
        job_ids: list[str] = []

        # live bookkeeping
        pos: dict[str, int] = {}  # job id -> arrival index, for jobs not yet done
        running: dict[int, _Segment] = {}  # by arrival index
        restarting: set[int] = set()
        deferred: dict[int, JobRow] = {}  # parked with their queue rows: a wake-up re-adds the row, not re-derived
        site_power_w = [0.0] * len(idx.sites)
        site_peak_w = [0.0] * len(idx.sites)
        site_jobs = [0] * len(idx.sites)
        pool_site = idx.pool_site.tolist()  # plain lists on the hot path: numpy scalar access is slow
        pool_fac_w = (idx.pool_it_w_per_gpu * idx.site_pue[idx.pool_site][:, None]).tolist()
        seg_job, seg_pool, seg_gpus = array("q"), array("q"), array("q")
        seg_a, seg_b = array("d"), array("d")
        pass_t, pass_q = array("d"), array("q")
        n_start = n_defer = n_preempt = n_not_now = n_forced = 0
        events = passes = done = 0
        progress = self.progress
        restart_cost_s = cfg.restart_cost_s
        failure_rate = cfg.failure_rate_per_gpu_h
        # a stop of any kind releases through finish_job: preempt_job is the same release plus a copy of the
        # record with the work lost, which the driver never reads (requeue works out the work kept itself)

        def stop(j: int, now: float) -> _Segment:
            """End job ``j``'s current segment (finished or not); book it in state, checker and segment arrays."""
            held = running.pop(j)
            pool, t0, _r, _job, g, si, fac_w = held
            jid = job_ids[j]
            state.finish_job(jid, now)
            checker.on_stop(jid, now)
            site_jobs[si] -= 1
            site_power_w[si] = site_power_w[si] - fac_w if site_jobs[si] else 0.0
            seg_job.append(j)
            seg_pool.append(pool)
            seg_gpus.append(g)
            seg_a.append(t0)
            seg_b.append(now)
            run_s[j] += now - t0
            gen[j] += 1
            return held

        def requeue(j: int, now: float, held: _Segment) -> None:
            """Put a job back that ``stop`` ended (``held``: what it returned): work since its last checkpoint
            is lost; it pays a restart next time."""
            pool, t0, was_restart, job = held[:4]
            kept = model.saved_ref_s(
                now - t0, idx.pool_accelerator[pool], job.kind, was_restart, job.checkpoint_interval_s
            )
            remaining[j] = max(remaining[j] - kept, 1.0)
            restarting.add(j)
            queue.add(
                job.model_copy(update={"expected_duration_s": remaining[j] + cfg.restart_cost_s, "walltime_s": None})
            )

        # structural events: sites coming online / going offline, window opens / closes, signal hours
        for si, _site in enumerate(idx.sites):
            a, b = float(idx.site_online_from_s[si]), float(idx.site_online_until_s[si])
            if math.isfinite(a) and a > self.start_s:
                heap.schedule(a, _SITE_ONLINE, si)
            if math.isfinite(b) and b > self.start_s:
                heap.schedule(b, _SITE_OFFLINE, si)

        def push_window(si: int, t: float) -> None:
            sc = timelines[si]
            close = sc.close_after(t)
            if close is not None:
                heap.schedule(close, _WINDOW_CLOSE, si)
            else:
                heap.schedule(sc.next_open(t), _WINDOW_OPEN, si)

        for si in timelines:
            push_window(si, self.start_s)
        if self.signals is not None:
            first_hour = (math.floor(self.start_s / cfg.signal_step_s) + 1) * cfg.signal_step_s
            heap.schedule(first_hour, _SIGNAL)

        arrivals = iter(jobs)
        next_job: JobSpec | None = next(arrivals, None)
        next_submit_s = math.inf if next_job is None else next_job.submit_s  # +inf once every job has arrived
        arrived = 0
        last_arrival_s = self.start_s
        tick_pending = False
        batch_pending = False
        last_pass_s = -math.inf
        dirty = False
        now = self.start_s
        stop_at = math.inf

        interval_s = cfg.min_pass_interval_s
        advance_to = None if self.clock is None else self.clock.advance_to
        while True:
            t_heap = heap.peek_time()
            t = t_heap if t_heap < next_submit_s else next_submit_s
            if t == math.inf or t > stop_at:
                break
            if next_job is None and not len(queue) and not running and not deferred:
                break  # everything arrived has finished: the rest of the heap is windows and signals
            if t < now:
                t = now  # a job submitted before time 0 arrives at time 0
            if advance_to is not None:
                advance_to(t)
            now = t
            window_closed: list[int] | None = None  # sites whose window closed at this instant
            offline: list[int] | None = None  # sites that went offline at this instant
            # an instant of arrivals only (the heap's next time is later) pops nothing: no call
            for k, _seq, target, token in heap.pop_due(now) if t_heap <= now else ():
                events += 1
                if k in _JOB_ENDS:
                    j = target
                    if token != gen[j] or j not in running:
                        continue  # stale: the job was stopped since this was scheduled
                    if k == _FINISH:
                        stop(j, now)
                        end_time[j] = now
                        pos.pop(job_ids[j], None)
                        done += 1
                        if progress is not None and done % 1024 == 0:
                            progress(done)
                    else:
                        held = stop(j, now)
                        fail_n[j] += 1
                        requeue(j, now, held)
                    dirty = True
                elif k == _TICK:
                    if target == _PERIODIC:
                        tick_pending = False
                    elif target == _BATCH:
                        batch_pending = False
                    if len(queue):
                        dirty = True
                elif k == _SIGNAL:
                    if now + cfg.signal_step_s <= stop_at and (
                        len(queue) or running or next_job is not None or deferred
                    ):
                        heap.schedule(now + cfg.signal_step_s, _SIGNAL)
                    if len(queue):
                        dirty = True
                elif k == _WAKE:
                    parked = deferred.pop(target, None)
                    if parked is not None:
                        queue.add(parked)
                        dirty = True
                elif k == _WINDOW_CLOSE:
                    window_closed = [*(window_closed or ()), target]
                    push_window(target, now)
                    dirty = True
                elif k == _WINDOW_OPEN:
                    push_window(target, now)
                    dirty = True
                elif k == _SITE_OFFLINE:
                    offline = [*(offline or ()), target]
                    dirty = True
                elif k == _SITE_ONLINE:
                    dirty = True
            while next_submit_s <= now:
                assert next_job is not None  # next_submit_s is finite only while a job is pending
                spec = next_job.__dict__  # the spec's fields: a pydantic attribute read costs ~2 dict lookups
                j = arrived
                arrived += 1
                events += 1
                jid = spec["id"]
                job_ids.append(jid)
                pos[jid] = j
                submit[j] = last_arrival_s = next_submit_s
                ref_dur[j] = remaining[j] = spec["expected_duration_s"]
                gpus_a[j] = spec["resources"].gpus
                kind_a[j] = KIND_CODE_BY_ID[id(spec["kind"])]
                tenant_a[j] = tenant_code.get(spec["tenant"], -1)
                if spec["deadline_s"] is not None:
                    deadline[j] = spec["deadline_s"]
                queue.add(next_job)
                dirty = True
                next_job = next(arrivals, None)
                if next_job is None:
                    next_submit_s = math.inf
                    stop_at = last_arrival_s + cfg.horizon_s
                else:
                    next_submit_s = next_job.submit_s

            if not dirty:
                pass
            elif interval_s > 0 and now < last_pass_s + interval_s and not window_closed and not offline:
                if not batch_pending:  # too soon after the last pass: batch until the interval is up
                    heap.schedule(last_pass_s + interval_s, _TICK, _BATCH)
                    batch_pending = True
            elif len(queue) or window_closed or offline:
                dirty = False
                last_pass_s = now
                passes += 1
                pass_t.append(now)
                pass_q.append(len(queue))
                waiting = len(queue)
                for d in self.decide(state, queue, self.signals, now, explain_waiting=False):
                    if type(d) is Start:
                        row = queue.remove(d.job_id)
                        if row is None:
                            continue
                        jd = row.spec
                        j = pos[d.job_id]
                        pool = pool_of[(d.site_id, d.pool_id)]
                        kc = kind_a[j]
                        was_restart = j in restarting
                        if was_restart:
                            restarting.discard(j)
                        dur = remaining[j] / speed_of[pool][kc] + (restart_cost_s if was_restart else 0.0)
                        try:
                            rj = state.start_job(jd, d, now)
                        except HexagridError as exc:  # the state refused it: count it, keep the job waiting
                            checker.flag_running(now, jd.id, "rejected_start", str(exc))
                            queue.add(row)
                            if was_restart:
                                restarting.add(j)
                            continue
                        checker.on_start(jd, d, now, dur, rj.node_indices)
                        g = d.nodes * d.gpus_per_node
                        si = pool_site[pool]
                        fac_w = g * pool_fac_w[pool][kc]
                        running[j] = (pool, now, was_restart, jd, g, si, fac_w)
                        last_pool[j] = pool
                        if math.isnan(first_start[j]):
                            first_start[j] = now
                        site_jobs[si] += 1
                        power_w = site_power_w[si] + fac_w
                        site_power_w[si] = power_w
                        if power_w > site_peak_w[si]:
                            site_peak_w[si] = power_w
                        n_start += 1
                        waiting -= 1
                        if failure_rate > 0:
                            ttf = rng.exponential(3600.0 / (failure_rate * g))
                            if ttf < dur:
                                heap.schedule(now + ttf, _FAILURE, j, gen[j])
                                continue
                        heap.schedule(now + dur, _FINISH, j, gen[j])
                    elif type(d) is NotNow:  # a scheduler that explains anyway: counted below all the same
                        continue
                    elif type(d) is Preempt:
                        j2 = pos.get(d.job_id)
                        if j2 is None or j2 not in running:
                            continue
                        held = stop(j2, now)
                        preempt_n[j2] += 1
                        requeue(j2, now, held)
                        n_preempt += 1
                        dirty = True  # freed capacity: the next instant's pass may use it
                    elif type(d) is Defer:
                        row = queue.remove(d.job_id)
                        if row is None:
                            continue
                        j = pos[d.job_id]
                        deferred[j] = row
                        heap.schedule(max(d.until_s, now + 1.0), _WAKE, j)
                        n_defer += 1
                        waiting -= 1
                n_not_now += waiting  # the jobs of this pass that keep waiting
                if dirty:  # preemptions this pass: look again one second later
                    heap.schedule(now + 1.0, _TICK, _AGAIN)
            # whatever still runs where it may not after the pass is stopped by force (and counted)
            for si in (*(window_closed or ()), *(offline or ())) if window_closed or offline else ():
                for j, (_p, _t0, _r, job, _g, job_si, _w) in list(running.items()):
                    if job_si != si:
                        continue
                    rule = "offline" if offline and si in offline else "window"
                    if rule == "window" and job.preemptible:
                        checker.flag_running(
                            now,
                            job.id,
                            rule,
                            f"still running on {idx.site_ids[si]} after its "
                            "window closed (the scheduler did not preempt it)",
                        )
                    elif rule == "window":
                        checker.flag_running(
                            now,
                            job.id,
                            rule,
                            f"non-preemptible job running on {idx.site_ids[si]} when its window closed",
                        )
                    held = stop(j, now)
                    preempt_n[j] += 1
                    requeue(j, now, held)
                    n_forced += 1
                    dirty = True
            if not tick_pending and len(queue):  # a tick is mostly pending: no queue length to ask for
                heap.schedule(now + cfg.tick_s, _TICK, _PERIODIC)
                tick_pending = True

        # jobs still running at the horizon: close their segments there (they count as unfinished)
        for j in list(running):
            stop(j, now)
        if progress is not None:
            progress(done)
        n = arrived
        return RunResult(
            n_jobs=n,
            start_s=self.start_s,
            end_s=now,
            job_ids=job_ids,
            tenant_ids=tenant_ids,
            submit_s=_np(submit, np.float64, n),
            first_start_s=_np(first_start, np.float64, n),
            end_time_s=_np(end_time, np.float64, n),
            ref_duration_s=_np(ref_dur, np.float64, n),
            gpus=_np(gpus_a, np.int64, n),
            kind=_np(kind_a, np.int8, n),
            tenant=_np(tenant_a, np.int32, n),
            deadline_s=_np(deadline, np.float64, n),
            preemptions=_np(preempt_n, np.int32, n),
            failures=_np(fail_n, np.int32, n),
            last_pool=_np(last_pool, np.int32, n),
            run_s=_np(run_s, np.float64, n),
            seg_job=_np(seg_job, np.int64),
            seg_pool=_np(seg_pool, np.int64),
            seg_start_s=_np(seg_a, np.float64),
            seg_end_s=_np(seg_b, np.float64),
            seg_gpus=_np(seg_gpus, np.int64),
            pass_time_s=_np(pass_t, np.float64),
            pass_queue_len=_np(pass_q, np.int64),
            site_peak_facility_w=np.asarray(site_peak_w),
            events=events,
            passes=passes,
            decisions={
                "start": n_start,
                "defer": n_defer,
                "preempt": n_preempt,
                "not_now": n_not_now,
                "forced_stop": n_forced,
            },
            violations=checker.summary(),
        )
