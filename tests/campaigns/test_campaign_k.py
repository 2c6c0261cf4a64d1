"""Procedure K end to end, in virtual time (SQLite and PostgreSQL).

- December's campaign starts on 25 November (the daemon works the due month whose window
  contains today), skips 8 December when routing.toml lists it as a holiday, and ends on
  31 December;
- an answered call that never reached an agent is not a contact, and takes no result;
- the agent's result goes through the console (idempotent) and shows in the report, whose
  effectiveness is the procedure's (paid / managed) with the other figures beside it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.protocol import AmiMessage
from centralita.ami_listener.store import make_engine
from centralita.campaigns import store
from centralita.campaigns.dialer import Dialer, DialerSettings
from centralita.campaigns.exceptions import DispositionConflictError, DispositionError
from centralita.campaigns.hosting import CampaignRotation
from centralita.campaigns.importer import import_customer_list, import_payments
from centralita.campaigns.report import build_report, counts_as_dict, render_table
from centralita.campaigns.scheduler import RetryPolicy
from centralita.campaigns.schema import dispositions
from centralita.campaigns.settings import parse_settings
from centralita.campaigns.window import calling_hours, to_local
from centralita.routing import default_routing_path
from centralita.routing.loader import load_routing
from tests.campaigns.conftest import LIST_HEADER, customer_list, lp, write
from tests.campaigns.fakes import FakePbx, VirtualClock, drive
from tests.conftest import upgrade_to

DECEMBER = "2026-12"
HOLIDAY = date(2026, 12, 8)


def routing_with_holiday(tmp_path: Path) -> Any:
    """The shipped routing.toml plus 8 December as a holiday."""
    text = default_routing_path().read_text(encoding="utf-8")
    text += '\n[[holiday]]\ndate = 2026-12-08\nname = "Inmaculada Concepción"\n'
    table = load_routing(write(tmp_path / "routing.toml", text))
    assert HOLIDAY in table.holidays
    return table


# A month of virtual time: CPU-bound, so a loaded machine needs more than the
# default hang guard.
@pytest.mark.timeout(600)
async def test_december_campaign_runs_25_november_to_31_december_skipping_the_holiday(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """One agent, long calls: the list outlasts the window, so the calling days are the
    window's working days minus the holiday, and nothing else."""
    await import_customer_list(
        engine, write(tmp_path / "l.csv", customer_list(130, DECEMBER)), month=None, now_ms=0
    )
    table = routing_with_holiday(tmp_path)
    hours = calling_hours(table, "prepago")
    clock = VirtualClock(lp(2026, 11, 20, 9, 0))
    pbx = FakePbx(clock, ["Local/a1@agentes"], talk_s=3 * 3600, hours=hours, month=DECEMBER)
    settings = parse_settings("[retry]\nmax_attempts = 1\n")
    dialer = Dialer(
        engine,
        DECEMBER,
        pbx,
        pbx,
        clock=clock,
        settings=settings,
        calling_hours=lambda: hours,
    )
    pbx.dialer = dialer
    await drive(pbx, dialer, lp(2027, 1, 3, 12, 0))
    days = sorted({to_local(at).date() for at, _ in pbx.requests})
    assert pbx.violations == []
    assert days[0] == date(2026, 11, 25)
    assert days[-1] == date(2026, 12, 31)
    assert HOLIDAY not in days
    assert date(2026, 12, 25) not in days  # Navidad, a holiday of the shipped routing.toml
    assert {date(2026, 12, 7), date(2026, 12, 9)} <= set(days)
    assert date(2026, 11, 29) not in days  # a Sunday: no calling hours
    assert dialer.done  # the window is over


