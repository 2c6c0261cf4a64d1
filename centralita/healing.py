"""The daemon's healing from queue_log: follow the PBX's queue_log, heal the records.

With ``[queue_log] path`` set, a task of the daemon reads what Asterisk appended to its
queue_log (``metrics.queue_log_follow``) and merges the closed calls into the records
(``metrics.heal``): after every (re)login to the AMI (calls of the outage) and every
``interval_s``. A fault here (file missing or unreadable, database error) is logged once,
retried at the next turn, and never touches ingestion. ``centralita rebuild`` heals again
from the stored queue_log lines (:func:`heal_after_rebuild`), so that rebuilt records equal
the live ones. Without a path healing is off, and ``doctor`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.tracker import ServiceResolver
from centralita.metrics.heal import DEFAULT_SETTLE_S, HealResult, heal
from centralita.metrics.queue_log_follow import FollowResult, follow_queue_log

if TYPE_CHECKING:
    from centralita.daemon import Daemon, DaemonParts
    from centralita.doctor import Finding
    from centralita.settings import Settings

log = structlog.get_logger(__name__)

WINDOW_MS = 24 * 3600 * 1000
"""A periodic pass examines the queue_log calls that entered within this window (and any
older ones just read); the first pass after start examines them all."""
LOGIN_POLL_S = 1.0
DAEMON_PIECE_BYTES = 256 * 1024  # small pieces: the event loop also reads the AMI


def queue_service(resolver: ServiceResolver) -> Callable[[str], str]:
    """Service of a queue_log stay: by its queue through the routing (no dialed number)."""

    def service_for_queue(queue: str) -> str:
        return resolver("", queue)

    return service_for_queue


@dataclass
class HealingStats:
    """What the healing task did (for /metrics, the demo and tests)."""

    cycles: int = 0
    failures: int = 0
    lines_stored: int = 0
    inserted: int = 0
    corrected: int = 0
    failing: str = ""
    last_follow: FollowResult | None = None
    last_heal: HealResult | None = None
    logins_seen: int = 0


class Healer:
    """Follow and heal for one PBX; :meth:`cycle` never raises (but on cancellation)."""

    def __init__(
        self,
        engine: AsyncEngine,
        pbx_id: str,
        path: str,
        *,
        settle_s: float = DEFAULT_SETTLE_S,
        service_for_queue: Callable[[str], str],
        open_calls: Callable[[], set[str]] = set,
    ) -> None:
        self.engine = engine
        self.pbx_id = pbx_id
        self.path = path
        self.settle_s = settle_s
        self.service_for_queue = service_for_queue
        self.open_calls = open_calls
        self.stats = HealingStats()
        self.cycle_done = asyncio.Event()  # set after every pass (tests, the demo)
        self._first = True

    async def cycle(self, reason: str, now_ms: int | None = None) -> bool:
        """One pass: read the new lines, heal. False when it failed (logged once)."""
        try:
            return await self._cycle(reason, now_ms)
        finally:
            self.cycle_done.set()

    async def _cycle(self, reason: str, now_ms: int | None) -> bool:
        try:
            follow = await follow_queue_log(
                self.engine,
                self.pbx_id,
                self.path,
                service_for_queue=self.service_for_queue,
                piece_bytes=DAEMON_PIECE_BYTES,
            )
            now = int(time.time() * 1000) if now_ms is None else now_ms
            since: int | None = None
            if not self._first:
                since = now - WINDOW_MS
                if follow.earliest_entered_ms is not None:
                    since = min(since, follow.earliest_entered_ms)
            healed = await heal(
                self.engine,
                self.pbx_id,
                now_ms=now,
                settle_s=self.settle_s,
                since_ms=since,
                open_uniqueids=self.open_calls(),
                service_for_queue=self.service_for_queue,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)
            return False
        self._first = False
        s = self.stats
        s.cycles += 1
        s.lines_stored += follow.lines_stored
        s.inserted += healed.inserted
        s.corrected += healed.corrected
        s.last_follow, s.last_heal = follow, healed
        if s.failing:
            log.info("queue_log_healing_restored", path=self.path)
            s.failing = ""
        if follow.rotated or follow.truncated:
            log.info(
                "queue_log_restarted",
                path=self.path,
                rotated=follow.rotated,
                truncated=follow.truncated,
                old_file_finished=follow.rotated_tail_read,
            )
        if follow.malformed:
            log.warning("queue_log_malformed_lines", path=self.path, lines=follow.malformed)
        if healed.inserted or healed.corrected or follow.lines_stored:
            log.info(
                "queue_log_healed",
                reason=reason,
                lines=follow.lines_stored,
                inserted=healed.inserted,
                corrected=healed.corrected,
                waiting=healed.waiting,
            )
        return True

    def _failed(self, exc: Exception) -> None:
        s = self.stats
        s.failures += 1
        reason = f"{type(exc).__name__}: {exc}"[:300]
        if not s.failing:
            log.error("queue_log_healing_failed", path=self.path, reason=reason)
        else:
            log.debug("queue_log_healing_failed", path=self.path, reason=reason)
        s.failing = reason

    async def run(
        self,
        stop: asyncio.Event,
        interval_s: float,
        logins: Callable[[], int] = lambda: 0,
        stored: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Until ``stop``: a pass after every new AMI login (``logins`` counts them; the
        daemon counts applied resyncs) and every ``interval_s``. ``stored`` waits (bounded)
        until what the listener received is stored, so that a pass after a login sees the
        records the resync closed instead of filling them from queue_log first."""
        next_at = 0.0  # at start, at once
        while not stop.is_set():
            count = logins()
            relogin = count > self.stats.logins_seen
            if relogin or time.monotonic() >= next_at:
                self.stats.logins_seen = count
                if relogin and stored is not None:
                    await stored()
                await self.cycle("login" if relogin else "interval")
                next_at = time.monotonic() + interval_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(LOGIN_POLL_S, interval_s))


