"""Live state for the wallboard: an EffectSink fed by the tracker's effects.

Per queue: callers waiting and the longest wait, agents available / on call / paused.
Per measured service: today's calls (America/La_Paz) and the share answered within the
threshold (Asterisk's whole-second wait ``<= 20``, the indicator's rule), from the calls
table at start-up (``load_today``) plus every call finished since.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ami_listener.schema import calls
from ami_listener.tracker import (
    CallAnswered,
    CallFinished,
    CallJoined,
    CallLeftQueue,
    Effect,
    MemberUpdated,
)

DEFAULT_MEASURED = ("101", "104", "800131313", "4639999")
OFFLINE_STATUSES = frozenset({4, 5})  # invalid, unavailable


class _Member:
    __slots__ = ("in_call", "name", "paused", "status")

    def __init__(self, name: str, status: int, paused: bool, in_call: bool) -> None:
        self.name, self.status, self.paused, self.in_call = name, status, paused, in_call

    @property
    def state(self) -> str:
        if self.in_call:
            return "on_call"
        if self.paused:
            return "paused"
        if self.status in OFFLINE_STATUSES:
            return "offline"
        return "available"


class LiveState:
    """What the wallboard shows, kept up to date from tracker effects (enqueue-cheap)."""

    def __init__(
        self,
        pbx_id: str,
        *,
        measured: Iterable[str] = DEFAULT_MEASURED,
        service_names: Mapping[str, str] | None = None,
        queue_services: Mapping[str, str] | None = None,
        threshold_s: int = 20,
        target_pct: float = 80.0,
        timezone: str = "America/La_Paz",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pbx_id = pbx_id
        self.measured = tuple(measured)
        self.names = dict(service_names or {})
        self.queue_services = dict(queue_services or {})
        self.threshold_s = threshold_s
        self.target_pct = target_pct
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.clock = clock
        self.waiting: dict[str, dict[str, float]] = {}
        self.members: dict[tuple[str, str], _Member] = {}
        self._day: dict[tuple[dt.date, str], list[int]] = {}  # (date, service) -> [within, n]
        self._counted: set[str] = set()

    # ------------------------------------------------------------------ effects
    def handle(self, effect: Effect) -> None:
        """Fold one tracker effect (no I/O)."""
        if isinstance(effect, CallJoined):
            entry = effect.call.entries[-1]
            self.waiting.setdefault(effect.queue, {})[effect.call.uniqueid] = entry.entered_at
            self.queue_services.setdefault(effect.queue, entry.service)
        elif isinstance(effect, CallAnswered | CallLeftQueue):
            self.waiting.get(effect.queue, {}).pop(effect.call.uniqueid, None)
        elif isinstance(effect, CallFinished):
            call = effect.call
            for queue in call.queues:
                self.waiting.get(queue, {}).pop(call.uniqueid, None)
            self._count(
                call.uniqueid, call.service, call.entered_at, call.answered, call.wait_asterisk_s
            )
        elif isinstance(effect, MemberUpdated):
            key = (effect.queue, effect.interface)
            if effect.removed:
                self.members.pop(key, None)
            else:
                self.members[key] = _Member(
                    effect.name, effect.status, effect.paused, effect.in_call
                )

    def _count(
        self, uid: str, service: str, entered_at: float, answered: bool, wait_s: int | None
    ) -> None:
        if uid in self._counted:
            return
        self._counted.add(uid)
        day = dt.datetime.fromtimestamp(entered_at, self.tz).date()
        cell = self._day.setdefault((day, service), [0, 0])
        cell[1] += 1
        if answered and wait_s is not None and wait_s <= self.threshold_s:
            cell[0] += 1

    async def load_today(self, engine: AsyncEngine) -> int:
        """Count today's calls already stored (run once at start-up); returns how many."""
        now = dt.datetime.fromtimestamp(self.clock(), self.tz)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        since_ms = int(midnight.timestamp() * 1000)
        query = sa.select(
            calls.c.uniqueid,
            calls.c.service,
            calls.c.entered_at_ms,
            calls.c.answered_at_ms,
            calls.c.wait_asterisk_s,
        ).where(calls.c.pbx_id == self.pbx_id, calls.c.entered_at_ms >= since_ms)
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        for uid, service, entered_ms, answered_ms, wait_s in rows:
            self._count(uid, service, entered_ms / 1000, answered_ms is not None, wait_s)
        return len(rows)

    # ------------------------------------------------------------------ queries
    def today_service_level(self) -> dict[str, float]:
        """Today's % within the threshold per measured service with calls (for /metrics)."""
        return {
            row["service"]: row["pct"] for row in self.service_level() if row["pct"] is not None
        }

    def service_level(self) -> list[dict[str, Any]]:
        """Per measured service: today's calls, answered within threshold, %, vs target."""
        today = dt.datetime.fromtimestamp(self.clock(), self.tz).date()
        out = []
        for service in self.measured:
            within, total = self._day.get((today, service), [0, 0])
            pct = round(100.0 * within / total, 1) if total else None
            out.append(
                {
                    "service": service,
                    "name": self.names.get(service, service),
                    "calls": total,
                    "within": within,
                    "pct": pct,
                    "target_pct": self.target_pct,
                    "meets_target": None if pct is None else pct >= self.target_pct,
                }
            )
        return out

    def snapshot(self) -> dict[str, Any]:
        """The wallboard's JSON document."""
        now = self.clock()
        queues = sorted(set(self.waiting) | {q for q, _ in self.members})
        rows = []
        for queue in queues:
            waiting = self.waiting.get(queue, {})
            states = [m.state for (q, _), m in self.members.items() if q == queue]
            service = self.queue_services.get(queue, "")
            rows.append(
                {
                    "queue": queue,
                    "service": service,
                    "name": self.names.get(service, service),
                    "waiting": len(waiting),
                    "longest_wait_s": round(now - min(waiting.values()), 1) if waiting else 0,
                    "available": states.count("available"),
                    "on_call": states.count("on_call"),
                    "paused": states.count("paused"),
                    "agents": [
                        {"interface": i, "name": m.name, "state": m.state}
                        for (q, i), m in sorted(self.members.items())
                        if q == queue
                    ],
                }
            )
        return {
            "pbx": self.pbx_id,
            "generated_at": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
            "threshold_s": self.threshold_s,
            "queues": rows,
            "service_level": self.service_level(),
        }
