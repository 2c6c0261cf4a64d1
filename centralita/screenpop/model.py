"""The screen-pop's payloads, their JSON schemas and identifiers.

``docs/mqtt.md`` documents the topics; :func:`payload_schemas` gives the payloads' JSON
schemas. The collaborators' types (:data:`ServiceResolver`, :data:`CustomerLookup`) are
here too; ``resolvers`` has their implementations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any, Final, Literal

import msgspec

POP_SCHEMA: Final = "centralita.screenpop/1"
CALL_EVENT_SCHEMA: Final = "centralita.call-event/1"
CallEventKind = Literal["joined", "answered", "transferred", "abandoned", "ended"]


# ----------------------------------------------------------------------------- payloads
class CustomerInfo(msgspec.Struct, kw_only=True):
    """The customer record shown to the agent (from the customer directory)."""

    contract: str
    name: str
    segment: str
    phone: str = ""
    ci: str = ""
    services: list[str] = msgspec.field(default_factory=list)
    address: str = ""
    notes: str = ""
    source: Literal["ivr", "caller_number"] = "ivr"


class IvrInfo(msgspec.Struct, kw_only=True):
    """What the IVR reported (UserEvent CentralitaIvr); ``fields`` has every header."""

    result: str = ""
    input: str = ""
    customer: str = ""
    segment: str = ""
    priority: str = ""
    fields: dict[str, str] = msgspec.field(default_factory=dict)


class ScreenPop(msgspec.Struct, kw_only=True):
    """``centralita/<pbx>/agents/<agent>/screenpop``: the pop for the agent who answered."""

    schema: Literal["centralita.screenpop/1"] = POP_SCHEMA
    pbx: str
    call_id: str
    linkedid: str
    agent: str
    agent_interface: str
    agent_name: str
    service: str
    service_name: str
    queue: str
    caller_num: str
    caller_name: str
    entered_at: str
    answered_at: str
    wait_s: float | None
    ivr: IvrInfo | None
    customer: CustomerInfo | None
    script_id: str | None
    script_version: int | None
    created_at: str
    channel: str = ""  # the caller's channel (the console's transfers Redirect it)


class CallEvent(msgspec.Struct, kw_only=True):
    """``centralita/<pbx>/calls/<event>``: one step of a queue call's life."""

    schema: Literal["centralita.call-event/1"] = CALL_EVENT_SCHEMA
    event: CallEventKind
    pbx: str
    call_id: str
    linkedid: str
    service: str
    queue: str
    caller_num: str
    at: str
    wait_s: float | None = None
    agent: str = ""
    agent_name: str = ""
    outcome: str | None = None


class Status(msgspec.Struct, kw_only=True):
    """``centralita/<pbx>/status`` (retained): ``online`` or ``offline`` (the will)."""

    status: Literal["online", "offline"]


def payload_schemas() -> dict[str, Any]:
    """JSON schemas of every payload, keyed by topic pattern (published in docs/mqtt.md)."""
    _, defs = msgspec.json.schema_components(
        [ScreenPop, CallEvent, Status], ref_template="#/$defs/{name}"
    )
    return {"$defs": defs}


# ------------------------------------------------------------------------ identifiers
_UNSAFE = re.compile(r"[^a-z0-9_]+")


def agent_id(interface: str) -> str:
    """A stable, topic-safe agent id from a member interface.

    ``Local/agent1@lab-agents`` (or ``.../n``) → ``agent1``; ``SIP/2001`` → ``sip-2001``;
    ``PJSIP/ana.perez`` → ``pjsip-ana-perez``. Lower case, only ``[a-z0-9_-]``.
    """
    tech, _, resource = interface.partition("/")
    if not resource:
        raw = tech
    elif tech.lower() == "local":
        raw = resource.split("@", 1)[0]
    else:
        raw = f"{tech}-{resource.split('/', 1)[0]}"
    return _UNSAFE.sub("-", raw.lower()).strip("-") or "unknown"


def mask(number: str) -> str:
    """Mask a phone number for logs: all but the last 3 digits."""
    return "*" * max(len(number) - 3, 0) + number[-3:] if len(number) > 3 else "*" * len(number)


# ---------------------------------------------------------------------- collaborators
class ServiceInfo(msgspec.Struct, frozen=True):
    """Name and script of a service, resolved once per service key."""

    name: str
    script_id: str | None
    script_version: int | None


ServiceResolver = Callable[[str], ServiceInfo]
CustomerLookup = Callable[[str, str], Coroutine[Any, Any, CustomerInfo | None]]
"""``(kind, value) -> record``: ``kind`` is ``"contract"`` (the IVR's id) or ``"phone"``."""
