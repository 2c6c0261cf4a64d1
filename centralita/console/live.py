"""Live state for the wallboard: an EffectSink fed by the tracker's effects.

Per queue: callers waiting and the longest wait, agents available / on call / ringing /
paused / offline. Per agent (a member interface, in every queue it serves): its state from
Asterisk's device ``Status`` and ``Paused``/``PausedReason`` (never ``InCall`` alone), the
call it answered and that call's service, how long it has been in that state.
Per measured service: today's calls (America/La_Paz) and the share answered within the
threshold (Asterisk's whole-second wait ``<= 20``, the indicator's rule), from the calls
table at start-up (``load_today``) plus every call finished since.
"""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.schema import calls
from centralita.ami_listener.tracker import (
    CallAnswered,
    CallFinished,
    CallJoined,
    CallLeftQueue,
    Effect,
    MemberUpdated,
)
from centralita.metrics.service_level import MEASURED_SERVICES

DEFAULT_MEASURED = MEASURED_SERVICES  # routing.toml's, given by the daemon (wiring)

# Asterisk's device states (the member events' and QueueStatus's ``Status``):
# 0 unknown, 1 not in use, 2 in use, 3 busy, 4 invalid, 5 unavailable, 6 ringing,
# 7 ringing while in use, 8 on hold. ``InCall`` alone is not enough: 12+ report a member
# on a call as ``Status: 2`` with ``InCall: 0`` (it is set only while app_queue bridges).
OFFLINE_STATUSES = frozenset({4, 5})  # invalid, unavailable
BUSY_STATUSES = frozenset({2, 3, 7, 8})  # in use, busy, ring+in use, on hold
RINGING_STATUSES = frozenset({6})

STATES = ("available", "on_call", "ringing", "paused", "offline")
STATE_LABELS = {
    "available": "disponible",
    "on_call": "en llamada",
    "ringing": "sonando",
    "paused": "en pausa",
    "offline": "no disponible",
}
STATUS_LABELS = {
    0: "desconocido",
    1: "libre",
    2: "en uso",
    3: "ocupado",
    4: "inválido",
    5: "no disponible",
    6: "sonando",
    7: "sonando y en uso",
    8: "en espera",
}


def member_state(status: int, paused: bool, in_call: bool) -> str:
    """One member's state from what Asterisk says: the device state first (a paused agent
    still on a call is on a call), then the pause.

    An unreachable device is ``offline`` whatever else; a device in use, busy, on hold or
    ``InCall`` is ``on_call``; ringing is ``ringing``; otherwise the pause decides.
    """
    if status in OFFLINE_STATUSES:
        return "offline"
    if in_call or status in BUSY_STATUSES:
        return "on_call"
    if status in RINGING_STATUSES:
        return "ringing"
    if paused:
        return "paused"
    return "available"


class _Member:
    __slots__ = ("in_call", "name", "pause_reason", "paused", "seq", "status")

    def __init__(
        self, name: str, status: int, paused: bool, in_call: bool, *, reason: str, seq: int
    ) -> None:
        self.name, self.status, self.paused, self.in_call = name, status, paused, in_call
        self.pause_reason, self.seq = reason, seq

    @property
    def state(self) -> str:
        return member_state(self.status, self.paused, self.in_call)


class _Current(NamedTuple):
    """The call an agent answered and is on (from the tracker's CallAnswered)."""

    uniqueid: str
    queue: str
    service: str
    caller_num: str
    caller_name: str
    answered_at: float


