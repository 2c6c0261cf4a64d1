"""What the stored AMI event log says about our calls (read only; the listener writes it).

When the dialer was down (a restart, a crash between the log write and the dialer) the
``OriginateResponse`` of a call it had out may still have been recorded by the listener
(the daemon's, or this process's before it stopped). :func:`originate_results` finds them
so that the attempt gets its real result instead of ``unknown``; :func:`agent_connected`
finds the agent an answered call reached (``AgentConnect`` of the caller's Uniqueid).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralita.ami_listener.events import AgentConnect, OriginateResponse, decode_event
from centralita.ami_listener.exceptions import EventDecodeError
from centralita.ami_listener.pipeline import message_from_row
from centralita.ami_listener.protocol import AmiMessage
from centralita.ami_listener.schema import ami_events

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LoggedResult:
    """An OriginateResponse found in the log, with its event time (None: no Timestamp)."""

    event: OriginateResponse
    at: datetime | None


async def _has_log(conn: AsyncConnection) -> bool:
    return bool(await conn.run_sync(lambda c: sa.inspect(c).has_table(ami_events.name)))


def _decode(raw: str) -> object | None:
    msg = message_from_row(raw)
    if not isinstance(msg, AmiMessage):
        return None
    try:
        return decode_event(msg)
    except EventDecodeError:
        return None


async def originate_results(
    engine: AsyncEngine, action_ids: Collection[str], since: datetime
) -> dict[str, LoggedResult]:
    """The logged OriginateResponse of each of `action_ids` (first one wins), looking at
    events stamped (or, without a Timestamp, received) at `since` or later.

    An empty answer when the log table does not exist (a campaign-only database).
    """
    wanted = set(action_ids)
    if not wanted:
        return {}
    since_ms = round(since.timestamp() * 1000)
    query = (
        sa.select(ami_events.c.raw)
        .where(
            ami_events.c.event == "OriginateResponse",
            sa.or_(
                ami_events.c.ts_ms >= since_ms,
                sa.and_(ami_events.c.ts_ms.is_(None), ami_events.c.received_ms >= since_ms),
            ),
        )
        .order_by(ami_events.c.id)
    )
    found: dict[str, LoggedResult] = {}
    async with engine.connect() as conn:
        if not await _has_log(conn):
            log.info("campaign_event_log_missing", table=ami_events.name)
            return {}
        for (raw,) in await conn.execute(query):
            event = _decode(raw)
            if not isinstance(event, OriginateResponse) or event.action_id not in wanted:
                continue
            if event.action_id in found:
                continue
            at = None if event.timestamp is None else datetime.fromtimestamp(event.timestamp, UTC)
            found[event.action_id] = LoggedResult(event, at)
    return found


async def agent_connected(engine: AsyncEngine, uniqueid: str) -> tuple[str, datetime | None]:
    """The agent interface an answered call was connected to, from its logged
    ``AgentConnect`` (``("", None)`` when there is none)."""
    if not uniqueid:
        return "", None
    query = (
        sa.select(ami_events.c.raw)
        .where(ami_events.c.uniqueid == uniqueid, ami_events.c.event == "AgentConnect")
        .order_by(ami_events.c.id)
    )
    async with engine.connect() as conn:
        if not await _has_log(conn):
            return "", None
        for (raw,) in await conn.execute(query):
            event = _decode(raw)
            if isinstance(event, AgentConnect) and event.agent_interface:
                at = (
                    None
                    if event.timestamp is None
                    else datetime.fromtimestamp(event.timestamp, UTC)
                )
                return event.agent_interface, at
    return "", None
