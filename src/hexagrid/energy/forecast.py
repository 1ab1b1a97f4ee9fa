"""Carbon forecasts the scheduler may see: perfect (for bounds), persistence, and noisy.

All three implement :class:`hexagrid.domain.signals.CarbonSignals` over a :class:`CarbonTrace` and a
:class:`CalendarMapping`. The hour in force at ``issued_s`` is known (it is what
``intensity_g_per_kwh`` returns); only later hours are forecast:

* :class:`PerfectForecast` — the true values (an oracle: use it for bounds, never as a claim);
* :class:`PersistenceForecast` — the same hour the day before; further ahead, the last known day repeats
  (hour ``h0 + k`` gets the value of ``h0 + k - 24 * ceil(k / 24)``);
* :class:`NoisyForecast` — truth x (1 + e) with e ~ Normal(0, sigma), sigma = MAPE x sqrt(pi / 2) so that
  E|e| = MAPE; values are clipped at 0. The error is drawn from a Generator seeded by
  (seed, zone, issued hour), so a repeated call gives the same forecast and results are reproducible.

``forecast_g_per_kwh`` is a slice of a padded array (no Python loop over hours), so the scheduler can
call it for every zone in each pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from hexagrid.energy.calendar import CalendarMapping
from hexagrid.energy.carbon import CarbonTrace
from hexagrid.errors import InputError

__all__ = ["ForecastKind", "NoisyForecast", "PerfectForecast", "PersistenceForecast", "forecast_mape", "make_signals"]

ForecastKind = Literal["perfect", "persistence", "noisy"]

#: Hours of look-back kept before the data start for persistence at the very start (wrapped from the end).
_BACK = 24


def _clock_hour(t_s: float) -> int:
    return math.floor(t_s / 3600.0)


def _span(hour_of: Callable[[float], int], t_s: float, start_s: float) -> tuple[float, float]:
    """``[start_s, start_s + 3600)``, the hour holding ``t_s`` by ``hour_of`` (a floor of a rising function of
    time, so the same at both ends means the same between), checked at its ends in floats: an end that
    rounding puts in another hour is moved to ``t_s`` (a shorter span, never a wrong one)."""
    h = hour_of(t_s)
    lo, hi = start_s, start_s + 3600.0
    if not lo <= t_s or hour_of(lo) != h:
        lo = t_s
    if not t_s < hi or hour_of(math.nextafter(hi, -math.inf)) != h:
        hi = math.nextafter(t_s, math.inf)
    return lo, hi


class _TraceSignals:
    """Shared machinery: zone lookup, the calendar and a wrap-padded copy of the data for O(1) slices."""

    def __init__(
        self,
        trace: CarbonTrace,
        anchor: datetime | date | float | None = None,
        calendar: CalendarMapping | None = None,
        horizon_h: int = 24 * 14,
    ) -> None:
        self.trace = trace
        self.calendar = calendar if calendar is not None else CalendarMapping.for_trace(trace, anchor)
        if self.calendar.hours != trace.hours:
            raise InputError(f"calendar covers {self.calendar.hours} hours but the trace has {trace.hours}")
        self._zones = frozenset(trace.zones)
        n = trace.hours
        self._horizon = max(1, int(horizon_h))
        reps = math.ceil((self._horizon + _BACK) / n) + 1
        tiled = np.tile(trace.values, (1, reps + 1))
        # padded[z, _BACK + h] == values[z, h % n] for -_BACK <= h < n + horizon
        start = (reps * n - _BACK) % n if _BACK else 0
        self._padded = np.ascontiguousarray(tiled[:, start : start + _BACK + n + self._horizon])
        self._padded.setflags(write=False)
        #: how many queries reached past the end (or before the start) of the data, i.e. used wrapped hours
        self.wrapped_queries = 0

    def zones(self) -> frozenset[str]:
        return self._zones

    def _h0(self, t_s: float) -> int:
        return math.floor(self.calendar.anchor_hour + (t_s - self.calendar.anchor_s) / 3600.0)

    def hour_span(self, t_s: float) -> tuple[float, float]:
        """The span around ``t_s`` in which the data hour in force stays the same (see
        :class:`hexagrid.domain.signals.CarbonSignals`): nothing a query reads changes inside it."""
        return _span(self._h0, t_s, self.calendar.anchor_s + (self._h0(t_s) - self.calendar.anchor_hour) * 3600.0)

    def _row(self, zone: str) -> int:
        return self.trace.zone_index(zone)

    def intensity_g_per_kwh(self, zone: str, t_s: float) -> float:
        h = self._h0(t_s)
        if not 0 <= h < self.trace.hours:
            self.wrapped_queries += 1
        return float(self.trace.values[self._row(zone), h % self.trace.hours])

    def _truth(self, row: int, h0: int, hours: int, back: int = 0) -> npt.NDArray[np.float64]:
        """True values of data hours ``[h0 - back, h0 + hours)`` (wrapped)."""
        n = self.trace.hours
        if h0 - back < 0 or h0 + hours > n:
            self.wrapped_queries += 1
        i = h0 % n
        if hours <= self._horizon and back <= _BACK:
            return self._padded[row, _BACK + i - back : _BACK + i + hours]
        return np.take(self.trace.values[row], np.arange(i - back, i + hours), mode="wrap")

    def _check_hours(self, hours: int) -> None:
        if hours < 0:
            raise InputError(f"forecast hours must be >= 0, got {hours}")

    def wraps(self, t0_s: float, t1_s: float) -> int:
        """Passes over the data beyond the first one that ``[t0_s, t1_s]`` needs (see CalendarMapping)."""
        return self.calendar.wraps(t0_s, t1_s)


class PerfectForecast(_TraceSignals):
    """The true future: for lower bounds and for "what if the forecast were perfect" runs."""

    def forecast_g_per_kwh(self, zone: str, issued_s: float, hours: int) -> npt.NDArray[np.float64]:
        self._check_hours(hours)
        return self._truth(self._row(zone), self._h0(issued_s), hours)


class PersistenceForecast(_TraceSignals):
    """Tomorrow looks like today: hour h0 + k is forecast as hour h0 + k - 24 * ceil(k / 24)."""

    def forecast_g_per_kwh(self, zone: str, issued_s: float, hours: int) -> npt.NDArray[np.float64]:
        self._check_hours(hours)
        if hours == 0:
            return np.empty(0)
        row, h0 = self._row(zone), self._h0(issued_s)
        day = self._truth(row, h0, 1, back=23)  # hours h0 - 23 .. h0: the last known day
        out = np.empty(hours)
        out[0] = day[-1]
        out[1:] = np.resize(day, hours - 1)
        return out


class NoisyForecast(_TraceSignals):
    """Truth with a seeded multiplicative error of a given mean absolute percentage error (MAPE)."""

    def __init__(
        self,
        trace: CarbonTrace,
        mape: float = 0.1,
        seed: int = 0,
        anchor: datetime | date | float | None = None,
        calendar: CalendarMapping | None = None,
        horizon_h: int = 24 * 14,
        cache_size: int = 4096,
    ) -> None:
        if not 0 <= mape <= 1:
            raise InputError(f"mape must be a fraction between 0 and 1 (0.1 = 10%), got {mape}")
        if seed < 0:
            raise InputError(f"seed must be >= 0, got {seed}")
        super().__init__(trace, anchor, calendar, horizon_h)
        self.mape = float(mape)
        self.seed = int(seed)
        self._sigma = self.mape * math.sqrt(math.pi / 2.0)
        self._cache: OrderedDict[tuple[int, int, int], npt.NDArray[np.float64]] = OrderedDict()
        self._cache_size = cache_size
        # a stable number per zone *name* (not its row), so the same zone gets the same errors in any trace
        self._zone_keys = [
            int.from_bytes(hashlib.blake2b(z.encode(), digest_size=8).digest(), "big") for z in trace.zones
        ]

    def _errors(self, row: int, issued_hour: int, hours: int) -> npt.NDArray[np.float64]:
        """Factors (1 + e) for hours 1..hours-1 ahead; a longer request extends a shorter one's draws."""
        key = (row, issued_hour, hours)
        hit = self._cache.get(key)
        if hit is not None:
            with contextlib.suppress(KeyError):  # evicted by another thread in between: the value is still valid
                self._cache.move_to_end(key)
            return hit
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self._zone_keys[row], issued_hour % (1 << 62)]))
        f = np.maximum(1.0 + self._sigma * rng.standard_normal(hours), 0.0)
        f[0] = 1.0  # the hour in force is known
        f.setflags(write=False)
        self._cache[key] = f
        if len(self._cache) > self._cache_size:
            with contextlib.suppress(KeyError):
                self._cache.popitem(last=False)
        return f

    def hour_span(self, t_s: float) -> tuple[float, float]:
        # the errors are drawn per absolute hour, which need not turn with the data hour (a fractional anchor)
        lo, hi = super().hour_span(t_s)
        a, b = _span(_clock_hour, t_s, math.floor(t_s / 3600.0) * 3600.0)
        return max(lo, a), min(hi, b)

    def forecast_g_per_kwh(self, zone: str, issued_s: float, hours: int) -> npt.NDArray[np.float64]:
        self._check_hours(hours)
        row = self._row(zone)
        truth = self._truth(row, self._h0(issued_s), hours)
        # the seed uses the absolute hour (not the data hour), so a wrapped replay gets fresh errors
        return truth * self._errors(row, math.floor(issued_s / 3600.0), hours)


