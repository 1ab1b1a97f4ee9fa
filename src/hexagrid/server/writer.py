"""Group commit: the hot writes of many concurrent requests (submits, idle heartbeats) in one transaction.

A request hands its write to ``GroupCommitter.run(op, arg)`` and awaits the result; one writer thread
takes every write waiting at that moment, runs each operation once over all its arguments
(``op(conn, args) -> results``, e.g. one multi-row INSERT for all the jobs submitted meanwhile) in a
single transaction, commits, and only then answers each request. So a response still means the
write is durable (PostgreSQL keeps ``synchronous_commit`` on; SQLite commits in WAL mode), while a
burst of N requests costs one transaction, one commit and a few statements instead of N of each, and
no request occupies a worker thread while it waits.

An operation reports an expected refusal of one argument (an unknown project, say) by returning the
exception as that argument's result: the caller raises it. Should a batch fail as a whole (an
unexpected database error), each of its writes is retried alone in its own transaction, so one bad
write fails only its own request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

__all__ = ["BatchOp", "GroupCommitter"]

log = logging.getLogger("hexagrid.server.writer")
T = TypeVar("T")
#: ``op(conn, args)`` -> one result (or exception instance) per argument, in order.
BatchOp = Callable[[Connection, Sequence[Any]], Sequence[Any]]
_MAX_BATCH = 512


class _Item:
    __slots__ = ("arg", "fut", "loop", "op")

    def __init__(self, op: BatchOp, arg: Any, loop: asyncio.AbstractEventLoop, fut: asyncio.Future[Any]) -> None:
        self.op, self.arg, self.loop, self.fut = op, arg, loop, fut


def _deliver(items: list[_Item], results: list[tuple[bool, Any]]) -> None:
    """On the event loop: resolve each waiting request (skipping any that gave up)."""
    for it, (ok, value) in zip(items, results, strict=True):
        if it.fut.done():
            continue
        if ok:
            it.fut.set_result(value)
        else:
            it.fut.set_exception(value)


class GroupCommitter:
    """One writer thread over the engine's pool; ``run`` is awaited by request handlers."""

    def __init__(self, engine: Engine, *, max_batch: int = _MAX_BATCH) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._q: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None  # the writer's own: no pool checkout or ping per batch
        self.batches = 0
        self.writes = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="hexagrid-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def run(self, op: BatchOp, arg: Any) -> Any:
        """Queue one write, wait for the commit of the transaction that carried it, return its result."""
        if self._thread is None:
            raise RuntimeError("the group committer is not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._q.put(_Item(op, arg, loop, fut))
        return await fut

    def _main(self) -> None:
        while True:
            first = self._q.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Item]) -> None:
        try:
            results = self._transaction(batch)
        except Exception as exc:
            if self._conn is not None:  # the connection may be broken: the next batch opens another
                self._conn.invalidate()
                self._conn.close()
                self._conn = None
            if len(batch) > 1:  # find the culprit: each write alone
                for it in batch:
                    self._commit([it])
                return
            log.warning("group commit: a write failed: %s", type(exc).__name__)
            results = [(False, exc)]
        self.batches += 1
        self.writes += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, tuple[list[_Item], list[tuple[bool, Any]]]] = {}
        for it, res in zip(batch, results, strict=True):
            its, rs = by_loop.setdefault(it.loop, ([], []))
            its.append(it)
            rs.append(res)
        for loop, (its, rs) in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_deliver, its, rs)

    def _transaction(self, batch: list[_Item]) -> list[tuple[bool, Any]]:
        groups: dict[BatchOp, list[int]] = {}
        for i, it in enumerate(batch):
            groups.setdefault(it.op, []).append(i)
        results: list[tuple[bool, Any]] = [(False, None)] * len(batch)
        if self._conn is None:
            self._conn = self.engine.connect()
        conn = self._conn
        with conn.begin():
            for op, idx in groups.items():
                got = op(conn, [batch[i].arg for i in idx])
                for i, r in zip(idx, got, strict=True):
                    results[i] = (not isinstance(r, BaseException), r)
        return results
