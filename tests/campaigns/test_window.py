"""Window and calling hours at their boundaries, in La Paz time (UTC-4, no DST).

The calling hours are routing.toml's (``[service.campaign] windows``, ``[[holiday]]``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest

from centralita.campaigns.exceptions import CampaignConfigError
from centralita.campaigns.window import (
    CallingHours,
    calling_hours,
    campaign_window,
    may_call,
    next_opening,
    parse_month,
    window_over,
)
from centralita.routing import RoutingTable
from tests.campaigns.conftest import hours_of, lp, routing_table


def test_window_runs_from_the_25th_of_the_previous_month_to_the_last_day() -> None:
    w = campaign_window("2025-03")
    assert (w.first_day, w.last_day) == (date(2025, 2, 25), date(2025, 3, 31))
    assert campaign_window("2025-01").first_day == date(2024, 12, 25)
    assert campaign_window("2024-02").last_day == date(2024, 2, 29)


@pytest.mark.parametrize("bad", ["2025-3", "2025-13", "03-2025", "abc"])
def test_bad_month_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="AAAA-MM"):
        parse_month(bad)


HOURS = hours_of()  # the shipped routing.toml: Mon-Fri 08:30-19:00, Sat 09:00-13:00


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
    assert not may_call(
        datetime(2025, 2, 25, 12, 15, tzinfo=UTC), campaign_window("2025-03"), HOURS
    )
    assert may_call(datetime(2025, 2, 25, 12, 30, tzinfo=UTC), campaign_window("2025-03"), HOURS)
    with pytest.raises(ValueError, match="zona horaria"):
        may_call(datetime(2025, 2, 25, 12, 30), campaign_window("2025-03"), HOURS)


TWO_A_DAY = """windows = [
    { days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], from = "09:00", until = "12:00" },
    { days = ["mon", "tue", "wed", "thu", "fri"], from = "15:00", until = "18:00" },
    { days = ["holiday"], from = "10:00", until = "11:00" },
]"""


def test_several_windows_a_day_and_the_holiday_window() -> None:
    hours = hours_of(TWO_A_DAY, {"2025-03-03": "Carnaval (lunes)"})
    window = campaign_window("2025-03")
    assert may_call(lp(2025, 3, 5, 11, 59), window, hours)
    assert not may_call(lp(2025, 3, 5, 12, 0), window, hours)  # between the two windows
    assert not may_call(lp(2025, 3, 5, 14, 59), window, hours)
    assert may_call(lp(2025, 3, 5, 15, 0), window, hours)
    assert not may_call(lp(2025, 3, 5, 18, 0), window, hours)
    assert may_call(lp(2025, 3, 2, 9, 0), window, hours)  # Sunday: morning only
    assert not may_call(lp(2025, 3, 2, 15, 0), window, hours)
    # Monday 3rd is a holiday: only the `holiday` window, not Monday's.
    assert not may_call(lp(2025, 3, 3, 9, 30), window, hours)
    assert may_call(lp(2025, 3, 3, 10, 0), window, hours)
    assert not may_call(lp(2025, 3, 3, 11, 0), window, hours)
    assert not may_call(lp(2025, 3, 3, 15, 0), window, hours)
    assert next_opening(lp(2025, 3, 5, 12, 0), window, hours) == lp(2025, 3, 5, 15, 0)
    assert next_opening(lp(2025, 3, 2, 12, 0), window, hours) == lp(2025, 3, 3, 10, 0)
    assert next_opening(lp(2025, 3, 3, 11, 0), window, hours) == lp(2025, 3, 4, 9, 0)
    assert next_opening(lp(2025, 3, 4, 16, 0), window, hours) == lp(2025, 3, 4, 16, 0)


def test_a_holiday_without_a_holiday_window_has_no_calls() -> None:
    hours = hours_of(holidays={"2025-03-03": "Carnaval (lunes)"})
    window = campaign_window("2025-03")
    assert not may_call(lp(2025, 3, 3, 10, 0), window, hours)
    assert may_call(lp(2025, 3, 4, 10, 0), window, hours)
    # Saturday after 13:00 → Sunday: no windows → Monday 3rd: a holiday → Tuesday 4th
    assert next_opening(lp(2025, 3, 1, 14, 0), window, hours) == lp(2025, 3, 4, 8, 30)


def test_next_opening_skips_nights_and_sundays_until_the_window_is_over() -> None:
    window = campaign_window("2025-03")
    hours = HOURS
    assert next_opening(lp(2025, 2, 20, 10, 0), window, hours) == lp(2025, 2, 25, 8, 30)
    assert next_opening(lp(2025, 2, 25, 20, 0), window, hours) == lp(2025, 2, 26, 8, 30)
    assert next_opening(lp(2025, 3, 1, 14, 0), window, hours) == lp(2025, 3, 3, 8, 30)
    assert next_opening(lp(2025, 3, 5, 10, 0), window, hours) == lp(2025, 3, 5, 10, 0)
    assert next_opening(lp(2025, 3, 31, 19, 0), window, hours) is None
    assert window_over(lp(2025, 3, 31, 19, 0), window, hours)
    assert not window_over(lp(2025, 3, 31, 18, 0), window, hours)


def test_a_window_until_24_00_runs_to_midnight() -> None:
    hours = hours_of(
        """windows = [
    { days = ["fri"], from = "22:00", until = "24:00" },
    { days = ["sat"], from = "00:00", until = "02:00" },
]"""
    )
    window = campaign_window("2025-03")
    assert may_call(lp(2025, 3, 7, 23, 59, 59), window, hours)
    assert may_call(lp(2025, 3, 8, 0, 0), window, hours)
    assert not may_call(lp(2025, 3, 8, 2, 0), window, hours)
    assert next_opening(lp(2025, 3, 7, 23, 30), window, hours) == lp(2025, 3, 7, 23, 30)
    assert next_opening(lp(2025, 3, 8, 3, 0), window, hours) == lp(2025, 3, 14, 22, 0)
    # The window's last day is a Monday: the last calling time is Saturday the 29th.
    assert next_opening(lp(2025, 3, 29, 2, 0), window, hours) is None


def test_no_hours_means_no_calls_and_a_window_over() -> None:
    window = campaign_window("2025-03")
    assert not may_call(lp(2025, 3, 5, 10, 0), window, CallingHours())
    assert window_over(lp(2025, 3, 5, 10, 0), window, CallingHours())


def test_hours_are_judged_in_routings_timezone() -> None:
    table = routing_table().config
    utc_table = RoutingTable(msgspec.structs.replace(table, timezone="UTC"), "utc.toml")
    hours = calling_hours(utc_table)
    window = campaign_window("2025-03")
    # 08:30 UTC is 04:30 in La Paz: routing's 08:30 is in UTC here.
    assert may_call(datetime(2025, 3, 5, 8, 30, tzinfo=UTC), window, hours)
    assert not may_call(datetime(2025, 3, 5, 8, 29, tzinfo=UTC), window, hours)
    assert next_opening(datetime(2025, 3, 5, 19, 0, tzinfo=UTC), window, hours) == datetime(
        2025, 3, 6, 8, 30, tzinfo=UTC
    )
    assert hours.allows(datetime(2025, 3, 5, 8, 30, tzinfo=UTC) + timedelta(hours=10))


def test_calling_hours_need_the_service_and_its_campaign() -> None:
    table = routing_table()
    with pytest.raises(CampaignConfigError, match="no hay un servicio «nada»"):
        calling_hours(table, "nada")
    with pytest.raises(CampaignConfigError, match=r"«101» no tiene \[service\.campaign\]"):
        calling_hours(table, "101")
