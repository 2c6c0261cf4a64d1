"""The ingest pipeline: AMI message → event log row → typed event → tracker → effects.

One consumer calls :meth:`Pipeline.feed` for every message, strictly in wire order; it is
synchronous and never waits on I/O: log rows and finished calls go into a
:class:`WriteBuffer` that a separate writer drains in batches, and other effects go to
sinks that must only enqueue. The same pipeline serves the live daemon, ``ingest-file``
and ``rebuild``, so a capture and a live stream give the same records.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from centralita.ami_listener.eventlog import EventRow, event_row, timestamp_of
from centralita.ami_listener.events import (
    QueueEntry,
    QueueMember,
    QueueParams,
    QueueStatusComplete,
    Status,
    StatusComplete,
    decode_event,
    worth_decoding,
)
from centralita.ami_listener.exceptions import EventDecodeError
from centralita.ami_listener.protocol import AmiMessage, MalformedFrame, parse_frame
from centralita.ami_listener.records import CallRecord
from centralita.ami_listener.store import Batch
from centralita.ami_listener.tracker import (
    CallFinished,
    CallTracker,
    Effect,
    IvrHangup,
    QueueSnapshot,
)

log = structlog.get_logger(__name__)

RESYNC_ACTION_PREFIX = "centralita-resync-"
CLOCK_SUFFIX = "-clock"  # the Ping sent with a resync: its Timestamp is the PBX clock
CHANNELS_SUFFIX = "-chan"  # the Status sent with a resync: the live channels


def resync_key(action_id: str) -> str:
    """The resync an ActionID belongs to (its QueueStatus, Ping and Status share it)."""
    for suffix in (CLOCK_SUFFIX, CHANNELS_SUFFIX):
        if action_id.endswith(suffix):
            return action_id[: -len(suffix)]
    return action_id


def is_resync_response(msg: AmiMessage) -> bool:
    """A response (not an event) to one of the resync actions: it goes to the event log,
    so that a rebuild sees the PBX clock and refusals exactly as the live daemon did."""
    return (not msg.is_event) and msg.get("ActionID").startswith(RESYNC_ACTION_PREFIX)


SWEEP_EVERY = 1000


class EffectSink(Protocol):
    """Receives tracker effects; must return at once (enqueue, never await).

    A sink that also has ``handle_event(event)`` receives every decoded event, in order,
    before the tracker sees it (the campaign dialer needs ``OriginateResponse``).
    """

    def handle(self, effect: Effect) -> None:
        """Take one effect."""


@dataclass
class WriteBuffer:
    """What the pipeline produced and the writer has not stored yet."""

    events: deque[EventRow] = field(default_factory=deque)
    calls: deque[CallRecord] = field(default_factory=deque)
    ivr_hangups: deque[IvrHangup] = field(default_factory=deque)

    def __len__(self) -> int:
        return len(self.events) + len(self.calls) + len(self.ivr_hangups)

    def take(self, max_events: int) -> Batch:
        """Remove and return up to ``max_events`` events and the calls finished so far."""
        n = min(max_events, len(self.events))
        batch = Batch(
            [self.events.popleft() for _ in range(n)], list(self.calls), list(self.ivr_hangups)
        )
        self.calls.clear()
        self.ivr_hangups.clear()
        return batch

    def put_back(self, batch: Batch) -> None:
        """Return a batch that could not be written, keeping the original order."""
        self.events.extendleft(reversed(batch.events))
        self.calls.extendleft(reversed(batch.calls))
        self.ivr_hangups.extendleft(reversed(batch.ivr_hangups))


@dataclass
class PipelineStats:
    """Counters for progress displays and /metrics."""

    messages: int = 0
    events: int = 0
    malformed: int = 0
    rejected: int = 0
    calls_finished: int = 0
    resyncs: int = 0


class Pipeline:
    """Turns AMI messages into stored events and call records, in order."""

    def __init__(
        self,
        tracker: CallTracker,
        buffer: WriteBuffer | None = None,
        sinks: Iterable[EffectSink] = (),
        *,
        log_events: bool = True,
    ) -> None:
        self.tracker = tracker
        self.pbx_id = tracker.pbx_id
        self.buffer = buffer if buffer is not None else WriteBuffer()
        self.sinks = list(sinks)
        self._event_sinks = [s for s in self.sinks if callable(getattr(s, "handle_event", None))]
        self.log_events = log_events
        self.stats = PipelineStats()
        self._snapshots: dict[str, QueueSnapshot] = {}
        self._last_ts = 0.0

    def malformed(self, frame: MalformedFrame) -> None:
        """Record a frame that could not be parsed (logged, counted, skipped)."""
        self.stats.malformed += 1
        log.warning(
            "ami_frame_rejected",
            pbx_id=self.pbx_id,
            offset=frame.offset,
            reason=frame.reason,
            excerpt=frame.excerpt[:60].decode("utf-8", "replace"),
        )

    def feed_frame(self, frame: bytes, received_at: float) -> None:
        """Count (and, with ``log_events``, log) an event frame no consumer reads.

        The reading side leaves such frames unparsed (``frame_worth_decoding``); this is the
        same as :meth:`feed` on their message, without building it.
        """
        stats = self.stats
        stats.messages += 1
        stats.events += 1
        if self.log_events:
            self.buffer.events.append(event_row(self.pbx_id, frame, received_at))
        if stats.events % SWEEP_EVERY == 0:
            self._dispatch(self.tracker.sweep())

    def feed(self, msg: AmiMessage, received_at: float | None) -> list[Effect]:
        """Process one message. Responses are ignored; events are logged and tracked.

        ``received_at`` is the wall-clock receipt time; ``None`` (offline ingestion) means
        "the last event timestamp seen", so replays never read the clock.
        """
        stats = self.stats
        stats.messages += 1
        if not msg.is_event:
            if is_resync_response(msg):
                return self._resync_response(msg, received_at)
            return []
        stats.events += 1
        if received_at is None or self.log_events:
            raw = msg.raw or msg.text()
            ts = timestamp_of(raw)
            if ts is not None:
                self._last_ts = ts
            if received_at is None:
                received_at = self._last_ts or 0.0
            if self.log_events:
                frame = msg.frame or raw.encode("utf-8")
                self.buffer.events.append(event_row(self.pbx_id, frame, received_at, raw))
        if not worth_decoding(msg):
            # Logged only: events no consumer reads (Newexten, DeviceStateChange...).
            if stats.events % SWEEP_EVERY == 0:
                self._dispatch(self.tracker.sweep())
            return []
        try:
            event = decode_event(msg)
        except EventDecodeError as exc:
            stats.rejected += 1
            log.warning("ami_event_rejected", pbx_id=self.pbx_id, reason=str(exc))
            return []
        for observer in self._event_sinks:
            try:
                observer.handle_event(event)  # type: ignore[attr-defined]
            except Exception:  # an observer must never stop ingestion
                log.exception("event_observer_failed", observer=type(observer).__name__)
        action_id = msg.get("ActionID") if (msg.parsed or "\nActionID: " in msg.raw) else ""
        if action_id.startswith(RESYNC_ACTION_PREFIX):
            effects = self._collect_resync(action_id, event, received_at)
        else:
            try:
                effects = self.tracker.apply(event, received_at)
            except Exception:  # a tracker bug must not stop ingestion
                self.stats.rejected += 1
                log.exception("ami_event_failed", pbx_id=self.pbx_id, ami_event=msg.name)
                return []
        if stats.events % SWEEP_EVERY == 0:
            effects = effects + self.tracker.sweep()
        self._dispatch(effects)
        return effects

    def _resync_response(self, msg: AmiMessage, received_at: float | None) -> list[Effect]:
        """The response to a resync action: logged; the Ping's gives the PBX clock."""
        raw = msg.raw or msg.text()
        if received_at is None:
            received_at = self._last_ts or 0.0
        if self.log_events:
            frame = msg.frame or raw.encode("utf-8")
            self.buffer.events.append(event_row(self.pbx_id, frame, received_at, raw))
        action_id = msg.get("ActionID")
        snap = self._snapshots.setdefault(resync_key(action_id), QueueSnapshot())
        if action_id.endswith(CLOCK_SUFFIX):
            snap.pbx_now = timestamp_of(raw)
        elif action_id.endswith(CHANNELS_SUFFIX) and msg.get("Response") != "Success":
            # Refused (no privilege): no StatusComplete comes, resync decides without it.
            log.warning(
                "ami_resync_status_refused",
                pbx_id=self.pbx_id,
                said=msg.get("Message"),
                hint="the AMI user needs write=reporting (centralita conf generate)",
            )
        return []

    def _collect_resync(self, action_id: str, event: object, received_at: float) -> list[Effect]:
        key = resync_key(action_id)
        snap = self._snapshots.setdefault(key, QueueSnapshot())
        if isinstance(event, QueueEntry):
            snap.entries.append(event)
        elif isinstance(event, QueueMember):
            snap.members.append(event)
        elif isinstance(event, QueueParams):
            snap.queues.append(event)
        elif isinstance(event, Status):
            snap.listed.add(event.uniqueid)
        elif isinstance(event, StatusComplete):
            snap.channels = snap.listed  # only a whole list is trusted
        elif isinstance(event, QueueStatusComplete):
            del self._snapshots[key]
            self.stats.resyncs += 1
            effects = self.tracker.resync(snap, received_at)
            log.info(
                "ami_resync_applied",
                pbx_id=self.pbx_id,
                waiting=len(snap.entries),
                members=len(snap.members),
                channels=None if snap.channels is None else len(snap.channels),
                pbx_clock=snap.pbx_now is not None,
                closed=sum(1 for e in effects if isinstance(e, CallFinished)),
            )
            return effects
        return []

    def _dispatch(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, IvrHangup):
                self.buffer.ivr_hangups.append(effect)
            elif isinstance(effect, CallFinished):
                self.stats.calls_finished += 1
                call = effect.call
                self.buffer.calls.append(call)
                log.info(
                    "queue_call_finished",
                    pbx_id=self.pbx_id,
                    uniqueid=call.uniqueid,
                    service=call.service,
                    queue=call.queue,
                    outcome=call.outcome,
                    wait_s=call.wait_s,
                    caller=call.caller_num,
                    agent=call.agent_name,
                )
            for sink in self.sinks:
                try:
                    sink.handle(effect)
                except Exception:  # a sink must never stop ingestion
                    log.exception("effect_sink_failed", sink=type(sink).__name__)


def message_from_row(raw: str) -> AmiMessage | MalformedFrame:
    """Rebuild an AMI message from the log's stored text (for ``rebuild``)."""
    return parse_frame(raw.encode("utf-8"))
