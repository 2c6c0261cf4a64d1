"""Reading and writing the campaign tables (SQLAlchemy 2 async; SQLite and PostgreSQL).

The dialer's memory is here: an attempt is written (``placing``) and committed before its
Originate is sent, its result is written once (the first result wins), so after a pause,
a crash or a restart the next decision is taken from these rows alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from centralita.campaigns.exceptions import (
    CampaignNotFoundError,
    DispositionConflictError,
    DispositionError,
)
from centralita.campaigns.model import DISPOSITIONS, PLACING, Attempt, Customer, Service
from centralita.campaigns.scheduler import Blocklist
from centralita.campaigns.schema import (
    attempt_agents,
    attempt_results,
    attempts,
    campaigns,
    customers_in_list,
    dispositions,
    do_not_call,
    payments,
)
from centralita.campaigns.window import DEFAULT_WINDOW_RULE, WindowRule, campaign_window


def to_ms(moment: datetime) -> int:
    """Aware datetime → epoch milliseconds."""
    return round(moment.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    """Epoch milliseconds → aware UTC datetime."""
    return datetime.fromtimestamp(value / 1000, UTC)


def first_key(result: Any) -> Any:
    """The new row's primary key of an INSERT result."""
    key = result.inserted_primary_key
    assert key is not None
    return key[0]


