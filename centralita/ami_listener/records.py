"""The call record: one per queue call, the unit every report counts (pure data).

A *queue call* is one caller channel's stay in the queue system, keyed by the caller's
Uniqueid. A call that overflows from one queue to another, or is transferred by an agent
into another queue, stays one call; each queue it entered is a :class:`QueueEntryRecord`.

Times are epoch seconds (UTC) with millisecond precision, taken from the AMI
``Timestamp`` header. Durations end in ``_s``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final, Literal, get_args

import msgspec

Outcome = Literal[
    "answered",
    "abandoned",
    "timeout",
    "exit-empty",
    "exit-with-key",
    "transferred",
    "cut",
    "unknown",
]
OUTCOMES: Final[tuple[str, ...]] = get_args(Outcome)
"""``cut``: the caller was waiting when the PBX went down (crash or restart): the channel
vanished with the PBX, neither the caller nor the queue ended the call.
``unknown``: the caller left the queue while the AMI connection was down and no later
event said how (answered, hung up, timed out): the record says so instead of guessing;
healing from queue_log replaces it with the PBX's own outcome."""
ANSWERED_OUTCOMES: Final[frozenset[str]] = frozenset({"answered", "transferred"})


class QueueEntryRecord(msgspec.Struct, kw_only=True):
    """One stay of the caller in one queue."""

    queue: str
    service: str
    entered_at: float
    left_at: float | None = None
    answered_at: float | None = None
    outcome: str | None = None
    hold_time_s: int | None = None
    join_position: int = 0
    leave_position: int | None = None
    original_position: int | None = None
    agent_interface: str = ""
    agent_name: str = ""
    ring_no_answer: int = 0
    exit_key: str = ""
    talk_s: float | None = None  # answered: until this agent's part ended

    @property
    def wait_s(self) -> float | None:
        """Wait in this queue: until the answer, else until leaving."""
        end = self.answered_at if self.answered_at is not None else self.left_at
        return None if end is None else round(end - self.entered_at, 3)

    @property
    def wait_asterisk_s(self) -> int | None:
        """Wait in whole seconds as Asterisk counts it (its HoldTime, else the difference
        of the whole-second entry and exit times, which is how Asterisk computes it)."""
        if self.hold_time_s is not None:
            return self.hold_time_s
        end = self.answered_at if self.answered_at is not None else self.left_at
        return None if end is None else math.floor(end) - math.floor(self.entered_at)


class CallRecord(msgspec.Struct, kw_only=True):
    """One queue call, from its first queue entry to the caller's hang-up."""

    pbx_id: str
    uniqueid: str
    linkedid: str
    service: str
    exten: str
    caller_num: str
    caller_name: str
    entered_at: float
    queues: list[str]
    entries: list[QueueEntryRecord]
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None
    holdtime_s: int | None = None
    talk_s: float | None = None
    asterisk_talk_s: int | None = None
    agent_interface: str = ""
    agent_name: str = ""
    ring_no_answer: int = 0
    join_position: int = 0
    abandon_position: int | None = None
    transferred: bool = False
    ivr: dict[str, str] | None = None
    resynced: bool = False
    gap: bool = False
    source: str = "ami"
    marks: list[str] = msgspec.field(default_factory=list)

    @property
    def queue(self) -> str:
        """The queue that answered the call, else the last queue it was in."""
        for entry in self.entries:
            if entry.answered_at is not None:
                return entry.queue
        return self.queues[-1] if self.queues else ""

    @property
    def answered(self) -> bool:
        """True when an agent answered the call (transferred calls included)."""
        return self.answered_at is not None

    @property
    def wait_s(self) -> float | None:
        """Answer time − first queue entry; for unanswered calls, until it left."""
        if self.answered_at is not None:
            return round(self.answered_at - self.entered_at, 3)
        left = self.entries[-1].left_at if self.entries else None
        end = left if left is not None else self.ended_at
        return None if end is None else round(end - self.entered_at, 3)

    @property
    def wait_asterisk_s(self) -> int | None:
        """Wait in whole seconds, Asterisk's way: the sum of the whole-second waits of each
        queue stay up to the answer (queue_log-compatible; what Asternic-style tools count).
        """
        total = 0
        for entry in self.entries:
            part = entry.wait_asterisk_s
            if part is None:
                return None
            total += part
            if entry.answered_at is not None:
                break
        return total


def iso_utc(epoch: float | None) -> str:
    """ISO-8601 UTC with milliseconds, or ``""``."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def ms(epoch: float | None) -> int | None:
    """Epoch seconds to integer epoch milliseconds."""
    return None if epoch is None else round(epoch * 1000)
