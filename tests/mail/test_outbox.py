"""Recording an interaction queues its e-mail steps' messages in the same transaction,
once per call and step, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.console.interactions import InteractionStore
from centralita.console.schema import interactions
from centralita.mail.outbox import Outbox
from centralita.mail.schema import outbox
from tests.mail.helpers import BILLING, POP, SUPERVISOR_103, WEEKEND_DAMAGE, interaction


async def rows(engine: AsyncEngine) -> list[sa.Row[tuple[object, ...]]]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(outbox).order_by(outbox.c.id))).all())


async def test_an_email_step_queues_its_rendered_message(engine: AsyncEngine) -> None:
    item = interaction(WEEKEND_DAMAGE)
    new_id = await InteractionStore(engine).append(item, call=POP)
    [row] = await rows(engine)
    assert row.state == "pending" and row.attempts == 0 and row.last_error is None
    assert row.interaction_id == new_id
    assert (row.pbx_id, row.call_uniqueid, row.agent, row.user_name) == (
        "lab",
        "1795940000.7",
        "agent1",
        "ana",
    )
    assert (row.script_id, row.step, row.recipient) == ("4639999", 7, "encargado_telefonia_publica")
    assert row.to_address is None  # resolved from [mail] recipients when sent
    assert row.subject == "Daño de telefonía pública (fin de semana): 70111222, contrato 1234567"
    local = datetime.fromtimestamp(item.recorded_at_ms / 1000, UTC).astimezone(
        ZoneInfo("America/La_Paz")
    )
    assert f"Fecha y hora: {local:%d/%m/%Y %H:%M} (hora de Bolivia)" in row.body
    assert "Cliente: Juana Pérez\nContrato: 1234567\nTeléfono del que llamó: 70111222" in row.body
    assert "Servicio: 4639999 (Telefonía Pública)" in row.body
    assert "Registrado por: Ana Quispe" in row.body
    assert "Teléfono público de la plaza sin tono desde el sábado" in row.body
    assert row.next_attempt_at_ms == row.created_at_ms == item.recorded_at_ms


async def test_a_walk_without_email_steps_queues_nothing(engine: AsyncEngine) -> None:
    await InteractionStore(engine).append(interaction(BILLING), call=POP)
    assert await rows(engine) == []


async def test_the_supervisor_part_of_103_mails_the_sector_head(engine: AsyncEngine) -> None:
    pop = {**POP, "service": "103", "service_name": "Información de Instalaciones"}
    item = interaction(SUPERVISOR_103, script_id="103", note="Visita el lunes; Av. Blanco 123")
    await InteractionStore(engine).append(item, call=pop)
    [row] = await rows(engine)
    assert (row.script_id, row.step, row.recipient) == ("103", 15, "jefatura_sector")
    assert row.subject == "Nueva digitación de servicio: contrato 1234567 (Juana Pérez)"
    assert "Visita el lunes; Av. Blanco 123" in row.body


async def test_recording_again_queues_one_message_however_many_clicks(
    engine: AsyncEngine,
) -> None:
    store = InteractionStore(engine)
    first = await store.append(interaction(WEEKEND_DAMAGE), call=POP)
    # a double click, then several at once: each is a new interaction (append-only)
    await store.append(interaction(WEEKEND_DAMAGE), call=POP)
    await asyncio.gather(*(store.append(interaction(WEEKEND_DAMAGE), call=POP) for _ in range(4)))
    async with engine.connect() as conn:
        recorded = (
            await conn.execute(sa.select(sa.func.count()).select_from(interactions))
        ).scalar()
    assert recorded == 6
    [row] = await rows(engine)
    assert row.interaction_id == first
    # another call's same step is another message
    await store.append(interaction(WEEKEND_DAMAGE, call_id="1795940000.8"), call=POP)
    assert [r.call_uniqueid for r in await rows(engine)] == ["1795940000.7", "1795940000.8"]


async def test_the_message_is_part_of_the_interactions_transaction(engine: AsyncEngine) -> None:
    # With the outbox gone the message cannot be queued: the interaction is not stored
    # either (one transaction), so no e-mail step is ever recorded without its message.
    async with engine.begin() as conn:
        await conn.execute(sa.text("DROP TABLE outbox"))
    with pytest.raises(sa.exc.DBAPIError):
        await InteractionStore(engine).append(interaction(WEEKEND_DAMAGE), call=POP)
    async with engine.connect() as conn:
        recorded = (
            await conn.execute(sa.select(sa.func.count()).select_from(interactions))
        ).scalar()
    assert recorded == 0


async def test_recent_lists_an_agents_messages_newest_first(engine: AsyncEngine) -> None:
    store = InteractionStore(engine)
    await store.append(interaction(WEEKEND_DAMAGE, call_id="c1"), call=POP)
    await store.append(interaction(WEEKEND_DAMAGE, call_id="c2", agent="agent2"), call=POP)
    await store.append(interaction(SUPERVISOR_103, script_id="103", call_id="c3"), call=POP)
    mine = await Outbox(engine).recent("agent1")
    assert {m.call_uniqueid for m in mine} == {"c1", "c3"}
    assert [m.created_at_ms for m in mine] == sorted((m.created_at_ms for m in mine), reverse=True)
    assert len(await Outbox(engine).recent(None)) == 3


async def test_the_mail_is_dated_by_the_call_not_by_when_it_was_saved(
    engine: AsyncEngine,
) -> None:
    # A damage called in on Saturday afternoon and saved later: the manager reads the
    # call's date and time (La Paz), which the pop carries as answered_at.
    call = {**POP, "answered_at": "2026-12-05T19:03:00+00:00"}
    await InteractionStore(engine).append(interaction(WEEKEND_DAMAGE), call=call)
    [row] = await rows(engine)
    assert "Fecha y hora: 05/12/2026 15:03 (hora de Bolivia)" in row.body
