"""``fmt_time`` formats by arithmetic: it must read exactly as ``time.strftime`` does."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from hexagrid.scheduling.rules import fmt_time


def _strftime(t_s: float, now_s: float | None) -> str:
    tm = time.gmtime(t_s)
    if now_s is not None and t_s // 86400 == now_s // 86400:
        return time.strftime("%H:%M UTC", tm)
    return time.strftime("%Y-%m-%d %H:%M UTC", tm)


@settings(max_examples=500, deadline=None)
@given(
    t_s=st.floats(-3e9, 2e11, allow_nan=False) | st.integers(0, 4_000_000_000).map(float),
    now_shift_s=st.none() | st.floats(-2e5, 2e5, allow_nan=False),
)
def test_fmt_time_reads_as_strftime(t_s: float, now_shift_s: float | None) -> None:
    now_s = None if now_shift_s is None else t_s + now_shift_s
    assert fmt_time(t_s, now_s) == _strftime(t_s, now_s)


def test_day_edges() -> None:
    for t in (0.0, 86399.999, 86400.0, 1_767_225_599.5, 1_767_225_600.0, 951_782_400.0):  # 2000-02-29
        for now in (None, t, t - 1.0, t + 86400.0):
            assert fmt_time(t, now) == _strftime(t, now)
