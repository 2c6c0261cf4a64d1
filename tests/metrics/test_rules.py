"""Boundary and counting-rule tests: every rule changes the result as its definition says."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.schema import calls
from centralita.metrics.exceptions import PeriodError, RulesError
from centralita.metrics.periods import Period
from centralita.metrics.queries import ReportRequest, monthly_report
from centralita.metrics.schema import ivr_calls
from centralita.metrics.service_level import (
    DERIVED_LABEL,
    CountingRules,
    Indicator,
    Report,
    classify,
    legend_lines,
)
from tests.metrics.conftest import load_capture

LA_PAZ = ZoneInfo("America/La_Paz")
NOV = Period.month("2026-11")
BASE_MS = int(datetime(2026, 11, 10, 9, 0, tzinfo=LA_PAZ).timestamp() * 1000)


def call_row(
    uid: str,
    *,
    service: str = "101",
    entered_ms: int = BASE_MS,
    wait_ms: int = 5000,
    wait_s: int | None = None,
    outcome: str = "answered",
) -> dict[str, Any]:
    answered = outcome in ("answered", "transferred")
    return {
        "pbx_id": "t",
        "uniqueid": uid,
        "linkedid": uid,
        "service": service,
        "exten": service,
        "queue": f"q{service}",
        "queues": f"q{service}",
        "caller_num": "71234567",
        "caller_name": "",
        "entered_at_ms": entered_ms,
        "answered_at_ms": entered_ms + wait_ms if answered else None,
        "ended_at_ms": entered_ms + wait_ms + 30_000,
        "wait_ms": wait_ms,
        "wait_asterisk_s": wait_ms // 1000 if wait_s is None else wait_s,
        "talk_ms": 30_000 if answered else None,
        "agent_name": "Agent 1" if answered else "",
        "outcome": outcome,
    }


async def insert(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(calls), rows)


async def report(engine: AsyncEngine, rules: CountingRules, period: Period = NOV) -> Report:
    return await monthly_report(engine, ReportRequest(period, rules))


async def test_exact_basis_boundary(any_engine: AsyncEngine):
    await insert(
        any_engine,
        [call_row("a", wait_ms=20_000, wait_s=20), call_row("b", wait_ms=20_001, wait_s=20)],
    )
    exact = await report(any_engine, CountingRules(wait_basis="exact"))
    assert exact.line("101").counts.answered_within == 1
    assert exact.line("101").indicator.sl_percent == 50.0
    # Asterisk counts both as 20 whole seconds: both within.
    asterisk = await report(any_engine, CountingRules())
    assert asterisk.line("101").counts.answered_within == 2


async def test_asterisk_basis_boundary(any_engine: AsyncEngine):
    await insert(
        any_engine,
        [call_row("a", wait_ms=20_900, wait_s=20), call_row("b", wait_ms=20_950, wait_s=21)],
    )
    line = (await report(any_engine, CountingRules())).line("101")
    assert (line.counts.answered, line.counts.answered_within) == (2, 1)


def test_classify_matches_the_boundaries():
    exact = CountingRules(wait_basis="exact")
    assert (
        classify(
            answered=True, outcome="answered", wait_asterisk_s=20, wait_ms=20_000, rules=exact
        ).answered_within
        == 1
    )
    assert (
        classify(
            answered=True, outcome="answered", wait_asterisk_s=20, wait_ms=20_001, rules=exact
        ).answered_within
        == 0
    )
    rules = CountingRules()
    assert (
        classify(
            answered=True, outcome="answered", wait_asterisk_s=20, wait_ms=20_999, rules=rules
        ).answered_within
        == 1
    )
    assert (
        classify(
            answered=True, outcome="answered", wait_asterisk_s=21, wait_ms=20_100, rules=rules
        ).answered_within
        == 0
    )


async def test_month_boundary_in_la_paz(any_engine: AsyncEngine):
    last_second = int(datetime(2026, 11, 30, 23, 59, 59, tzinfo=LA_PAZ).timestamp() * 1000)
    last_ms = last_second + 999
    midnight = last_second + 1000
    first_nov = int(datetime(2026, 11, 1, 0, 0, 0, tzinfo=LA_PAZ).timestamp() * 1000)
    await insert(
        any_engine,
        [
            call_row("late", entered_ms=last_second),
            call_row("later", entered_ms=last_ms),
            call_row("dec", entered_ms=midnight),
            call_row("oct", entered_ms=first_nov - 1),
            call_row("nov1", entered_ms=first_nov),
        ],
    )
    nov = await report(any_engine, CountingRules())
    assert nov.total.indicator.received == 3
    days = nov.daily["ALL"]
    assert sum(c.answered for d, c in days.items() if d.day == 30) == 2
    assert nov.hourly["ALL"][23].answered == 2
    dec = await report(any_engine, CountingRules(), Period.month("2026-12"))
    assert dec.total.indicator.received == 1
    oct_ = await report(any_engine, CountingRules(), Period.month("2026-10"))
    assert oct_.total.indicator.received == 1
    # 23:59:59 La Paz is 03:59:59 UTC of the next day: UTC months would get it wrong.
    assert datetime.fromtimestamp(last_second / 1000, ZoneInfo("UTC")).month == 12


async def test_short_abandon_exclusion(engine: AsyncEngine):
    await load_capture(engine, "GIT-master-f0c1c1a7b7", ql=False)
    default = (await report(engine, CountingRules())).total.indicator
    assert (default.received, default.short_excluded) == (80, 0)
    rule = (await report(engine, CountingRules(short_abandon_s=5))).total.indicator
    # README: 6 of the 13 abandons waited under 5 s (2, 2, 3, 3, 3, 4 s).
    assert rule.short_excluded == 6
    assert rule.received == 74
    assert rule.not_counted == 6
    assert rule.sl_percent == pytest.approx(60 * 100 / 74)


async def test_exit_rules_on_edge_capture(engine: AsyncEngine):
    await load_capture(engine, "edge-GIT-master-f0c1c1a7b7", ql=False)
    base = (await report(engine, CountingRules())).total.indicator
    assert base.received == 66
    cases = {
        "count_timeouts": 5,
        "count_exit_empty": 6,
        "count_exit_with_key": 6,
    }
    for rule, excluded in cases.items():
        ind = (await report(engine, CountingRules().with_changes(**{rule: False}))).total.indicator
        assert ind.received == 66 - excluded, rule
        assert ind.not_counted == excluded
        assert ind.counts.answered_within == 31
    all_off = CountingRules(count_timeouts=False, count_exit_empty=False, count_exit_with_key=False)
    ind = (await report(engine, all_off)).total.indicator
    assert ind.received == 66 - 17
    assert (await report(engine, all_off)).line("103").indicator.received == 6


async def test_ivr_hangups_rule(any_engine: AsyncEngine):
    await insert(any_engine, [call_row(f"c{i}", wait_ms=3000) for i in range(8)])
    async with any_engine.begin() as conn:
        await conn.execute(
            sa.insert(ivr_calls),
            [
                {
                    "pbx_id": "t",
                    "uniqueid": f"i{i}",
                    "service": "101",
                    "started_at_ms": BASE_MS - 60_000,
                    "hung_up_before_queue": True,
                }
                for i in range(2)
            ],
        )
    default = (await report(any_engine, CountingRules())).line("101")
    assert default.counts.ivr_hangups == 2  # always shown
    assert default.indicator.received == 8
    assert default.indicator.sl_percent == 100.0
    strict = (await report(any_engine, CountingRules(count_ivr_hangups=True))).line("101")
    assert strict.indicator.received == 10
    assert strict.indicator.sl_percent == 80.0
    assert strict.indicator.meets is True


async def test_calls_the_ivr_sent_elsewhere_are_registered_and_shown(any_engine: AsyncEngine):
    # 8 answered within, 1 IVR hang-up, 2 calls the IVR sent to an extension/announcement
    await insert(any_engine, [call_row(f"c{i}", wait_ms=3000) for i in range(8)])
    async with any_engine.begin() as conn:
        await conn.execute(
            sa.insert(ivr_calls),
            [
                {
                    "pbx_id": "t",
                    "uniqueid": f"i{i}",
                    "service": "101",
                    "started_at_ms": BASE_MS - 60_000,
                    "hung_up_before_queue": i == 0,
                }
                for i in range(3)
            ],
        )
    default = (await report(any_engine, CountingRules())).line("101")
    assert (default.counts.ivr_hangups, default.counts.ivr_derived) == (1, 2)
    assert default.indicator.received == 10  # the derived calls are registered calls
    assert default.indicator.sl_percent == 80.0
    assert default.indicator.not_counted == 1  # the hang-up, by its own rule
    off = (await report(any_engine, CountingRules(count_ivr_derived=False))).line("101")
    assert (off.counts.ivr_derived, off.indicator.received) == (2, 8)  # still shown
    assert off.indicator.not_counted == 3
    legend = dict(legend_lines(CountingRules(count_ivr_derived=False)))
    assert legend[f"{DERIVED_LABEL} cuentan como no atendidas"].startswith("no")


def test_target_and_threshold_are_parameters():
    rules30 = CountingRules(threshold_s=30)
    counts = classify(
        answered=True, outcome="answered", wait_asterisk_s=25, wait_ms=25_000, rules=rules30
    )
    assert counts.answered_within == 1
    assert (
        classify(
            answered=True,
            outcome="answered",
            wait_asterisk_s=25,
            wait_ms=25_000,
            rules=CountingRules(),
        ).answered_within
        == 0
    )
    counts.add(
        classify(
            answered=False, outcome="abandoned", wait_asterisk_s=9, wait_ms=9_000, rules=rules30
        )
    )
    assert Indicator(counts, CountingRules(target_percent=50.0)).meets is True
    assert Indicator(counts, CountingRules(target_percent=50.1)).meets is False
    assert Indicator(type(counts)(), CountingRules()).meets is None


def test_invalid_rules_and_periods():
    with pytest.raises(RulesError):
        CountingRules(threshold_s=-1)
    with pytest.raises(RulesError):
        CountingRules(wait_basis="fast")  # type: ignore[arg-type]
    with pytest.raises(PeriodError):
        Period.month("2026-13")
    with pytest.raises(PeriodError):
        Period.month("nov")


def test_legend_states_every_rule():
    text = " ".join(f"{k} {v}" for k, v in legend_lines(CountingRules(short_abandon_s=5)))
    for needle in (
        "20 s inclusive",
        "80 %",
        "menor a 5 s",
        "agotado",
        "tecla",
        "cola vacía",
        "IVR",
        "America/La_Paz",
        "101, 104, 800131313, 4639999",
        "Asterisk",
    ):
        assert needle in text
