"""Weekly availability windows: parsing, overnight windows, 24:00 ends, DST, time zones, next open/close."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hexagrid.domain import WeeklySchedule, WeeklyWindow, parse_windows


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_parse_weekday_nights_and_weekend() -> None:
    windows = parse_windows("Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00")
    assert windows[:5] == [WeeklyWindow(d * 1440 + 19 * 60, 12 * 60) for d in range(5)]
    assert windows[5:] == [WeeklyWindow(5 * 1440, 1440), WeeklyWindow(6 * 1440, 1440)]


def test_parse_forms() -> None:
    assert parse_windows("mon 9:30-17:00") == [WeeklyWindow(9 * 60 + 30, 7 * 60 + 30)]
    # a day range that wraps past Sunday
    assert [w.start_min // 1440 for w in parse_windows("Sat-Mon 10:00-12:00")] == [5, 6, 0]
    # equal start and end: the whole day from that time
    assert parse_windows("Tue 08:00-08:00") == [WeeklyWindow(1440 + 480, 1440)]
    assert parse_windows("Wed 00:00-24:00;") == [WeeklyWindow(2 * 1440, 1440)]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "no window"),
        (" ; ", "no window"),
        ("Mon-Fri 7pm-7am", "cannot read window"),
        ("Fun 10:00-12:00", "unknown day 'Fun'"),
        ("Funday 10:00-12:00", "cannot read window"),
        ("Mon-Fry 10:00-12:00", "unknown day 'Fry'"),
        ("Mon 25:00-26:00", "bad time"),
        ("Mon 10:00-24:30", "24:00 allowed as an end"),
        ("Mon 10:60-11:00", "minutes 00-59"),
        ("Mon 24:00-02:00", "bad time"),
    ],
)
def test_parse_errors(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_windows(spec)


def test_overnight_window_crosses_midnight() -> None:
    s = WeeklySchedule.parse("Fri 22:00-06:00", "UTC")
    # 2025-01-03 is a Friday
    assert not s.is_open(utc(2025, 1, 3, 21, 59))
    assert s.is_open(utc(2025, 1, 3, 22, 0))
    assert s.is_open(utc(2025, 1, 4, 5, 59))
    assert not s.is_open(utc(2025, 1, 4, 6, 0))
    assert s.close_after(utc(2025, 1, 4, 1, 0)) == utc(2025, 1, 4, 6, 0)
    assert s.close_after(utc(2025, 1, 4, 7, 0)) is None


def test_sunday_night_to_monday_wraps_the_week() -> None:
    s = WeeklySchedule.parse("Sun 20:00-08:00", "UTC")
    assert s.is_open(utc(2025, 1, 6, 7, 0))  # Monday morning, opened Sunday evening
    assert s.close_after(utc(2025, 1, 5, 23, 0)) == utc(2025, 1, 6, 8, 0)


def test_24_00_end_and_adjacent_windows_merge() -> None:
    s = WeeklySchedule.parse("Sat-Sun 00:00-24:00", "UTC")
    # Saturday 00:00 to Monday 00:00 is one open stretch
    assert s.close_after(utc(2025, 1, 4, 12, 0)) == utc(2025, 1, 6, 0, 0)
    assert not s.is_open(utc(2025, 1, 6, 0, 0))
    assert s.is_open(utc(2025, 1, 5, 23, 59))


def test_next_open() -> None:
    s = WeeklySchedule.parse("Mon-Fri 19:00-07:00", "UTC")
    monday_noon = utc(2025, 1, 6, 12, 0)
    assert s.next_open(monday_noon) == utc(2025, 1, 6, 19, 0)
    assert s.next_open(utc(2025, 1, 6, 20, 0)) == utc(2025, 1, 6, 20, 0)  # already open
    # Saturday 07:00 (after the Friday night window) -> next Monday 19:00
    assert s.next_open(utc(2025, 1, 11, 7, 0)) == utc(2025, 1, 13, 19, 0)


def test_time_zone_is_the_owners() -> None:
    paris = WeeklySchedule.parse("Mon 09:00-17:00", "Europe/Paris")
    new_york = WeeklySchedule.parse("Mon 09:00-17:00", "America/New_York")
    # 2025-01-06 is a Monday; Paris is UTC+1 in winter, New York UTC-5
    assert paris.next_open(utc(2025, 1, 6, 0, 0)) == utc(2025, 1, 6, 8, 0)
    assert new_york.next_open(utc(2025, 1, 6, 0, 0)) == utc(2025, 1, 6, 14, 0)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        WeeklySchedule.parse("Mon 09:00-17:00", "Mars/Base")


def test_dst_spring_forward_shortens_the_window() -> None:
    # Europe/Paris: 2025-03-30 02:00 CET -> 03:00 CEST. Sunday 01:00-05:00 local is 00:00Z-03:00Z: 3 real hours.
    s = WeeklySchedule.parse("Sun 01:00-05:00", "Europe/Paris")
    assert s.next_open(utc(2025, 3, 29, 12, 0)) == utc(2025, 3, 30, 0, 0)
    assert s.close_after(utc(2025, 3, 30, 0, 30)) == utc(2025, 3, 30, 3, 0)
    assert s.is_open(utc(2025, 3, 30, 2, 59)) and not s.is_open(utc(2025, 3, 30, 3, 0))


def test_dst_fall_back_lengthens_the_window() -> None:
    # 2025-10-26 03:00 CEST -> 02:00 CET. Sunday 01:00 CEST = Sat 23:00Z; 05:00 CET = 04:00Z: 5 real hours.
    s = WeeklySchedule.parse("Sun 01:00-05:00", "Europe/Paris")
    assert s.next_open(utc(2025, 10, 25, 12, 0)) == utc(2025, 10, 25, 23, 0)
    assert s.close_after(utc(2025, 10, 26, 1, 0)) == utc(2025, 10, 26, 4, 0)


def test_edge_in_the_skipped_hour_reads_with_the_winter_offset() -> None:
    # 02:30 does not exist on 2025-03-30 in Paris; it is read as 02:30 CET = 01:30Z (03:30 on the new clock)
    s = WeeklySchedule.parse("Sun 02:30-04:00", "Europe/Paris")
    opens = s.next_open(utc(2025, 3, 29, 12, 0))
    assert opens == utc(2025, 3, 30, 1, 30)
    assert s.close_after(opens) == utc(2025, 3, 30, 2, 0)  # 04:00 CEST


def test_window_opening_in_summer_time() -> None:
    s = WeeklySchedule.parse("Mon-Fri 19:00-07:00", "Europe/Paris")
    # 2025-07-07 Monday, CEST (UTC+2): opens 17:00Z, closes Tuesday 05:00Z
    assert s.next_open(utc(2025, 7, 7, 12, 0)) == utc(2025, 7, 7, 17, 0)
    assert s.close_after(utc(2025, 7, 7, 18, 0)) == utc(2025, 7, 8, 5, 0)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("Mon-Sun 00:00-24:00", True),
        ("Mon-Sun 19:00-07:00; Mon-Sun 07:00-19:00", True),
        ("Mon-Sun 00:00-13:00; Mon-Sun 00:00-13:00", False),  # overlaps must not count twice
        ("Mon-Fri 19:00-07:00; Sat-Sun 00:00-24:00", False),
        ("Sun 12:00-12:00; Mon-Sat 00:00-24:00", False),  # Sunday before noon is missing
    ],
)
def test_always_open(spec: str, expected: bool) -> None:
    assert WeeklySchedule.parse(spec, "UTC").always_open() is expected
