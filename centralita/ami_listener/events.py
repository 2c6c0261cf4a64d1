"""Typed AMI events for both dialects (Asterisk 11 and 12+), decoded at the edge.

Class names are Asterisk's own event names so that grep works against Asterisk's docs.
Field names are snake_case; ``msgspec.field(name=...)`` keeps the exact AMI header spelling
(``CallerIDNum``, ``Uniqueid``, ``HoldTime``...). Fields that exist in one dialect only have
an empty default, so one struct serves both where Asterisk kept the event name
(``AgentConnect`` has ``Member`` in 11 and ``Interface`` in 12+, for instance): read
``agent_interface`` rather than either field. Events the tracker has no use for decode to
:class:`UnknownEvent` and are kept raw in the log.

Pure module: no I/O.
"""

from __future__ import annotations

from typing import Final

import msgspec

from centralita.ami_listener.eventlog import parse_timestamp
from centralita.ami_listener.exceptions import EventDecodeError
from centralita.ami_listener.protocol import AmiMessage, EventNameFilter


class _Base(msgspec.Struct, frozen=True, kw_only=True):
    """Common header: every event may carry ``Timestamp`` (epoch seconds, microseconds)."""

    timestamp: float | None = msgspec.field(default=None, name="Timestamp")
    action_id: str = msgspec.field(default="", name="ActionID")


class _CallerSnapshot(_Base, frozen=True, kw_only=True):
    """The caller channel's fields (12+ snapshot; a subset in 11)."""

    channel: str = msgspec.field(default="", name="Channel")
    uniqueid: str = msgspec.field(default="", name="Uniqueid")
    linkedid: str = msgspec.field(default="", name="Linkedid")
    caller_id_num: str = msgspec.field(default="", name="CallerIDNum")
    caller_id_name: str = msgspec.field(default="", name="CallerIDName")
    context: str = msgspec.field(default="", name="Context")
    exten: str = msgspec.field(default="", name="Exten")


class _AgentFields(_CallerSnapshot, frozen=True, kw_only=True):
    """Queue member identification: ``Interface`` (12+) or ``Member`` (11)."""

    queue: str = msgspec.field(default="", name="Queue")
    interface: str = msgspec.field(default="", name="Interface")
    member: str = msgspec.field(default="", name="Member")
    member_name: str = msgspec.field(default="", name="MemberName")
    dest_channel: str = msgspec.field(default="", name="DestChannel")
    dest_uniqueid: str = msgspec.field(default="", name="DestUniqueid")

    @property
    def agent_interface(self) -> str:
        """The member interface in either dialect."""
        return self.interface or self.member


# --- caller events -------------------------------------------------------------------


class QueueCallerJoin(_CallerSnapshot, frozen=True, kw_only=True):
    """12+: a caller entered a queue."""

    queue: str = msgspec.field(default="", name="Queue")
    position: int = msgspec.field(default=0, name="Position")
    count: int = msgspec.field(default=0, name="Count")
    priority: str = msgspec.field(default="", name="Priority")


class Join(QueueCallerJoin, frozen=True, kw_only=True):
    """Asterisk 11: a caller entered a queue (Linkedid only through channelvars)."""


class QueueCallerLeave(_CallerSnapshot, frozen=True, kw_only=True):
    """12+: a caller left a queue (answered, abandoned, timed out, key, empty)."""

    queue: str = msgspec.field(default="", name="Queue")
    position: int = msgspec.field(default=0, name="Position")
    count: int = msgspec.field(default=0, name="Count")


class Leave(QueueCallerLeave, frozen=True, kw_only=True):
    """Asterisk 11: a caller left a queue."""


class QueueCallerAbandon(_CallerSnapshot, frozen=True, kw_only=True):
    """Sent for a hang-up AND for timeout / leave-when-empty: never decisive alone."""

    queue: str = msgspec.field(default="", name="Queue")
    position: int = msgspec.field(default=0, name="Position")
    original_position: int = msgspec.field(default=0, name="OriginalPosition")
    hold_time: int = msgspec.field(default=0, name="HoldTime")


# --- agent events ----------------------------------------------------------------------


class AgentCalled(_AgentFields, frozen=True, kw_only=True):
    """A member is being rung for a caller. 11 names the member ``AgentCalled``."""

    agent_called: str = msgspec.field(default="", name="AgentCalled")
    agent_name: str = msgspec.field(default="", name="AgentName")
    channel_calling: str = msgspec.field(default="", name="ChannelCalling")
    destination_channel: str = msgspec.field(default="", name="DestinationChannel")

    @property
    def agent_interface(self) -> str:
        """The member interface in either dialect."""
        return self.interface or self.agent_called or self.member

    @property
    def agent_member_name(self) -> str:
        """The member name in either dialect."""
        return self.member_name or self.agent_name