async def run_healing(daemon: Daemon, parts: DaemonParts) -> None:
    """The daemon's healing task (started only when ``[queue_log] path`` is set)."""
    s = daemon.settings
    section = s.queue_log
    healer = Healer(
        parts.engine,
        s.pbx_id,
        section.path,
        settle_s=section.settle_s,
        service_for_queue=queue_service(parts.tracker.service_for),
        open_calls=lambda: set(parts.tracker.calls),
    )
    parts.extra["healing"] = healer.stats
    parts.extra["healer"] = healer
    log.info("queue_log_healing_on", path=section.path, interval_s=section.interval_s)
    listener = parts.listener
    interval_s = max(section.interval_s, 1.0)

    async def stored() -> None:
        with contextlib.suppress(TimeoutError):
            await listener.drain(timeout_s=10)

    await healer.run(daemon.stop_event, interval_s, lambda: listener.pipeline.stats.resyncs, stored)
    # A last pass once the listener stored what it received: records written since the
    # previous pass are healed too, and calls still open are treated as `rebuild` does
    # (so that a rebuild of this database gives these very records).
    await daemon.drained.wait()
    healer.open_calls = set
    await healer.cycle("stop")


async def heal_after_rebuild(
    engine: AsyncEngine, pbx_ids: list[str], resolver: ServiceResolver
) -> dict[str, HealResult]:
    """Heal every rebuilt PBX from its stored queue_log lines (``centralita rebuild``)."""
    service_for_queue = queue_service(resolver)
    return {pbx: await heal(engine, pbx, service_for_queue=service_for_queue) for pbx in pbx_ids}


def check_queue_log(settings: Settings) -> list[Finding]:
    """``doctor``: healing off without a path; with one, the file must be readable."""
    from centralita.doctor import Finding

    path = settings.queue_log.path
    if not path:
        return [
            Finding(
                "queue_log",
                "warn",
                "sanación desde queue_log desactivada (sin [queue_log] path): las llamadas"
                " ocurridas mientras el servicio no está conectado al AMI no se completan",
            )
        ]
    target = Path(path)
    if not target.is_file():
        return [Finding("queue_log", "fail", f"{path}: no existe o no es un archivo")]
    if not os.access(target, os.R_OK):
        return [Finding("queue_log", "fail", f"{path}: sin permiso de lectura")]
    try:
        with target.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        return [Finding("queue_log", "fail", f"{path}: no se puede leer ({exc.strerror})")]
    return [
        Finding(
            "queue_log",
            "ok",
            f"{path}: legible; sanación cada {settings.queue_log.interval_s:g} s"
            f" y tras cada reconexión",
        )
    ]
