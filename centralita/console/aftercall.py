"""After-call work: the agent stays out of the queues until the call is recorded.

With the console's call controls on (AMI write class ``agent``), when an agent's call
ends the daemon pauses the agent (``QueuePause``, reason «Cierre de llamada») and resumes
them when they record the call's work item, or when the service's limit passes (the
queue's ``wrapup_s`` in routing.toml), whichever comes first. An agent who was already
paused (lunch, training) is left as they are: only a pause this module made is lifted by
it. Without call controls, Asterisk's own ``wrapuptime`` (the same ``wrapup_s``) keeps
the agent out for that time after every call; with them the generated queues carry no
wrapuptime, since the daemon's pause replaces it (and ends early on recording).

A failed action is logged and never stops the console: the agent is then simply not
paused (the page still shows the after-call time).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import structlog

from centralita.console.controls import CallControls

log = structlog.get_logger(__name__)

AFTER_CALL_REASON: Final = "Cierre de llamada"


@dataclass
class _Held:
    call_id: str
    timer: asyncio.Task[None] | None


@dataclass
class AfterCallPause:
    """Pause at a call's end, resume on recording or at the limit (see the module doc)."""

    controls: CallControls
    limit_s: Callable[[str], int]
    """The after-call limit of a queue's calls, in seconds (0: no after-call pause)."""
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    reason: str = AFTER_CALL_REASON
    _held: dict[str, _Held] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """True when the daemon may pause agents (call controls on, an AMI sender)."""
        return self.controls.enabled and self.controls.sender is not None

    async def ended(self, interface: str, queue: str, call_id: str) -> bool:
        """The agent's call ended: pause them for after-call work. True when paused."""
        if not self.active or not interface or interface in self._held:
            return False
        try:
            limit = max(int(self.limit_s(queue)), 0)
        except (KeyError, ValueError):
            limit = 0
        if limit == 0 or self.controls.pause_state(interface)["paused"]:
            return False  # no after-call time here, or a pause of the agent's own
        if not await self._pause(interface, paused=True):
            return False
        held = self._held[interface] = _Held(call_id, None)
        held.timer = asyncio.create_task(self._expire(interface, call_id, limit))
        log.info("after_call_paused", agent=interface, call_id=call_id, limit_s=limit)
        return True

    async def recorded(self, interface: str, call_id: str) -> bool:
        """The agent recorded the call: resume them if this module paused them for it."""
        held = self._held.get(interface)
        if held is None or held.call_id != call_id:
            return False
        return await self._release(interface, "recorded")

    async def _expire(self, interface: str, call_id: str, limit: int) -> None:
        await self.sleep(limit)
        held = self._held.get(interface)
        if held is not None and held.call_id == call_id:
            held.timer = None  # this task is ending: nothing to cancel
            await self._release(interface, "limit")

    async def _release(self, interface: str, why: str) -> bool:
        held = self._held.pop(interface, None)
        if held is None:
            return False
        if held.timer is not None:
            held.timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await held.timer
        done = await self._pause(interface, paused=False)
        log.info("after_call_resumed", agent=interface, call_id=held.call_id, why=why)
        return done

    async def _pause(self, interface: str, *, paused: bool) -> bool:
        sender = self.controls.sender
        if sender is None:
            return False
        fields = {
            "Action": "QueuePause",
            "Interface": interface,
            "Paused": "true" if paused else "false",
        }
        if paused:
            fields["Reason"] = self.reason
        try:
            answer = await sender.send(fields)
        except Exception as exc:
            log.warning("after_call_pause_failed", agent=interface, paused=paused, reason=repr(exc))
            return False
        if answer.headers.get("Response", "").lower() != "success":
            log.warning(
                "after_call_pause_refused",
                agent=interface,
                paused=paused,
                message=answer.headers.get("Message", ""),
            )
            return False
        return True

    async def close(self) -> None:
        """Cancel the pending limits (the daemon stops; the PBX keeps its pauses)."""
        for held in self._held.values():
            if held.timer is not None:
                held.timer.cancel()
        self._held.clear()
