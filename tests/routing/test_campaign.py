"""The prepaid campaign's calling window from the shipped routing.toml."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from centralita.routing import default_routing_path, in_calling_window, load_routing
from centralita.routing.campaign import WindowRule

LA_PAZ = zoneinfo.ZoneInfo("America/La_Paz")
TABLE = load_routing(default_routing_path())


@pytest.mark.parametrize(
    ("local", "allowed"),
    [
        ("2026-11-24T10:00", True),  # November's campaign (25 October - 30 November)
        ("2026-11-25T08:29", False),  # Wednesday 25th, before 08:30
        ("2026-11-25T08:30", True),
        ("2026-11-25T18:59", True),
        ("2026-11-25T19:00", False),
        ("2026-11-28T12:59", True),  # Saturday morning
        ("2026-11-28T13:00", False),
        ("2026-11-29T10:00", False),  # Sunday
        ("2026-11-30T10:00", True),  # last day of the month
        ("2026-12-25T10:00", False),  # Christmas: a holiday, no holiday window
        ("2026-12-01T10:00", True),  # December's campaign
    ],
)
def test_prepago_calling_window(local: str, allowed: bool) -> None:
    """Without a month: some due month's window holds every day (they overlap)."""
    when = dt.datetime.fromisoformat(local).replace(tzinfo=LA_PAZ)
    assert in_calling_window(TABLE, "prepago", when) is allowed


@pytest.mark.parametrize(
    ("local", "month", "allowed"),
    [
        ("2026-11-24T10:00", "2026-12", False),  # before the 25th of the month before
        ("2026-11-25T10:00", "2026-12", True),  # December's campaign starts
        ("2026-12-31T10:00", "2026-12", True),  # and ends on the due month's last day
        ("2027-01-02T10:00", "2026-12", False),
        ("2026-12-28T10:00", "2027-01", True),  # January's overlaps December's end
        ("2026-12-24T10:00", "2027-01", False),
    ],
)
def test_prepago_calling_window_of_a_due_month(local: str, month: str, allowed: bool) -> None:
    """The one window definition (campaigns.window uses the same WindowRule)."""
    when = dt.datetime.fromisoformat(local).replace(tzinfo=LA_PAZ)
    assert in_calling_window(TABLE, "prepago", when, month=month) is allowed


def test_the_window_rule_is_configurable() -> None:
    rule = WindowRule(start_day=20)
    when = dt.datetime(2026, 11, 23, 10, tzinfo=LA_PAZ)
    assert in_calling_window(TABLE, "prepago", when, month="2026-12", rule=rule)
    assert not in_calling_window(TABLE, "prepago", when, month="2026-12")
    assert rule.due_months(dt.date(2026, 11, 23)) == ["2026-11", "2026-12"]
    assert WindowRule().due_months(dt.date(2026, 11, 24)) == ["2026-11"]
    assert WindowRule().days("2027-03") == (dt.date(2027, 2, 25), dt.date(2027, 3, 31))
    assert WindowRule(start_day=31).days("2027-03")[0] == dt.date(2027, 2, 28)


def test_inbound_service_has_no_campaign() -> None:
    with pytest.raises(ValueError, match="no campaign"):
        in_calling_window(TABLE, "101", dt.datetime(2026, 11, 25, 12, tzinfo=LA_PAZ))
