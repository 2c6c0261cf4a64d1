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
- ``AgentComplete`` with ``Reason: transfer`` marks the entry transferred.
- The call ends with the caller channel's ``Hangup``; the record is then final.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import assert_never

import msgspec

from ami_listener.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentDump,
    AgentRingNoAnswer,
    AmiEvent,
    AttendedTransfer,
    BlindTransfer,
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
    UnknownEvent,
    UserEvent,
    VarSet,
)
from ami_listener.records import CallRecord, QueueEntryRecord

IVR_USER_EVENT = "CentralitaIvr"
IVR_SERVICE_VARIABLE = "CC_SERVICE"  # set by the generated dialplan before the IVR
MAX_PENDING_IVR = 10_000
STALE_CALL_S = 12 * 3600.0
SETTLE_S = 120.0

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


class CallLeftQueue(msgspec.Struct, frozen=True):
    """A caller left a queue without being answered there (outcome may be pending)."""

    call: CallRecord
    queue: str


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
    """A caller hung up in the IVR, before reaching any queue."""

    pbx_id: str
    uniqueid: str
    service: str
    started_at: float
    caller_num: str


Effect = (
    CallJoined
    | CallAnswered
    | CallLeftQueue
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
    entry_context: str = ""
    completed: bool = False
    hung_up_at: float | None = None
    last_activity: float = 0.0
    ringing: set[str] = field(default_factory=set)

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
    """A QueueStatus answer, collected: the input of :meth:`CallTracker.resync`."""

    entries: list[QueueEntry] = field(default_factory=list)
    members: list[QueueMember] = field(default_factory=list)
    queues: list[QueueParams] = field(default_factory=list)


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

    # ----------------------------------------------------------------------- queries
    def waiting(self) -> dict[str, list[CallRecord]]:
        """Callers waiting now, per queue, in order of entry."""
        out: dict[str, list[CallRecord]] = {}
        for live in self.calls.values():
            entry = live.entry
            if entry.left_at is None and entry.answered_at is None:
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
            case UserEvent():
                return self._user_event(event)
            case (
                AgentDump()
                | AttendedTransfer()
                | OriginateResponse()
                | QueueParams()
                | QueueEntry()
                | QueueMember()
                | QueueStatusComplete()
                | FullyBooted()
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
            live = _Live(record=record, entry_context=event.context, last_activity=ts)
            self.calls[uid] = live
        else:
            if live.entry.queue == event.queue and live.entry.left_at is None:
                return []  # the same stay seen twice (resync, replay)
            self._settle(live, ts, alive=True)
            live.record.entries.append(entry)
            if event.queue not in live.record.queues:
                live.record.queues.append(event.queue)
            live.entry_context = event.context
            live.completed = False
            live.last_activity = ts
        effects.append(CallJoined(call=live.record, queue=event.queue))
        return effects

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
            return []
        entry = live.entry
        if entry.queue != event.queue or entry.answered_at is not None:
            return []
        live.pending = None
        entry.answered_at = ts
        entry.left_at = ts
        entry.outcome = "answered"
        entry.hold_time_s = event.hold_time
        entry.agent_interface = event.agent_interface
        entry.agent_name = event.member_name
        record = live.record
        if record.answered_at is None:
            record.answered_at = ts
            record.holdtime_s = event.hold_time
            record.agent_interface = event.agent_interface
            record.agent_name = event.member_name
        live.ringing.clear()
        live.last_activity = ts
        return [
            CallAnswered(
                call=record,
                queue=event.queue,
                agent_interface=event.agent_interface,
                agent_name=event.member_name,
            )
        ]

    def _find_answered(self, queue: str, interface: str) -> _Live | None:
        """Asterisk 16 may send AgentComplete without caller fields: find by member."""
        for live in self.calls.values():
            entry = live.entry
            if (
                entry.queue == queue
                and entry.agent_interface == interface
                and entry.answered_at is not None
                and not live.completed
            ):
                return live
        return None

    def _complete(self, event: AgentComplete, ts: float) -> list[Effect]:
        live = self.calls.get(event.uniqueid) if event.uniqueid else None
        if live is None:
            live = self._find_answered(event.queue, event.agent_interface)
        if live is None or live.completed or live.entry.answered_at is None:
            return []
        live.completed = True
        live.last_activity = ts
        entry = live.entry
        record = live.record
        if event.reason == "transfer":
            entry.outcome = "transferred"
            record.transferred = True
        if entry.answered_at is not None:
            talk = round(ts - entry.answered_at, 3)
            record.talk_s = talk if record.talk_s is None else round(record.talk_s + talk, 3)
            record.asterisk_talk_s = (record.asterisk_talk_s or 0) + event.talk_time
        if live.hung_up_at is not None:
            return self._finish(live, live.hung_up_at)
        return []

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
        self.pending_ivr.pop(uid, None)
        live = self.calls.get(uid)
        if live is None:
            entered = self.in_ivr.pop(uid, None)
            if entered is None:
                return []
            service, started_at, caller = entered
            return [
                IvrHangup(
                    pbx_id=self.pbx_id,
                    uniqueid=uid,
                    service=service,
                    started_at=started_at,
                    caller_num=caller or event.caller_id_num,
                )
            ]
        if live.entry.answered_at is not None and not live.completed:
            # The caller hung up first: Asterisk sends AgentComplete (with the talk time)
            # right after. Finish then; the sweep covers a lost AgentComplete.
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
    def resync(self, snapshot: QueueSnapshot, at: float) -> list[Effect]:
        """Reconcile with a QueueStatus answer taken after a (re)login.

        - a waiting caller we did not know (joined during the outage) gets a record whose
          entry time is ``at - Wait``; one we knew is left as it is (never counted twice);
        - a caller we thought waiting who is no longer in any queue left during the outage:
          its entry is closed as abandoned at ``at`` and the record flagged ``gap``;
        - an answered call whose agent is no longer in a call ended during the outage:
          it is finished at ``at`` and flagged ``gap``.
        Members are replaced by the snapshot's.
        """
        effects: list[Effect] = []
        seen: set[str] = set()
        for qe in snapshot.entries:
            uid = qe.uniqueid
            if not uid:
                continue
            seen.add(uid)
            live = self.calls.get(uid)
            if live is not None and live.entry.queue == qe.queue and live.entry.left_at is None:
                continue
            join = QueueCallerJoin(
                timestamp=at - qe.wait,
                channel=qe.channel,
                uniqueid=uid,
                linkedid=qe.linkedid or uid,
                caller_id_num=qe.caller_id_num,
                caller_id_name=qe.caller_id_name,
                queue=qe.queue,
                position=qe.position,
            )
            joined = self._join(join, round(at - qe.wait, 3))
            if uid in self.calls:
                self.calls[uid].record.resynced = True
            effects.extend(joined)
        busy = {m.agent_interface for m in snapshot.members if m.busy}
        for uid, live in list(self.calls.items()):
            if uid in seen or live.completed or live.pending is not None or live.hung_up_at:
                # Completed or leaving calls wait for their Hangup (or the sweep).
                continue
            entry = live.entry
            waiting = entry.answered_at is None and entry.left_at is None
            answered_gone = entry.answered_at is not None and entry.agent_interface not in busy
            if waiting or answered_gone:
                if waiting:
                    entry.left_at = at
                    entry.outcome = "abandoned"
                effects.append(self._close_gap(uid, live, at))
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
            )
            effects.append(_member_effect(state))
        for key, gone in self.members.items():
            if key not in members:
                effects.append(_member_effect(gone, removed=True))
        self.members = members
        return effects

    def _close_gap(self, uid: str, live: _Live, at: float) -> CallFinished:
        """Finish a call whose end was not seen (outage, lost events): flagged ``gap``."""
        record = live.record
        record.gap = True
        end = live.hung_up_at if live.hung_up_at is not None else at
        entry = live.entry
        if entry.answered_at is not None and not live.completed:
            record.talk_s = round(end - entry.answered_at, 3)
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
