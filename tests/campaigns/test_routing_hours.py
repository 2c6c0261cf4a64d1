"""The dialer calls in routing.toml's hours, the one definition (virtual time).

- for every 15 minutes around a due month's window, the dialer's ``may_call`` is
  ``routing.in_calling_window`` (holidays, Saturdays, several windows a day), and its next
  opening is the first of those instants that routing allows;
- with two windows a day and a ``holiday`` window, the dialer calls inside them only;
- hosted (the daemon's rotation over a ``RoutingHolder``), a routing reload changes the
  hours of the dialers already running; a reload that drops the campaign keeps the hours.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from centralita.ami_listener.tracker import MemberUpdated
from centralita.campaigns.dialer import Dialer, DialerSettings
from centralita.campaigns.exceptions import CampaignConfigError
from centralita.campaigns.hosting import CampaignRotation, RoutingHours
from centralita.campaigns.importer import import_customer_list
from centralita.campaigns.scheduler import RetryPolicy
from centralita.campaigns.window import LA_PAZ, calling_hours, next_opening, to_local
from centralita.routing import RoutingHolder, RoutingTable, in_calling_window, parse_routing
from tests.campaigns.conftest import customer_list, lp, routing_table, routing_text, write
from tests.campaigns.fakes import FakePbx, VirtualClock, drive
from tests.campaigns.test_campaign_k import RecordingSender

TWO_A_DAY = """windows = [
    { days = ["mon", "tue", "wed", "thu", "fri", "sat"], from = "09:00", until = "12:00" },
    { days = ["mon", "tue", "wed", "thu", "fri"], from = "15:00", until = "18:00" },
    { days = ["holiday"], from = "10:00", until = "11:00" },
]"""

FEBRUARY = "2026-02"  # window 25 January - 28 February 2026, Carnaval 16-17 February
SATURDAY_HOLIDAY = date(2026, 2, 7)

TABLES = {
    # the shipped routing.toml: Monday to Friday 08:30-19:00, Saturday 09:00-13:00, and on
    # its holidays (Carnaval) no calls, as it has no `holiday` window
    "shipped": routing_table(),
    # two windows a day, a `holiday` window, and a holiday on a Saturday
    "two_a_day": routing_table(TWO_A_DAY, {SATURDAY_HOLIDAY.isoformat(): "Feriado sábado"}),
}


def sweep(first: date, last: date) -> list[datetime]:
    """Every 15 minutes (La Paz) from `first` 00:00 to `last` 23:45."""
    moment = datetime.combine(first, time(0, 0), LA_PAZ)
    end = datetime.combine(last + timedelta(days=1), time(0, 0), LA_PAZ)
    found = []
    while moment < end:
        found.append(moment)
        moment += timedelta(minutes=15)
    return found


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_15_minutes_the_dialer_agrees_with_routing(
    name: str, sqlite_engine: AsyncEngine
) -> None:
    table = TABLES[name]
    dialer = Dialer(
        sqlite_engine,
        FEBRUARY,
        FakePbx(VirtualClock(lp(2026, 1, 1)), []),
        FakePbx(VirtualClock(lp(2026, 1, 1)), []),
        clock=lambda: lp(2026, 1, 1),
        calling_hours=lambda: calling_hours(table, "prepago"),
    )
    moments = sweep(date(2026, 1, 23), date(2026, 3, 2))  # the window and 2 days around
    routing = [in_calling_window(table, "prepago", m, month=FEBRUARY) for m in moments]
    dialer_says = [dialer.may_call(m) for m in moments]
    assert dialer_says == routing
    # Routing's next allowed instant after each one is the dialer's next opening.
    following: datetime | None = None
    for moment, allowed in reversed(list(zip(moments, routing, strict=True))):
        if allowed:
            following = moment
        assert next_opening(moment, dialer.window, dialer.hours) == following, moment
    # The sweep does cover what it is meant to: calls on a Saturday, none on Sunday,
    # the holidays' own rule, nothing outside the window.
    by_day: dict[date, list[datetime]] = defaultdict(list)
    for moment, allowed in zip(moments, routing, strict=True):
        if allowed:
            by_day[moment.date()].append(moment)
    assert min(by_day) == date(2026, 1, 26)  # Sunday 25th has no hours
    assert max(by_day) == date(2026, 2, 28)  # Saturday 28th, the due month's last day
    carnaval = [m.time() for m in by_day[date(2026, 2, 16)]]
    if name == "shipped":
        assert carnaval == []  # a holiday without a `holiday` window: no calls
        saturday = by_day[date(2026, 2, 14)]
        assert (saturday[0].time(), saturday[-1].time()) == (time(9, 0), time(12, 45))
    else:
        assert carnaval == [time(10, 0), time(10, 15), time(10, 30), time(10, 45)]
        assert [m.time() for m in by_day[SATURDAY_HOLIDAY]] == carnaval
        wednesday = [m.time() for m in by_day[date(2026, 2, 11)]]
        assert time(11, 45) in wednesday and time(15, 0) in wednesday
        assert time(12, 0) not in wednesday and time(14, 45) not in wednesday
    assert date(2026, 2, 1) not in by_day  # Sunday


async def test_two_windows_a_day_and_a_holiday_window_the_dialer_calls_inside_only(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """One agent, ten-minute calls, more customers than time: Saturday 1 to Tuesday 4
    March 2025 with Monday 3rd a holiday."""
    table = routing_table(TWO_A_DAY, {"2025-03-03": "Carnaval (lunes)"})
    month = "2025-03"
    await import_customer_list(
        engine, write(tmp_path / "l.csv", customer_list(120, month)), month=None, now_ms=0
    )
    clock = VirtualClock(lp(2025, 3, 1, 8, 0))
    pbx = FakePbx(clock, ["Local/a1@agentes"], talk_s=600)
    dialer = Dialer(
        engine,
        month,
        pbx,
        pbx,
        clock=clock,
        settings=DialerSettings(retry=RetryPolicy(max_attempts=1)),
        calling_hours=lambda: calling_hours(table, "prepago"),
    )
    pbx.dialer = dialer
    await drive(pbx, dialer, lp(2025, 3, 4, 20, 0), idle_s=900)
    placed = [to_local(at) for at, _ in pbx.requests]
    assert placed
    outside = [m for m in placed if not in_calling_window(table, "prepago", m, month=month)]
    assert outside == []
    spans: dict[date, set[str]] = defaultdict(set)
    for moment in placed:
        if time(9) <= moment.time() < time(12):
            spans[moment.date()].add("mañana")
        if time(15) <= moment.time() < time(18):
            spans[moment.date()].add("tarde")
    assert spans[date(2025, 3, 1)] == {"mañana"}  # Saturday: the morning window only
    assert date(2025, 3, 2) not in {m.date() for m in placed}  # Sunday: none
    holiday = [m.time() for m in placed if m.date() == date(2025, 3, 3)]
    assert holiday and all(time(10) <= t < time(11) for t in holiday)  # the `holiday` window
    assert spans[date(2025, 3, 4)] == {"mañana", "tarde"}  # Tuesday: both windows


# --------------------------------------------------------------------------- hosting
MORNINGS = """windows = [
    { days = ["mon", "tue", "wed", "thu", "fri"], from = "08:30", until = "12:00" },
]"""
AFTERNOONS = """windows = [
    { days = ["mon", "tue", "wed", "thu", "fri"], from = "14:00", until = "18:00" },
]"""
MARCH = "2026-03"


def agent_free(interface: str) -> MemberUpdated:
    return MemberUpdated(
        queue="qprepago", interface=interface, name=interface, status=1, paused=False, in_call=False
    )


async def test_a_routing_reload_changes_the_hours_of_the_hosted_dialer(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The daemon's rotation, its dialers asking routing's hours through the holder."""
    await import_customer_list(
        engine, write(tmp_path / "l.csv", customer_list(6, MARCH)), month=None, now_ms=0
    )
    path = write(tmp_path / "routing.toml", routing_text(MORNINGS))
    holder = RoutingHolder(path)
    clock = VirtualClock(lp(2026, 3, 4, 15, 30))  # a Wednesday afternoon
    sender = RecordingSender()
    stop = asyncio.Event()
    rotation = CampaignRotation(
        engine,
        sender,
        DialerSettings(poll_s=3600.0),
        clock,
        stop=stop,
        calling_hours=RoutingHours(lambda: holder.table, "prepago"),
        recheck_s=3600.0,
    )
    for agent in ("Local/a1@agentes", "Local/a2@agentes"):
        rotation.handle(agent_free(agent))
    try:
        assert await rotation.check() == [MARCH]
        dialer = rotation.hosted[MARCH].dialer
        await asyncio.wait_for(until_idle(dialer), 10)
        assert await dialer.step() == 0  # mornings only: nothing at 15:30
        assert dialer.next_due == lp(2026, 3, 5, 8, 30)
        assert sender.sent == []

        write(path, routing_text(AFTERNOONS))
        assert holder.reload()
        assert await dialer.step() == 2  # two free agents, now inside the hours
        assert [f["Action"] for f in sender.sent] == ["Originate", "Originate"]

        write(path, routing_text(AFTERNOONS, {"2026-03-04": "Feriado nuevo"}))
        assert holder.reload()
        assert not dialer.may_call(clock())  # today became a holiday: no calls
        assert await dialer.step() == 0
        assert dialer.next_due == lp(2026, 3, 5, 14, 0)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*(h.task for h in rotation.hosted.values())), 10)


