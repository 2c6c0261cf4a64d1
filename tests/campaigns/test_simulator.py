"""Acceptance: the campaign against the simulator over real TCP, in virtual time.

"A campaign of 300 prepaid customers with 4 agents runs to the end; no customer is called
outside the window or hours (the clock moves through the 24th, the 25th, nights, a day
off and the last day of the month), never more calls than free agents, retries as
configured, no double calls across a pause/resume and a daemon restart."

Everything is checked from what the simulator received and did (its Originate record
taken by :class:`OriginateProbe`, its truth, its queue_log) and from the campaign tables.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.campaigns.dialer import DEFAULT_QUEUE, DialerSettings
from centralita.campaigns.importer import import_customer_list
from centralita.campaigns.model import Customer
from centralita.campaigns.scheduler import Done, RetryPolicy, statuses
from centralita.campaigns.schema import attempt_agents, attempt_results, attempts
from centralita.campaigns.store import load_state, set_status
from centralita.campaigns.window import LA_PAZ, campaign_window, may_call
from centralita.simulator.runner import Simulator
from tests.campaigns.conftest import customer_list, hours_of, lp, write
from tests.campaigns.simharness import (
    SECRET,
    Driver,
    OriginateProbe,
    ResponseRecorder,
    Seen,
    sim_config,
    start_host,
)

MONTH = "2025-03"
DAY_OFF = date(2025, 2, 26)  # a Wednesday inside the window: a holiday of routing.toml
RETRY = RetryPolicy(
    max_attempts=3,
    spacing_s={"no_answer": 2 * 3600, "busy": 1800, "failed": 3600, "unknown": 3600},
)
HOURS = hours_of(holidays={DAY_OFF.isoformat(): "Feriado de prueba"})
SETTINGS = DialerSettings(retry=RETRY, handoff_s=900.0, poll_s=3600.0)
STORED_PRECISION = timedelta(milliseconds=1)  # times are stored in epoch ms
TRUTH_OUTCOME = {"answered": "answered", "busy": "busy", "no-answer": "no_answer"}


async def attempt_rows(engine: AsyncEngine) -> dict[str, tuple[str, str | None, str | None]]:
    """ActionID → (contract, outcome, agent)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                attempts.c.action_id,
                attempts.c.contract,
                attempt_results.c.outcome,
                attempt_agents.c.agent,
            ).select_from(
                attempts.outerjoin(
                    attempt_results, attempt_results.c.attempt_id == attempts.c.id
                ).outerjoin(attempt_agents, attempt_agents.c.attempt_id == attempts.c.id)
            )
        )
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def check_every_originate(seen: list[Seen], customers: list[Customer]) -> None:
    """At each Originate the simulator received: inside window and hours, not more calls
    out than free agents, never a customer whose call is still out."""
    window = campaign_window(MONTH)
    phones_of = {p: c.phones for c in customers for p in c.phones}
    for s in seen:
        assert may_call(s.at, window, HOURS), f"{s.action_id} outside window/hours at {s.at}"
        assert s.out_before + 1 <= s.free, f"{s.action_id}: {s.out_before + 1} out, {s.free} free"
        assert not set(phones_of[s.phone]) & s.busy_phones, f"double call {s.action_id}"


