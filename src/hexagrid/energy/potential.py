"""Decarbonisation potential of shifting work in time (after Wiesner et al., Middleware 2021).

For an hourly series x of N hours, a job of L hours and a slack of S hours, a job arrives at each hour i
with 0 <= i < N - L and may run anywhere in the window W_i = [i, min(i + S + L, N)):

* baseline_i = x[i] + ... + x[i + L - 1] (run at once);
* non-interruptible best_i = the lowest sum of L consecutive hours that start and end inside W_i;
* interruptible best_i = the sum of the L lowest hours of W_i (the job may pause and resume freely).

Potential = 1 - sum_i best_i / sum_i baseline_i, in percent, for both variants. It is 0 at zero slack,
never decreases as the slack grows, and the interruptible potential is never below the non-interruptible
one (both bests are clamped to those orderings, which hold exactly in real arithmetic, so float rounding
cannot break them).

Vectorised: rolling sums from one cumulative sum; the windowed minimum and the L lowest per window via
numpy's sliding_window_view (np.partition for the L lowest), O(N x (S + L)) per zone in C.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from hexagrid.energy.carbon import CarbonTrace
from hexagrid.errors import InputError

__all__ = ["Potential", "potential", "potential_for_trace"]

#: Rows of the window matrix processed at once (bounds memory: 2,048 x (S + L) floats).
_CHUNK = 2048


@dataclass(frozen=True, slots=True)
class Potential:
    """Potential (percent) of shifting L-hour jobs with S hours of slack in one zone."""

    zone: str
    job_hours: int
    slack_hours: int
    noninterruptible_pct: float
    interruptible_pct: float
    jobs: int

    def as_dict(self) -> dict[str, object]:
        return {
            "zone": self.zone,
            "job_hours": self.job_hours,
            "slack_hours": self.slack_hours,
            "noninterruptible_pct": self.noninterruptible_pct,
            "interruptible_pct": self.interruptible_pct,
        }


def _check(n: int, job_hours: int, slack_hours: int) -> None:
    if job_hours < 1:
        raise InputError(f"job_hours must be >= 1, got {job_hours}")
    if slack_hours < 0:
        raise InputError(f"slack_hours must be >= 0, got {slack_hours}")
    if n <= job_hours:
        raise InputError(f"the series has {n} hours; job_hours ({job_hours}) must be shorter than that")


def _bests(
    x: npt.NDArray[np.float64], job_hours: int, slack_hours: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(baseline, non-interruptible best, interruptible best) per arrival hour i in [0, N - L)."""
    n, L, S = x.shape[0], job_hours, slack_hours
    jobs = n - L
    c = np.concatenate([[0.0], np.cumsum(x)])
    rolling = c[L:] - c[:-L]  # rolling[s] = x[s:s+L].sum(), s in [0, N - L]
    baseline = rolling[:jobs]
    if S == 0:  # no room to move: both bests are the baseline itself (exactly, not up to rounding)
        return baseline, baseline.copy(), baseline.copy()
    # start s in [i, min(i + S, N - L)]: pad with +inf so the window never reaches past N - L
    padded = np.concatenate([rolling, np.full(S, np.inf)])
    nonint = sliding_window_view(padded, S + 1)[:jobs].min(axis=1)
    nonint = np.minimum(nonint, baseline)
    # hours in [i, min(i + S + L, N)): pad with +inf, never among the L lowest (each window has >= L + 1 hours)
    xp = np.concatenate([x, np.full(S + L, np.inf)])
    win = sliding_window_view(xp, S + L)
    inter = np.empty(jobs)
    for a in range(0, jobs, _CHUNK):
        w = win[a : min(a + _CHUNK, jobs)]
        if L == 1:
            inter[a : a + w.shape[0]] = w.min(axis=1)
        elif w.shape[1] == L:
            inter[a : a + w.shape[0]] = np.sort(w, axis=1).sum(axis=1)
        else:
            low = np.partition(w, L - 1, axis=1)[:, :L]
            inter[a : a + w.shape[0]] = np.sort(low, axis=1).sum(axis=1)
    inter = np.minimum(inter, nonint)
    return baseline, nonint, inter


def potential(series: npt.ArrayLike, job_hours: int, slack_hours: int, zone: str = "") -> Potential:
    """Both potentials for one hourly series (see the module docstring)."""
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 1:
        raise InputError(f"series must be one-dimensional (hourly values), got shape {x.shape}")
    _check(x.shape[0], job_hours, slack_hours)
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise InputError("series must hold finite intensities >= 0")
    baseline, nonint, inter = _bests(x, job_hours, slack_hours)
    total = float(baseline.sum())
    if total <= 0:
        return Potential(zone, job_hours, slack_hours, 0.0, 0.0, int(baseline.shape[0]))
    return Potential(
        zone=zone,
        job_hours=job_hours,
        slack_hours=slack_hours,
        noninterruptible_pct=100.0 * (1.0 - float(nonint.sum()) / total),
        interruptible_pct=100.0 * (1.0 - float(inter.sum()) / total),
        jobs=int(baseline.shape[0]),
    )


def potential_for_trace(
    trace: CarbonTrace, job_hours: int, slack_hours: int, zones: list[str] | tuple[str, ...] | None = None
) -> list[Potential]:
    """Potentials for ``zones`` (default: every zone of the trace), in the order given."""
    names = trace.zones if zones is None else tuple(zones)
    _check(trace.hours, job_hours, slack_hours)
    return [potential(trace.series(z), job_hours, slack_hours, zone=z) for z in names]
