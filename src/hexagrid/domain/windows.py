"""Weekly availability windows of idle enterprise capacity, such as ``Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00``.

A window opens on each listed day at its start time (in the owner's time zone) and closes at its end
time, on the next day when the end is not after the start. All computation is on POSIX seconds so the
scheduler, the simulator and the agent share one definition.

Times are wall-clock: across a daylight-saving change a night window is an hour shorter or longer in
real time. A window edge inside the hour skipped in spring (02:00-03:00 in Europe/Paris) is read with
the winter offset, i.e. one hour later on the new clock (02:30 acts as 03:30).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["WeeklySchedule", "WeeklyWindow", "parse_windows"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_PART = re.compile(r"^\s*([A-Za-z]{3})(?:\s*-\s*([A-Za-z]{3}))?\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_WEEK_MIN = 7 * 24 * 60


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Open from ``start_min`` for ``length_min`` minutes, both in minutes since Monday 00:00 local."""

    start_min: int
    length_min: int


def _day(token: str, spec: str) -> int:
    t = token.capitalize()
    if t not in _DAYS:
        raise ValueError(f"unknown day {token!r} in {spec!r}; days are {', '.join(_DAYS)}")
    return _DAYS.index(t)


def parse_windows(spec: str) -> list[WeeklyWindow]:
    """Parse ``'Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00'`` into weekly windows.

    Raises ValueError with the offending part and the accepted form.
    """
    windows: list[WeeklyWindow] = []
    parts = [p for p in spec.split(";") if p.strip()]
    if not parts:
        raise ValueError(f"no window in {spec!r}; expected e.g. 'Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00'")
    for part in parts:
        m = _PART.match(part)
        if not m:
            raise ValueError(f"cannot read window {part.strip()!r}; expected 'Mon-Fri 19:00-07:00' (days HH:MM-HH:MM)")
        d0 = _day(m.group(1), part)
        d1 = _day(m.group(2), part) if m.group(2) else d0
        h0, m0, h1, m1 = (int(m.group(i)) for i in range(3, 7))
        if h0 > 23 or m0 > 59 or h1 > 24 or m1 > 59 or (h1 == 24 and m1 != 0):
            raise ValueError(f"bad time in {part.strip()!r}; hours 00-23 (24:00 allowed as an end), minutes 00-59")
        start, end = h0 * 60 + m0, h1 * 60 + m1
        length = end - start if end > start else end + 24 * 60 - start
        days = range(d0, d1 + 1) if d1 >= d0 else [*range(d0, 7), *range(0, d1 + 1)]
        windows.extend(WeeklyWindow(d * 24 * 60 + start, length) for d in days)
    return windows


@lru_cache(maxsize=4096)
def _weeks_around(schedule: WeeklySchedule, monday_local: datetime) -> tuple[tuple[float, float], ...]:
    """Memoised: schedulers and the simulator ask about the same few weeks at every pass."""
    return schedule._weeks_around(monday_local)


@dataclass(frozen=True)
class WeeklySchedule:
    """A set of weekly windows in one time zone; answers "open at t?" and "when does it change?"."""

    windows: tuple[WeeklyWindow, ...]
    timezone: str = "Europe/Paris"

    @classmethod
    def parse(cls, spec: str, timezone: str = "Europe/Paris") -> WeeklySchedule:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}; use an IANA name such as 'Europe/Paris'") from None
        return cls(tuple(parse_windows(spec)), timezone)

    def _intervals_around(self, t_s: float) -> list[tuple[float, float]]:
        """Open intervals [open_s, close_s) in POSIX seconds for the weeks around ``t_s``, merged."""
        local = datetime.fromtimestamp(t_s, ZoneInfo(self.timezone))
        monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        return list(_weeks_around(self, monday.replace(tzinfo=None)))

    def _weeks_around(self, monday_local: datetime) -> tuple[tuple[float, float], ...]:
        tz = ZoneInfo(self.timezone)
        monday = monday_local.replace(tzinfo=tz)
        out: list[tuple[float, float]] = []
        for week in (-1, 0, 1, 2):
            base = monday + timedelta(weeks=week)
            for w in self.windows:
                # wall-clock arithmetic in the zone, then to UTC: DST shifts move the instant, not the label
                start = (base.replace(tzinfo=None) + timedelta(minutes=w.start_min)).replace(tzinfo=tz)
                end = (base.replace(tzinfo=None) + timedelta(minutes=w.start_min + w.length_min)).replace(tzinfo=tz)
                out.append((start.timestamp(), end.timestamp()))
        out.sort()
        merged: list[tuple[float, float]] = []
        for a, b in out:
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return tuple(merged)

    def is_open(self, t_s: float) -> bool:
        return any(a <= t_s < b for a, b in self._intervals_around(t_s))

    def close_after(self, t_s: float) -> float | None:
        """When the window open at ``t_s`` closes (POSIX s), or None if closed at ``t_s``."""
        for a, b in self._intervals_around(t_s):
            if a <= t_s < b:
                return b
        return None

    def span_at(self, t_s: float) -> tuple[float, float, bool]:
        """The span ``[from_s, until_s)`` around ``t_s`` over which the schedule stays open (True) or closed.

        Open: the window holding ``t_s``; closed: the gap between the window before and the one after.
        Lets a caller that asks at many instants answer from one computation until ``until_s``.
        """
        prev_end = -math.inf
        for a, b in self._intervals_around(t_s):
            if t_s < a:
                return prev_end, a, False
            if t_s < b:
                return a, b, True
            prev_end = b
        raise ValueError("schedule has no window after t_s")  # unreachable: four weeks around t_s are listed

    def next_open(self, t_s: float) -> float:
        """The first instant at or after ``t_s`` when a window is open."""
        for a, b in self._intervals_around(t_s):
            if b > t_s:
                return max(a, t_s)
        raise ValueError("schedule has no window")  # unreachable: parse_windows rejects empty specs

    def always_open(self) -> bool:
        """True when the windows cover every minute of the week (overlaps counted once)."""
        covered = bytearray(_WEEK_MIN)
        for w in self.windows:
            start, end = w.start_min % _WEEK_MIN, w.start_min % _WEEK_MIN + min(w.length_min, _WEEK_MIN)
            covered[start : min(end, _WEEK_MIN)] = b"\x01" * (min(end, _WEEK_MIN) - start)
            if end > _WEEK_MIN:  # a window that runs past Sunday midnight continues on Monday
                covered[: end - _WEEK_MIN] = b"\x01" * (end - _WEEK_MIN)
        return covered.count(0) == 0
