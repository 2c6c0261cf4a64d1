"""Reconciliation of AMI records against queue_log: clean on every capture, and every
planted difference is found."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.ingest import ingest_capture
from centralita.metrics.periods import Period
from centralita.metrics.queue_log_import import import_queue_log, read_queue_log
from centralita.metrics.reconcile import reconcile, render_text
from tests.metrics.conftest import CAPTURES, FIXTURES, PBX, load_capture

NOV = Period.month("2026-11")


@pytest.mark.parametrize("capture", CAPTURES)
async def test_captures_reconcile_clean(engine: AsyncEngine, capture: str):
    await load_capture(engine, capture)
    result = await reconcile(engine, NOV, pbx_id=PBX)
    assert result.clean, render_text(result, NOV.tz)
    assert result.ami_calls == result.queue_log_calls == result.matched > 0
    assert "Sin diferencias" in render_text(result, NOV.tz)


async def test_other_month_is_empty(engine: AsyncEngine):
    await load_capture(engine, "GIT-master-f0c1c1a7b7")
    result = await reconcile(engine, Period.month("2026-10"))
    assert (result.ami_calls, result.queue_log_calls, result.differences) == (0, 0, [])


def _plant(text: str) -> tuple[str, dict[str, str]]:
    """Remove one call, stretch one answered wait, turn one abandon into a timeout."""
    lines = text.splitlines()
    connects = [ln for ln in lines if "|CONNECT|" in ln]
    abandons = [ln for ln in lines if "|ABANDON|" in ln]
    removed = connects[0].split("|")[1]
    stretched_line = connects[5]
    stretched = stretched_line.split("|")[1]
    retimed = abandons[0].split("|")[1]
    out = []
    for original in lines:
        parts = original.split("|")
        line = original
        if len(parts) > 1 and parts[1] == removed:
            continue
        if original == stretched_line:
            parts[5] = str(int(parts[5]) + 30)
            line = "|".join(parts)
        if original == abandons[0]:
            line = original.replace("|ABANDON|", "|EXITWITHTIMEOUT|")
        out.append(line)
    return "\n".join(out) + "\n", {
        "removed": removed,
        "stretched": stretched,
        "retimed": retimed,
    }


async def test_planted_differences_are_listed(any_engine: AsyncEngine):
    name = "GIT-master-f0c1c1a7b7"
    await ingest_capture((FIXTURES / f"{name}-scenario.ami").read_bytes(), any_engine, PBX)
    text, planted = _plant(read_queue_log(FIXTURES / f"{name}-queue_log"))
    await import_queue_log(text, any_engine, pbx_id=PBX)
    result = await reconcile(any_engine, NOV, pbx_id=PBX)
    found = {(d.uniqueid, d.kind) for d in result.differences}
    assert (planted["removed"], "falta_en_queue_log") in found
    assert (planted["stretched"], "espera") in found
    assert (planted["retimed"], "resultado") in found
    assert result.ami_calls == 80
    assert result.queue_log_calls == 79
    assert result.matched == 79
    assert result.identical == 79 - len(
        {d.uniqueid for d in result.differences} - {planted["removed"]}
    )
    text_out = render_text(result, NOV.tz)
    assert "falta en queue_log" in text_out
    assert "resultado distinto" in text_out
    assert "abandoned | timeout" in text_out


async def test_call_missing_from_ami_is_listed(engine: AsyncEngine):
    name = "GIT-16-113871b5f5"
    await load_capture(engine, name, ami=False)
    result = await reconcile(engine, NOV)
    assert result.ami_calls == 0
    assert len(result.differences) == 40
    assert {d.kind for d in result.differences} == {"falta_en_ami"}


@pytest.mark.parametrize("name", ["pause-redirect", "redirect-102-to-101", "redirect-to-interno"])
async def test_console_transfers_on_a_real_asterisk_reconcile_clean(
    any_engine: AsyncEngine, name: str
):
    # The console's transfers (AMI Redirect) captured on a real Asterisk: a caller moved to
    # another queue is transferred in both sources; one moved to an internal extension is
    # transferred in the AMI records only (queue_log cannot see it), which is no difference.
    stem = FIXTURES / "captures" / f"GIT-master-f0c1c1a7b7-{name}"
    await load_capture(any_engine, "", ami=False, ql=False)
    await ingest_capture(stem.with_suffix(".ami").read_bytes(), any_engine, PBX)
    text = read_queue_log(stem.parent / f"{stem.name}-queue_log")
    await import_queue_log(text, any_engine, pbx_id=PBX, source=name)
    month = Period.month("2026-12")
    result = await reconcile(any_engine, month, pbx_id=PBX)
    assert result.clean, render_text(result, month.tz)
    assert result.ami_calls == result.queue_log_calls == result.matched > 0


@pytest.mark.parametrize("source", ["ami", "queue_log"])
async def test_each_agent_is_credited_with_their_own_part_of_a_transfer(
    any_engine: AsyncEngine, source: str
):
    # The real capture: C talks to Agent 2 in q102, is transferred to q101 and talks to
    # Agent 1 there; Agent 2, freed, answers D. Per agent: Agent 2 two stays (C's first
    # part, D), Agent 1 one (C's second part), from the AMI records and from queue_log alike.
    from centralita.metrics.service_level import CountingRules
    from centralita.metrics.supervisor import supervisor_report

    name = "redirect-102-to-101"
    stem = FIXTURES / "captures" / f"GIT-master-f0c1c1a7b7-{name}"
    await load_capture(any_engine, "", ami=False, ql=False)
    await ingest_capture(stem.with_suffix(".ami").read_bytes(), any_engine, PBX)
    text = read_queue_log(stem.parent / f"{stem.name}-queue_log")
    await import_queue_log(text, any_engine, pbx_id=PBX, source=name)
    sup = await supervisor_report(
        any_engine,
        Period.month("2026-12"),
        CountingRules(),
        source="ami" if source == "ami" else "queue_log",
        pbx_id=PBX,
    )
    agents = {a.agent: a for a in sup.agents}
    assert {k: v.calls for k, v in agents.items()} == {"Agent 2": 2, "Agent 1": 1}
    # queue_log: C ENTERQUEUE q102 ...324 CONNECT, ...329 ENTERQUEUE q101, ...332 CONNECT,
    # ...375 COMPLETEAGENT (43 s); D CONNECT ...342, COMPLETEAGENT 43 s
    assert agents["Agent 1"].talk_s == pytest.approx(43, abs=1)
    assert agents["Agent 2"].talk_s == pytest.approx(5 + 43, abs=1.5)


async def test_migration_0015_gives_single_stay_calls_their_talk(db_url: str) -> None:
    # A database of the previous version: a call answered in one stay, and one answered
    # in two (transferred); only the first one's stay talk is known after the upgrade.
    from typing import Any

    import sqlalchemy as sa

    from centralita.ami_listener.schema import calls, queue_entries
    from centralita.ami_listener.store import make_engine
    from centralita.db import migrate
    from tests.conftest import upgrade_to

    def call(uid: str, talk_ms: int) -> dict[str, Any]:
        return {
            "pbx_id": PBX, "uniqueid": uid, "linkedid": uid, "service": "102", "exten": "102",
            "queue": "q102", "queues": "q102", "caller_num": "4455667", "caller_name": "",
            "entered_at_ms": 1_000, "answered_at_ms": 2_000, "ended_at_ms": 50_000,
            "talk_ms": talk_ms, "outcome": "answered", "transferred": False, "resynced": False,
            "gap": False, "source": "ami", "marks": "", "agent_interface": "", "agent_name": "",
            "ring_no_answer": 0, "join_position": 1,
        }  # fmt: skip

    def stay(uid: str, seq: int, answered: int | None) -> dict[str, Any]:
        return {
            "pbx_id": PBX, "uniqueid": uid, "seq": seq, "queue": "q102", "service": "102",
            "entered_at_ms": 1_000, "answered_at_ms": answered, "join_position": 1,
            "agent_interface": "", "agent_name": "", "ring_no_answer": 0, "exit_key": "",
        }  # fmt: skip

    engine = make_engine(db_url)
    try:
        await upgrade_to(engine, "0014")
        old_entries = sa.table(
            "queue_entries", *(sa.column(c.name) for c in queue_entries.c if c.name != "talk_ms")
        )
        async with engine.begin() as conn:
            await conn.execute(sa.insert(calls), [call("one", 48_000), call("two", 48_000)])
            await conn.execute(
                sa.insert(old_entries),
                [stay("one", 0, 2_000), stay("two", 0, 2_000), stay("two", 1, 9_000)],
            )
        await migrate(engine)
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(
                    queue_entries.c.uniqueid, queue_entries.c.seq, queue_entries.c.talk_ms
                ).order_by(queue_entries.c.uniqueid, queue_entries.c.seq)
            )
            got = [tuple(r) for r in rows]
    finally:
        await engine.dispose()
    assert got == [("one", 0, 48_000), ("two", 0, None), ("two", 1, None)]
