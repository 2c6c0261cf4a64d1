"""Window and calling hours at their boundaries, in La Paz time (UTC-4, no DST)."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from campaigns.window import (
    CallingHours,
    campaign_window,
    may_call,
    next_opening,
    parse_month,
    window_over,
)
from tests.campaigns.conftest import lp


def test_window_runs_from_the_25th_of_the_previous_month_to_the_last_day() -> None:
    w = campaign_window("2025-03")
    assert (w.first_day, w.last_day) == (date(2025, 2, 25), date(2025, 3, 31))
    assert campaign_window("2025-01").first_day == date(2024, 12, 25)
    assert campaign_window("2024-02").last_day == date(2024, 2, 29)


@pytest.mark.parametrize("bad", ["2025-3", "2025-13", "03-2025", "abc"])
def test_bad_month_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="AAAA-MM"):
        parse_month(bad)


HOURS = CallingHours()  # Mon-Fri 08:30-19:00, Sat 09:00-13:00, no Sunday


@pytest.mark.parametrize(
    ("moment", "allowed"),
    [
        (lp(2025, 2, 24, 10, 0), False),  # Monday the 24th: before the window
        (lp(2025, 2, 24, 23, 59, 59), False),
        (lp(2025, 2, 25, 8, 29, 59), False),  # Tuesday the 25th before opening
        (lp(2025, 2, 25, 8, 30), True),
        (lp(2025, 2, 25, 18, 59, 59), True),
        (lp(2025, 2, 25, 19, 0), False),  # closing time is exclusive
        (lp(2025, 2, 26, 2, 0), False),  # night
        (lp(2025, 3, 1, 12, 59), True),  # Saturday morning
        (lp(2025, 3, 1, 13, 0), False),
        (lp(2025, 3, 2, 10, 0), False),  # Sunday
        (lp(2025, 3, 31, 18, 59), True),  # the last day (Monday)
        (lp(2025, 4, 1, 9, 0), False),  # the day after
    ],
)
def test_may_call_at_the_boundaries(moment: datetime, allowed: bool) -> None:
    assert may_call(moment, campaign_window("2025-03"), HOURS) is allowed


def test_times_are_judged_in_la_paz_whatever_the_clock_zone() -> None:
    # 2025-02-25 12:15 UTC = 08:15 in La Paz: not yet open.
    from datetime import UTC

    assert not may_call(
        datetime(2025, 2, 25, 12, 15, tzinfo=UTC), campaign_window("2025-03"), HOURS
    )
    assert may_call(datetime(2025, 2, 25, 12, 30, tzinfo=UTC), campaign_window("2025-03"), HOURS)
    with pytest.raises(ValueError, match="zona horaria"):
        may_call(datetime(2025, 2, 25, 12, 30), campaign_window("2025-03"), HOURS)


def test_days_off_and_custom_hours() -> None:
    hours = CallingHours(
        hours={d: (time(9, 0), time(12, 0)) for d in range(7)},
        days_off=frozenset({date(2025, 3, 3)}),
    )
    window = campaign_window("2025-03")
    assert not may_call(lp(2025, 3, 3, 10, 0), window, hours)  # day off (Carnaval)
    assert may_call(lp(2025, 3, 2, 10, 0), window, hours)  # Sunday allowed here


def test_next_opening_skips_nights_sundays_and_days_off() -> None:
    window = campaign_window("2025-03")
    hours = CallingHours(days_off=frozenset({date(2025, 3, 3)}))
    assert next_opening(lp(2025, 2, 20, 10, 0), window, hours) == lp(2025, 2, 25, 8, 30)
    assert next_opening(lp(2025, 2, 25, 20, 0), window, hours) == lp(2025, 2, 26, 8, 30)
    # Saturday after 13:00 → Sunday off → Monday 3rd day off → Tuesday 4th
    assert next_opening(lp(2025, 3, 1, 14, 0), window, hours) == lp(2025, 3, 4, 8, 30)
    assert next_opening(lp(2025, 3, 5, 10, 0), window, hours) == lp(2025, 3, 5, 10, 0)
    assert next_opening(lp(2025, 3, 31, 19, 0), window, hours) is None
    assert window_over(lp(2025, 3, 31, 19, 0), window, hours)
    assert not window_over(lp(2025, 3, 31, 18, 0), window, hours)