class RecordingSender:
    """An AMI client that accepts every Originate (the rotation test places none)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def send(self, fields: dict[str, str], timeout_s: float = 10.0) -> AmiMessage:
        self.sent.append(fields)
        return AmiMessage({"Response": "Success"})


async def test_the_daemon_works_the_due_month_whose_window_contains_today(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    for month, start in (("2026-11", 1000), (DECEMBER, 2000), ("2027-01", 3000)):
        await import_customer_list(
            engine,
            write(tmp_path / f"{month}.csv", customer_list(2, month, start)),
            month=None,
            now_ms=0,
        )
    clock = VirtualClock(lp(2026, 11, 24, 10, 0))
    stop = asyncio.Event()
    settings = DialerSettings(poll_s=0.01)
    rotation = CampaignRotation(
        engine, RecordingSender(), settings, clock, stop=stop, recheck_s=0.01
    )
    try:
        assert await rotation.check() == ["2026-11"]
        clock.now = lp(2026, 11, 25, 0, 0)
        assert await rotation.check() == ["2026-11", DECEMBER]
        clock.now = lp(2026, 12, 1, 9, 0)  # November's window is over
        rotation.hosted["2026-11"].dialer.wake()
        await asyncio.wait_for(asyncio.shield(rotation.hosted["2026-11"].task), 10)
        assert await rotation.check() == [DECEMBER]
        assert "2026-11" in rotation.finished
        clock.now = lp(2026, 12, 25, 9, 0)
        assert await rotation.check() == [DECEMBER, "2027-01"]
        clock.now = lp(2027, 1, 1, 9, 0)
        rotation.hosted[DECEMBER].dialer.wake()
        await asyncio.wait_for(asyncio.shield(rotation.hosted[DECEMBER].task), 10)
        assert await rotation.check() == ["2027-01"]
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*(h.task for h in rotation.hosted.values())), 10)


async def test_without_a_list_the_month_is_looked_at_again(engine: AsyncEngine) -> None:
    clock = VirtualClock(lp(2026, 11, 26, 10, 0))
    rotation = CampaignRotation(
        engine, RecordingSender(), DialerSettings(), clock, stop=asyncio.Event()
    )
    assert await rotation.check() == []  # no list imported yet for November nor December
    assert rotation.finished == set()


def test_the_window_is_configured_in_the_campaign_settings() -> None:
    settings = parse_settings("[window]\nstart_day = 20\n")
    assert settings.window.days(DECEMBER) == (date(2026, 11, 20), date(2026, 12, 31))
    default = parse_settings("")
    assert default.window.days(DECEMBER) == (date(2026, 11, 25), date(2026, 12, 31))
    with pytest.raises(Exception, match="start_day"):
        parse_settings("[window]\nstart_day = 40\n")


# --------------------------------------------------------------------------- contacts
LIST = "\n".join(
    [
        LIST_HEADER,
        "K1,71000001,TV Cable,Uno,2026-12-31",
        "K2,71000002,TV Cable,Dos,2026-12-31",
        "K3,72000003,Internet,Tres,2026-12-31",
        "K4,72000004,Internet,Cuatro,2026-12-31",
    ]
)


async def attempt(
    engine: AsyncEngine, contract: str, outcome: str, at: datetime, agent: str = ""
) -> int:
    cid = (await store.get_campaign(engine, DECEMBER)).campaign_id
    attempt_id, _ = await store.add_attempt(
        engine,
        campaign_id=cid,
        contract=contract,
        phone="7" + contract[1:].rjust(7, "0"),
        attempt_no=1,
        queue="qprepago",
        action_prefix="t",
        placed_at=at,
    )
    await store.add_result(engine, attempt_id, outcome, at)
    if agent:
        await store.add_agent(engine, attempt_id, agent, at + timedelta(seconds=20))
    return attempt_id


async def test_answered_but_never_bridged_is_not_a_contact(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_customer_list(engine, write(tmp_path / "l.csv", LIST + "\n"), month=None, now_ms=0)
    at = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    lonely = await attempt(engine, "K1", "answered", at)  # hung up while queued
    with pytest.raises(DispositionError, match="no llegó a ningún agente"):
        await store.add_disposition(engine, lonely, "informado", agent="a1", at=at)
    report = build_report(await store.load_state(engine, DECEMBER))
    assert report.total.gestionados == 1
    assert report.total.contactados == 0
    (k1,) = [r for r in report.detail if r.customer.contract == "K1"]
    assert k1.managed and not k1.contacted


class HangUpInQueuePbx(FakePbx):
    """Answers every call, but the customer hangs up before an agent takes it."""

    async def _dispatch(self) -> None:
        self.waiting.clear()


async def test_dialer_retries_an_answered_call_no_agent_took(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The slot is freed after handoff_s and the customer is called again after the
    not_connected spacing; neither attempt is a contact."""
    await import_customer_list(
        engine, write(tmp_path / "l.csv", customer_list(1, DECEMBER)), month=None, now_ms=0
    )
    clock = VirtualClock(lp(2026, 11, 25, 9, 0))
    pbx = HangUpInQueuePbx(clock, ["Local/a1@agentes"])
    retry = RetryPolicy(max_attempts=2, spacing_s={"not_connected": 1800})
    dialer = Dialer(
        engine, DECEMBER, pbx, pbx, clock=clock, settings=DialerSettings(retry=retry, handoff_s=60)
    )
    pbx.dialer = dialer
    await drive(pbx, dialer, lp(2026, 11, 25, 12, 0), idle_s=300)
    state = await store.load_state(engine, DECEMBER)
    tried = state.attempts["C1000"]
    assert [a.outcome for a in tried] == ["answered", "answered"]
    assert not any(a.agent for a in tried)
    first_result = tried[0].result_at
    assert first_result is not None
    assert tried[1].placed_at - first_result >= timedelta(minutes=30)
    report = build_report(state)
    assert (report.total.gestionados, report.total.contactados) == (1, 0)


