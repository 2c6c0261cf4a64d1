"""The call tracker: a pure state machine from typed AMI events to call records.

``CallTracker.apply(event, received_at) -> list[Effect]`` does no I/O and reads no clock:
time comes from the event's ``Timestamp`` header (``received_at`` is the fallback for
events without one). Feed it a recorded transcript and you get the same records as live.

How outcomes are decided (see ami-dialects.md and the captures' README):

- ``QueueCallerAbandon`` is sent for a caller hang-up *and* for a timeout or an empty
  queue, so it only marks the entry "abandon pending". What follows decides:
  ``VarSet QUEUESTATUS=TIMEOUT`` → timeout, ``=LEAVEEMPTY`` → exit-empty, the caller's
  ``Hangup`` → abandoned, a new queue join (the caller is still alive) → timeout.
- ``QueueCallerLeave``/``Leave`` without an abandon is "left pending": an
  ``AgentConnect`` right after it means answered; the caller's hang-up or a join elsewhere
  means exit-with-key (a key exit also shows the exit context in the leave event).
- ``AgentComplete`` with ``Reason: transfer`` marks the entry transferred; so does the
  caller leaving the agent's bridge for another dialplan location (``BridgeLeave``), or
  joining another queue, while its answered stay has had no ``AgentComplete``: a Redirect,
  whose late ``AgentComplete`` (at the caller's hang-up) is then ignored.
- The call ends with the caller channel's ``Hangup``; the record is then final.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import assert_never

import msgspec

from centralita.ami_listener.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentRingNoAnswer,
    AmiEvent,
    AttendedTransfer,
    BlindTransfer,
    BridgeLeave,
    FullyBooted,
    Hangup,
    Join,
    Leave,
    OriginateResponse,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberPaused,
    QueueMemberRemoved,
    QueueMemberStatus,
    QueueParams,
    QueueStatusComplete,
    Status,
    StatusComplete,
    UnknownEvent,
    UserEvent,
    VarSet,
)
from centralita.ami_listener.records import CallRecord, QueueEntryRecord

IVR_USER_EVENT = "CentralitaIvr"
IVR_SERVICE_VARIABLE = "CC_SERVICE"  # set by the generated dialplan before the IVR
IVR_DESTINATION_FIELD = "destination"  # the IVR's report: queue, number or announcement
MAX_PENDING_IVR = 10_000
MAX_UNKNOWN_HANGUPS = 2_000
CLOCK_SAMPLES = 64
STALE_CALL_S = 12 * 3600.0
SETTLE_S = 120.0
# AgentComplete's TalkTime is whole seconds (time() at the end minus time() at the bridge):
# ``Timestamp - TalkTime`` lands within a second of the AgentConnect's Timestamp.
_TALK_TIME_SLACK_S = 2.0

ServiceResolver = Callable[[str, str], str]


def default_service(exten: str, queue: str) -> str:
    """Service of a queue entry without a routing config: the dialed number, else the
    queue name without its ``q`` prefix (``q101`` → ``101``)."""
    if exten and exten.isdigit():
        return exten
    if queue.startswith("q") and queue[1:].isdigit():
        return queue[1:]
    return exten or queue


class CallJoined(msgspec.Struct, frozen=True):
    """A caller entered a queue (first or a later one)."""

    call: CallRecord
    queue: str


class CallAnswered(msgspec.Struct, frozen=True):
    """An agent answered: the moment of the screen-pop."""

    call: CallRecord
    queue: str
    agent_interface: str
    agent_name: str
    caller_channel: str = ""  # the caller's channel now (console transfers Redirect it)


class CallLeftQueue(msgspec.Struct, frozen=True):
    """A caller left a queue without being answered there (outcome may be pending)."""

    call: CallRecord
    queue: str


class CallLeftAgent(msgspec.Struct, frozen=True):
    """An agent's part of a call ended while the call goes on (a transfer): that agent is
    done with it at ``at``; the caller talks to someone else."""

    call: CallRecord
    queue: str
    agent_interface: str
    agent_name: str
    at: float


class CallFinished(msgspec.Struct, frozen=True):
    """The call is over; ``call`` is final and will not change again."""

    call: CallRecord


class MemberUpdated(msgspec.Struct, frozen=True):
    """A queue member's state changed (wallboard)."""

    queue: str
    interface: str
    name: str
    status: int
    paused: bool
    in_call: bool
    pause_reason: str = ""
    removed: bool = False


class IvrReported(msgspec.Struct, frozen=True):
    """The IVR reported its result for a channel (UserEvent CentralitaIvr)."""

    uniqueid: str
    fields: dict[str, str]


