"""Weekly time windows as minute intervals: parsing, matching, overlap and coverage.

A window `{days = ["fri"], from = "12:00", until = "24:00"}` becomes one `Interval`
per day. Days are 0 (Monday) to 6 (Sunday) and 7 for the pseudo-day `holiday`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from centralita.routing.model import Window

DAY_INDEX: dict[str, int] = {
    "mon": 0,
    "tue": 1,
    "wed": 2,
    "thu": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
    "holiday": 7,
}
HOLIDAY = 7
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday")
MINUTES_PER_DAY = 24 * 60


class Interval(NamedTuple):
    """Minutes [start, end) of one day (0-6 Monday-Sunday, 7 holiday)."""

    day: int
    start: int
    end: int


def parse_clock(text: str) -> int | None:
    """Parse `HH:MM` (00:00 to 24:00) into minutes since midnight; None if malformed."""
    hours, sep, minutes = text.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2:
        return None
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    h, m = int(hours), int(minutes)
    if h > 24 or m > 59 or (h == 24 and m != 0):
        return None
    return h * 60 + m


def format_clock(minute: int) -> str:
    """Minutes since midnight as `HH:MM`."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def window_intervals(window: Window) -> list[Interval]:
    """The intervals of a window that already passed validation."""
    start = parse_clock(window.start)
    end = parse_clock(window.until)
    assert start is not None
    assert end is not None
    return [Interval(DAY_INDEX[day], start, end) for day in window.days]


def intervals_of(windows: Iterable[Window]) -> tuple[Interval, ...]:
    """All intervals of several validated windows."""
    return tuple(iv for window in windows for iv in window_intervals(window))


def intersects(a: Interval, b: Interval) -> bool:
    """True when two intervals share a minute."""
    return a.day == b.day and a.start < b.end and b.start < a.end


def is_covered(interval: Interval, others: Sequence[Interval]) -> bool:
    """True when `others` together cover every minute of `interval`."""
    pieces = sorted((o.start, o.end) for o in others if o.day == interval.day)
    reached = interval.start
    for start, end in pieces:
        if start > reached:
            break
        reached = max(reached, end)
        if reached >= interval.end:
            return True
    return reached >= interval.end


def contains(intervals: Iterable[Interval], day: int, minute: int) -> bool:
    """True when minute `minute` of day `day` lies in one of `intervals`."""
    return any(iv.day == day and iv.start <= minute < iv.end for iv in intervals)


def describe(interval: Interval) -> str:
    """Description for reasons and errors, e.g. `fri 12:00-24:00`."""
    return f"{DAY_NAMES[interval.day]} {format_clock(interval.start)}-{format_clock(interval.end)}"