# --------------------------------------------------------------------------- migration
async def test_migration_0008_keeps_one_result_per_attempt(db_url: str, tmp_path: Path) -> None:
    eng = make_engine(db_url)
    try:
        await upgrade_to(eng, "0007")
        await import_customer_list(
            eng, write(tmp_path / "l.csv", LIST + "\n"), month=None, now_ms=0
        )
        at = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
        first = await attempt(eng, "K1", "answered", at, agent="a1")
        async with eng.begin() as conn:  # two results for one attempt, as before 0008
            for i, code in enumerate(("rechaza", "promesa_pago")):
                await conn.execute(
                    sa.insert(dispositions).values(
                        attempt_id=first, code=code, agent="a1", note="", at_ms=i
                    )
                )
        await upgrade_to(eng, "0008")
        async with eng.connect() as conn:
            rows = (await conn.execute(sa.select(dispositions.c.code))).all()
        assert [r.code for r in rows] == ["promesa_pago"]  # the one that counted
        again = await store.add_disposition(eng, first, "promesa_pago", agent="a1", at=at)
        assert again.created is False
        with pytest.raises(DispositionConflictError):
            await store.add_disposition(eng, first, "informado", agent="a1", at=at)
        async with eng.begin() as conn:
            with pytest.raises(sa.exc.IntegrityError):
                await conn.execute(
                    sa.insert(dispositions).values(
                        attempt_id=first, code="informado", agent="a1", note="", at_ms=9
                    )
                )
    finally:
        await eng.dispose()


# --------------------------------------------------------------------------- report
async def test_effectiveness_is_paid_over_managed_with_contacted_and_control_beside(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_customer_list(engine, write(tmp_path / "l.csv", LIST + "\n"), month=None, now_ms=0)
    at = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    talked = await attempt(engine, "K1", "answered", at, agent="a1")
    await store.add_disposition(engine, talked, "promesa_pago", agent="a1", at=at)
    await attempt(engine, "K2", "no_answer", at)
    await attempt(engine, "K3", "answered", at)  # never bridged
    payments = "contrato,fecha_pago,monto\nK1,2026-11-27,50\nK2,2026-12-02,50\nK4,2026-12-03,50\n"
    await import_payments(engine, write(tmp_path / "p.csv", payments), now_ms=0)
    report = build_report(await store.load_state(engine, DECEMBER))
    total = counts_as_dict(report.total)
    assert total["gestionados"] == 3  # K1, K2, K3
    assert total["pagaron_tras_gestion"] == 2  # K1, K2
    assert total["efectividad_pct"] == 66.7  # the procedure's figure: 2 / 3
    assert total["contactados"] == 1  # only K1: an agent talked to them
    assert total["efectividad_contactados_pct"] == 100.0
    assert (total["no_gestionados"], total["pagaron_sin_gestion"]) == (1, 1)  # K4
    assert total["tasa_control_pct"] == 100.0
    text = render_table(report)
    assert "Campaña prepago 2026-12 (llamadas del 2026-11-25 al 2026-12-31)" in text
    assert "Pago del grupo de control %" in text
