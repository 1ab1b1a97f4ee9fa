"""Availability windows as sorted numpy interval arrays: O(log n) "open at t?" for the event loop.

:class:`hexagrid.domain.WeeklySchedule` answers from calendar arithmetic (time zones, DST) each call;
the driver and the checker ask at every start and window event, so :class:`WindowTimeline` asks the
schedule once per week of simulated time and answers from the merged intervals after that.
"""

from __future__ import annotations

import numpy as np

from hexagrid.domain import WeeklySchedule

__all__ = ["WindowTimeline"]

_WEEK_S = 7 * 86400.0


class WindowTimeline:
    """The open intervals ``[open_s, close_s)`` of one schedule, extended lazily as time moves on."""

    __slots__ = ("_a", "_b", "_covered_to", "_from", "schedule")

    def __init__(self, schedule: WeeklySchedule, from_s: float) -> None:
        self.schedule = schedule
        self._from = from_s - _WEEK_S
        self._a = np.zeros(0)
        self._b = np.zeros(0)
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
        pieces.extend(zip(self._a.tolist(), self._b.tolist(), strict=True))
        pieces.sort()
        merged: list[list[float]] = []
        for a, b in pieces:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self._a = np.asarray([m[0] for m in merged])
        self._b = np.asarray([m[1] for m in merged])
        self._covered_to = t

    def close_after(self, t_s: float) -> float | None:
        """When the window open at ``t_s`` closes, or None when closed at ``t_s``."""
        self._cover(t_s)
        i = int(np.searchsorted(self._a, t_s, side="right")) - 1
        if i >= 0 and t_s < self._b[i]:
            return float(self._b[i])
        return None

    def is_open(self, t_s: float) -> bool:
        return self.close_after(t_s) is not None

    def next_open(self, t_s: float) -> float:
        """The first instant at or after ``t_s`` when a window is open."""
        self._cover(t_s)
        if self.close_after(t_s) is not None:
            return t_s
        i = int(np.searchsorted(self._a, t_s, side="right"))
        while i >= len(self._a):
            self._cover(self._covered_to)
            i = int(np.searchsorted(self._a, t_s, side="right"))
        return float(self._a[i])
