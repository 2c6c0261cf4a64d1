"""Glue between the daemon's AMI stream and the dialer.

The daemon hosts a campaign with three objects:

- :class:`MemberAvailability` (an :class:`~campaigns.ports.AgentAvailability`) fed from the
  tracker's ``MemberUpdated`` effects, and replaced by the ``QueueMember`` list of each
  ``QueueStatus`` the AMI client asks for after a (re)login (the tracker takes that
  snapshot without producing effects, so without it a fresh dialer sees no agent until
  each one changes state);
- :class:`CampaignSink`: register it as an ``EffectSink`` on the pipeline (``handle``)
  and hand it every decoded AMI event too (``handle_event``: the tracker produces no
  effect for ``OriginateResponse``); both only enqueue; ``run()`` is its task;
- :class:`AmiOriginator`, the :class:`~campaigns.ports.Originator` over the AMI client's
  ``send(fields) -> response``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import structlog

from centralita.ami_listener.events import (
    AmiEvent,
    OriginateResponse,
    QueueMember,
    QueueStatusComplete,
)
from centralita.ami_listener.exceptions import AmiListenerError
from centralita.ami_listener.pipeline import RESYNC_ACTION_PREFIX
from centralita.ami_listener.protocol import AmiMessage
from centralita.ami_listener.tracker import CallAnswered, Effect, MemberUpdated
from centralita.campaigns.dialer import Dialer
from centralita.campaigns.exceptions import OriginateError
from centralita.campaigns.ports import OriginateRequest, originate_fields

log = structlog.get_logger(__name__)

FREE_STATUSES = frozenset({1})
"""Asterisk device states of a member that can take a call: 1 = not in use."""


@dataclass
class _Member:
    status: int
    paused: bool
    in_call: bool


class MemberAvailability:
    """Free agents per queue, from queue member updates."""

    def __init__(self, free_statuses: frozenset[int] = FREE_STATUSES) -> None:
        self.free_statuses = free_statuses
        self._members: dict[tuple[str, str], _Member] = {}

    def update(
        self,
        queue: str,
        interface: str,
        *,
        status: int,
        paused: bool,
        in_call: bool,
        removed: bool = False,
    ) -> None:
        """Take a member's new state (or its removal from the queue)."""
        if removed:
            self._members.pop((queue, interface), None)
        else:
            self._members[(queue, interface)] = _Member(status, paused, in_call)

    def replace(self, members: list[QueueMember]) -> None:
        """Take a QueueStatus snapshot: these members and no others."""
        self._members = {
            (m.queue, m.agent_interface): _Member(
                m.status, bool(m.paused), bool(m.in_call or m.is_in_call)
            )
            for m in members
            if m.agent_interface
        }

    def mark_busy(self, queue: str, interface: str) -> None:
        """The member just took a call; busy until its next update says otherwise."""
        member = self._members.get((queue, interface))
        if member is not None:
            member.in_call = True

    def free_agents(self, queue: str) -> int:
        """Members of `queue` not paused, not on a call, in a free device state."""
        return sum(
            1
            for (q, _), m in self._members.items()
            if q == queue and not m.paused and not m.in_call and m.status in self.free_statuses
        )


_Item = OriginateResponse | CallAnswered


class CampaignSink:
    """Feeds the dialer from the AMI stream in order; ``handle*`` never block."""

    def __init__(self, dialer: Dialer, availability: MemberAvailability) -> None:
        self.dialer = dialer
        self.availability = availability
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._queues = frozenset(dialer.settings.queues.values())
        self._snapshot: dict[str, list[QueueMember]] = {}
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def _put(self, item: _Item) -> None:
        self._pending += 1
        self._idle.clear()
        self.queue.put_nowait(item)

    def handle(self, effect: Effect) -> None:
        """EffectSink: member updates change availability; answers may be ours."""
        if isinstance(effect, MemberUpdated):
            self.availability.update(
                effect.queue,
                effect.interface,
                status=effect.status,
                paused=effect.paused,
                in_call=effect.in_call,
                removed=effect.removed,
            )
            if effect.queue in self._queues:
                self.dialer.wake()
        elif isinstance(effect, CallAnswered) and effect.queue in self._queues:
            self.availability.mark_busy(effect.queue, effect.agent_interface)
            self._put(effect)

    def handle_event(self, event: AmiEvent) -> None:
        """Every decoded AMI event: our OriginateResponses are queued; the members of a
        resync QueueStatus answer replace the availability when the answer is complete."""
        if isinstance(event, OriginateResponse):
            if self.dialer.attempt_of_action(event.action_id) is not None:
                self._put(event)
        elif isinstance(event, QueueMember):
            if event.action_id.startswith(RESYNC_ACTION_PREFIX):
                self._snapshot.setdefault(event.action_id, []).append(event)
        elif isinstance(event, QueueStatusComplete) and event.action_id.startswith(
            RESYNC_ACTION_PREFIX
        ):
            self.availability.replace(self._snapshot.pop(event.action_id, []))
            self.dialer.wake()

    async def run(self) -> None:
        """Consume in order (one task); a bad item is logged and skipped."""
        while True:
            item = await self.queue.get()
            try:
                if isinstance(item, OriginateResponse):
                    await self.dialer.on_originate_response(item)
                else:
                    ivr = item.call.ivr or {}
                    raw = ivr.get("CC_CAMPAIGN_ATTEMPT", "")
                    await self.dialer.on_agent_connected(
                        item.agent_interface,
                        uniqueid=item.call.uniqueid,
                        linkedid=item.call.linkedid,
                        attempt_id=int(raw) if raw.isdigit() else None,
                    )
            except Exception as exc:  # one bad item must not stop the campaign
                log.exception("campaign_item_failed", reason=str(exc))
            finally:
                self._pending -= 1
                if not self._pending:
                    self._idle.set()

    @property
    def idle(self) -> bool:
        """True when every item handed in so far has been processed."""
        return self._pending == 0

    async def wait_idle(self) -> None:
        """Wait until every item handed in so far has been processed."""
        await self._idle.wait()


class ActionSender(Protocol):
    """The AMI client's action call (``ami_listener.client.AmiClient.send``)."""

    async def send(self, fields: dict[str, str], timeout_s: float = 10.0) -> AmiMessage:
        """Send an action and return its response."""


class AmiOriginator:
    """Originator over an AMI client: ``Originate`` with ``Async: true``."""

    def __init__(self, client: ActionSender, timeout_s: float = 10.0) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def originate(self, request: OriginateRequest) -> None:
        """Send; raise OriginateError when not connected or refused."""
        try:
            response = await self.client.send(originate_fields(request), self.timeout_s)
        except AmiListenerError as exc:
            raise OriginateError(str(exc)) from exc
        if response.get("Response").lower() != "success":
            raise OriginateError(response.get("Message") or "Originate rechazado")