class IvrHangup(msgspec.Struct, frozen=True):
    """A call of a service that ended before reaching any queue: the caller hung up in
    the IVR, or the IVR sent the call elsewhere (``destination`` ``number`` or
    ``announcement``, as its CentralitaIvr report said)."""

    pbx_id: str
    uniqueid: str
    service: str
    started_at: float
    caller_num: str
    destination: str = ""

    @property
    def derived(self) -> bool:
        """True when the IVR sent the call outside the queues (not a hang-up)."""
        return self.destination not in ("", "queue")


Effect = (
    CallJoined
    | CallAnswered
    | CallLeftQueue
    | CallLeftAgent
    | CallFinished
    | MemberUpdated
    | IvrReported
    | IvrHangup
)


@dataclass
class _Pending:
    kind: str  # "abandon" | "leave"
    at: float
    position: int | None = None
    original_position: int | None = None
    hold_time: int | None = None
    key_exit: bool = False
    exit_key: str = ""


@dataclass
class _Live:
    record: CallRecord
    pending: _Pending | None = None
    entry_context: str = ""  # where the caller was (context, exten) when it joined
    entry_exten: str = ""
    completed: bool = False
    hung_up_at: float | None = None
    last_activity: float = 0.0
    ringing: set[str] = field(default_factory=set)
    channel: str = ""  # the caller's channel, from its queue joins
    # The caller left the queue while we were not connected, alive: answered or gone
    # elsewhere; the next events (AgentComplete, Hangup) tell which.
    limbo: bool = False

    @property
    def entry(self) -> QueueEntryRecord:
        return self.record.entries[-1]


@dataclass
class MemberState:
    """What the tracker knows of one member in one queue."""

    queue: str
    interface: str
    name: str = ""
    status: int = 0
    paused: bool = False
    in_call: bool = False
    pause_reason: str = ""


@dataclass
class QueueSnapshot:
    """What the PBX said after a (re)login, collected: the input of
    :meth:`CallTracker.resync`.

    ``pbx_now`` is the PBX's clock at the answer (the ``Timestamp`` of the ``Ping`` sent
    with it), ``None`` when the PBX did not say. ``channels`` holds the Uniqueids of every
    live channel (the ``Status`` answer), ``None`` when that answer is missing or refused.
    """

    entries: list[QueueEntry] = field(default_factory=list)
    members: list[QueueMember] = field(default_factory=list)
    queues: list[QueueParams] = field(default_factory=list)
    channels: set[str] | None = None
    pbx_now: float | None = None
    listed: set[str] = field(default_factory=set)  # Status so far; channels once complete