# A month of virtual time: CPU-bound, so a loaded machine needs more than the
# default hang guard.
@pytest.mark.timeout(600)
async def test_300_customers_4_agents_pause_resume_and_restart_against_the_simulator(
    db: AsyncEngine, tmp_path: Path
) -> None:
    await import_customer_list(
        db, write(tmp_path / "lista.csv", customer_list(300)), month=None, now_ms=0
    )
    # Monday 24th 18:00: the day before the window opens.
    sim = Simulator(
        sim_config(lp(2025, 2, 24, 18, 0), answer_prob=0.55, busy_prob=0.15),
        seed=7,
        speed=None,
        secret=SECRET,
    )
    probe = OriginateProbe(sim.engine)
    responses = ResponseRecorder()
    async with sim:
        host = await start_host(sim, db, MONTH, SETTINGS, extra_sinks=(responses,), hours=HOURS)
        driver = Driver(sim, host)

        # The 24th and the night before the 25th: nothing.
        await driver.run_until(lp(2025, 2, 25, 8, 29, 59))
        assert probe.seen == []

        # Tuesday 25th: calls from 08:30. Pause at 10:00 for an hour.
        await driver.run_until(lp(2025, 2, 25, 10, 0))
        placed_before_pause = len(probe.seen)
        assert placed_before_pause > 0
        await set_status(db, MONTH, "paused")  # what `centralita campaign pause` does
        await driver.run_until(lp(2025, 2, 25, 11, 0))
        assert len(probe.seen) == placed_before_pause
        assert all(o.outcome != "pending" for o in sim.truth.originates)
        assert all(out is not None for _, out, _ in (await attempt_rows(db)).values())
        await host.dialer.set_paused(False)  # `centralita campaign resume`

        # A daemon restart with calls out (the virtual clock stands still meanwhile).
        await driver.run_until(lp(2025, 2, 25, 15, 0))
        await driver.step_until(
            lambda: any(o.outcome == "pending" for o in sim.truth.originates),
            timedelta(hours=1),
        )
        out_at_restart = {o.action_id for o in sim.truth.originates if o.outcome == "pending"}
        await host.crash()
        host = await start_host(sim, db, MONTH, SETTINGS, extra_sinks=(responses,), hours=HOURS)
        driver.host = host
        await driver.settle()
        assert set(host.dialer._out) == {int(a.rsplit("-", 1)[1]) for a in out_at_restart}

        # To the end of the campaign (nights, the day off, a weekend if needed).
        await driver.run_until(lp(2025, 4, 1, 0, 0))
        assert host.dialer.done
        finished_at = driver.now
        await host.shutdown()

    seen = probe.seen
    truth = {o.action_id: o for o in sim.truth.originates}
    rows = await attempt_rows(db)
    state = await load_state(db, MONTH)

    # The simulator received exactly the attempts the campaign stored, each with its result.
    assert [s.action_id for s in seen] == list(truth)
    assert set(truth) == set(rows)
    for action_id, o in truth.items():
        expected = TRUTH_OUTCOME.get(o.outcome, "failed")
        assert rows[action_id][1] == expected, (action_id, o.outcome, rows[action_id])
        assert responses.responses[action_id][0].action_id == action_id

    check_every_originate(seen, state.customers)
    days = {s.at.astimezone(LA_PAZ).date() for s in seen}
    assert DAY_OFF not in days
    assert {date(2025, 2, 25), date(2025, 2, 27)} <= days  # across a night and the day off
    assert min(s.at for s in seen) == lp(2025, 2, 25, 8, 30)
    assert not [s for s in seen if lp(2025, 2, 25, 10, 0) < s.at < lp(2025, 2, 25, 11, 0)]

    # Retries as configured: per customer, at most 3 attempts, spaced after each result,
    # none after an answer, and every customer finished (reached or out of attempts).
    by_contract: dict[str, list[str]] = defaultdict(list)
    for action_id in truth:
        by_contract[rows[action_id][0]].append(action_id)
    at_of = {s.action_id: s.at for s in seen}
    for contract, tried in by_contract.items():
        outcomes = [rows[a][1] for a in tried]
        assert len(tried) <= RETRY.max_attempts, contract
        assert "answered" not in outcomes[:-1], contract
        if "answered" not in outcomes:
            assert len(tried) == RETRY.max_attempts, contract
        for before, after in itertools.pairwise(tried):
            response = responses.responses[before][0]
            assert response.timestamp is not None
            result_at = datetime.fromtimestamp(response.timestamp, LA_PAZ)
            spacing = RETRY.spacing(rows[before][1] or "") - STORED_PRECISION
            assert at_of[after] - result_at >= spacing, contract
    found = statuses(state.customers, state.attempts, state.blocklist, RETRY, finished_at)
    assert all(isinstance(s, Done) for s in found.values())
    assert len(by_contract) == 300

    # Every answered call reached an agent of the campaign queue: the simulator's
    # queue_log CONNECTs are the answered attempts, with the same agents.
    answered = {a: rows[a] for a in truth if rows[a][1] == "answered"}
    connects = [line.split("|") for line in sim.engine.queue_log if f"|{DEFAULT_QUEUE}|" in line]
    connected = Counter(f[3] for f in connects if f[4] == "CONNECT")
    by_agent = Counter(
        next(c.agent_name for c in sim.truth.calls if c.agent_interface == agent)
        for _, _, agent in answered.values()
        if agent
    )
    assert all(agent for _, _, agent in answered.values())
    assert connected == by_agent
    assert len(answered) > 200
    # the restart's calls out got their real results, not `unknown`
    assert all(rows[a][1] != "unknown" for a in out_at_restart)


# A month of virtual time: CPU-bound, so a loaded machine needs more than the
# default hang guard.
@pytest.mark.timeout(600)
async def test_the_last_day_of_the_month_ends_the_campaign_at_closing_time(
    db: AsyncEngine, tmp_path: Path
) -> None:
    """Saturday 29th (09:00-13:00), Sunday 30th (no calls), Monday 31st until 19:00: the
    campaign ends with its window, customers left uncalled, and nothing is dialed after."""
    await import_customer_list(
        db, write(tmp_path / "lista.csv", customer_list(200)), month=None, now_ms=0
    )
    sim = Simulator(
        sim_config(lp(2025, 3, 29, 12, 0), answer_prob=0.8), seed=11, speed=None, secret=SECRET
    )
    probe = OriginateProbe(sim.engine)
    async with sim:
        host = await start_host(sim, db, MONTH, SETTINGS, hours=HOURS)
        driver = Driver(sim, host)
        await driver.run_until(lp(2025, 4, 2, 12, 0))
        assert host.dialer.done
        ended_at = driver.now
        await host.shutdown()
    seen = probe.seen
    state = await load_state(db, MONTH)
    check_every_originate(seen, state.customers)
    days = Counter(s.at.astimezone(LA_PAZ).date() for s in seen)
    assert set(days) == {date(2025, 3, 29), date(2025, 3, 31)}
    assert max(s.at for s in seen) < lp(2025, 3, 31, 19, 0)
    assert ended_at < lp(2025, 4, 1, 0, 0)  # done once the last calls out ended
    assert all(o.outcome != "pending" for o in sim.truth.originates)
    assert len(state.attempts) < len(state.customers)  # the window closed on them