class Indicator(NamedTuple):
    """routing.toml's measured services, their names, threshold and target."""

    measured: tuple[str, ...]
    names: Mapping[str, str]
    threshold_s: int
    target_pct: float


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
        indicator: Callable[[], Indicator] | None = None,
    ) -> None:
        self.pbx_id = pbx_id
        fixed = Indicator(tuple(measured), dict(service_names or {}), threshold_s, target_pct)
        self.indicator: Callable[[], Indicator] = indicator or (lambda: fixed)
        """What the wallboard measures, asked on each use: the daemon gives the routing
        in force, so a reloaded routing.toml changes the wallboard without a restart."""
        self.queue_services = dict(queue_services or {})
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.clock = clock
        self.waiting: dict[str, dict[str, float]] = {}
        self.members: dict[tuple[str, str], _Member] = {}
        self.current: dict[str, _Current] = {}  # interface -> the call it answered
        self._since: dict[str, tuple[tuple[str, str], float]] = {}  # interface -> key, since
        self._seq = 0
        self._day: dict[tuple[dt.date, str], list[int]] = {}  # (date, service) -> [within, n]
        self._counted: set[str] = set()

    # ------------------------------------------------------------------ effects

    @property
    def measured(self) -> tuple[str, ...]:
        """The measured services, in the report's order."""
        return self.indicator().measured

    @property
    def names(self) -> Mapping[str, str]:
        """Service names by key."""
        return self.indicator().names

    @property
    def threshold_s(self) -> int:
        """The indicator's threshold (inclusive)."""
        return self.indicator().threshold_s

    @property
    def target_pct(self) -> float:
        """The indicator's target."""
        return self.indicator().target_pct

    def handle(self, effect: Effect) -> None:
        """Fold one tracker effect (no I/O)."""
        if isinstance(effect, CallJoined):
            entry = effect.call.entries[-1]
            self.waiting.setdefault(effect.queue, {})[effect.call.uniqueid] = entry.entered_at
            self.queue_services.setdefault(effect.queue, entry.service)
        elif isinstance(effect, CallAnswered):
            call = effect.call
            self.waiting.get(effect.queue, {}).pop(call.uniqueid, None)
            if effect.agent_interface:
                self.current[effect.agent_interface] = _Current(
                    call.uniqueid,
                    effect.queue,
                    call.service,
                    call.caller_num,
                    call.caller_name,
                    call.answered_at if call.answered_at is not None else self.clock(),
                )
                self._touch(effect.agent_interface)
        elif isinstance(effect, CallLeftQueue):
            self.waiting.get(effect.queue, {}).pop(effect.call.uniqueid, None)
        elif isinstance(effect, CallFinished):
            call = effect.call
            for queue in call.queues:
                self.waiting.get(queue, {}).pop(call.uniqueid, None)
            self._count(
                call.uniqueid, call.service, call.entered_at, call.answered, call.wait_asterisk_s
            )
            for interface, current in list(self.current.items()):
                if current.uniqueid == call.uniqueid:
                    del self.current[interface]
                    self._touch(interface)
        elif isinstance(effect, MemberUpdated):
            self._member(effect)

    def _member(self, effect: MemberUpdated) -> None:
        interface = effect.interface
        key = (effect.queue, interface)
        if effect.removed:
            self.members.pop(key, None)
        else:
            self._seq += 1
            self.members[key] = _Member(
                effect.name,
                effect.status,
                effect.paused,
                effect.in_call,
                reason=effect.pause_reason if effect.paused else "",
                seq=self._seq,
            )
            device = member_state(effect.status, False, effect.in_call)
            if device not in ("on_call", "ringing"):
                # The device is free again (or gone): whatever call it answered is over
                # for it, even when the caller goes on elsewhere (a transfer).
                self.current.pop(interface, None)
        self._touch(interface)

    def _device(self, interface: str) -> _Member | None:
        """The member's most recent report in any queue: the device state is one."""
        found = [m for (_q, i), m in self.members.items() if i == interface]
        return max(found, key=lambda m: m.seq) if found else None

    def _state(self, interface: str, paused: bool) -> str:
        device = self._device(interface)
        if device is None:
            return "offline"
        state = member_state(device.status, paused, device.in_call)
        if interface in self.current and state != "offline":
            # A call it answered and has not ended: on a call even when the PBX sends no
            # member status (Asterisk 11 with eventmemberstatus=no).
            return "on_call"
        return state

    def _agent_paused(self, interface: str) -> tuple[bool, str]:
        """Paused when paused in every queue it serves (paused in one only, it still
        takes the others' calls); the reason Asterisk gave, if any."""
        mine = [m for (_q, i), m in self.members.items() if i == interface]
        reason = next((m.pause_reason for m in mine if m.paused and m.pause_reason), "")
        return bool(mine) and all(m.paused for m in mine), reason

    def _touch(self, interface: str) -> None:
        """Restart the agent's time in state when its state or call changed."""
        if not any(i == interface for _q, i in self.members):
            self._since.pop(interface, None)
            self.current.pop(interface, None)
            return
        paused, _reason = self._agent_paused(interface)
        current = self.current.get(interface)
        key = (self._state(interface, paused), current.uniqueid if current else "")
        before = self._since.get(interface)
        if before is None or before[0] != key:
            self._since[interface] = (key, self.clock())

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

    def agents(self) -> list[dict[str, Any]]:
        """One row per agent (member interface): name, state, its call, time in state."""
        now = self.clock()
        interfaces = sorted({i for _q, i in self.members})
        out = []
        for interface in interfaces:
            device = self._device(interface)
            assert device is not None
            paused, reason = self._agent_paused(interface)
            state = self._state(interface, paused)
            current = self.current.get(interface)
            since = self._since.get(interface, (("", ""), now))[1]
            queues = sorted(q for q, i in self.members if i == interface)
            call = None
            if current is not None:
                call = {
                    "call_id": current.uniqueid,
                    "queue": current.queue,
                    "service": current.service,
                    "service_name": self.names.get(current.service, current.service),
                    "caller_num": current.caller_num,
                    "caller_name": current.caller_name,
                    "talk_s": round(max(0.0, now - current.answered_at), 1),
                }
            out.append(
                {
                    "interface": interface,
                    "name": device.name or interface,
                    "state": state,
                    "state_label": STATE_LABELS[state],
                    "status": device.status,
                    "status_label": STATUS_LABELS.get(device.status, str(device.status)),
                    "paused": paused,
                    "pause_reason": reason,
                    "paused_in": sorted(
                        q for (q, i), m in self.members.items() if i == interface and m.paused
                    ),
                    "queues": queues,
                    "call": call,
                    "since": dt.datetime.fromtimestamp(since, dt.UTC).isoformat(timespec="seconds"),
                    "in_state_s": round(max(0.0, now - since), 1),
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
            members = sorted((i, m) for (q, i), m in self.members.items() if q == queue)
            states = [(i, m, self._state(i, m.paused)) for i, m in members]
            counts = {s: sum(1 for *_x, st in states if st == s) for s in STATES}
            service = self.queue_services.get(queue, "")
            rows.append(
                {
                    "queue": queue,
                    "service": service,
                    "name": self.names.get(service, service),
                    "waiting": len(waiting),
                    "longest_wait_s": round(now - min(waiting.values()), 1) if waiting else 0,
                    **counts,
                    "agents": [
                        {"interface": i, "name": m.name, "state": st} for i, m, st in states
                    ],
                }
            )
        agents = self.agents()
        totals = {s: sum(1 for a in agents if a["state"] == s) for s in STATES}
        return {
            "pbx": self.pbx_id,
            "generated_at": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
            "threshold_s": self.threshold_s,
            "totals": totals,
            "agents": agents,
            "queues": rows,
            "service_level": self.service_level(),
        }