class CallTracker:
    """Folds typed AMI events into call records. Pure: no I/O, no clock."""

    def __init__(self, pbx_id: str, service_for: ServiceResolver = default_service) -> None:
        self.pbx_id = pbx_id
        self.service_for = service_for
        self.calls: dict[str, _Live] = {}
        self.members: dict[tuple[str, str], MemberState] = {}
        self.pending_ivr: OrderedDict[str, dict[str, str]] = OrderedDict()
        self.in_ivr: OrderedDict[str, tuple[str, float, str]] = OrderedDict()
        self.last_ts = 0.0
        # Hang-ups of channels we hold no call for: a call answered while we were away
        # may be built from its AgentComplete, which can come right after its Hangup.
        self.unknown_hangups: OrderedDict[str, tuple[float, str, str]] = OrderedDict()
        # Recent (arrival − PBX Timestamp) differences, milliseconds: the PBX clock
        # estimate when a resync has no Ping Timestamp.
        self.clock_offsets_ms: deque[int] = deque(maxlen=CLOCK_SAMPLES)
        # FullyBooted's Uptime (seconds) since the last login, when the PBX says it.
        self.uptime_s: int | None = None

    # ----------------------------------------------------------------------- queries
    def waiting(self) -> dict[str, list[CallRecord]]:
        """Callers waiting now, per queue, in order of entry."""
        out: dict[str, list[CallRecord]] = {}
        for live in self.calls.values():
            entry = live.entry
            if entry.left_at is None and entry.answered_at is None and not live.limbo:
                out.setdefault(entry.queue, []).append(live.record)
        for calls in out.values():
            calls.sort(key=lambda c: c.entries[-1].entered_at)
        return out

    def open_calls(self) -> list[CallRecord]:
        """Every call not finished yet."""
        return [live.record for live in self.calls.values()]

    # ------------------------------------------------------------------------ apply
    def apply(self, event: AmiEvent, received_at: float) -> list[Effect]:
        """Fold one event; return what changed."""
        if event.timestamp is not None:
            ts = round(event.timestamp, 3)
            self.last_ts = max(self.last_ts, ts)
            # Both sides in whole ms, as the log stores them: a rebuild sees the same.
            self.clock_offsets_ms.append(int(received_at * 1000 + 0.5) - int(ts * 1000 + 0.5))
        else:
            # No Timestamp header (timestampevents=no, or FullyBooted): receipt time.
            # Only call events may move the event clock then, so that a wall-clock
            # FullyBooted never jumps ahead of a stream's own (recorded) timestamps.
            ts = round(received_at, 3)
            if not isinstance(event, FullyBooted | UnknownEvent):
                self.last_ts = max(self.last_ts, ts)
        match event:  # the busiest first: member states, then hang-ups (a third of calls)
            case (
                QueueMemberStatus()
                | QueueMemberAdded()
                | QueueMemberPause()
                | QueueMemberPaused()
                | QueueMemberRemoved()
            ):
                return self._member(event)
            case Hangup():
                return self._hangup(event, ts)
            case QueueCallerJoin() | Join():
                return self._join(event, ts)
            case QueueCallerLeave() | Leave():
                return self._leave(event, ts)
            case QueueCallerAbandon():
                return self._abandon(event, ts)
            case AgentConnect():
                return self._connect(event, ts)
            case AgentComplete():
                return self._complete(event, ts)
            case AgentRingNoAnswer():
                live = self.calls.get(event.uniqueid)
                if live is not None:
                    live.entry.ring_no_answer += 1
                    live.record.ring_no_answer += 1
                    live.ringing.discard(event.agent_interface)
                return []
            case AgentCalled():
                live = self.calls.get(event.uniqueid)
                if live is not None:
                    live.ringing.add(event.agent_interface)
                return []
            case VarSet():
                return self._varset(event, ts)
            case BlindTransfer():
                live = self.calls.get(event.transferee_uniqueid)
                if live is not None and event.result == "Success" and live.record.answered_at:
                    live.record.transferred = True
                return []
            case BridgeLeave():
                live = self.calls.get(event.uniqueid)
                if (
                    live is not None
                    and live.entry_context
                    and event.context
                    and (event.context, event.exten) != (live.entry_context, live.entry_exten)
                ):
                    return self._moved_while_talking(live, ts)
                return []
            case UserEvent():
                return self._user_event(event)
            case FullyBooted():
                self.uptime_s = event.uptime
                return []
            case (
                AgentDump()
                | AttendedTransfer()
                | OriginateResponse()
                | QueueParams()
                | QueueEntry()
                | QueueMember()
                | QueueStatusComplete()
                | Status()
                | StatusComplete()
                | UnknownEvent()
            ):
                return []
            case _:
                assert_never(event)

    # ------------------------------------------------------------------ call events
    def _new_entry(self, queue: str, exten: str, ts: float, position: int) -> QueueEntryRecord:
        return QueueEntryRecord(
            queue=queue,
            service=self.service_for(exten, queue),
            entered_at=ts,
            join_position=position,
        )

    def _join(self, event: QueueCallerJoin, ts: float) -> list[Effect]:
        uid = event.uniqueid
        if not uid:
            return []
        self.in_ivr.pop(uid, None)
        effects: list[Effect] = []
        live = self.calls.get(uid)
        entry = self._new_entry(event.queue, event.exten, ts, event.position)
        if live is None:
            record = CallRecord(
                pbx_id=self.pbx_id,
                uniqueid=uid,
                linkedid=event.linkedid or uid,
                service=entry.service,
                exten=event.exten,
                caller_num=event.caller_id_num,
                caller_name=_clean_name(event.caller_id_name),
                entered_at=ts,
                queues=[event.queue],
                entries=[entry],
                join_position=event.position,
                ivr=self.pending_ivr.pop(uid, None),
            )
            live = _Live(
                record=record,
                entry_context=event.context,
                entry_exten=event.exten,
                last_activity=ts,
            )
            self.calls[uid] = live
        else:
            if live.entry.queue == event.queue and live.entry.left_at is None and not live.limbo:
                return []  # the same stay seen twice (resync, replay)
            if live.limbo:  # it left the last queue unseen: when and how are not known
                live.limbo = False
                live.entry.outcome = "unknown"
                live.entry.left_at = ts
                _mark(live.record, "left_at")
            self._settle(live, ts, alive=True)
            effects += self._moved_while_talking(live, ts)
            live.record.entries.append(entry)
            if event.queue not in live.record.queues:
                live.record.queues.append(event.queue)
            live.entry_context = event.context
            live.entry_exten = event.exten
            live.completed = False
            live.last_activity = ts
        if event.channel:
            live.channel = event.channel
        effects.append(CallJoined(call=live.record, queue=event.queue))
        return effects

    @staticmethod
    def _moved_while_talking(live: _Live, ts: float) -> list[Effect]:
        """An answered stay with no AgentComplete yet, and the caller leaves the agent's
        bridge for another dialplan location or joins another queue: moved while talking
        (the console's transfer is an AMI Redirect). Asterisk reports nothing for that stay
        until the caller finally hangs up, and then counts its TalkTime up to that hang-up;
        the stay's talk really ended here, and so did the agent's part."""
        entry = live.entry
        if entry.answered_at is None or live.completed or entry.outcome != "answered":
            return []
        live.completed = True
        entry.outcome = "transferred"
        live.record.transferred = True
        _end_talk(live.record, entry, ts)
        return [_left_agent(live, ts)]

    def _abandon(self, event: QueueCallerAbandon, ts: float) -> list[Effect]:
        live = self.calls.get(event.uniqueid)
        if live is None or live.entry.queue != event.queue:
            return []
        live.pending = _Pending(
            kind="abandon",
            at=ts,
            position=event.position,
            original_position=event.original_position,
            hold_time=event.hold_time,
        )
        live.entry.left_at = ts
        live.entry.leave_position = event.position
        live.entry.original_position = event.original_position
        live.entry.hold_time_s = event.hold_time
        live.last_activity = ts
        return [CallLeftQueue(call=live.record, queue=event.queue)]

    def _leave(self, event: QueueCallerLeave, ts: float) -> list[Effect]:
        live = self.calls.get(event.uniqueid)
        if live is None or live.entry.queue != event.queue:
            return []
        live.last_activity = ts
        if live.pending is not None and live.pending.kind == "abandon":
            return []
        if live.entry.answered_at is not None or live.entry.left_at is not None:
            return []
        key_exit = (
            bool(event.context)
            and bool(live.entry_context)
            and (event.context != live.entry_context)
        )
        live.pending = _Pending(
            kind="leave",
            at=ts,
            position=event.position,
            key_exit=key_exit,
            exit_key=event.exten if key_exit else "",
        )
        live.entry.leave_position = event.position
        return []

    def _connect(self, event: AgentConnect, ts: float) -> list[Effect]:
        live = self.calls.get(event.uniqueid)
        if live is None:
            # Joined while we were away and answered now: the join is known only
            # from HoldTime (whole seconds), so the entry time is marked.
            if not event.uniqueid or not event.queue:
                return []
            live = self._late_call(event, entered_at=round(ts - event.hold_time, 3))
            live.record.marks.append("entered_at")
        entry = live.entry
        if live.limbo and entry.queue == event.queue and entry.answered_at is None:
            live.limbo = False
            entry.left_at = None
        if entry.queue != event.queue or entry.answered_at is not None:
            return []
        _answer(live, event, ts)
        record = live.record
        live.ringing.clear()
        live.last_activity = ts
        return [
            CallAnswered(
                call=record,
                queue=event.queue,
                agent_interface=event.agent_interface,
                agent_name=event.member_name,
                caller_channel=live.channel,
            )
        ]

    def _find_answered(self, event: AgentComplete, ts: float) -> _Live | None:
        """An AgentComplete without caller fields (Asterisk 16 sometimes; master for a
        caller Redirected away from the agent, sent when that caller hangs up): the call
        whose current stay this member answered ``TalkTime`` seconds ago.

        The answer time must agree (whole seconds on both sides): after a console
        transfer the freed agent may be talking to the NEXT caller of the same queue when
        the first caller's late AgentComplete arrives, and that one must not be closed.
        """
        started = ts - event.talk_time
        for live in self.calls.values():
            entry = live.entry
            if (
                entry.queue == event.queue
                and entry.agent_interface == event.agent_interface
                and entry.answered_at is not None
                and not live.completed
                and abs(entry.answered_at - started) <= _TALK_TIME_SLACK_S
            ):
                return live
        return None

    def _complete(self, event: AgentComplete, ts: float) -> list[Effect]:
        live = self.calls.get(event.uniqueid) if event.uniqueid else None
        if live is None:
            live = self._find_answered(event, ts)
        if live is None and event.uniqueid and event.queue:
            live = self._answered_unseen(event, ts, None)
        elif live is not None and live.limbo and live.entry.answered_at is None:
            self._answered_unseen(event, ts, live)
        if live is None or live.completed or live.entry.answered_at is None:
            return []
        if event.queue and event.queue != live.entry.queue:
            return []  # a stay the caller was moved out of, reported at the hang-up
        live.completed = True
        live.last_activity = ts
        entry = live.entry
        record = live.record
        effects: list[Effect] = []
        if event.reason == "transfer":
            entry.outcome = "transferred"
            record.transferred = True
            effects.append(_left_agent(live, ts))
        if entry.answered_at is not None:
            _end_talk(record, entry, ts)
            record.asterisk_talk_s = (record.asterisk_talk_s or 0) + event.talk_time
        if live.hung_up_at is not None:
            return effects + self._finish(live, live.hung_up_at)
        return effects

    def _late_call(self, event: AgentConnect | AgentComplete, *, entered_at: float) -> _Live:
        """A call first seen by its agent events (it joined while we were away)."""
        uid = event.uniqueid
        self.in_ivr.pop(uid, None)
        exten = event.exten if event.exten and event.exten.isdigit() else ""
        entry = self._new_entry(event.queue, exten, entered_at, 0)
        record = CallRecord(
            pbx_id=self.pbx_id,
            uniqueid=uid,
            linkedid=event.linkedid or uid,
            service=entry.service,
            exten=exten,
            caller_num=event.caller_id_num,
            caller_name=_clean_name(event.caller_id_name),
            entered_at=entered_at,
            queues=[event.queue],
            entries=[entry],
            ivr=self.pending_ivr.pop(uid, None),
            resynced=True,
        )
        live = _Live(record=record, last_activity=entered_at)
        self.calls[uid] = live
        return live

    def _answered_unseen(self, event: AgentComplete, ts: float, live: _Live | None) -> _Live:
        """An answer that happened while we were away, known from its AgentComplete:
        the answer time is ``TalkTime`` (whole seconds) before it, so it is marked."""
        answered_at = round(ts - event.talk_time, 3)
        if live is None:
            live = self._late_call(event, entered_at=round(answered_at - event.hold_time, 3))
            live.record.marks.append("entered_at")
            hung = self.unknown_hangups.pop(event.uniqueid, None)
            if hung is not None:
                hung_at, caller_num, exten = hung
                live.hung_up_at = hung_at
                record = live.record
                record.caller_num = record.caller_num or caller_num
                if not record.exten and exten.isdigit():
                    record.exten = exten
        live.limbo = False
        _answer(live, event, answered_at)
        _mark(live.record, "answered_at")
        return live

    def _varset(self, event: VarSet, ts: float) -> list[Effect]:
        if event.variable == IVR_SERVICE_VARIABLE:
            uid = event.uniqueid
            if uid and uid not in self.calls and uid not in self.in_ivr:
                self.in_ivr[uid] = (event.value, ts, event.caller_id_num)
                while len(self.in_ivr) > MAX_PENDING_IVR:
                    self.in_ivr.popitem(last=False)
            return []
        if event.variable != "QUEUESTATUS":
            return []
        live = self.calls.get(event.uniqueid)
        if live is None or live.pending is None:
            return []
        if event.value == "TIMEOUT":
            self._resolve(live, "timeout")
        elif event.value == "LEAVEEMPTY":
            self._resolve(live, "exit-empty")
        live.last_activity = ts
        return []

    def _hangup(self, event: Hangup, ts: float) -> list[Effect]:
        uid = event.uniqueid
        reported = self.pending_ivr.pop(uid, None) or {}
        live = self.calls.get(uid)
        if live is None:
            entered = self.in_ivr.pop(uid, None)
            if entered is None:
                if uid:
                    self.unknown_hangups[uid] = (ts, event.caller_id_num, event.exten)
                    while len(self.unknown_hangups) > MAX_UNKNOWN_HANGUPS:
                        self.unknown_hangups.popitem(last=False)
                return []
            service, started_at, caller = entered
            return [
                IvrHangup(
                    pbx_id=self.pbx_id,
                    uniqueid=uid,
                    service=service,
                    started_at=started_at,
                    caller_num=caller or event.caller_id_num,
                    destination=reported.get(IVR_DESTINATION_FIELD, ""),
                )
            ]
        if (live.entry.answered_at is not None and not live.completed) or live.limbo:
            # The caller hung up first: Asterisk sends AgentComplete (with the talk time)
            # right after. Finish then; the sweep covers a lost AgentComplete. A caller
            # who left the queue unseen may have been answered: its AgentComplete says.
            live.hung_up_at = ts
            live.last_activity = ts
            return []
        return self._finish(live, ts)

    def _finish(self, live: _Live, ts: float) -> list[Effect]:
        self.calls.pop(live.record.uniqueid, None)
        self._settle(live, ts, alive=False)
        record = live.record
        record.ended_at = ts
        self._finalise(record)
        return [CallFinished(call=record)]

    def _user_event(self, event: UserEvent) -> list[Effect]:
        if event.user_event != IVR_USER_EVENT or not event.uniqueid:
            return []
        fields = {
            k: v
            for k, v in event.fields.items()
            if k not in _SNAPSHOT_KEYS and not k.startswith(("Dest", "ChanVariable"))
        }
        live = self.calls.get(event.uniqueid)
        if live is not None:
            live.record.ivr = fields
        else:
            self.pending_ivr[event.uniqueid] = fields
            while len(self.pending_ivr) > MAX_PENDING_IVR:
                self.pending_ivr.popitem(last=False)
        return [IvrReported(uniqueid=event.uniqueid, fields=fields)]

    # ---------------------------------------------------------------- outcome rules
    def _resolve(self, live: _Live, outcome: str) -> None:
        pending = live.pending
        entry = live.entry
        if pending is None:
            return
        entry.outcome = outcome
        if entry.left_at is None:
            entry.left_at = pending.at
        if outcome == "exit-with-key":
            entry.exit_key = pending.exit_key
        live.pending = None

    def _settle(self, live: _Live, ts: float, *, alive: bool) -> None:
        """Decide a pending outcome when the caller moves on (alive) or hangs up."""
        pending = live.pending
        entry = live.entry
        if pending is not None:
            if pending.kind == "abandon":
                self._resolve(live, "timeout" if alive else "abandoned")
            else:
                self._resolve(live, "exit-with-key")
        elif entry.outcome is None and entry.answered_at is None:
            # Hung up (or moved) without any leave/abandon event: count as abandoned.
            entry.left_at = entry.left_at if entry.left_at is not None else ts
            entry.outcome = "abandoned" if not alive else "timeout"

    def _finalise(self, record: CallRecord) -> None:
        last = record.entries[-1]
        if record.answered_at is not None:
            record.outcome = "transferred" if record.transferred else "answered"
        else:
            record.outcome = last.outcome or "abandoned"
            if record.outcome == "abandoned":
                record.abandon_position = last.leave_position
            record.holdtime_s = last.hold_time_s
        record.ring_no_answer = sum(e.ring_no_answer for e in record.entries)

    # ----------------------------------------------------------------- members
    def _member(
        self,
        event: QueueMemberStatus
        | QueueMemberAdded
        | QueueMemberPause
        | QueueMemberPaused
        | QueueMemberRemoved,
    ) -> list[Effect]:
        key = (event.queue, event.agent_interface)
        if isinstance(event, QueueMemberRemoved):
            state = self.members.pop(key, None) or MemberState(*key)
            state.name = event.member_name or state.name
            return [_member_effect(state, removed=True)]
        found = self.members.get(key)
        state = found if found is not None else MemberState(*key)
        self.members[key] = state
        state.name = event.member_name or state.name
        state.paused = bool(event.paused)
        state.pause_reason = event.pause_reason if event.paused else ""
        if not isinstance(event, QueueMemberPaused):  # 11's pause event has no status
            state.status = event.status
            state.in_call = bool(event.in_call)
        return [_member_effect(state)]

    # ------------------------------------------------------------- resync, sweep
    def resync(self, snapshot: QueueSnapshot, received_at: float) -> list[Effect]:
        """Reconcile with what the PBX said after a (re)login (see :class:`QueueSnapshot`).

        Nothing is guessed: what the answer cannot tell is left open for the next events
        or recorded as unknown, and every value not observed is named in ``marks``.

        - The PBX clock at the answer is the Ping's ``Timestamp``, else the arrival time
          corrected by the recent offset between events' Timestamps and their arrival.
        - A waiting caller we did not know (joined during the outage) gets a record
          entered ``Wait`` (whole seconds) before that clock: ``entered_at`` is marked.
          One we knew waiting in the same queue is left as it is (never counted twice).
        - The PBX restarted since a call's last event (FullyBooted's ``Uptime``): the
          call vanished with it: a waiting caller's outcome is ``cut``; an answered
          call ended at an unknown time (``ended_at`` and ``talk`` marked).
        - A call we knew that is in no queue now: if its caller channel is gone (the
          ``Status`` answer), it ended during the outage: answered calls with their end
          unknown, waiting ones with an ``unknown`` outcome. If the channel is alive, a
          waiting caller left the queue unseen (answered or elsewhere: its next events
          say) and an answered one is still talking. Without a ``Status`` answer, an
          answered call whose agent is idle is over; the rest wait for their events.
        Members are replaced by the snapshot's.
        """
        at = self.pbx_clock(snapshot, received_at)
        effects: list[Effect] = []
        channels = snapshot.channels
        booted_at = None if self.uptime_s is None else at - self.uptime_s
        if booted_at is not None:
            # A call of before the boot that the PBX still has proves it did not restart
            # (an Uptime that does not fit, e.g. a replayed FullyBooted): not trusted.
            alive = {qe.uniqueid for qe in snapshot.entries} | (snapshot.channels or set())
            if any(
                uid in alive and live.last_activity < booted_at for uid, live in self.calls.items()
            ):
                booted_at = None
        seen: set[str] = set()
        for qe in snapshot.entries:
            uid = qe.uniqueid
            if not uid:
                continue
            seen.add(uid)
            live = self.calls.get(uid)
            if (
                live is not None
                and live.entry.queue == qe.queue
                and live.entry.answered_at is None
                and (live.entry.left_at is None or live.limbo)
            ):
                if live.limbo:  # back in the same queue: it never left
                    live.limbo = False
                    live.entry.left_at = None
                continue
            entered = round(at - qe.wait, 3)
            join = QueueCallerJoin(
                timestamp=entered,
                channel=qe.channel,
                uniqueid=uid,
                linkedid=qe.linkedid or uid,
                caller_id_num=qe.caller_id_num,
                caller_id_name=qe.caller_id_name,
                queue=qe.queue,
                position=qe.position,
            )
            effects.extend(self._join(join, entered))
            joined = self.calls.get(uid)
            if joined is not None:
                # A new call: its entry time; a known one moved: when it left the last.
                _mark(joined.record, "entered_at" if live is None else "left_at")
        busy = {m.agent_interface for m in snapshot.members if m.busy}
        last_call: dict[str, int] = {}
        for m in snapshot.members:
            last_call[m.agent_interface] = max(last_call.get(m.agent_interface, 0), m.last_call)
        for uid, live in list(self.calls.items()):
            if uid in seen:
                continue
            if (
                booted_at is not None
                # Uptime is whole seconds: the boot may be up to 1 s later than it says.
                and live.last_activity < booted_at + 1.0
                and (channels is None or uid not in channels)
            ):
                effects.append(self._vanished(live))
                continue
            if live.completed or live.hung_up_at is not None:
                continue  # waiting for its Hangup / AgentComplete (or the sweep)
            entry = live.entry
            answered = entry.answered_at is not None
            if channels is not None:
                gone = uid not in channels
            elif answered:
                # No channel list (Status refused): the agent is idle, or a call of its
                # ended after this one was answered (LastCall, whole seconds).
                assert entry.answered_at is not None
                gone = entry.agent_interface not in busy or last_call.get(
                    entry.agent_interface, 0
                ) > int(entry.answered_at)
            else:
                gone = False
            if gone:
                effects.append(self._ended_unseen(live))
            elif not answered and live.pending is None and not live.limbo:
                # No longer waiting here, alive (or, without a channel list, maybe):
                # answered or sent elsewhere; its next events say which.
                live.limbo = True
                live.last_activity = max(live.last_activity, at)
        if booted_at is not None or channels is not None:
            # Callers in the IVR whose channel is gone: hung up there, or reached a queue
            # and ended while we were away (healing finds those): not known, so no record.
            for uid in [
                u
                for u, (_s, t, _c) in self.in_ivr.items()
                if (booted_at is not None and t < booted_at)
                or (channels is not None and u not in channels)
            ]:
                del self.in_ivr[uid]
        members: dict[tuple[str, str], MemberState] = {}
        for m in snapshot.members:
            key = (m.queue, m.agent_interface)
            state = members[key] = MemberState(
                queue=m.queue,
                interface=m.agent_interface,
                name=m.name,
                status=m.status,
                paused=bool(m.paused),
                in_call=m.busy,
                # A resync keeps a pause's reason (13.8+ report it); where the PBX does not
                # say (11), the reason seen before the reconnect stays.
                pause_reason=(m.paused_reason or _known_reason(self.members.get(key)))
                if m.paused
                else "",
            )
            effects.append(_member_effect(state))
        for key, gone_member in self.members.items():
            if key not in members:
                effects.append(_member_effect(gone_member, removed=True))
        self.members = members
        self.uptime_s = None
        return effects

    def pbx_clock(self, snapshot: QueueSnapshot, received_at: float) -> float:
        """The PBX's clock when it answered: the Ping's Timestamp, else the arrival time
        (whole ms, as logged) minus the smallest recent arrival − Timestamp difference
        (the one least delayed by the network and the reader)."""
        if snapshot.pbx_now is not None:
            return round(snapshot.pbx_now, 3)
        arrival_ms = int(received_at * 1000 + 0.5)
        if self.clock_offsets_ms:
            arrival_ms -= min(self.clock_offsets_ms)
        return arrival_ms / 1000.0

    def _vanished(self, live: _Live) -> CallFinished:
        """The PBX went down with this call in it (crash or restart)."""
        record = live.record
        entry = live.entry
        record.gap = True
        if live.hung_up_at is not None or (live.completed and entry.answered_at is not None):
            return self._finish_marked(live, live.hung_up_at or live.last_activity, [])
        if entry.answered_at is not None:
            return self._finish_marked(live, None, ["ended_at", "talk"])
        if live.limbo:
            entry.outcome = "unknown"
            return self._finish_marked(live, None, ["left_at", "outcome", "ended_at"])
        live.pending = None
        entry.outcome = "cut"
        return self._finish_marked(live, None, ["ended_at"])

    def _ended_unseen(self, live: _Live) -> CallFinished:
        """The caller's channel is gone and we saw nothing of its end (an outage)."""
        entry = live.entry
        live.record.gap = True
        if entry.answered_at is not None:
            return self._finish_marked(live, None, ["ended_at", "talk"])
        pending = live.pending
        if pending is not None:
            # It was leaving when we lost it: the leave is known, its reason is not
            # when a VarSet would have told (an abandon pending = hang-up or timeout).
            if pending.kind == "abandon":
                entry.outcome = "unknown"
                live.pending = None
                return self._finish_marked(live, None, ["outcome", "ended_at"])
            self._resolve(live, "exit-with-key")
            return self._finish_marked(live, None, ["ended_at"])
        entry.outcome = "unknown"
        return self._finish_marked(live, None, ["left_at", "outcome", "ended_at"])

    def _finish_marked(self, live: _Live, end: float | None, marks: list[str]) -> CallFinished:
        """Finish a call; ``end`` None = its end is not known (marked)."""
        self.calls.pop(live.record.uniqueid, None)
        record = live.record
        entry = live.entry
        if end is not None:
            self._settle(live, end, alive=False)
            if entry.answered_at is not None and entry.talk_s is None:
                _end_talk(record, entry, end)
        record.ended_at = end
        for name in marks:
            _mark(record, name)
        self._finalise(record)
        return CallFinished(call=record)

    def _close_gap(self, uid: str, live: _Live, at: float) -> CallFinished:
        """Finish a call whose end was not seen (outage, lost events): flagged ``gap``."""
        record = live.record
        record.gap = True
        if live.limbo:
            # Left the queue unseen and never told how: not known.
            live.entry.outcome = "unknown"
            end = live.hung_up_at
            marks = ["left_at", "outcome"] + ([] if end is not None else ["ended_at"])
            return self._finish_marked(live, end, marks)
        end = live.hung_up_at if live.hung_up_at is not None else at
        entry = live.entry
        if entry.answered_at is not None and not live.completed:
            _end_talk(record, entry, end)
        (effect,) = self._finish(live, end)
        assert isinstance(effect, CallFinished)
        return effect

    def sweep(
        self, now: float | None = None, settle_s: float = SETTLE_S, max_age_s: float = STALE_CALL_S
    ) -> list[Effect]:
        """Finish calls whose Hangup was lost, using event time (``last_ts``) by default.

        A call that is completed or leaving normally hangs up within seconds: after
        ``settle_s`` without activity it is finished. Any call silent for ``max_age_s``
        is finished too. Both are flagged ``gap``.
        """
        now = self.last_ts if now is None else now
        effects: list[Effect] = []
        for uid, live in list(self.calls.items()):
            idle = now - live.last_activity
            settling = live.completed or live.pending is not None or live.hung_up_at is not None
            if (settling and idle > settle_s) or idle > max_age_s:
                effects.append(self._close_gap(uid, live, live.last_activity))
        return effects