def _insert_ignore(conn: AsyncConnection, table: sa.Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for either dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


@dataclass(frozen=True, slots=True)
class CampaignRow:
    """One campaign."""

    campaign_id: int
    month: str
    status: str
    script_id: str


async def get_campaign(engine: AsyncEngine, month: str) -> CampaignRow:
    """The campaign of `month`, or CampaignNotFoundError."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(campaigns).where(campaigns.c.month == month))).first()
    if row is None:
        raise CampaignNotFoundError(f"no hay campaña para {month}: importe primero su lista")
    return CampaignRow(row.id, row.month, row.status, row.script_id)


async def set_status(engine: AsyncEngine, month: str, status: str) -> CampaignRow:
    """Pause (``paused``) or resume (``active``) a campaign."""
    found = await get_campaign(engine, month)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(campaigns).where(campaigns.c.id == found.campaign_id).values(status=status)
        )
    return CampaignRow(found.campaign_id, found.month, status, found.script_id)


@dataclass
class CampaignState:
    """Everything the scheduler and the report need about one campaign."""

    campaign: CampaignRow
    customers: list[Customer]
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    blocklist: Blocklist = field(default_factory=Blocklist)
    payments: dict[str, list[date]] = field(default_factory=dict)


async def load_customers(conn: AsyncConnection, campaign_id: int) -> list[Customer]:
    """The campaign list in import order."""
    rows = await conn.execute(
        sa.select(customers_in_list)
        .where(customers_in_list.c.campaign_id == campaign_id)
        .order_by(customers_in_list.c.id)
    )
    out: list[Customer] = []
    for row in rows:
        service: Service = "internet" if row.service == "internet" else "tv_cable"
        phones = tuple(p for p in row.phones.split(";") if p)
        out.append(
            Customer(row.contract, row.name, service, phones, date.fromisoformat(row.due_date))
        )
    return out


async def load_attempts(conn: AsyncConnection, campaign_id: int) -> dict[str, list[Attempt]]:
    """Each contract's attempts in placing order, with result, agent and last disposition."""
    query = (
        sa.select(
            attempts.c.id,
            attempts.c.contract,
            attempts.c.phone,
            attempts.c.placed_ms,
            attempt_results.c.outcome,
            attempt_results.c.at_ms,
            attempt_agents.c.agent,
        )
        .select_from(
            attempts.outerjoin(
                attempt_results, attempt_results.c.attempt_id == attempts.c.id
            ).outerjoin(attempt_agents, attempt_agents.c.attempt_id == attempts.c.id)
        )
        .where(attempts.c.campaign_id == campaign_id)
        .order_by(attempts.c.id)
    )
    disp_query = (
        sa.select(dispositions.c.attempt_id, dispositions.c.code, dispositions.c.agent)
        .select_from(dispositions.join(attempts, attempts.c.id == dispositions.c.attempt_id))
        .where(attempts.c.campaign_id == campaign_id)
        .order_by(dispositions.c.id)
    )
    last_disp: dict[int, tuple[str, str]] = {}
    for attempt_id, code, agent in await conn.execute(disp_query):
        last_disp[attempt_id] = (code, agent)
    out: dict[str, list[Attempt]] = defaultdict(list)
    for row in await conn.execute(query):
        disp = last_disp.get(row.id)
        out[row.contract].append(
            Attempt(
                attempt_id=row.id,
                contract=row.contract,
                phone=row.phone,
                placed_at=from_ms(row.placed_ms),
                outcome=row.outcome or PLACING,
                result_at=None if row.at_ms is None else from_ms(row.at_ms),
                agent=row.agent or "",
                disposition=disp[0] if disp else None,
                disposition_agent=disp[1] if disp else "",
            )
        )
    return dict(out)


async def load_state(
    engine: AsyncEngine,
    month: str,
    customers: list[Customer] | None = None,
    *,
    rule: WindowRule = DEFAULT_WINDOW_RULE,
) -> CampaignState:
    """Load one campaign whole; pass `customers` to reuse an already loaded list. The
    payments read are those inside the campaign's window (`rule`)."""
    found = await get_campaign(engine, month)
    window = campaign_window(month, rule)
    async with engine.connect() as conn:
        if customers is None:
            customers = await load_customers(conn, found.campaign_id)
        tried = await load_attempts(conn, found.campaign_id)
        dnc = (await conn.execute(sa.select(do_not_call.c.kind, do_not_call.c.value))).all()
        rows = await conn.execute(
            sa.select(payments.c.contract, payments.c.paid_on).where(
                payments.c.paid_on >= window.first_day.isoformat(),
                payments.c.paid_on <= window.last_day.isoformat(),
            )
        )
        listed = {c.contract for c in customers}
        paid: dict[str, list[date]] = defaultdict(list)
        for contract, paid_on in rows:
            if contract in listed:
                paid[contract].append(date.fromisoformat(paid_on))
    blocklist = Blocklist(
        dnc_phones=frozenset(v for k, v in dnc if k == "phone"),
        dnc_contracts=frozenset(v for k, v in dnc if k == "contract"),
        paid_contracts=frozenset(paid),
    )
    return CampaignState(
        found, customers, tried, blocklist, {k: sorted(v) for k, v in paid.items()}
    )


async def count_customers(engine: AsyncEngine, campaign_id: int) -> int:
    """How many customers the campaign list has (to notice a later import)."""
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(customers_in_list)
            .where(customers_in_list.c.campaign_id == campaign_id)
        )
    return int(found or 0)


async def add_attempt(
    engine: AsyncEngine,
    *,
    campaign_id: int,
    contract: str,
    phone: str,
    attempt_no: int,
    queue: str,
    action_prefix: str,
    placed_at: datetime,
) -> tuple[int, str]:
    """Write a ``placing`` attempt and commit it; return (attempt id, its ActionID)."""
    async with engine.begin() as conn:
        provisional = f"{action_prefix}-pending-{contract}-{attempt_no}-{to_ms(placed_at)}"
        result = await conn.execute(
            sa.insert(attempts).values(
                campaign_id=campaign_id,
                contract=contract,
                phone=phone,
                attempt_no=attempt_no,
                queue=queue,
                action_id=provisional,
                placed_ms=to_ms(placed_at),
            )
        )
        attempt_id = int(first_key(result))
        action_id = f"{action_prefix}-{attempt_id}"
        await conn.execute(
            sa.update(attempts).where(attempts.c.id == attempt_id).values(action_id=action_id)
        )
    return attempt_id, action_id


