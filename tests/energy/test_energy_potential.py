"""Decarbonisation potential: brute-force reference on random series, properties, and the real data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexagrid.energy.carbon import load_carbon
from hexagrid.energy.potential import potential, potential_for_trace
from hexagrid.errors import InputError


def brute(x: list[float], L: int, S: int) -> tuple[float, float]:
    """The definition, written as loops."""
    n = len(x)
    base = nonint = inter = 0.0
    for i in range(n - L):
        end = min(i + S + L, n)
        base += sum(x[i : i + L])
        nonint += min(sum(x[s : s + L]) for s in range(i, end - L + 1))
        inter += sum(sorted(x[i:end])[:L])
    if base == 0:
        return 0.0, 0.0
    return 100 * (1 - nonint / base), 100 * (1 - inter / base)


series = st.lists(st.floats(0, 1000, allow_nan=False).map(lambda v: round(v, 2)), min_size=2, max_size=80)


@settings(max_examples=150, deadline=None)
@given(series, st.integers(1, 12), st.integers(0, 30))
def test_matches_brute_force(x: list[float], L: int, S: int) -> None:
    if len(x) <= L:
        L = len(x) - 1
    got = potential(x, L, S)
    ni, it = brute(x, L, S)
    assert got.noninterruptible_pct == pytest.approx(ni, abs=1e-9)
    assert got.interruptible_pct == pytest.approx(it, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(series, st.integers(1, 10))
def test_properties(x: list[float], L: int) -> None:
    if len(x) <= L:
        L = len(x) - 1
    zero = potential(x, L, 0)
    assert zero.noninterruptible_pct == 0.0
    assert zero.interruptible_pct == 0.0
    prev_ni = prev_it = -1e-9
    for S in range(0, 25, 3):
        p = potential(x, L, S)
        assert p.interruptible_pct >= p.noninterruptible_pct
        assert p.noninterruptible_pct >= prev_ni - 1e-9
        assert p.interruptible_pct >= prev_it - 1e-9
        assert p.interruptible_pct <= 100
        prev_ni, prev_it = p.noninterruptible_pct, p.interruptible_pct


def test_one_hour_jobs_are_the_same_either_way() -> None:
    x = np.random.default_rng(3).uniform(10, 500, 500)
    p = potential(x, 1, 24)
    assert p.interruptible_pct == pytest.approx(p.noninterruptible_pct)


def test_real_data_figures() -> None:
    trace = load_carbon()
    fr24, de24 = potential_for_trace(trace, 24, 24, ["FR", "DE"])
    # a day of slack for day-long jobs saves a few percent non-interruptible (Wiesner et al.: 4.8% FR ... 6.6% GB
    # for "next working day"), more when the job may pause
    assert 3 < fr24.noninterruptible_pct < 12 and fr24.interruptible_pct > fr24.noninterruptible_pct
    assert 3 < de24.noninterruptible_pct < 12
    everything = potential_for_trace(trace, 1, 168)
    assert len(everything) == len(trace.zones)
    assert all(0 < p.noninterruptible_pct < 100 for p in everything)


def test_bad_arguments() -> None:
    with pytest.raises(InputError, match="job_hours must be >= 1, got 0"):
        potential([1.0, 2.0], 0, 1)
    with pytest.raises(InputError, match="slack_hours must be >= 0, got -1"):
        potential([1.0, 2.0], 1, -1)
    with pytest.raises(InputError, match=r"job_hours \(5\) must be shorter"):
        potential([1.0, 2.0], 5, 1)
