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
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from hexagrid.domain import CarbonSignals, Defer, JobSpec, NotNow, Preempt, Start, Tenant
from hexagrid.errors import HexagridError
from hexagrid.gcpause import gc_paused
from hexagrid.scheduling.queue import JobQueue
from hexagrid.simulation.checker import ConstraintChecker
from hexagrid.simulation.engine import Clock, Event, EventKind, EventQueue, SimClock
from hexagrid.simulation.fleetindex import KIND_CODES, FleetIndex
from hexagrid.simulation.runtime import RuntimeModel
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


def _np(buf: array[Any], dtype: type) -> npt.NDArray[Any]:
    return np.frombuffer(buf, dtype=dtype).copy() if len(buf) else np.zeros(0, dtype=dtype)


def _pop(queue: JobQueue, job_id: str) -> JobSpec | None:
    row = queue.remove(job_id)
    return None if row is None else row.spec


@dataclass
class Simulator:
    """One policy over one fleet. ``state_factory()`` builds a fresh ``ClusterState``; ``decide`` is the scheduler."""

    index: FleetIndex
    tenants: list[Tenant]
    state_factory: Callable[[], Any]
    decide: DecideFn
    signals: CarbonSignals | None
    start_s: float
    config: SimConfig = field(default_factory=SimConfig)
    clock: Clock | None = None
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
        state = self.state_factory()
        timelines = {
            si: WindowTimeline(sc, self.start_s)
            for si, sc in enumerate(s.schedule for s in idx.sites)
            if sc is not None and not sc.always_open()
        }
        checker = ConstraintChecker(idx, {t.id: t for t in self.tenants}, timelines)
        clock = self.clock or SimClock(self.start_s)
        heap = EventQueue()
        queue = JobQueue()  # kept across passes: rows and columns are derived once per job
        pool_of = idx.pool_index()
        speed_cache: dict[tuple[int, int], float] = {}
        tenant_code: dict[str, int] = {t.id: i for i, t in enumerate(self.tenants)}
        tenant_ids = [t.id for t in self.tenants]

        # per-job arrays, indexed by arrival order
        submit = np.full(n_jobs, np.nan)
        first_start = np.full(n_jobs, np.nan)
        end_time = np.full(n_jobs, np.nan)
        ref_dur = np.zeros(n_jobs)
        gpus_a = np.zeros(n_jobs, dtype=np.int64)
        kind_a = np.zeros(n_jobs, dtype=np.int8)
        tenant_a = np.full(n_jobs, -1, dtype=np.int32)
        deadline = np.full(n_jobs, np.nan)
        preempt_n = np.zeros(n_jobs, dtype=np.int32)
        fail_n = np.zeros(n_jobs, dtype=np.int32)
        last_pool = np.full(n_jobs, -1, dtype=np.int32)
        run_s = np.zeros(n_jobs)
        remaining = np.zeros(n_jobs)  # reference seconds of work left
        gen = np.zeros(n_jobs, dtype=np.int64)  # bumps on every stop: stale FINISH/FAILURE events are dropped
        job_ids: list[str] = []
        kind_l = [0] * n_jobs

        # live bookkeeping
        pos: dict[str, int] = {}  # job id -> arrival index, for jobs not yet done
        running: dict[int, tuple[int, float, bool, JobSpec, int]] = {}  # j -> (pool, start, restarting, job, gpus)
        restarting: set[int] = set()
        deferred: dict[int, JobSpec] = {}
        site_power_w = [0.0] * len(idx.sites)
        site_peak_w = [0.0] * len(idx.sites)
        site_jobs = [0] * len(idx.sites)
        pool_site = idx.pool_site.tolist()  # plain lists on the hot path: numpy scalar access is slow
        pool_fac_w = (idx.pool_it_w_per_gpu * idx.site_pue[idx.pool_site][:, None]).tolist()
        seg_job, seg_pool, seg_gpus = array("q"), array("q"), array("q")
        seg_a, seg_b = array("d"), array("d")
        pass_t, pass_q = array("d"), array("q")
        decisions = {"start": 0, "defer": 0, "preempt": 0, "not_now": 0, "forced_stop": 0}
        events = passes = done = 0

        def speed(pool: int, kind_code: int) -> float:
            key = (pool, kind_code)
            s = speed_cache.get(key)
            if s is None:
                from hexagrid.simulation.runtime import speed_factor
                from hexagrid.workloads.table import KINDS

                s = speed_factor(idx.pool_accelerator[pool], KINDS[kind_code])
                speed_cache[key] = s
            return s

        def stop(j: int, now: float, completed: bool) -> tuple[int, float, bool, JobSpec, int]:
            """End job ``j``'s current segment; book it in state, checker and segment arrays."""
            pool, t0, was_restart, job, g = running.pop(j)
            if completed:
                state.finish_job(job.id, now)
            else:
                state.preempt_job(job.id, now)
            checker.on_stop(job.id, now)
            si = pool_site[pool]
            site_jobs[si] -= 1
            site_power_w[si] = site_power_w[si] - g * pool_fac_w[pool][kind_l[j]] if site_jobs[si] else 0.0
            seg_job.append(j)
            seg_pool.append(pool)
            seg_gpus.append(g)
            seg_a.append(t0)
            seg_b.append(now)
            run_s[j] += now - t0
            gen[j] += 1
            return pool, t0, was_restart, job, g

        def requeue(j: int, now: float, pool: int, t0: float, was_restart: bool, job: JobSpec) -> None:
            """Put a stopped job back: work since its last checkpoint is lost; it pays a restart next time."""
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
                heap.push(a, Event(EventKind.SITE_ONLINE, si))
            if math.isfinite(b) and b > self.start_s:
                heap.push(b, Event(EventKind.SITE_OFFLINE, si))

        def push_window(si: int, t: float) -> None:
            sc = timelines[si]
            close = sc.close_after(t)
            if close is not None:
                heap.push(close, Event(EventKind.WINDOW_CLOSE, si))
            else:
                heap.push(sc.next_open(t), Event(EventKind.WINDOW_OPEN, si))

        for si in timelines:
            push_window(si, self.start_s)
        if self.signals is not None:
            first_hour = (math.floor(self.start_s / cfg.signal_step_s) + 1) * cfg.signal_step_s
            heap.push(first_hour, Event(EventKind.SIGNAL))

        arrivals = iter(jobs)
        next_job: JobSpec | None = next(arrivals, None)
        arrived = 0
        last_arrival_s = self.start_s
        tick_pending = False
        batch_pending = False
        last_pass_s = -math.inf
        dirty = False
        now = self.start_s
        stop_at = math.inf

        while True:
            t_heap = heap.peek_time()
            t_arr = next_job.submit_s if next_job is not None else math.inf
            t = min(t_heap, t_arr)
            if t == math.inf or t > stop_at:
                break
            if next_job is None and not len(queue) and not running and not deferred:
                break  # everything arrived has finished: the rest of the heap is windows and signals
            if t < now:
                t = now  # a job submitted before time 0 arrives at time 0
            clock.advance_to(t)
            now = t
            window_closed: list[int] = []
            offline: list[int] = []
            for ev in heap.pop_until(now):
                events += 1
                k = ev.kind
                if k is EventKind.FINISH or k is EventKind.FAILURE:
                    j = ev.target
                    if ev.token != gen[j] or j not in running:
                        continue  # stale: the job was stopped since this was scheduled
                    if k is EventKind.FINISH:
                        stop(j, now, True)
                        end_time[j] = now
                        pos.pop(job_ids[j], None)
                        done += 1
                        if self.progress is not None and done % 1024 == 0:
                            self.progress(done)
                    else:
                        pool, t0, was_restart, job, _g = stop(j, now, False)
                        fail_n[j] += 1
                        requeue(j, now, pool, t0, was_restart, job)
                    dirty = True
                elif k is EventKind.TICK:
                    if ev.target == _PERIODIC:
                        tick_pending = False
                    elif ev.target == _BATCH:
                        batch_pending = False
                    if len(queue):
                        dirty = True
                elif k is EventKind.SIGNAL:
                    if now + cfg.signal_step_s <= stop_at and (
                        len(queue) or running or next_job is not None or deferred
                    ):
                        heap.push(now + cfg.signal_step_s, Event(EventKind.SIGNAL))
                    if len(queue):
                        dirty = True
                elif k is EventKind.WAKE:
                    jd = deferred.pop(ev.target, None)
                    if jd is not None:
                        queue.add(jd)
                        dirty = True
                elif k is EventKind.WINDOW_CLOSE:
                    window_closed.append(ev.target)
                    push_window(ev.target, now)
                    dirty = True
                elif k is EventKind.WINDOW_OPEN:
                    push_window(ev.target, now)
                    dirty = True
                elif k is EventKind.SITE_OFFLINE:
                    offline.append(ev.target)
                    dirty = True
                elif k is EventKind.SITE_ONLINE:
                    dirty = True
            while next_job is not None and next_job.submit_s <= now:
                job = next_job
                j = arrived
                arrived += 1
                events += 1
                job_ids.append(job.id)
                pos[job.id] = j
                submit[j] = job.submit_s
                ref_dur[j] = job.expected_duration_s
                remaining[j] = job.expected_duration_s
                gpus_a[j] = job.resources.gpus
                kind_a[j] = kind_l[j] = KIND_CODES[job.kind]
                tenant_a[j] = tenant_code.get(job.tenant, -1)
                if job.deadline_s is not None:
                    deadline[j] = job.deadline_s
                queue.add(job)
                last_arrival_s = job.submit_s
                dirty = True
                next_job = next(arrivals, None)
                if next_job is None:
                    stop_at = last_arrival_s + cfg.horizon_s

            if (
                dirty
                and cfg.min_pass_interval_s > 0
                and now < last_pass_s + cfg.min_pass_interval_s
                and not window_closed
                and not offline
            ):
                if not batch_pending:  # too soon after the last pass: batch until the interval is up
                    heap.push(last_pass_s + cfg.min_pass_interval_s, Event(EventKind.TICK, _BATCH))
                    batch_pending = True
            elif dirty and (len(queue) or window_closed or offline):
                dirty = False
                last_pass_s = now
                passes += 1
                q = queue
                pass_t.append(now)
                pass_q.append(len(q))
                waiting = len(q)
                for d in self.decide(state, q, self.signals, now, explain_waiting=False):
                    if type(d) is Start:
                        jd = _pop(queue, d.job_id)
                        if jd is None:
                            continue
                        j = pos[d.job_id]
                        pool = pool_of[(d.site_id, d.pool_id)]
                        kc = kind_l[j]
                        was_restart = j in restarting
                        restarting.discard(j)
                        dur = remaining[j] / speed(pool, kc) + (cfg.restart_cost_s if was_restart else 0.0)
                        try:
                            rj = state.start_job(jd, d, now)
                        except HexagridError as exc:  # the state refused it: count it, keep the job waiting
                            checker.flag_running(now, jd.id, "rejected_start", str(exc))
                            queue.add(jd)
                            if was_restart:
                                restarting.add(j)
                            continue
                        checker.on_start(jd, d, now, dur, getattr(rj, "node_indices", ()))
                        g = d.gpus
                        running[j] = (pool, now, was_restart, jd, g)
                        last_pool[j] = pool
                        if math.isnan(first_start[j]):
                            first_start[j] = now
                        si = pool_site[pool]
                        site_jobs[si] += 1
                        site_power_w[si] += g * pool_fac_w[pool][kc]
                        if site_power_w[si] > site_peak_w[si]:
                            site_peak_w[si] = site_power_w[si]
                        end = now + dur
                        if cfg.failure_rate_per_gpu_h > 0:
                            ttf = rng.exponential(3600.0 / (cfg.failure_rate_per_gpu_h * g))
                            if ttf < dur:
                                heap.push(now + ttf, Event(EventKind.FAILURE, j, int(gen[j])))
                                decisions["start"] += 1
                                waiting -= 1
                                continue
                        heap.push(end, Event(EventKind.FINISH, j, int(gen[j])))
                        decisions["start"] += 1
                        waiting -= 1
                    elif type(d) is NotNow:  # a scheduler that explains anyway: counted below all the same
                        continue
                    elif type(d) is Preempt:
                        j2 = pos.get(d.job_id)
                        if j2 is None or j2 not in running:
                            continue
                        pool, t0, was_restart, job, _g = stop(j2, now, False)
                        preempt_n[j2] += 1
                        requeue(j2, now, pool, t0, was_restart, job)
                        decisions["preempt"] += 1
                        dirty = True  # freed capacity: the next instant's pass may use it
                    elif type(d) is Defer:
                        jd = _pop(queue, d.job_id)
                        if jd is None:
                            continue
                        j = pos[d.job_id]
                        deferred[j] = jd
                        heap.push(max(d.until_s, now + 1.0), Event(EventKind.WAKE, j))
                        decisions["defer"] += 1
                        waiting -= 1
                decisions["not_now"] += waiting  # the jobs of this pass that keep waiting
                if dirty:  # preemptions this pass: look again one second later
                    heap.push(now + 1.0, Event(EventKind.TICK, _AGAIN))
            # whatever still runs where it may not after the pass is stopped by force (and counted)
            for si in (*window_closed, *offline):
                for j, (pool, _t0, _r, job, _g) in list(running.items()):
                    if pool_site[pool] != si:
                        continue
                    rule = "offline" if si in offline else "window"
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
                    p, t0, was_restart, jb, _g = stop(j, now, False)
                    preempt_n[j] += 1
                    requeue(j, now, p, t0, was_restart, jb)
                    decisions["forced_stop"] += 1
                    dirty = True
            if len(queue) and not tick_pending:
                heap.push(now + cfg.tick_s, Event(EventKind.TICK, _PERIODIC))
                tick_pending = True

        # jobs still running at the horizon: close their segments there (they count as unfinished)
        for j in list(running):
            stop(j, now, False)
        if self.progress is not None:
            self.progress(done)
        n = arrived
        return RunResult(
            n_jobs=n,
            start_s=self.start_s,
            end_s=now,
            job_ids=job_ids,
            tenant_ids=tenant_ids,
            submit_s=submit[:n],
            first_start_s=first_start[:n],
            end_time_s=end_time[:n],
            ref_duration_s=ref_dur[:n],
            gpus=gpus_a[:n],
            kind=kind_a[:n],
            tenant=tenant_a[:n],
            deadline_s=deadline[:n],
            preemptions=preempt_n[:n],
            failures=fail_n[:n],
            last_pool=last_pool[:n],
            run_s=run_s[:n],
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
            decisions=decisions,
            violations=checker.summary(),
        )