async def add_result(
    engine: AsyncEngine,
    attempt_id: int,
    outcome: str,
    at: datetime,
    *,
    reason_code: int | None = None,
    uniqueid: str = "",
    channel: str = "",
) -> bool:
    """Write an attempt's result; False when it already had one (the first one wins)."""
    async with engine.begin() as conn:
        stmt = _insert_ignore(conn, attempt_results).values(
            attempt_id=attempt_id,
            outcome=outcome,
            reason_code=reason_code,
            uniqueid=uniqueid,
            channel=channel,
            at_ms=to_ms(at),
        )
        result = await conn.execute(stmt)
    return bool(result.rowcount)


async def add_agent(engine: AsyncEngine, attempt_id: int, agent: str, at: datetime) -> None:
    """Record the agent the answered call was connected to (first one wins)."""
    async with engine.begin() as conn:
        await conn.execute(
            _insert_ignore(conn, attempt_agents).values(
                attempt_id=attempt_id, agent=agent, at_ms=to_ms(at)
            )
        )


@dataclass(frozen=True, slots=True)
class StoredResult:
    """The agent's result of one attempt (one per attempt: the first one recorded)."""

    attempt_id: int
    code: str
    agent: str
    note: str
    at: datetime
    created: bool
    """False when the attempt already had this result (a repeated click, a retry)."""


async def attempt_agent(engine: AsyncEngine, attempt_id: int) -> str | None:
    """The agent (queue member interface) the attempt was bridged to; None if none."""
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.select(attempt_agents.c.agent).where(attempt_agents.c.attempt_id == attempt_id)
        )
    return None if found is None else str(found)


async def add_disposition(
    engine: AsyncEngine,
    attempt_id: int,
    code: str,
    *,
    agent: str,
    at: datetime,
    note: str = "",
) -> StoredResult:
    """Record the agent's result for an attempt an agent talked on (answered and bridged).

    Idempotent: an attempt has one result; recording it again (a second click, a retried
    request) stores nothing and returns the stored one with ``created=False``.

    Raises:
        DispositionError: unknown code, no such attempt, not answered, or never bridged to
            an agent (nobody spoke with the customer), or a different result is stored.
    """
    if code not in DISPOSITIONS:
        raise DispositionError(f"resultado {code!r} desconocido (use: {', '.join(DISPOSITIONS)})")
    async with engine.begin() as conn:
        outcome = await conn.scalar(
            sa.select(attempt_results.c.outcome).where(attempt_results.c.attempt_id == attempt_id)
        )
        if outcome is None:
            exists = await conn.scalar(sa.select(attempts.c.id).where(attempts.c.id == attempt_id))
            if exists is None:
                raise DispositionError(f"el intento {attempt_id} no existe")
            raise DispositionError(f"el intento {attempt_id} aún no tiene resultado")
        if outcome != "answered":
            raise DispositionError(f"el intento {attempt_id} no fue contestado ({outcome})")
        bridged = await conn.scalar(
            sa.select(attempt_agents.c.agent).where(attempt_agents.c.attempt_id == attempt_id)
        )
        if bridged is None:
            raise DispositionError(
                f"el intento {attempt_id} no llegó a ningún agente: nadie habló con el cliente"
            )
        result = await conn.execute(
            _insert_ignore(conn, dispositions).values(
                attempt_id=attempt_id, code=code, agent=agent, note=note, at_ms=to_ms(at)
            )
        )
        created = bool(result.rowcount)
        row = (
            await conn.execute(
                sa.select(dispositions).where(dispositions.c.attempt_id == attempt_id)
            )
        ).one()
    if not created and row.code != code:
        raise DispositionConflictError(
            f"el intento {attempt_id} ya tiene el resultado {row.code!r} "
            f"({DISPOSITIONS.get(row.code, row.code)}); no se cambia"
        )
    return StoredResult(attempt_id, row.code, row.agent, row.note, from_ms(row.at_ms), created)


async def attempt_for_action(engine: AsyncEngine, action_id: str) -> int | None:
    """The attempt id of an Originate's ActionID, if it is one of ours."""
    async with engine.connect() as conn:
        found = await conn.scalar(sa.select(attempts.c.id).where(attempts.c.action_id == action_id))
    return None if found is None else int(found)
