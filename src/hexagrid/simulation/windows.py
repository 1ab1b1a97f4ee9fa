"""Availability windows as sorted interval lists: O(log n) "open at t?" for the event loop.

:class:`hexagrid.domain.WeeklySchedule` answers from calendar arithmetic (time zones, DST) each call;
the driver and the checker ask at every start and window event, so :class:`WindowTimeline` asks the
schedule once per week of simulated time and answers from the merged intervals after that (plain lists
searched with :mod:`bisect`: the checker asks at every start on a windowed site, and a numpy search of a
run's intervals costs several times a bisect).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Final

from hexagrid.domain import WeeklySchedule

__all__ = ["WindowTimeline"]

_WEEK_S: Final = 7 * 86400.0


class WindowTimeline:
    """The open intervals ``[open_s, close_s)`` of one schedule, extended lazily as time moves on."""

    __slots__ = ("_a", "_b", "_covered_to", "_from", "schedule")

    def __init__(self, schedule: WeeklySchedule, from_s: float) -> None:
        self.schedule = schedule
        self._from = from_s - _WEEK_S
        self._a: list[float] = []  # opens, sorted
        self._b: list[float] = []  # the matching closes
        self._covered_to = self._from

    def _cover(self, t_s: float) -> None:
        """Make sure intervals are known at least two weeks past ``t_s``."""
        if t_s + 2 * _WEEK_S <= self._covered_to:
            return
        pieces: list[tuple[float, float]] = []
        t = max(self._covered_to, self._from)
        while t <= t_s + 3 * _WEEK_S:
            pieces.extend(self.schedule._intervals_around(t))
            t += _WEEK_S
        pieces.extend(zip(self._a, self._b, strict=True))
        pieces.sort()
        merged: list[list[float]] = []
        for a, b in pieces:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self._a = [m[0] for m in merged]
        self._b = [m[1] for m in merged]
        self._covered_to = t

    def close_after(self, t_s: float) -> float | None:
        """When the window open at ``t_s`` closes, or None when closed at ``t_s``."""
        self._cover(t_s)
        i = bisect_right(self._a, t_s) - 1
        if i >= 0 and t_s < self._b[i]:
            return self._b[i]
        return None

    def is_open(self, t_s: float) -> bool:
        return self.close_after(t_s) is not None

    def next_open(self, t_s: float) -> float:
        """The first instant at or after ``t_s`` when a window is open."""
        self._cover(t_s)
        if self.close_after(t_s) is not None:
            return t_s
        i = bisect_right(self._a, t_s)
        while i >= len(self._a):
            self._cover(self._covered_to)
            i = bisect_right(self._a, t_s)
        return self._a[i]
