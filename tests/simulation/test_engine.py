"""The event heap orders by (time, priority, sequence); the clocks advance as they say."""

from __future__ import annotations

import pytest

from hexagrid.simulation.engine import Event, EventKind, EventQueue, SimClock, WallClock


def test_orders_by_time_then_priority_then_insertion() -> None:
    q = EventQueue()
    q.push(10.0, Event(EventKind.ARRIVAL, 1))
    q.push(5.0, Event(EventKind.TICK, 2))
    q.push(10.0, Event(EventKind.FINISH, 3))
    q.push(10.0, Event(EventKind.ARRIVAL, 4))
    q.push(10.0, Event(EventKind.SITE_OFFLINE, 5))
    q.push(7.5, Event(EventKind.ARRIVAL, 6))
    out = [(t, ev.target) for t, ev in (q.pop() for _ in range(len(q)))]
    assert out == [(5.0, 2), (7.5, 6), (10.0, 5), (10.0, 3), (10.0, 1), (10.0, 4)]


def test_pop_until_coalesces_one_instant() -> None:
    q = EventQueue()
    for i, t in enumerate([3.0, 1.0, 1.0, 2.0, 1.0]):
        q.push(t, Event(EventKind.ARRIVAL, i))
    assert q.peek_time() == 1.0
    assert [e.target for e in q.pop_until(1.0)] == [1, 2, 4]
    assert q.peek_time() == 2.0
    assert len(q) == 2
    assert [e.target for e in q.pop_until(10.0)] == [3, 0]
    assert not q
    assert q.peek_time() == float("inf")


def test_finishes_come_before_arrivals_and_tick_is_last() -> None:
    # the priorities that make one coalesced pass see freed capacity and every arrival
    assert EventKind.FINISH < EventKind.ARRIVAL < EventKind.TICK
    assert EventKind.SITE_OFFLINE < EventKind.FINISH
    assert EventKind.WINDOW_CLOSE < EventKind.ARRIVAL


def test_sim_clock_jumps_and_refuses_to_go_back() -> None:
    c = SimClock(100.0)
    c.advance_to(250.0)
    assert c.now_s() == 250.0
    with pytest.raises(ValueError, match="time goes forward"):
        c.advance_to(10.0)


def test_wall_clock_compressed_reports_event_time() -> None:
    c = WallClock(0.0, factor=1e9)  # a billion simulated seconds per wall second: no real wait
    c.advance_to(3600.0)
    assert c.now_s() == 3600.0
    with pytest.raises(ValueError):
        WallClock(0.0, factor=0)
