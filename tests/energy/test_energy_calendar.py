"""Simulation time -> data hour: direct inside the data, by calendar slot outside, explicit wrap-around."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np

from hexagrid.energy.calendar import CalendarMapping
from hexagrid.energy.carbon import load_carbon

H = 3600.0


def _s(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_inside_the_data_maps_directly() -> None:
    trace = load_carbon()
    m = CalendarMapping.for_trace(trace)
    assert m.hour_index(_s(2022, 1, 1)) == 0
    assert m.hour_index(_s(2022, 3, 1, 5) + 1799) == (31 + 28) * 24 + 5
    assert m.wraps(_s(2022, 1, 1), _s(2022, 12, 31, 23)) == 0
    m2 = CalendarMapping.for_trace(trace, date(2022, 6, 1))
    assert m2.hour_index(_s(2022, 6, 1, 1)) == m.hour_index(_s(2022, 6, 1, 1))


def test_other_years_map_by_calendar_slot() -> None:
    trace = load_carbon()
    m = CalendarMapping.for_trace(trace, date(2026, 7, 1))
    assert m.to_datetime(_s(2026, 7, 1, 5)) == datetime(2022, 7, 1, 5, tzinfo=UTC)
    assert m.hour_index(_s(2026, 7, 1, 5)) == CalendarMapping.for_trace(trace).hour_index(_s(2022, 7, 1, 5))
    assert not m.wrapped(_s(2026, 7, 1)) and m.wraps(_s(2026, 7, 1), _s(2026, 12, 31, 23)) == 0
    # 29 February goes to 28 February
    leap = CalendarMapping.for_trace(trace, datetime(2028, 2, 29, 13, tzinfo=UTC))
    assert leap.to_datetime(_s(2028, 2, 29, 13)) == datetime(2022, 2, 28, 13, tzinfo=UTC)


def test_wrap_around_is_explicit_and_counted() -> None:
    trace = load_carbon()
    m = CalendarMapping.for_trace(trace, date(2026, 12, 31))
    t = _s(2026, 12, 31, 23)
    assert m.hour_index(t) == 8759 and not m.wrapped(t)
    assert m.hour_index(t + H) == 0 and m.wrapped(t + H)
    assert m.wraps(t, t + H) == 1
    assert m.wraps(t, t + 2 * 8760 * H) == 2
    assert "wraps around the end of the 8760-hour data 1 time(s)" in m.describe(t, t + 48 * H)
    assert "wraps" not in m.describe(t - 24 * H, t)
    # before the data's start also wraps
    d = CalendarMapping.for_trace(trace)
    assert d.hour_index(_s(2021, 12, 31, 23)) == 8759 and d.wraps(_s(2021, 12, 31, 23), _s(2022, 1, 2)) == 1


def test_vectorised_matches_scalar() -> None:
    m = CalendarMapping.for_trace(load_carbon(), date(2026, 3, 3))
    ts = _s(2026, 3, 3) + np.linspace(-5e7, 9e7, 997)
    assert m.hour_indices(ts).tolist() == [m.hour_index(float(t)) for t in ts]