def make_signals(
    kind: ForecastKind,
    trace: CarbonTrace,
    anchor: datetime | date | float | None = None,
    mape: float = 0.1,
    seed: int = 0,
) -> PerfectForecast | PersistenceForecast | NoisyForecast:
    """A forecaster by name (``perfect``, ``persistence`` or ``noisy``), as the CLI and scenario runs pick one."""
    if kind == "perfect":
        return PerfectForecast(trace, anchor)
    if kind == "persistence":
        return PersistenceForecast(trace, anchor)
    if kind == "noisy":
        return NoisyForecast(trace, mape=mape, seed=seed, anchor=anchor)
    raise InputError(f"forecast must be perfect, persistence or noisy, got {kind!r}")


def forecast_mape(
    signals: PerfectForecast | PersistenceForecast | NoisyForecast,
    zone: str,
    horizon_h: int = 24,
    every_h: int = 1,
) -> float:
    """Mean absolute percentage error (fraction) of ``signals``' forecasts 1..horizon_h - 1 hours ahead.

    Forecasts are issued every ``every_h`` hours over the data's own first pass, from hour 24 (so that
    persistence has a known day) to the last hour whose horizon stays inside the data; hours with a true
    value of 0 are left out. Compares against the trace the forecaster was built on.
    """
    if horizon_h < 2:
        raise InputError(f"horizon_h must be >= 2 (hour 0 is known, not forecast), got {horizon_h}")
    if every_h < 1:
        raise InputError(f"every_h must be >= 1, got {every_h}")
    trace = signals.trace
    truth = trace.series(zone)
    n = trace.hours
    issued = np.arange(24, n - horizon_h + 1, every_h)
    if issued.size == 0:
        raise InputError(f"{trace.source} has {n} hours: too short for a {horizon_h}-hour evaluation after a known day")
    cal = signals.calendar
    t0 = cal.anchor_s + (issued - cal.anchor_hour) * 3600.0 + 1.0
    f = np.stack([signals.forecast_g_per_kwh(zone, float(t), horizon_h)[1:] for t in t0])
    real = truth[issued[:, None] + np.arange(1, horizon_h)[None, :]]
    ok = real > 0
    return float(np.mean(np.abs(f[ok] - real[ok]) / real[ok]))
