"""The prepaid campaign's calling window from the shipped routing.toml."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from routing import default_routing_path, in_calling_window, load_routing

LA_PAZ = zoneinfo.ZoneInfo("America/La_Paz")
TABLE = load_routing(default_routing_path())


@pytest.mark.parametrize(
    ("local", "allowed"),
    [
        ("2026-11-24T10:00", False),  # before the 25th
        ("2026-11-25T08:29", False),  # Wednesday 25th, before 08:30
        ("2026-11-25T08:30", True),
        ("2026-11-25T18:59", True),
        ("2026-11-25T19:00", False),
        ("2026-11-28T12:59", True),  # Saturday morning
        ("2026-11-28T13:00", False),
        ("2026-11-29T10:00", False),  # Sunday
        ("2026-11-30T10:00", True),  # last day of the month
        ("2026-12-25T10:00", False),  # Christmas: a holiday, no holiday window
        ("2026-12-01T10:00", False),
    ],
)
def test_prepago_calling_window(local: str, allowed: bool) -> None:
    when = dt.datetime.fromisoformat(local).replace(tzinfo=LA_PAZ)
    assert in_calling_window(TABLE, "prepago", when) is allowed


def test_inbound_service_has_no_campaign() -> None:
    with pytest.raises(ValueError, match="no campaign"):
        in_calling_window(TABLE, "101", dt.datetime(2026, 11, 25, 12, tzinfo=LA_PAZ))