async def until_idle(dialer: Dialer) -> None:
    while not dialer.idle:
        await asyncio.sleep(0.01)


def without_campaign() -> str:
    text = routing_text()
    start = text.index("[service.campaign]")
    end = text.index("]\n", text.index("windows = [", start)) + 2
    return text[:start] + text[end:]


def test_routing_hours_refuse_a_table_without_the_campaign_and_keep_them_on_reload(
    tmp_path: Path,
) -> None:
    bare = parse_routing(without_campaign(), "sin-campana.toml")
    assert bare.service("prepago").campaign is None
    with pytest.raises(CampaignConfigError, match=r"sin-campana\.toml: el servicio «prepago»"):
        RoutingHours(lambda: bare, "prepago")
    current: list[RoutingTable] = [routing_table(AFTERNOONS)]
    hours = RoutingHours(lambda: current[0], "prepago")
    before = hours()
    assert before.allows(lp(2026, 3, 4, 15, 0))
    current[0] = bare
    with capture_logs() as logs:
        assert hours() == before  # the previous hours stay
        assert hours() == before
    assert [e["event"] for e in logs] == ["campaign_hours_kept"]  # said once
    current[0] = routing_table(MORNINGS)
    assert hours().allows(lp(2026, 3, 4, 9, 0))
    assert not hours().allows(lp(2026, 3, 4, 15, 0))