def _answer(live: _Live, event: AgentConnect | AgentComplete, at: float) -> None:
    """The call's current queue stay was answered at ``at`` by the event's member."""
    live.pending = None
    entry = live.entry
    entry.answered_at = at
    entry.left_at = at
    entry.outcome = "answered"
    entry.hold_time_s = event.hold_time
    entry.agent_interface = event.agent_interface
    entry.agent_name = event.member_name
    record = live.record
    if record.answered_at is None:
        record.answered_at = at
        record.holdtime_s = event.hold_time
        record.agent_interface = event.agent_interface
        record.agent_name = event.member_name


def _end_talk(record: CallRecord, entry: QueueEntryRecord, at: float) -> None:
    """An answered stay's talk ends at ``at``; the call's talk is every stay's talk."""
    assert entry.answered_at is not None
    entry.talk_s = round(at - entry.answered_at, 3)
    record.talk_s = round(sum(e.talk_s for e in record.entries if e.talk_s is not None), 3)


def _left_agent(live: _Live, at: float) -> CallLeftAgent:
    entry = live.entry
    return CallLeftAgent(
        call=live.record,
        queue=entry.queue,
        agent_interface=entry.agent_interface,
        agent_name=entry.agent_name,
        at=at,
    )


def _mark(record: CallRecord, name: str) -> None:
    """Name a value of the record as estimated or unknown (not observed in events)."""
    record.resynced = True
    if name not in record.marks:
        record.marks.append(name)


def _known_reason(state: MemberState | None) -> str:
    """The pause reason a member had before a reconnect ("" if none was known)."""
    return state.pause_reason if state is not None and state.paused else ""


def _member_effect(state: MemberState, *, removed: bool = False) -> MemberUpdated:
    return MemberUpdated(
        queue=state.queue,
        interface=state.interface,
        name=state.name,
        status=state.status,
        paused=state.paused,
        in_call=state.in_call,
        pause_reason=state.pause_reason,
        removed=removed,
    )


_SNAPSHOT_KEYS = frozenset(
    {
        "Event",
        "Privilege",
        "Timestamp",
        "Channel",
        "ChannelState",
        "ChannelStateDesc",
        "CallerIDNum",
        "CallerIDName",
        "ConnectedLineNum",
        "ConnectedLineName",
        "Language",
        "AccountCode",
        "Context",
        "Exten",
        "Priority",
        "Uniqueid",
        "Linkedid",
        "UserEvent",
    }
)


def _clean_name(name: str) -> str:
    """Asterisk's placeholders for a missing caller name become empty."""
    return "" if name in ("<unknown>", "unknown", "") else name
