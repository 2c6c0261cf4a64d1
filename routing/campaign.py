"""Calling window of an outbound service (procedure K: from the 25th to month end, daytime)."""

from __future__ import annotations

import datetime as dt

from routing.table import RoutingTable
from routing.windows import HOLIDAY, contains, intervals_of


def in_calling_window(table: RoutingTable, service_key: str, when: dt.datetime) -> bool:
    """True when the outbound service may call at `when` (timezone-aware).

    The day of the month must be `campaign.first_day` or later, and the local time must lie
    in one of the campaign windows. On a holiday only windows listing `holiday` count.

    Raises:
        KeyError: no such service. ValueError: naive `when`, or the service has no campaign.
    """
    service = table.service(service_key)
    if service.campaign is None:
        msg = f"service {service_key!r} has no campaign"
        raise ValueError(msg)
    if when.tzinfo is None or when.utcoffset() is None:
        msg = "in_calling_window() needs a timezone-aware datetime"
        raise ValueError(msg)
    local = when.astimezone(table.timezone)
    if local.day < service.campaign.first_day:
        return False
    day = HOLIDAY if local.date() in table.holidays else local.weekday()
    return contains(intervals_of(service.campaign.windows), day, local.hour * 60 + local.minute)
