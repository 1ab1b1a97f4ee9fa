"""The scheduling loop in its own process, so a pass over thousands of jobs never holds the request
path's interpreter lock (measured: passes inside the API process showed up in its latency tails).

The API process owns a multiprocessing ``Event`` (its ``Hub.wake_scheduler`` sets it) and a small
shared array through which the scheduler process reports its figures for ``/metrics`` and
``/healthz``. Agents' long polls re-check the database every second, so an assignment reaches its
agent within a second without a notification across processes. The child exits when its parent
is gone (checked every half second), which releases its PostgreSQL advisory lock or file lock.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from typing import Any

from hexagrid.server.settings import Settings

__all__ = ["SchedulerProcess"]

log = logging.getLogger("hexagrid.server.scheduler")
_SLOTS = 9  # 0-7: the scheduler's figures (Metrics.export), 8: the stop flag
_STOP = 8


class CounterEvent:
    """An event over a shared counter: ``set`` increments it, ``wait`` polls it every 50 ms.

    Not ``multiprocessing.Event``: its ``set`` waits for every registered waiter, so a scheduler
    process killed while waiting hung the API process's shutdown (seen under ``timeout``).
    """

    def __init__(self, counter: Any) -> None:
        self.counter = counter
        self.seen = counter.value

    def set(self) -> None:
        self.counter.value += 1  # a lost increment under a race only delays a pass to the next tick

    def is_set(self) -> bool:
        return bool(self.counter.value != self.seen)

    def clear(self) -> None:
        self.seen = self.counter.value

    def wait(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while not self.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.05, left))
        return True


def _main(settings_json: str, wake_counter: Any, shared: Any, parent_pid: int) -> None:
    from hexagrid.server.accounting import configure_carbon
    from hexagrid.server.app import configure_logging
    from hexagrid.server.context import Hub, ServerContext
    from hexagrid.server.db import Database
    from hexagrid.server.loop import SchedulingLoop

    settings = Settings.model_validate_json(settings_json)
    configure_logging(settings.log_level)
    carbon = configure_carbon(None if (settings.carbon or "none").lower() == "none" else settings.carbon)
    hub = Hub(CounterEvent(wake_counter))
    ctx = ServerContext(settings=settings, db=Database(settings.url, pool_size=5), hub=hub)
    loop = SchedulingLoop(ctx)
    loop.signals = None if carbon is None else carbon.signals
    loop.start()
    try:
        while shared[_STOP] == 0 and os.getppid() == parent_pid:
            ctx.metrics.export(shared)
            time.sleep(0.2)
    finally:
        loop.stop()
        ctx.db.dispose()


@dataclass
class SchedulerProcess:
    """Handle held by the API process."""

    process: Any
    wake: CounterEvent
    shared: Any

    @classmethod
    def start(cls, settings: Settings) -> SchedulerProcess:
        ctx = mp.get_context("spawn")  # a fresh interpreter: no inherited database connections or threads
        counter = ctx.RawValue("q", 0)
        shared = ctx.RawArray("d", _SLOTS)
        proc = ctx.Process(
            target=_main,
            args=(settings.model_dump_json(), counter, shared, os.getpid()),
            name="hexagrid-scheduler",
            daemon=True,
        )
        proc.start()
        return cls(proc, CounterEvent(counter), shared)

    def stop(self, timeout_s: float = 10.0) -> None:
        self.shared[_STOP] = 1.0
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)

    def alive(self) -> bool:
        return bool(self.process.is_alive())
