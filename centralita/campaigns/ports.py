"""What the dialer needs from the outside world, as protocols (the daemon injects them).

- :class:`Originator` places one call (AMI ``Originate`` with ``Async: true``); its result
  arrives later as an ``OriginateResponse`` event carrying the same ActionID, which the
  host hands to :meth:`campaigns.dialer.Dialer.on_originate_response`.
- :class:`AgentAvailability` says how many agents of a queue are free right now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware (tests move it; production: UTC now)."""


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """One outbound call: dial `phone` through `channel`; on answer go to context/exten."""

    attempt_id: int
    action_id: str
    phone: str
    channel: str
    context: str
    exten: str
    timeout_s: float
    caller_id: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)


class Originator(Protocol):
    """Sends an Originate; raises :class:`campaigns.exceptions.OriginateError` when it cannot."""

    async def originate(self, request: OriginateRequest) -> None:
        """Send the action; return once the PBX accepted it (the result comes later)."""


class AgentAvailability(Protocol):
    """Free agents (logged in, not paused, not on a call) per queue."""

    def free_agents(self, queue: str) -> int:
        """How many members of `queue` could take a call now."""


@dataclass(frozen=True, slots=True)
class CampaignPop:
    """What the agent's screen shows when a campaign call is connected to them."""

    agent: str
    attempt_id: int
    uniqueid: str
    month: str
    script_id: str
    fields: Mapping[str, str]


PopSink = Callable[[CampaignPop], Awaitable[None]]


def originate_fields(request: OriginateRequest) -> dict[str, str]:
    """The AMI ``Originate`` action for `request` (one ``Variable`` header, comma-joined)."""
    fields = {
        "Action": "Originate",
        "ActionID": request.action_id,
        "Channel": request.channel,
        "Context": request.context,
        "Exten": request.exten,
        "Priority": "1",
        "Timeout": str(round(request.timeout_s * 1000)),
        "Async": "true",
    }
    if request.caller_id:
        fields["CallerID"] = request.caller_id
    if request.variables:
        fields["Variable"] = ",".join(f"{k}={v}" for k, v in request.variables.items())
    return fields
