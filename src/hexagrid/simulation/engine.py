"""The event engine: events ordered by ``(time, priority, sequence)``, and a clock.

Like SimPy's core, the engine only orders events; what they mean lives in the driver. Ties at one
instant break by ``priority`` (finishes free capacity before arrivals ask for it, and both before the
scheduling pass that sees them), then by insertion ``sequence`` so that equal events keep their order
and a run is deterministic. The :class:`Clock` is the seam between simulated and wall-clock time:
:class:`SimClock` jumps, :class:`WallClock` sleeps until the event is due (as SimPy's
``RealtimeEnvironment`` changes only how ``step()`` waits), so the same loop could drive a live run.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

__all__ = ["Clock", "Event", "EventKind", "EventQueue", "SimClock", "WallClock"]


class EventKind(IntEnum):
    """Event kinds; the value is the priority among events at the same instant (lower first)."""

    SITE_OFFLINE = 0  # capacity leaves first: nothing may start on a site that is going away
    WINDOW_CLOSE = 1
    FINISH = 2  # finishing jobs free capacity before anyone asks for it
    FAILURE = 3
    SITE_ONLINE = 4
    WINDOW_OPEN = 5
    SIGNAL = 6  # the hourly carbon/price signal changes
    ARRIVAL = 7
    WAKE = 8  # a deferral runs out
    TICK = 9  # periodic scheduling tick: last, it sees everything that happened at this instant


@dataclass(frozen=True, slots=True)
class Event:
    """One event: what happened and to whom (a job index, a site index, or -1)."""

    kind: EventKind
    target: int = -1
    token: int = 0  # generation of the target when scheduled; a stale event (job preempted since) is dropped


class EventQueue:
    """Events ordered by ``(time_s, priority, sequence)``: a min-heap of distinct times, and per time its
    entries ``(priority, sequence, target, token)``.

    A national replay pushes and pops millions of events at almost never equal times. Keeping the heap
    to plain floats makes each sift compare two floats, not two tuples (about half the cost), and the
    entries are plain tuples, not :class:`Event` objects. :meth:`schedule` and :meth:`pop_due` are that
    fast path; :meth:`push`, :meth:`pop` and :meth:`pop_until` speak :class:`Event` in the same order.
    """

    __slots__ = ("_at", "_n", "_seq", "_times")

    def __init__(self) -> None:
        self._times: list[float] = []  # a heap, each time once
        self._at: dict[float, list[tuple[int, int, int, int]]] = {}  # time -> (priority, sequence, target, token)
        self._seq = 0
        self._n = 0

    def schedule(self, time_s: float, kind: int, target: int = -1, token: int = 0) -> None:
        """Add an event of ``kind`` (an :class:`EventKind` value) for ``target`` at ``time_s``."""
        entries = self._at.get(time_s)
        if entries is None:
            self._at[time_s] = [(kind, self._seq, target, token)]
            heapq.heappush(self._times, time_s)
        else:
            entries.append((kind, self._seq, target, token))
        self._seq += 1
        self._n += 1

    def push(self, time_s: float, event: Event) -> None:
        self.schedule(time_s, int(event.kind), event.target, event.token)

    def peek_time(self) -> float:
        """Time of the next event, or +inf when empty."""
        return self._times[0] if self._times else float("inf")

    def pop(self) -> tuple[float, Event]:
        t = self._times[0]
        entries = self._at[t]
        first = min(entries)
        entries.remove(first)
        if not entries:
            heapq.heappop(self._times)
            del self._at[t]
        self._n -= 1
        return t, Event(EventKind(first[0]), first[2], first[3])

    def pop_due(self, time_s: float) -> list[tuple[int, int, int, int]]:
        """Every entry ``(priority, sequence, target, token)`` due at or before ``time_s`` (the coalesced
        instant), in (time, priority, sequence) order."""
        times = self._times
        if not times or times[0] > time_s:
            return []
        out = self._at.pop(heapq.heappop(times))
        if len(out) > 1:
            out.sort()
        while times and times[0] <= time_s:
            more = self._at.pop(heapq.heappop(times))
            if len(more) > 1:
                more.sort()
            out += more
        self._n -= len(out)
        return out

    def pop_until(self, time_s: float) -> list[Event]:
        """:meth:`pop_due` as :class:`Event` objects."""
        return [Event(EventKind(k), target, token) for k, _, target, token in self.pop_due(time_s)]

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0


class Clock(Protocol):
    """How the loop advances to the next event's time: jump (simulation) or wait (real time)."""

    def now_s(self) -> float: ...

    def advance_to(self, t_s: float) -> None: ...


class SimClock:
    """Simulated time: advancing is instant."""

    __slots__ = ("_now",)

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now_s(self) -> float:
        return self._now

    def advance_to(self, t_s: float) -> None:
        if t_s < self._now:
            raise ValueError(f"time goes forward: cannot move from {self._now} to {t_s}")
        self._now = t_s


class WallClock:
    """Real time, optionally compressed: sleeps until the event is due, then reports the event's time.

    ``factor`` simulated seconds pass per wall second (1.0 = real time). Used for demos and for running
    the simulated loop against live components; never by tests or benchmarks.
    """

    def __init__(self, start_s: float, factor: float = 1.0) -> None:
        if factor <= 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        self._origin_sim = start_s
        self._origin_wall = time.monotonic()
        self._factor = factor
        self._now = start_s

    def now_s(self) -> float:
        return self._now

    def advance_to(self, t_s: float) -> None:
        due_wall = self._origin_wall + (t_s - self._origin_sim) / self._factor
        delay = due_wall - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._now = max(self._now, t_s)