class AgentRingNoAnswer(_AgentFields, frozen=True, kw_only=True):
    """A member did not answer; ``RingTime`` is in milliseconds."""

    ring_time_ms: int = msgspec.field(default=0, name="RingTime")


class AgentConnect(_AgentFields, frozen=True, kw_only=True):
    """A member answered. In 11 ``Channel`` is the AGENT channel and ``BridgedChannel``
    the agent's Uniqueid; in 12+ ``Channel`` is the caller and the agent is ``Dest*``."""

    hold_time: int = msgspec.field(default=0, name="HoldTime")
    ring_time: int = msgspec.field(default=0, name="RingTime")
    bridged_channel: str = msgspec.field(default="", name="BridgedChannel")


class AgentComplete(_AgentFields, frozen=True, kw_only=True):
    """The conversation ended. Reason: caller, agent or transfer.

    Asterisk 16 sometimes sends it with no caller fields at all: close the call from
    Queue + Interface then.
    """

    hold_time: int = msgspec.field(default=0, name="HoldTime")
    talk_time: int = msgspec.field(default=0, name="TalkTime")
    reason: str = msgspec.field(default="", name="Reason")


class AgentDump(_AgentFields, frozen=True, kw_only=True):
    """The member hung up while the caller was being connected."""


# --- member events --------------------------------------------------------------------


class _Member(_Base, frozen=True, kw_only=True):
    queue: str = msgspec.field(default="", name="Queue")
    interface: str = msgspec.field(default="", name="Interface")
    location: str = msgspec.field(default="", name="Location")
    member_name: str = msgspec.field(default="", name="MemberName")
    state_interface: str = msgspec.field(default="", name="StateInterface")
    membership: str = msgspec.field(default="", name="Membership")
    penalty: int = msgspec.field(default=0, name="Penalty")
    calls_taken: int = msgspec.field(default=0, name="CallsTaken")
    in_call: int = msgspec.field(default=0, name="InCall")
    status: int = msgspec.field(default=0, name="Status")
    paused: int = msgspec.field(default=0, name="Paused")
    paused_reason: str = msgspec.field(default="", name="PausedReason")
    reason: str = msgspec.field(default="", name="Reason")

    @property
    def agent_interface(self) -> str:
        """``Interface`` (12+) or ``Location`` (11)."""
        return self.interface or self.location

    @property
    def pause_reason(self) -> str:
        """``PausedReason`` (13.8+) or ``Reason`` (11, 13-17)."""
        return self.paused_reason or self.reason


class QueueMemberStatus(_Member, frozen=True, kw_only=True):
    """A member's device or pause state changed."""


class QueueMemberAdded(_Member, frozen=True, kw_only=True):
    """A member was added to a queue."""


class QueueMemberRemoved(_Member, frozen=True, kw_only=True):
    """A member was removed from a queue."""


class QueueMemberPause(_Member, frozen=True, kw_only=True):
    """12+: a member was paused or unpaused."""


class QueueMemberPaused(_Member, frozen=True, kw_only=True):
    """Asterisk 11: a member was paused or unpaused."""


# --- channel events -------------------------------------------------------------------


class Hangup(_CallerSnapshot, frozen=True, kw_only=True):
    """A channel hung up."""

    cause: int = msgspec.field(default=0, name="Cause")


class VarSet(_CallerSnapshot, frozen=True, kw_only=True):
    """A channel variable was set (QUEUESTATUS tells a timeout from a hang-up)."""

    variable: str = msgspec.field(default="", name="Variable")
    value: str = msgspec.field(default="", name="Value")


class BlindTransfer(_Base, frozen=True, kw_only=True):
    """12+: a blind transfer; the transferee is the caller."""

    result: str = msgspec.field(default="", name="Result")
    transferee_uniqueid: str = msgspec.field(default="", name="TransfereeUniqueid")
    transferer_uniqueid: str = msgspec.field(default="", name="TransfererUniqueid")
    context: str = msgspec.field(default="", name="Context")
    extension: str = msgspec.field(default="", name="Extension")


class BridgeLeave(_CallerSnapshot, frozen=True, kw_only=True):
    """12+: a channel left a bridge, with its dialplan location at that moment. The
    caller's, somewhere other than where it joined the queue, is the caller taken out of
    the agent's conversation (an AMI Redirect: the console's transfer)."""

    bridge_uniqueid: str = msgspec.field(default="", name="BridgeUniqueid")


