"""The IVR's result report: an AMI `UserEvent` named `CentralitaIvr`.

The IVR never writes the database. At the end of every flow it runs the dialplan
application `UserEvent` through AGI; Asterisk then emits on AMI

    Event: UserEvent
    UserEvent: CentralitaIvr
    service: 101
    queue: q101
    priority: 5
    destination: queue
    topic:
    customer: 100234
    segment: residencial
    input: phone
    result: ok
    ivr_uniqueid: 1795925652.0

and the AMI listener records it like any other event (one writer). Import the names
below on the listener side instead of spelling the header names again.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from centralita.routing import dialplan_vars

USER_EVENT_NAME: Final = "CentralitaIvr"
"""Value of the `UserEvent` header of the IVR result event."""

HEADER_SERVICE: Final = "service"
"""Service key (routing's), e.g. `101`, `800131313`, `prepago`."""
HEADER_QUEUE: Final = "queue"
"""Queue the call was sent to (also channel variable CC_QUEUE)."""
HEADER_PRIORITY: Final = "priority"
"""Queue priority, an integer (also CC_PRIORITY)."""
HEADER_DESTINATION: Final = "destination"
"""routing's destination kind: queue, number or announcement (also CC_DEST_KIND)."""
HEADER_TOPIC: Final = "topic"
"""The caller's choice in a topic menu (e.g. billing, damage), else empty."""
HEADER_CUSTOMER: Final = "customer"
"""Customer id (the contract number) when identified, else empty."""
HEADER_SEGMENT: Final = "segment"
"""Customer segment (as in the customers table) when identified, else empty."""
HEADER_INPUT: Final = "input"
"""Which identifier the caller keyed: phone, contract, ci, or none (never the digits)."""
HEADER_RESULT: Final = "result"
"""One of `IvrResult`."""
HEADER_UNIQUEID: Final = "ivr_uniqueid"
"""agi_uniqueid of the channel that ran the IVR (the event's own Uniqueid header is the same
channel on Asterisk 12+; kept for Asterisk 11, whose UserEvent has no channel snapshot)."""

HEADERS: Final = (
    HEADER_SERVICE,
    HEADER_QUEUE,
    HEADER_PRIORITY,
    HEADER_DESTINATION,
    HEADER_TOPIC,
    HEADER_CUSTOMER,
    HEADER_SEGMENT,
    HEADER_INPUT,
    HEADER_RESULT,
    HEADER_UNIQUEID,
)
"""Every header of the event, in the order they are sent."""

VAR_SERVICE: Final = dialplan_vars.SERVICE
VAR_QUEUE: Final = dialplan_vars.QUEUE
VAR_PRIORITY: Final = dialplan_vars.PRIORITY
VAR_DEST_KIND: Final = dialplan_vars.DEST_KIND
VAR_CUSTOMER: Final = "CC_CUSTOMER"
"""Contract of the identified customer, empty otherwise (the other CC_* names are routing's,
see `routing.dialplan_vars`; the IVR sets every one of them from `Decision.channel_vars()`)."""


class IvrResult(StrEnum):
    """How the IVR ended for a call that went on to a queue."""

    OK = "ok"
    NOT_FOUND = "not_found"
    INVALID_INPUT = "invalid_input"
    DIRECTORY_DOWN = "directory_down"
    ERROR = "error"


class InputKind(StrEnum):
    """Which identifier the caller gave by DTMF."""

    PHONE = "phone"
    CONTRACT = "contract"
    CI = "ci"
    NONE = "none"


_UNSAFE = re.compile(r"[\x00-\x1f\x7f,\"\\|]")


def clean_value(value: str) -> str:
    """Make a value safe inside the UserEvent body (no commas, quotes, pipes or controls)."""
    return _UNSAFE.sub("", value).strip()


def user_event_body(fields: dict[str, str]) -> str:
    """Build the `UserEvent` application argument: `CentralitaIvr,key: value,...`."""
    parts = [f"{key}: {clean_value(fields[key])}" for key in HEADERS if key in fields]
    return ",".join([USER_EVENT_NAME, *parts])
