"""Ground truth of a simulation run: what really happened to every call (pure data).

The engine fills these records as it runs, from the same virtual clock that stamps the
AMI events, so a consumer of the AMI stream can be checked call by call against them.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

TruthOutcome = str
"""answered | abandoned | timeout | exit-empty | exit-with-key | ivr-hangup | no-queue | lost
(in progress at a restart) | cut (not answered, in progress at a crash)."""


class TruthEntry(msgspec.Struct, kw_only=True):
    """One stay of the caller in one queue."""

    queue: str
    entered_at: float
    left_at: float | None = None
    outcome: str | None = None
    agent_interface: str = ""
    agent_name: str = ""
    ring_no_answer: int = 0


class TruthCall(msgspec.Struct, kw_only=True):
    """One call as the simulator made it happen.

    ``wait_s`` follows the design's definition: answer time minus first queue entry, or,
    for a call never answered, the time it left its last queue minus its first entry.
    ``lost`` marks calls that were in progress when the PBX was restarted (outcome
    ``lost``). ``cut`` marks calls that were in progress when the PBX crashed: unanswered
    ones have outcome ``cut``, answered ones keep ``answered``; ``ended_at`` is the crash.
    """

    uniqueid: str
    channel: str
    service: str
    origin: str = "inbound"
    caller_num: str = ""
    caller_name: str = ""
    arrived_at: float = 0.0
    patience_s: float = 0.0
    patience_class: str = ""
    entries: list[TruthEntry] = msgspec.field(default_factory=list)
    outcome: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    agent_interface: str = ""
    agent_name: str = ""
    ivr: dict[str, str] | None = None
    lost: bool = False
    cut: bool = False

    @property
    def queues(self) -> list[str]:
        """Every queue the caller entered, in order."""
        return [e.queue for e in self.entries]

    @property
    def entered_at(self) -> float | None:
        """First queue entry."""
        return self.entries[0].entered_at if self.entries else None

    @property
    def wait_s(self) -> float | None:
        """Answer − first entry, else last leave − first entry."""
        first = self.entered_at
        if first is None:
            return None
        if self.answered_at is not None:
            return round(self.answered_at - first, 3)
        left = self.entries[-1].left_at
        return None if left is None else round(left - first, 3)


class OriginateTruth(msgspec.Struct, kw_only=True):
    """One AMI Originate and what became of it."""

    action_id: str
    channel: str
    context: str
    exten: str
    requested_at: float
    outcome: str = "pending"  # answered | busy | no-answer | congestion | failed
    uniqueid: str = ""
    answered_at: float | None = None


class Truth(msgspec.Struct, kw_only=True):
    """Everything the run knows about itself."""

    seed: int
    dialect: str
    calls: list[TruthCall] = msgspec.field(default_factory=list)
    originates: list[OriginateTruth] = msgspec.field(default_factory=list)
    restarts: list[float] = msgspec.field(default_factory=list)
    crashes: list[float] = msgspec.field(default_factory=list)

    def queue_calls(self) -> list[TruthCall]:
        """Calls that entered at least one queue (what a queue call tracker sees)."""
        return [c for c in self.calls if c.entries]

    def by_uniqueid(self) -> dict[str, TruthCall]:
        """Calls keyed by the caller channel's Uniqueid."""
        return {c.uniqueid: c for c in self.calls}

    def outcome_counts(self) -> dict[str, int]:
        """How many calls ended each way."""
        counts: dict[str, int] = {}
        for c in self.calls:
            key = c.outcome or "in-progress"
            counts[key] = counts.get(key, 0) + 1
        return counts


def write_truth(truth: Truth, path: str | Path) -> None:
    """Write the truth as JSON (calls with their wait, for easy diffing)."""
    Path(path).write_bytes(msgspec.json.format(msgspec.json.encode(truth), indent=1))


def read_truth(path: str | Path) -> Truth:
    """Read a truth file written by :func:`write_truth`."""
    return msgspec.json.decode(Path(path).read_bytes(), type=Truth)


def write_queue_log(lines: list[str], path: str | Path) -> None:
    """Write queue_log lines (``epoch|callid|queue|agent|event|data...``) as Asterisk does."""
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