class AttendedTransfer(_Base, frozen=True, kw_only=True):
    """12+: an attended transfer."""

    result: str = msgspec.field(default="", name="Result")
    orig_transferer_uniqueid: str = msgspec.field(default="", name="OrigTransfererUniqueid")
    transfer_target_uniqueid: str = msgspec.field(default="", name="TransferTargetUniqueid")


class UserEvent(_CallerSnapshot, frozen=True, kw_only=True):
    """A dialplan/AGI UserEvent; ``fields`` holds every header of the event."""

    user_event: str = msgspec.field(default="", name="UserEvent")
    fields: dict[str, str] = msgspec.field(default_factory=dict)


class OriginateResponse(_Base, frozen=True, kw_only=True):
    """Result of an async Originate (the campaign dialer)."""

    response: str = msgspec.field(default="", name="Response")
    reason: int = msgspec.field(default=0, name="Reason")
    channel: str = msgspec.field(default="", name="Channel")
    uniqueid: str = msgspec.field(default="", name="Uniqueid")
    caller_id_num: str = msgspec.field(default="", name="CallerIDNum")
    context: str = msgspec.field(default="", name="Context")
    exten: str = msgspec.field(default="", name="Exten")


# --- QueueStatus list events (resynchronisation) ---------------------------------------


class QueueParams(_Base, frozen=True, kw_only=True):
    """One queue in a QueueStatus answer."""

    queue: str = msgspec.field(default="", name="Queue")
    calls: int = msgspec.field(default=0, name="Calls")


class QueueEntry(_Base, frozen=True, kw_only=True):
    """A caller waiting, in a QueueStatus answer. ``Wait`` is in seconds."""

    queue: str = msgspec.field(default="", name="Queue")
    position: int = msgspec.field(default=0, name="Position")
    channel: str = msgspec.field(default="", name="Channel")
    uniqueid: str = msgspec.field(default="", name="Uniqueid")
    linkedid: str = msgspec.field(default="", name="Linkedid")
    caller_id_num: str = msgspec.field(default="", name="CallerIDNum")
    caller_id_name: str = msgspec.field(default="", name="CallerIDName")
    wait: int = msgspec.field(default=0, name="Wait")


# Device states: 2 in use, 3 busy, 6 ringing, 7 ring+in use, 8 on hold.
_BUSY_STATES = frozenset({2, 3, 6, 7, 8})


class QueueMember(_Base, frozen=True, kw_only=True):
    """A member, in a QueueStatus answer (``Name`` and ``Location``; 11 says IsInCall)."""

    queue: str = msgspec.field(default="", name="Queue")
    name: str = msgspec.field(default="", name="Name")
    location: str = msgspec.field(default="", name="Location")
    interface: str = msgspec.field(default="", name="Interface")
    status: int = msgspec.field(default=0, name="Status")
    paused: int = msgspec.field(default=0, name="Paused")
    paused_reason: str = msgspec.field(default="", name="PausedReason")  # 13.8+; 11 has none
    in_call: int = msgspec.field(default=0, name="InCall")
    is_in_call: int = msgspec.field(default=0, name="IsInCall")
    last_call: int = msgspec.field(default=0, name="LastCall")  # epoch s of its last call's end

    @property
    def agent_interface(self) -> str:
        """Interface in either spelling."""
        return self.location or self.interface

    @property
    def busy(self) -> bool:
        """True when the member is in a call (either spelling) or its device is in use."""
        return bool(self.in_call or self.is_in_call) or self.status in _BUSY_STATES


class QueueStatusComplete(_Base, frozen=True, kw_only=True):
    """End of a QueueStatus answer."""


class FullyBooted(_Base, frozen=True, kw_only=True):
    """Asterisk finished booting (also sent right after login). 12+ say since when:
    ``Uptime`` (seconds since the PBX started), ``LastReload``; 11 only ``Status``."""

    uptime: int | None = msgspec.field(default=None, name="Uptime")


class Status(_Base, frozen=True, kw_only=True):
    """One live channel, in a ``Status`` action answer (resynchronisation): only its
    Uniqueid is read (the same spelling in 11 and 12+)."""

    uniqueid: str = msgspec.field(default="", name="Uniqueid")


class StatusComplete(_Base, frozen=True, kw_only=True):
    """End of a ``Status`` answer."""


class UnknownEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Any other event: kept raw in the log, ignored by the tracker."""

    name: str
    timestamp: float | None = None


AmiEvent = (
    QueueCallerJoin
    | Join
    | QueueCallerLeave
    | Leave
    | QueueCallerAbandon
    | AgentCalled
    | AgentRingNoAnswer
    | AgentConnect
    | AgentComplete
    | AgentDump
    | QueueMemberStatus
    | QueueMemberAdded
    | QueueMemberRemoved
    | QueueMemberPause
    | QueueMemberPaused
    | Hangup
    | VarSet
    | BlindTransfer
    | AttendedTransfer
    | UserEvent
    | OriginateResponse
    | QueueParams
    | QueueEntry
    | QueueMember
    | QueueStatusComplete
    | Status
    | StatusComplete
    | FullyBooted
    | UnknownEvent
)

EVENT_TYPES: Final[dict[str, type[msgspec.Struct]]] = {
    cls.__name__: cls
    for cls in (
        QueueCallerJoin,
        Join,
        QueueCallerLeave,
        Leave,
        QueueCallerAbandon,
        AgentCalled,
        AgentRingNoAnswer,
        AgentConnect,
        AgentComplete,
        AgentDump,
        QueueMemberStatus,
        QueueMemberAdded,
        QueueMemberRemoved,
        QueueMemberPause,
        QueueMemberPaused,
        Hangup,
        VarSet,
        BlindTransfer,
        AttendedTransfer,
        BridgeLeave,
        UserEvent,
        OriginateResponse,
        QueueParams,
        QueueEntry,
        QueueMember,
        QueueStatusComplete,
        Status,
        StatusComplete,
        FullyBooted,
    )
}

_LINKEDID_PREFIX = "CHANNEL(linkedid)="
_TRACKED_VARIABLES = frozenset({"QUEUESTATUS", "CC_SERVICE"})
# The AMI headers each event type reads (its fields' wire names): decoding picks these
# out of the message without splitting the others.
_FIELD_KEYS: Final[dict[str, tuple[str, ...]]] = {
    name: tuple(field.encode_name for field in msgspec.structs.fields(cls))
    for name, cls in EVENT_TYPES.items()
}


def _linkedid_from_chanvars(msg: AmiMessage, channel: str) -> str:
    """Asterisk 11 with channelvars=CHANNEL(linkedid): ``ChanVariable(<chan>): ...=X``."""
    for value in msg.values(f"ChanVariable({channel})") + msg.values("ChanVariable"):
        if value.startswith(_LINKEDID_PREFIX):
            return value[len(_LINKEDID_PREFIX) :]
    return ""


def _timestamp(msg: AmiMessage) -> float | None:
    return parse_timestamp(msg.get("Timestamp"))


def worth_decoding(msg: AmiMessage) -> bool:
    """False for events no consumer reads, so the hot path only logs them: event types
    without a struct, and VarSet of variables the tracker does not follow."""
    name = msg.name
    if name not in EVENT_TYPES:
        return False
    if name == "VarSet":
        return msg.get("Variable") in _TRACKED_VARIABLES
    return True


frame_worth_decoding = EventNameFilter(
    names=frozenset(name.encode() for name in EVENT_TYPES),
    variables=frozenset(name.encode() for name in _TRACKED_VARIABLES),
)
""":func:`worth_decoding` on a frame's bytes, before any message is built.

The reading side parses only the frames this accepts; the others (most of the stream) stay
bytes that are counted and logged. Frames that are not events are accepted."""


def decode_event(msg: AmiMessage) -> AmiEvent:
    """Decode one AMI event message into its typed struct.

    Raises:
        EventDecodeError: a known event whose fields do not validate (names the event,
            the field and the reason). The caller logs it and keeps the raw message.
    """
    name = msg.name
    cls = EVENT_TYPES.get(name)
    if cls is None:
        return UnknownEvent(name=name, timestamp=_timestamp(msg))
    source = msg.headers if cls is UserEvent else msg.pick(_FIELD_KEYS[name])
    try:
        event = msgspec.convert(source, type=cls, strict=False)
    except msgspec.ValidationError as exc:
        raise EventDecodeError(f"{name}: {exc}") from exc
    if isinstance(event, UserEvent):
        return msgspec.structs.replace(event, fields=dict(msg.headers))
    if isinstance(event, Join | Leave) and not event.linkedid:
        linkedid = _linkedid_from_chanvars(msg, event.channel)
        if linkedid:
            return msgspec.structs.replace(event, linkedid=linkedid)
    if isinstance(event, Hangup) and not event.linkedid:
        linkedid = _linkedid_from_chanvars(msg, event.channel)
        if linkedid:
            return msgspec.structs.replace(event, linkedid=linkedid)
    return event  # type: ignore[return-value]
