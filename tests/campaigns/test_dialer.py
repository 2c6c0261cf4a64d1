"""The progressive dialer against an in-process PBX, in virtual time."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.campaigns.dialer import Dialer, DialerSettings
from centralita.campaigns.importer import import_customer_list, import_dnc, import_payments
from centralita.campaigns.scheduler import RetryPolicy
from centralita.campaigns.schema import attempt_results, attempts
from centralita.campaigns.store import add_disposition, load_state, set_status
from tests.campaigns.conftest import customer_list, hours_of, lp, write
from tests.campaigns.fakes import FakePbx, VirtualClock, drive

MONTH = "2025-03"
AGENTS = ["Local/a1@agentes", "Local/a2@agentes", "Local/a3@agentes", "Local/a4@agentes"]
RETRY = RetryPolicy(
    max_attempts=3,
    spacing_s={"no_answer": 2 * 3600, "busy": 1800, "failed": 3600, "unknown": 3600},
)


def script(phone: str, n: int) -> str:
    """Deterministic per phone: most answer at once, some after retries, some never."""
    kind = int(phone[-1])
    if kind in (0, 1, 2, 3, 4):
        return "answered"
    if kind == 5:
        return "busy" if n == 1 else "answered"
    if kind == 6:
        return "no_answer" if n < 3 else "answered"
    if kind == 7:
        return "no_answer"
    if kind == 8:
        return "failed"
    return "busy"


async def setup(
    engine: AsyncEngine, tmp_path: Path, n: int, start: datetime, agents: list[str] = AGENTS
) -> tuple[VirtualClock, FakePbx, Dialer]:
    await import_customer_list(
        engine, write(tmp_path / "lista.csv", customer_list(n)), month=None, now_ms=0
    )
    clock = VirtualClock(start)
    hours = hours_of()
    pbx = FakePbx(clock, list(agents), script=script, hours=hours, month=MONTH)
    dialer = Dialer(
        engine,
        MONTH,
        pbx,
        pbx,
        clock=clock,
        settings=DialerSettings(retry=RETRY),
        calling_hours=lambda: hours,
    )
    pbx.dialer = dialer
    return clock, pbx, dialer


async def results(engine: AsyncEngine) -> list[tuple[str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(attempts.c.contract, attempt_results.c.outcome)
            .select_from(
                attempts.outerjoin(attempt_results, attempt_results.c.attempt_id == attempts.c.id)
            )
            .order_by(attempts.c.id)
        )
        return [(r[0], r[1]) for r in rows]


def expected_attempts(phones: tuple[str, ...]) -> int:
    """Attempts the scheduler makes for a customer under `script` and RETRY."""
    tries: Counter[str] = Counter()
    for n in range(1, RETRY.max_attempts + 1):
        phone = min(phones, key=lambda p: (tries[p], phones.index(p)))
        tries[phone] += 1
        if script(phone, tries[phone]) == "answered":
            return n
    return RETRY.max_attempts


# A month of virtual time: CPU-bound, so a loaded machine needs more than the
# default hang guard.
@pytest.mark.timeout(600)
async def test_300_customers_4_agents_run_to_the_end_inside_window_and_hours(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    engine = sqlite_engine
    # Start on the 24th (before the window) in the evening: nothing may be dialed until
    # Tuesday 25th 08:30, then days, nights and the Saturday-afternoon/Sunday break pass.
    _clock, pbx, dialer = await setup(engine, tmp_path, 300, lp(2025, 2, 24, 18, 0))
    await drive(pbx, dialer, lp(2025, 2, 25, 8, 29))
    assert pbx.requests == []
    await drive(pbx, dialer, lp(2025, 4, 2, 0, 0))
    assert dialer.done
    assert pbx.violations == []
    assert pbx.max_out_seen <= len(AGENTS)
    first = min(at for at, _ in pbx.requests)
    assert first == lp(2025, 2, 25, 8, 30)
    state = await load_state(engine, MONTH)
    for customer in state.customers:
        tried = state.attempts[customer.contract]
        assert len(tried) == expected_attempts(customer.phones), customer
        assert all(a.outcome != "placing" for a in tried)
        answered = [a for a in tried if a.outcome == "answered"]
        assert len(answered) <= 1
        assert answered == [] or answered[0] is tried[-1]  # never called after the answer
        for before, after in itertools.pairwise(tried):
            assert before.result_at is not None
            assert after.placed_at - before.result_at >= RETRY.spacing(before.outcome)
    # every answered call reached an agent, who got the customer's pop data
    answered_ids = {
        a.attempt_id for t in state.attempts.values() for a in t if a.outcome == "answered"
    }
    assert {a for a, _ in pbx.connected} == answered_ids
    assert all(
        a.agent in AGENTS for t in state.attempts.values() for a in t if a.outcome == "answered"
    )


async def test_never_more_calls_than_free_agents_as_agents_come_and_go(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    _clock, pbx, dialer = await setup(sqlite_engine, tmp_path, 40, lp(2025, 2, 25, 9, 0), agents=[])
    await drive(pbx, dialer, lp(2025, 2, 25, 9, 30))
    assert pbx.requests == []  # nobody logged in: nothing dialed
    pbx.agents.extend(AGENTS[:2])
    assert await dialer.step() == 2
    assert await dialer.step() == 0  # the two calls out use both agents
    pbx.agents.extend(AGENTS[2:])
    assert await dialer.step() == 2
    await drive(pbx, dialer, lp(2025, 2, 25, 11, 0))
    pbx.agents[:] = AGENTS[:1]
    await drive(pbx, dialer, lp(2025, 2, 25, 19, 0))
    assert pbx.violations == []
    assert pbx.max_out_seen <= 4


async def test_pause_and_resume_never_lose_or_repeat_a_call(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    engine = sqlite_engine
    _clock, pbx, dialer = await setup(engine, tmp_path, 60, lp(2025, 2, 25, 9, 0))
    await drive(pbx, dialer, lp(2025, 2, 25, 9, 20))
    placed = len(pbx.requests)
    assert placed > 0
    await set_status(engine, MONTH, "paused")  # e.g. `centralita campaign pause`
    await drive(pbx, dialer, lp(2025, 2, 25, 11, 0))
    assert len(pbx.requests) == placed  # calls out finished; nothing new
    rows = await results(engine)
    assert all(outcome is not None for _, outcome in rows)  # every call out got its result
    await dialer.set_paused(False)
    await drive(pbx, dialer, lp(2025, 3, 31, 23, 0))
    assert dialer.done
    assert pbx.violations == []
    rows = await results(engine)
    assert len(rows) == len(pbx.requests)


async def test_restart_with_calls_out_neither_repeats_nor_loses_them(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    engine = sqlite_engine
    clock, pbx, dialer = await setup(engine, tmp_path, 30, lp(2025, 2, 25, 9, 0))
    await dialer.step()
    out = dict(dialer._out)
    assert len(out) == 4
    # The daemon dies with 4 calls ringing. A new one starts before their results arrive.
    restarted = Dialer(engine, MONTH, pbx, pbx, clock=clock, settings=dialer.settings)
    pbx.dialer = restarted
    assert await restarted.step() == 0  # the 4 calls out still hold the 4 agents
    assert set(restarted._out) == set(out)
    await drive(pbx, restarted, lp(2025, 3, 31, 23, 0))
    assert restarted.done
    assert pbx.violations == []
    rows = await results(engine)
    assert len(rows) == len(pbx.requests)
    assert all(outcome not in (None, "unknown") for _, outcome in rows)


async def test_results_lost_in_a_restart_become_unknown_and_are_retried_later(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    engine = sqlite_engine
    clock, pbx, dialer = await setup(engine, tmp_path, 4, lp(2025, 2, 25, 9, 0))
    pbx.script = lambda phone, n: "no_answer" if len(pbx.requests) <= 4 else "answered"
    assert await dialer.step() == 4
    pbx.lose_responses = True  # the daemon was down when the results came
    clock.advance(seconds=30)
    await pbx.run_due()
    pbx.lose_responses = False
    restarted = Dialer(engine, MONTH, pbx, pbx, clock=clock, settings=dialer.settings)
    pbx.dialer = restarted
    assert await restarted.step() == 0  # still waiting for the results
    clock.advance(seconds=60)  # past ring timeout + grace
    assert await restarted.step() == 0  # now unknown, retried after its spacing only
    assert Counter(o for _, o in await results(engine)) == {"unknown": 4}
    await drive(pbx, restarted, lp(2025, 2, 25, 12, 0))
    assert restarted.done
    assert Counter(o for _, o in await results(engine)) == {"unknown": 4, "answered": 4}
    retries = [at for at, r in pbx.requests[4:]]
    assert min(retries) >= lp(2025, 2, 25, 10, 1, 30)
    assert pbx.violations == []


async def test_dnc_paid_and_wrong_number(sqlite_engine: AsyncEngine, tmp_path: Path) -> None:
    engine = sqlite_engine
    clock, pbx, dialer = await setup(engine, tmp_path, 6, lp(2025, 2, 25, 9, 0), agents=AGENTS[:1])
    # C1000 has phones 70001000 and 2001000; C1001 only 70001001; C1002 is paid.
    await import_dnc(engine, write(tmp_path / "d.csv", "telefono\n70001001\n"), now_ms=0)
    await import_payments(
        engine, write(tmp_path / "p.csv", "contrato,fecha_pago\nC1002,2025-02-25\n"), now_ms=0
    )
    await import_dnc(engine, write(tmp_path / "e.csv", "contrato\nC1003\n"), now_ms=0)
    pbx.agents[:] = []
    await dialer.step()
    pbx.agents[:] = AGENTS[:1]
    await dialer.step()
    first = pbx.requests[0][1]
    assert first.variables["CC_CONTRACT"] == "C1000"
    clock.advance(seconds=25)
    await pbx.run_due()
    await add_disposition(engine, first.attempt_id, "numero_equivocado", agent="a1", at=clock())
    await drive(pbx, dialer, lp(2025, 2, 25, 19, 0))
    called = [r.variables["CC_CONTRACT"] for _, r in pbx.requests]
    assert "C1001" not in called and "C1002" not in called and "C1003" not in called
    assert [
        (r.variables["CC_CONTRACT"], r.phone)
        for _, r in pbx.requests
        if r.variables["CC_CONTRACT"] == "C1000"
    ] == [
        ("C1000", "70001000"),
        ("C1000", "2001000"),
    ]


async def test_originate_failures_are_not_counted_and_retried(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    engine = sqlite_engine
    clock, pbx, dialer = await setup(engine, tmp_path, 2, lp(2025, 2, 25, 9, 0))
    pbx.fail_sends = True
    assert await dialer.step() == 0
    assert Counter(o for _, o in await results(engine)) == {"not_sent": 2}
    pbx.fail_sends = False
    clock.advance(minutes=2)
    await drive(pbx, dialer, lp(2025, 2, 25, 10, 0))
    assert dialer.done
    state = await load_state(engine, MONTH)
    assert [a.outcome for a in state.attempts["C1000"]] == ["not_sent", "answered"]
    assert pbx.requests[0][1].variables["CC_SCRIPT"] == "prepago"
    assert clock() - timedelta(minutes=2) < lp(2025, 2, 25, 10, 0)
