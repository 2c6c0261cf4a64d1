"""The outbox store: queue a message in the caller's transaction, read what is due, record
each attempt, list an agent's recent messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralita.mail.schema import FAILED, PENDING, SENT, outbox

LOCAL_TZ: Final = ZoneInfo("America/La_Paz")
STATE_LABELS: Final = {PENDING: "pendiente", SENT: "enviado", FAILED: "fallido"}
MAX_ERROR: Final = 500


class NewMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A rendered e-mail to queue (the recipient is resolved when it is sent)."""

    pbx_id: str
    call_uniqueid: str
    interaction_id: int | None
    agent: str
    user_name: str
    script_id: str
    step: int
    recipient: str
    subject: str
    body: str
    created_at_ms: int

    @property
    def dedupe_key(self) -> str:
        """One message per (pbx, call, script, step), however many times it is recorded."""
        return f"{self.pbx_id}|{self.call_uniqueid}|{self.script_id}|{self.step}"


class QueuedMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One outbox row as the sender and the console read it."""

    id: int
    pbx_id: str
    call_uniqueid: str
    interaction_id: int | None
    agent: str
    script_id: str
    step: int
    recipient: str
    to_address: str | None
    subject: str
    body: str
    state: str
    attempts: int
    last_error: str | None
    created_at_ms: int
    next_attempt_at_ms: int
    sent_at_ms: int | None


async def enqueue(conn: AsyncConnection, message: NewMessage) -> bool:
    """Queue `message` on `conn` (the caller's transaction); False when it was already queued."""
    row = {
        "dedupe_key": message.dedupe_key,
        "pbx_id": message.pbx_id,
        "call_uniqueid": message.call_uniqueid,
        "interaction_id": message.interaction_id,
        "agent": message.agent,
        "user_name": message.user_name,
        "script_id": message.script_id,
        "step": message.step,
        "recipient": message.recipient,
        "subject": message.subject[:300],
        "body": message.body,
        "state": PENDING,
        "attempts": 0,
        "created_at_ms": message.created_at_ms,
        "next_attempt_at_ms": message.created_at_ms,
    }
    insert: Any
    if conn.dialect.name == "postgresql":
        insert = postgresql.insert(outbox)
    else:
        insert = sqlite.insert(outbox)
    statement = insert.values(row).on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = await conn.execute(statement)
    return bool(result.rowcount)


def _message(row: Any) -> QueuedMessage:
    return QueuedMessage(
        id=int(row.id),
        pbx_id=row.pbx_id,
        call_uniqueid=row.call_uniqueid,
        interaction_id=row.interaction_id,
        agent=row.agent,
        script_id=row.script_id,
        step=int(row.step),
        recipient=row.recipient,
        to_address=row.to_address,
        subject=row.subject,
        body=row.body,
        state=row.state,
        attempts=int(row.attempts),
        last_error=row.last_error,
        created_at_ms=int(row.created_at_ms),
        next_attempt_at_ms=int(row.next_attempt_at_ms),
        sent_at_ms=None if row.sent_at_ms is None else int(row.sent_at_ms),
    )


class Outbox:
    """Reads and delivery updates of the ``outbox`` table (each in its own transaction)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def due(self, pbx_id: str, now_ms: int, limit: int = 50) -> list[QueuedMessage]:
        """Pending messages of this PBX whose next attempt time has come, oldest first."""
        query = (
            select(outbox)
            .where(
                and_(
                    outbox.c.pbx_id == pbx_id,
                    outbox.c.state == PENDING,
                    outbox.c.next_attempt_at_ms <= now_ms,
                )
            )
            .order_by(outbox.c.next_attempt_at_ms, outbox.c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_message(row) for row in rows]

    async def claim(self, message: QueuedMessage, lease_until_ms: int) -> bool:
        """Count one attempt and hold the message until `lease_until_ms`; False when
        another sender took it first (the row changed since it was read)."""
        statement = (
            update(outbox)
            .where(
                and_(
                    outbox.c.id == message.id,
                    outbox.c.state == PENDING,
                    outbox.c.attempts == message.attempts,
                )
            )
            .values(attempts=message.attempts + 1, next_attempt_at_ms=lease_until_ms)
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def mark_sent(self, message_id: int, to_address: str, now_ms: int) -> None:
        """The server accepted the message."""
        await self._set(
            message_id, state=SENT, to_address=to_address, sent_at_ms=now_ms, last_error=None
        )

    async def mark_retry(self, message_id: int, error: str, next_attempt_at_ms: int) -> None:
        """This attempt failed; try again at `next_attempt_at_ms`."""
        await self._set(
            message_id, last_error=error[:MAX_ERROR], next_attempt_at_ms=next_attempt_at_ms
        )

    async def mark_failed(self, message_id: int, error: str) -> None:
        """Given up: refused for good, or out of attempts."""
        await self._set(message_id, state=FAILED, last_error=error[:MAX_ERROR])

    async def _set(self, message_id: int, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(outbox).where(outbox.c.id == message_id).values(**values))

    async def recent(self, agent: str | None, limit: int = 50) -> list[QueuedMessage]:
        """The newest messages of one agent (None: of every agent), newest first."""
        query = select(outbox).order_by(outbox.c.created_at_ms.desc(), outbox.c.id.desc())
        if agent is not None:
            query = query.where(outbox.c.agent == agent)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit))).all()
        return [_message(row) for row in rows]


def local_time(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO local time of the center (America/La_Paz)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(LOCAL_TZ).isoformat(timespec="seconds")


def view(messages: Sequence[QueuedMessage]) -> list[dict[str, Any]]:
    """What the console shows of each message (states in Spanish, local times)."""
    return [
        {
            "id": m.id,
            "call_id": m.call_uniqueid,
            "interaction_id": m.interaction_id,
            "script_id": m.script_id,
            "step": m.step,
            "recipient": m.recipient,
            "to": m.to_address,
            "subject": m.subject,
            "state": m.state,
            "state_label": STATE_LABELS.get(m.state, m.state),
            "attempts": m.attempts,
            "last_error": m.last_error,
            "created_at": local_time(m.created_at_ms),
            "next_attempt_at": local_time(m.next_attempt_at_ms) if m.state == PENDING else None,
            "sent_at": local_time(m.sent_at_ms),
        }
        for m in messages
    ]
