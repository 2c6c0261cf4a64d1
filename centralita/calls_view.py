"""`centralita calls`: list call records as a table, CSV or JSON (audit view)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.records import iso_utc
from centralita.ami_listener.schema import calls
from centralita.metrics.cellsafe import protect_value

LA_PAZ = ZoneInfo("America/La_Paz")

CSV_COLUMNS: tuple[str, ...] = (
    "pbx_id",
    "uniqueid",
    "linkedid",
    "service",
    "queue",
    "queues",
    "caller",
    "caller_name",
    "entered_at",
    "answered_at",
    "ended_at",
    "wait_s",
    "wait_asterisk_s",
    "holdtime_s",
    "talk_s",
    "agent",
    "agent_interface",
    "outcome",
    "answered",
    "transferred",
    "ring_no_answer",
    "join_position",
    "abandon_position",
    "gap",
    "source",
    "marks",
)


def month_range_ms(month: str) -> tuple[int, int]:
    """``YYYY-MM`` → [start, end) in epoch ms, calendar month in America/La_Paz.

    Raises:
        ValueError: when ``month`` is not ``YYYY-MM``.
    """
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=LA_PAZ)
    except ValueError as exc:
        raise ValueError(f"--month: expected YYYY-MM, got {month!r}") from exc
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else (start.replace(month=start.month + 1))
    )
    return round(start.timestamp() * 1000), round(end.timestamp() * 1000)


def _secs(value: int | None, scale: float = 1000.0) -> float | None:
    return None if value is None else round(value / scale, 3)


async def fetch_calls(
    engine: AsyncEngine, month: str | None = None, pbx_id: str | None = None
) -> list[dict[str, Any]]:
    """Call records as flat dicts with CSV_COLUMNS keys, ordered by entry time."""
    query = sa.select(calls).order_by(calls.c.entered_at_ms, calls.c.uniqueid)
    if month is not None:
        lo, hi = month_range_ms(month)
        query = query.where(calls.c.entered_at_ms >= lo, calls.c.entered_at_ms < hi)
    if pbx_id is not None:
        query = query.where(calls.c.pbx_id == pbx_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    out = []
    for r in rows:
        out.append(
            {
                "pbx_id": r["pbx_id"],
                "uniqueid": r["uniqueid"],
                "linkedid": r["linkedid"],
                "service": r["service"],
                "queue": r["queue"],
                "queues": r["queues"],
                "caller": r["caller_num"],
                "caller_name": r["caller_name"],
                "entered_at": iso_utc(_secs(r["entered_at_ms"])),
                "answered_at": iso_utc(_secs(r["answered_at_ms"])),
                "ended_at": iso_utc(_secs(r["ended_at_ms"])),
                "wait_s": _secs(r["wait_ms"]),
                "wait_asterisk_s": r["wait_asterisk_s"],
                "holdtime_s": r["holdtime_s"],
                "talk_s": _secs(r["talk_ms"]),
                "agent": r["agent_name"],
                "agent_interface": r["agent_interface"],
                "outcome": r["outcome"],
                "answered": r["answered_at_ms"] is not None,
                "transferred": bool(r["transferred"]),
                "ring_no_answer": r["ring_no_answer"],
                "join_position": r["join_position"],
                "abandon_position": r["abandon_position"],
                "gap": bool(r["gap"]),
                "source": r["source"],
                "marks": r["marks"],
            }
        )
    return out


def _csv_field(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return protect_value(value)  # a caller number or name never starts a formula


def render_csv(rows: list[dict[str, Any]]) -> str:
    """CSV with a header row; booleans as true/false, missing values empty; texts that a
    spreadsheet would read as formulas get a quote in front (:mod:`metrics.cellsafe`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_field(v) for k, v in row.items()})
    return buf.getvalue()


def render_json(rows: list[dict[str, Any]]) -> str:
    """JSON array of call objects."""
    return json.dumps(rows, ensure_ascii=False, indent=1)


def render_table(rows: list[dict[str, Any]]) -> str:
    """A compact terminal table."""
    cols = ("uniqueid", "service", "queue", "entered_at", "wait_s", "talk_s", "agent", "outcome")
    widths = {
        c: max([len(c)] + [len(str(r[c] if r[c] is not None else "")) for r in rows]) for c in cols
    }
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines.append("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        lines.append(
            "  ".join(str(r[c] if r[c] is not None else "").ljust(widths[c]) for c in cols)
        )
    lines.append(f"{len(rows)} llamadas")
    return "\n".join(lines)
