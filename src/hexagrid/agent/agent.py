"""The provider agent: registers its node, heartbeats, runs what it is assigned, stops what it is told to.

Four asyncio tasks share one state (:class:`AgentState`, saved to disk after every change):

- **heartbeat**: every interval, sends availability, telemetry and the attempts it holds; applies ``stop``.
- **assignments**: long-polls for work; starts each assignment once its GPUs are free.
- **supervise**: a local tick (no network): notices ended process groups, drives stop signals to their
  deadlines, closes jobs at the availability window's end even when the server is unreachable.
- **report**: ships logs from the acknowledged offsets and reports states; retries until the server
  has them, so nothing is lost while the server restarts or the network is down.

Any network failure only delays reports: jobs keep running, and calls are retried with capped,
jittered exponential backoff. A restarted agent re-registers with its node id and re-adopts the
process groups it finds alive, or reports the ends it finds on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import signal
import time
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import numpy as np

from hexagrid import __version__
from hexagrid.agent.client import (
    AgentClient,
    Assignment,
    NodeUnknown,
    RegisterReply,
    ServerRejected,
    ServerUnavailable,
    StopOrder,
)
from hexagrid.agent.config import AgentConfig, window_clock
from hexagrid.agent.gpus import NvmlReader
from hexagrid.agent.runner import JobRunner, group_members, live_groups, read_chunk
from hexagrid.agent.state import AgentState, FinalState, JobRecord, StateStore
from hexagrid.agent.telemetry import telemetry
from hexagrid.errors import HexagridError

__all__ = ["Agent", "Backoff"]

log = logging.getLogger("hexagrid.agent")

_TICK_S = 0.2
#: A job found running after its window has already closed gets at most this long before SIGKILL.
_LATE_GRACE_S = 1.0
#: Processes a job left behind after its command exited get this long between SIGTERM and SIGKILL.
_LEFTOVER_GRACE_S = 2.0
#: An assignment whose GPUs are still held by another attempt waits at most this long for them.
_GPU_WAIT_S = 120.0
_LOG_CHUNKS_PER_PASS = 32
#: Pause between assignment polls that brought nothing new.
_IDLE_POLL_S = 0.2


class Backoff:
    """Capped exponential backoff with jitter (seeded generator: no hidden global randomness)."""

    def __init__(self, initial_s: float = 0.2, cap_s: float = 10.0, seed: int | None = None) -> None:
        self.initial_s, self.cap_s = initial_s, cap_s
        self._rng = np.random.default_rng(os.getpid() if seed is None else seed)
        self._n = 0

    def next_s(self) -> float:
        base = min(self.cap_s, self.initial_s * (2.0**self._n))
        self._n += 1
        return float(base * self._rng.uniform(0.5, 1.0))

    def reset(self) -> None:
        self._n = 0


def _final_for(reason: str) -> FinalState:
    return "cancelled" if reason == "cancelled" else "preempted"


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).isoformat(timespec="seconds")


class Agent:
    """One node's agent. ``run()`` returns the process exit status."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        client: AgentClient | None = None,
        nvml: NvmlReader | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.client = client or AgentClient(config.server_url, config.token)
        self.nvml = nvml
        self.clock = clock or window_clock()  # window decisions only; deadlines use time.time()
        self.store = StateStore(config.state_dir)
        self.state = AgentState()
        self.runner = JobRunner(config.work_dir, config.state_dir)
        self.pending: dict[str, tuple[Assignment, float]] = {}
        self.done: deque[str] = deque(maxlen=1024)
        self.node_id: str | None = None
        self.heartbeat_s = config.heartbeat_s or 10.0
        self.lost_after_s = 30.0
        self.long_poll_s = 25.0
        self.draining = False
        self._drain_deadline_s = float("inf")
        #: grace of the latest assignment: the node stops offering itself that long before its window closes,
        #: since a job placed then would be stopped at once
        self._last_grace_s = 0.0
        self.detaching = False
        self._exit = asyncio.Event()
        self._report_wake = asyncio.Event()
        self._register_lock = asyncio.Lock()
        self._dirty = False
        self._exit_code = 0
        self._fatal: HexagridError | None = None

    # ---- lifecycle -----------------------------------------------------------------------------------

    async def run(self) -> int:
        self.store.lock()
        try:
            self.state = self.store.load()
            if self.state.server_url not in (None, self.config.server_url):
                log.warning(
                    "state dir was used with %s; registering afresh with %s",
                    self.state.server_url,
                    self.config.server_url,
                )
                self.state.node_id = self.state.node_token = None
            self.state.server_url = self.config.server_url
            self.state.node_name = self.config.node_name
            self.reconcile()
            loop = asyncio.get_running_loop()
            for sig, handler in (
                (signal.SIGTERM, self.drain),
                (signal.SIGINT, self.drain),
                (signal.SIGQUIT, self.detach),
            ):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, handler)
            # the supervise tick runs from the start: re-adopted jobs are watched (and windows kept) even
            # while the server cannot be reached to register
            tasks = [
                asyncio.create_task(self._guard(self._supervise_loop())),
                asyncio.create_task(self._guard(self._connected())),
            ]
            await self._exit.wait()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.save()
            if self._fatal is not None:
                raise self._fatal  # e.g. the server refused the registration: one line, exit 2
            return self._exit_code
        finally:
            await self.client.aclose()
            if self.nvml is not None:
                self.nvml.close()
            self.store.unlock()

    def drain(self) -> None:
        """SIGTERM/SIGINT: stop every job (checkpoint signal, grace), report them, then exit."""
        if self.draining:
            return
        log.info("stopping: preempting %d job(s) and reporting them before exit", len(self._live()))
        self.draining = True
        # reports may wait for an unreachable server; the state file keeps them for the next agent
        self._drain_deadline_s = time.time() + max((r.grace_s for r in self._live()), default=0.0) + 10.0
        for rec in self._live():
            self.request_stop(rec, "preempted", rec.grace_s, "the provider agent is stopping")
        for key in list(self.pending):
            self._refuse(self.pending.pop(key)[0], "preempted", "the provider agent is stopping")
        self._report_wake.set()

    def detach(self) -> None:
        """SIGQUIT: exit at once and leave jobs running, for an upgrade; the restarted agent re-adopts them."""
        log.info("detaching: leaving %d job(s) running for the next agent", len(self._live()))
        self.detaching = True
        self.save()
        self._exit.set()

    # ---- registration --------------------------------------------------------------------------------

    def register_body(self) -> dict[str, Any]:
        c = self.config
        try:
            memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
        except (ValueError, OSError):
            memory_gb = 0.0
        return {
            "node_name": c.node_name,
            "hostname": platform.node(),
            "site_id": c.site,
            "pool_id": c.pool,
            "accelerator": c.gpus.accelerator,
            "gpus": c.gpus.count,
            "gpu_memory_gb": None if c.gpus.memory_gb is None else round(c.gpus.memory_gb, 1),
            "cpus": os.cpu_count() or 1,
            "memory_gb": round(memory_gb, 1),
            "availability": c.availability,
            "timezone": c.timezone,
            "agent_version": __version__,
            "detected_by": c.gpus.detected_by,
            "node_id": self.state.node_id,
        }

    async def register(self) -> RegisterReply:
        """Register (or re-register) the node, retrying while the server is unreachable; a refusal is fatal."""
        async with self._register_lock:
            backoff = Backoff(cap_s=5.0)
            while True:
                body = self.register_body()
                try:
                    reply = await self.client.register(body)
                    break
                except ServerRejected as exc:
                    if body["node_id"] is None or exc.status_code not in (404, 409, 422):
                        raise
                    log.warning("server does not know node %s (%s); registering as a new node", body["node_id"], exc)
                    self.state.node_id = None
                except ServerUnavailable as exc:
                    delay = backoff.next_s()
                    log.warning("cannot register yet (%s); retrying in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
            self.node_id = reply.node_id
            self.state.node_id, self.state.node_token = reply.node_id, reply.node_token
            self.lost_after_s = reply.lost_after_s
            self.long_poll_s = reply.long_poll_s
            hb = self.config.heartbeat_s or reply.heartbeat_interval_s
            self.heartbeat_s = min(hb, reply.lost_after_s / 3.0)
            self.save()
            log.info(
                "registered node %s (%d x %s, %s); heartbeat every %.2f s",
                reply.node_id,
                self.config.gpus.count,
                self.config.gpus.accelerator,
                self.config.gpus.detected_by,
                self.heartbeat_s,
            )
            return reply

    # ---- state ---------------------------------------------------------------------------------------

    def save(self) -> None:
        self.store.save(self.state)
        self._dirty = False

    def _live(self) -> list[JobRecord]:
        return [r for r in self.state.jobs.values() if not r.ended]

    def reconcile(self) -> None:
        """After a restart: re-adopt live groups that are still ours; record the ends of the others."""
        groups = live_groups()
        for key, rec in list(self.state.jobs.items()):
            if rec.ended:
                continue
            if rec.pid is None:  # crashed between recording and starting: the server will deliver it again
                self.runner.forget(rec)
                del self.state.jobs[key]
                continue
            members = groups.get(rec.pid, [])
            if members and self.runner.is_ours(rec, members):
                log.info(
                    "re-adopted job %s attempt %d (pgid %d, %d process(es))",
                    rec.job_id,
                    rec.attempt,
                    rec.pid,
                    len(members),
                )
            else:
                self._finish(rec)
                log.info(
                    "job %s attempt %d ended while the agent was down: %s", rec.job_id, rec.attempt, rec.final_state
                )
        self.save()

    # ---- decisions on jobs ---------------------------------------------------------------------------

    def request_stop(self, rec: JobRecord, reason: str, grace_s: float, message: str | None = None) -> None:
        """Begin (or tighten) a stop: the earliest deadline wins; a cancel overrides a preemption."""
        now = time.time()
        deadline = now + max(0.0, grace_s)
        if rec.stop_deadline_s is None or rec.stop_reason == "leftovers":
            rec.stop_reason, rec.stop_message, rec.stop_requested_at_s = reason, message, now
            rec.stop_deadline_s = deadline
            log.info("stopping job %s attempt %d (%s, grace %.1f s)", rec.job_id, rec.attempt, reason, grace_s)
        else:
            rec.stop_deadline_s = min(rec.stop_deadline_s, deadline)
            if reason == "cancelled":
                rec.stop_reason, rec.stop_message = reason, message
        self.runner.escalate(rec, now)
        self._dirty = True

    def apply_stops(self, orders: list[StopOrder]) -> None:
        for o in orders:
            key = f"{o.job_id}#{o.attempt}"
            rec = self.state.jobs.get(key)
            if rec is not None and not rec.ended:
                self.request_stop(rec, o.reason, o.grace_s, f"stopped by the server ({o.reason})")
            elif key in self.pending:
                self._refuse(self.pending.pop(key)[0], _final_for(o.reason), f"stopped by the server ({o.reason})")

    def accept(self, a: Assignment) -> None:
        """Take an assignment: refuse what cannot run here, queue what waits for GPUs, start the rest."""
        key = f"{a.job_id}#{a.attempt}"
        if key in self.state.jobs or key in self.pending or key in self.done:
            return  # redelivered until our report lands: already ours
        self._last_grace_s = a.grace_s
        n = self.config.gpus.count
        bad = [i for i in a.gpu_indices if not 0 <= i < n]
        if bad or len(set(a.gpu_indices)) != len(a.gpu_indices):
            self._refuse(a, "failed", f"gpu_indices {a.gpu_indices} do not fit this node's GPUs 0-{n - 1}")
            return
        if self.draining:
            self._refuse(a, "preempted", "the provider agent is stopping")
            return
        why = self._window_refusal(a.grace_s)
        if why:
            self._refuse(a, "preempted", why)
            return
        self.pending[key] = (a, time.time())
        self._start_pending()

    def _window_refusal(self, grace_s: float) -> str | None:
        sched = self.config.schedule
        if sched is None:
            return None
        now = self.clock()
        close = sched.close_after(now)
        if close is None:
            return f"node outside its availability window (next opens {_iso(sched.next_open(now))})"
        if close - now <= grace_s + 1.0:
            return f"availability window closes at {_iso(close)}, within the job's grace period"
        return None

    def _refuse(self, a: Assignment, state: FinalState, message: str) -> None:
        log.warning("not running job %s attempt %d: %s", a.job_id, a.attempt, message)
        rec = JobRecord(
            job_id=a.job_id,
            attempt=a.attempt,
            name=a.name,
            kind=a.kind,
            gpu_indices=a.gpu_indices,
            ended=True,
            final_state=state,
            final_message=message,
        )
        self.state.jobs[rec.key] = rec
        self.save()
        self._report_wake.set()

    def _busy_gpus(self) -> dict[int, str]:
        return {i: r.kind for r in self._live() for i in r.gpu_indices}

    def _start_pending(self) -> None:
        for key, (a, since) in list(self.pending.items()):
            busy = self._busy_gpus()
            if any(i in busy for i in a.gpu_indices):
                if time.time() - since > _GPU_WAIT_S:
                    del self.pending[key]
                    self._refuse(
                        a, "preempted", f"GPUs {a.gpu_indices} still held by another job after {_GPU_WAIT_S:.0f} s"
                    )
                continue
            del self.pending[key]
            self._start(a)

    def _start(self, a: Assignment) -> None:
        rec = JobRecord(
            job_id=a.job_id,
            attempt=a.attempt,
            name=a.name,
            kind=a.kind,
            gpu_indices=a.gpu_indices,
            grace_s=a.grace_s,
            checkpoint_signal=a.checkpoint_signal,
        )
        self.runner.prepare(rec)
        self.state.jobs[rec.key] = rec
        self.save()  # recorded before the fork: a crash in between is cleaned up by reconcile()
        try:
            self.runner.start(rec, a.setup, a.run, a.env)
        except OSError as exc:
            rec.ended, rec.final_state, rec.final_message = True, "failed", f"cannot start the job: {exc}"
        else:
            rec.started_at_s = time.time()
            log.info("started job %s attempt %d (pgid %d) on GPUs %s", a.job_id, a.attempt, rec.pid, a.gpu_indices)
        self.save()
        self._report_wake.set()

    def _finish(self, rec: JobRecord) -> None:
        """Nothing of the group is left: decide the final state from the stop reason or the exit status."""
        code = self.runner.exit_code(rec)
        rec.ended, rec.exit_code, rec.ended_at_s = True, code, time.time()
        if rec.stop_reason in (None, "leftovers"):
            if code == 0:
                rec.final_state, rec.final_message = "succeeded", None
            elif code is None:
                rec.final_state = "failed"
                rec.final_message = "the job ended while the agent was down and left no exit status"
            else:
                rec.final_state, rec.final_message = "failed", f"exit code {code}"
        else:
            rec.final_state = _final_for(rec.stop_reason)
            rec.final_message = rec.stop_message or f"stopped ({rec.stop_reason})"
        log.info("job %s attempt %d ended: %s (exit code %s)", rec.job_id, rec.attempt, rec.final_state, code)
        self._dirty = True
        self._report_wake.set()

    def supervise(self) -> None:
        """One local tick: windows, stop escalation, ends, pending starts. No network."""
        now, wall = self.clock(), time.time()
        sched = self.config.schedule
        is_open = sched is None or sched.is_open(now)
        close = sched.close_after(now) if sched is not None and is_open else None
        groups = live_groups()
        for rec in self._live():
            members = self.runner.members(rec, groups)
            if not members:
                self._finish(rec)
                continue
            # the window binds every job, including one already stopping with a longer grace from the server
            window_grace = None
            if not is_open:
                window_grace, why = min(rec.grace_s, _LATE_GRACE_S), "availability window closed"
            elif close is not None and close - now <= rec.grace_s:
                window_grace, why = close - now, f"availability window closes at {_iso(close)}"
            if window_grace is not None and (
                rec.stop_deadline_s is None
                or rec.stop_reason == "leftovers"
                or rec.stop_deadline_s > wall + window_grace + 0.05  # tolerance: clocks read a moment apart
            ):
                self.request_stop(rec, "preempted", window_grace, why)
            elif rec.stop_deadline_s is None and self.runner.wrapper_done(rec) and group_members(rec.pid or 0):
                self.request_stop(
                    rec, "leftovers", min(rec.grace_s, _LEFTOVER_GRACE_S), "processes left behind by the job"
                )
            if rec.stop_deadline_s is not None:
                n = len(rec.signals_sent)
                # one tick ahead: the SIGKILL lands before the deadline, not up to a tick after it
                self.runner.escalate(rec, wall + _TICK_S)
                self._dirty |= len(rec.signals_sent) != n
        if self.pending:
            self._start_pending()
        if self.draining and ((not self.state.jobs and not self.pending) or wall > self._drain_deadline_s):
            self._exit.set()
        if self._dirty:
            self.save()

    # ---- reports -------------------------------------------------------------------------------------

    def heartbeat_body(self) -> dict[str, Any]:
        available = not self.draining and self._window_refusal(self._last_grace_s) is None
        readings = self.nvml.read() if self.nvml is not None else None
        held = [
            {"job_id": r.job_id, "attempt": r.attempt, "pid": None if r.ended else r.pid}
            for r in self.state.jobs.values()
        ]
        held += [{"job_id": a.job_id, "attempt": a.attempt, "pid": None} for a, _ in self.pending.values()]
        return {
            "available": available,
            "telemetry": telemetry(self.config.accelerator, self.config.gpus.count, self._busy_gpus(), readings),
            "running": held,
        }

    async def _ship_logs(self, rec: JobRecord, final: bool) -> None:
        """Send each stream from its acknowledged offset; once the job has ended (``final``), to the end."""
        assert self.node_id is not None
        for stream in ("stdout", "stderr"):
            path = self.runner.log_path(rec, stream)
            for _ in range(1_000_000 if final else _LOG_CHUNKS_PER_PASS):
                offset = rec.log_offsets.get(stream, 0)
                data, n = read_chunk(path, offset, final=final)
                if n == 0:
                    break
                ok = await self.client.send_logs(
                    self.node_id, rec.job_id, {"attempt": rec.attempt, "stream": stream, "offset": offset, "data": data}
                )
                self._dirty = True
                if not ok:
                    log.warning("server refuses logs of job %s attempt %d; dropping them", rec.job_id, rec.attempt)
                    rec.log_offsets[stream] = path.stat().st_size if path.exists() else offset + n
                    break
                rec.log_offsets[stream] = offset + n

    async def report_once(self) -> None:
        """Ship logs and states of every attempt; raises ServerUnavailable to be retried later."""
        assert self.node_id is not None
        for rec in list(self.state.jobs.values()):
            if rec.pid is not None and not rec.running_reported:
                ok = await self.client.report_state(
                    self.node_id,
                    rec.job_id,
                    {"attempt": rec.attempt, "state": "running", "exit_code": None, "message": None},
                )
                rec.running_reported, self._dirty = True, True
                if not ok and not rec.ended:
                    self.request_stop(
                        rec, "unknown", min(rec.grace_s, _LEFTOVER_GRACE_S), "the server no longer expects this attempt"
                    )
            ended = rec.ended  # read before any await: an end seen now means the logs are complete
            if rec.pid is not None:
                await self._ship_logs(rec, final=ended)
            if ended:
                await self.client.report_state(
                    self.node_id,
                    rec.job_id,
                    {
                        "attempt": rec.attempt,
                        "state": rec.final_state,
                        "exit_code": rec.exit_code,
                        "message": rec.final_message,
                    },
                )
                del self.state.jobs[rec.key]
                self.done.append(rec.key)
                self.runner.forget(rec)
                self._dirty = True
        if self._dirty:
            self.save()

    # ---- loops ---------------------------------------------------------------------------------------

    async def _guard(self, loop: Coroutine[Any, Any, None]) -> None:
        """A bug in one loop ends the agent (exit 1) instead of leaving it half-alive; jobs keep running and
        the restarted agent (systemd Restart=always) re-adopts them from the state file."""
        try:
            await loop
        except asyncio.CancelledError:
            raise
        except HexagridError as exc:  # an operator's problem (a refused registration): reported as one line
            self._fatal = exc
            self._exit.set()
        except Exception:
            log.exception("internal error; exiting so the service manager restarts the agent")
            self._exit_code = 1
            self._exit.set()

    def _backoff(self) -> Backoff:
        return Backoff(initial_s=0.2, cap_s=max(0.25, min(10.0, self.lost_after_s / 4.0)))

    async def _connected(self) -> None:
        """Register, then run the three network loops until the agent exits."""
        await self.register()
        await asyncio.gather(self._heartbeat_loop(), self._assignment_loop(), self._report_loop())

    async def _heartbeat_loop(self) -> None:
        backoff = self._backoff()
        while True:
            try:
                assert self.node_id is not None
                reply = await self.client.heartbeat(self.node_id, self.heartbeat_body())
                backoff.reset()
                self.apply_stops(reply.stop)
                if self._dirty:
                    self.save()
                await asyncio.sleep(self.heartbeat_s)
            except NodeUnknown as exc:
                log.warning("server does not know this node any more (%s); registering again", exc)
                await self.register()
            except ServerUnavailable as exc:
                delay = min(backoff.next_s(), self.heartbeat_s)
                log.warning("heartbeat failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)

    async def _assignment_loop(self) -> None:
        backoff = self._backoff()
        while True:
            try:
                assert self.node_id is not None
                reply = await self.client.assignments(self.node_id, self.long_poll_s)
                backoff.reset()
                self.apply_stops(reply.stop)
                known = len(self.state.jobs) + len(self.pending) + len(self.done)
                for a in reply.assignments:
                    self.accept(a)
                if self._dirty:
                    self.save()
                if len(self.state.jobs) + len(self.pending) + len(self.done) == known:
                    # nothing new (an empty poll, or redeliveries until our reports land): do not hammer the server
                    await asyncio.sleep(_IDLE_POLL_S)
            except NodeUnknown:
                await asyncio.sleep(self.heartbeat_s)  # the heartbeat loop re-registers
            except ServerUnavailable as exc:
                delay = backoff.next_s()
                log.debug("assignments poll failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)

    async def _supervise_loop(self) -> None:
        while True:
            self.supervise()
            await asyncio.sleep(_TICK_S)

    async def _report_loop(self) -> None:
        backoff = self._backoff()
        while True:
            try:
                await self.report_once()
                backoff.reset()
                self._report_wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._report_wake.wait(), timeout=0.5)
            except NodeUnknown:
                await asyncio.sleep(self.heartbeat_s)  # the heartbeat loop re-registers
            except ServerUnavailable as exc:
                delay = backoff.next_s()
                log.debug("reports failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
