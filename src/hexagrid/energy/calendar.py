"""Mapping the scheduler's clock (POSIX seconds, UTC) onto the hours of a carbon trace.

Rule (documented in docs/energy.md):

1. An *anchor* instant (the scenario's start date for a simulation; "now" for a live run; by default the
   trace's own start) is placed on a data hour. If the anchor lies inside the data, that is its own hour.
   Otherwise it goes to the same calendar slot of the data's first year — same month, day and hour
   (29 February -> 28 February) — so a 2026 simulation replays 2022's seasons and daily cycle.
2. From there time runs on linearly: ``data hour = anchor hour + floor((t_s - anchor_s) / 3600)``.
3. Past the end of the data (or before its start) the index wraps around modulo the data length. That is
   explicit: :meth:`CalendarMapping.wraps` counts how many times a span crosses the end, and
   :meth:`describe` says so in words, so a run can report that it replayed the data more than once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt

from hexagrid.energy.carbon import CarbonTrace
from hexagrid.errors import InputError

__all__ = ["CalendarMapping"]


def _as_utc(when: datetime | date | float) -> datetime:
    if isinstance(when, datetime):
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if isinstance(when, date):
        return datetime(when.year, when.month, when.day, tzinfo=UTC)
    return datetime.fromtimestamp(float(when), UTC)


@dataclass(frozen=True, slots=True)
class CalendarMapping:
    """Where POSIX time ``t_s`` falls in a trace of ``hours`` hours: see the module docstring for the rule.

    ``anchor_s`` is the instant placed at the (fractional) data hour ``anchor_hour``.
    """

    anchor_s: float
    anchor_hour: float
    hours: int
    data_start_s: float

    @classmethod
    def for_trace(cls, trace: CarbonTrace, anchor: datetime | date | float | None = None) -> CalendarMapping:
        """The mapping for ``trace`` with ``anchor`` (a datetime, a date = its 00:00 UTC, or POSIX seconds)."""
        return cls.for_span(trace.start, trace.hours, anchor)

    @classmethod
    def for_span(
        cls, data_start: datetime, hours: int, anchor: datetime | date | float | None = None
    ) -> CalendarMapping:
        if hours <= 0:
            raise InputError(f"a carbon trace needs at least one hour, got hours={hours}")
        start = _as_utc(data_start)
        start_s = start.timestamp()
        if anchor is None:
            return cls(start_s, 0.0, hours, start_s)
        a = _as_utc(anchor)
        a_s = a.timestamp()
        if start_s <= a_s < start_s + hours * 3600:
            return cls(a_s, (a_s - start_s) / 3600.0, hours, start_s)
        day = 28 if (a.month, a.day) == (2, 29) else a.day
        slot = datetime(start.year, a.month, day, a.hour, a.minute, a.second, a.microsecond, tzinfo=UTC)
        h = (slot.timestamp() - start_s) / 3600.0
        return cls(a_s, h % hours, hours, start_s)

    def data_hours(self, t_s: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Continuous, unwrapped data-hour position of ``t_s`` (hour ``h`` covers ``[h, h + 1)``)."""
        return self.anchor_hour + (np.asarray(t_s, dtype=np.float64) - self.anchor_s) / 3600.0

    def hour_index(self, t_s: float) -> int:
        """Index (wrapped into ``[0, hours)``) of the data hour holding ``t_s``."""
        return int(np.floor(self.anchor_hour + (t_s - self.anchor_s) / 3600.0)) % self.hours

    def hour_indices(self, t_s: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Vectorised :meth:`hour_index`."""
        return np.floor(self.data_hours(t_s)).astype(np.int64) % self.hours

    def wraps(self, t0_s: float, t1_s: float | None = None) -> int:
        """How many passes over the data other than the first one ``[t0_s, t1_s]`` touches (0 = no wrap).

        Pass ``k`` covers data hours ``[k * hours, (k + 1) * hours)``; pass 0 is the data itself.
        """
        t1 = t0_s if t1_s is None else max(t0_s, t1_s)
        a = int(np.floor(float(self.data_hours(t0_s)))) // self.hours
        b = int(np.floor(float(self.data_hours(t1)))) // self.hours
        return (b - a + 1) - (1 if a <= 0 <= b else 0)

    def wrapped(self, t_s: float) -> bool:
        """True when ``t_s`` lies outside the data's first pass (its hour comes from a wrap-around)."""
        h = float(self.data_hours(t_s))
        return not 0 <= h < self.hours

    def to_datetime(self, t_s: float) -> datetime:
        """The data instant that ``t_s`` replays (for labels and reports)."""
        h = float(self.data_hours(t_s)) % self.hours
        return datetime.fromtimestamp(self.data_start_s + h * 3600.0, UTC)

    def describe(self, t0_s: float, t1_s: float) -> str:
        """One sentence on how ``[t0_s, t1_s]`` maps onto the data, naming any wrap-around."""
        a, b = self.to_datetime(t0_s), self.to_datetime(t1_s)
        n = self.wraps(t0_s, t1_s)
        fmt = "%Y-%m-%d %H:%MZ"
        s = (
            f"{_as_utc(t0_s).strftime(fmt)} .. {_as_utc(t1_s).strftime(fmt)} replays carbon data "
            f"{a.strftime(fmt)} .. {b.strftime(fmt)}"
        )
        if n:
            s += f" (wraps around the end of the {self.hours}-hour data {n} time(s))"
        return s
