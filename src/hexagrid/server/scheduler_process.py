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
_SLOTS = 8


def _main(settings_json: str, wake: Any, stop: Any, shared: Any, parent_pid: int) -> None:
    from hexagrid.server.accounting import configure_carbon
    from hexagrid.server.app import configure_logging
    from hexagrid.server.context import Hub, ServerContext
    from hexagrid.server.db import Database
    from hexagrid.server.loop import SchedulingLoop

    settings = Settings.model_validate_json(settings_json)
    configure_logging(settings.log_level)
    carbon = configure_carbon(None if (settings.carbon or "none").lower() == "none" else settings.carbon)
    ctx = ServerContext(settings=settings, db=Database(settings.url, pool_size=5), hub=Hub(wake))
    loop = SchedulingLoop(ctx)
    loop.signals = None if carbon is None else carbon.signals
    loop.start()
    try:
        while not stop.is_set() and os.getppid() == parent_pid:
            ctx.metrics.export(shared)
            stop.wait(0.5)
    finally:
        loop.stop()
        ctx.db.dispose()


@dataclass
class SchedulerProcess:
    """Handle held by the API process."""

    process: Any
    wake: Any
    stop_event: Any
    shared: Any

    @classmethod
    def start(cls, settings: Settings) -> SchedulerProcess:
        ctx = mp.get_context("spawn")  # a fresh interpreter: no inherited database connections or threads
        wake, stop = ctx.Event(), ctx.Event()
        shared = ctx.Array("d", _SLOTS, lock=False)
        proc = ctx.Process(
            target=_main,
            args=(settings.model_dump_json(), wake, stop, shared, os.getpid()),
            name="hexagrid-scheduler",
            daemon=True,
        )
        proc.start()
        return cls(proc, wake, stop, shared)

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stop_event.set()
        self.wake.set()
        self.process.join(timeout_s)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)

    def alive(self) -> bool:
        return bool(self.process.is_alive())


def wait_ready(sp: SchedulerProcess, timeout_s: float = 30.0) -> None:
    """Wait until the child has run its first loop iteration (its shared figures are set)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and sp.alive() and sp.shared[1] == 0 and sp.shared[0] == 0:
        time.sleep(0.05)
