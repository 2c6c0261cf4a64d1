"""Asterisk queue_log: parse lines and fold them into calls and queue stays (pure).

Line format ``epoch|callid|queue|agent|event|data1|...|data5`` (ami-dialects.md), the same
from Asterisk 11 to 22; older installs wrote the data as one field, which splits the same.
A caller is one callid: an overflow (EXITWITHTIMEOUT then ENTERQUEUE in another queue)
or a transfer into another queue stays one call, exactly as the AMI tracker counts it.

Per queue stay (README of the captures): wait = CONNECT holdtime, or the wait field of
ABANDON / EXITWITHTIMEOUT / EXITEMPTY / EXITWITHKEY. Per call: answered if any stay was
answered (wait = the sum of the stay waits up to the answer), else the outcome of its
last stay. A stay with only ENTERQUEUE (file cut mid-call) is reported as unfinished.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from centralita.metrics.service_level import service_of_queue

CALL_VERBS: Final = frozenset(
    {
        "ENTERQUEUE",
        "CONNECT",
        "ABANDON",
        "EXITWITHTIMEOUT",
        "EXITEMPTY",
        "EXITWITHKEY",
        "COMPLETECALLER",
        "COMPLETEAGENT",
        "TRANSFER",
        "BLINDTRANSFER",
        "ATTENDEDTRANSFER",
        "RINGNOANSWER",
        "RINGCANCELED",
        "AGENTDUMP",
        "WITHDRAW",
        "SYSCOMPAT",
    }
)
OTHER_VERBS: Final = frozenset(
    {
        "ADDMEMBER",
        "REMOVEMEMBER",
        "PAUSE",
        "UNPAUSE",
        "PAUSEALL",
        "UNPAUSEALL",
        "PENALTY",
        "RINGINUSE",
        "AGENTLOGIN",
        "AGENTLOGOFF",
        "AGENTCALLBACKLOGIN",
        "AGENTCALLBACKLOGOFF",
        "OUTCALL",
        "QUEUESTART",
        "CONFIGRELOAD",
        "DID",
        "INFO",
    }
)
KNOWN_VERBS: Final = CALL_VERBS | OTHER_VERBS

EXIT_OUTCOMES: Final = {
    "ABANDON": "abandoned",
    "EXITWITHTIMEOUT": "timeout",
    "EXITEMPTY": "exit-empty",
    "EXITWITHKEY": "exit-with-key",
    "WITHDRAW": "abandoned",
}
TRANSFER_VERBS: Final = frozenset({"TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER"})
# Minimum number of data fields per verb (fewer = malformed line).
_MIN_DATA: Final = {
    "CONNECT": 1,
    "ABANDON": 3,
    "EXITWITHTIMEOUT": 3,
    "EXITEMPTY": 3,
    "EXITWITHKEY": 4,
    "COMPLETECALLER": 2,
    "COMPLETEAGENT": 2,
    "TRANSFER": 4,
    "BLINDTRANSFER": 4,
    "ATTENDEDTRANSFER": 4,
}


@dataclass(frozen=True)
class QueueLogLine:
    """One parsed queue_log line."""

    line_no: int
    time_s: int
    callid: str
    queue: str
    agent: str
    verb: str
    data: tuple[str, ...]
    raw: str

    def digest(self, occurrence: int = 0) -> bytes:
        """Identity of the line for idempotent imports (content + repeat count)."""
        return hashlib.blake2b(f"{occurrence}|{self.raw}".encode(), digest_size=16).digest()


@dataclass(frozen=True)
class Malformed:
    """A line that could not be parsed: reported with its number and skipped."""

    line_no: int
    reason: str
    raw: str


def parse_line(raw: str, line_no: int) -> QueueLogLine | Malformed:
    """Parse one line (without its newline)."""
    parts = raw.split("|")
    if len(parts) < 5:
        return Malformed(line_no, "menos de 5 campos", raw)
    stamp, callid, queue, agent, verb, *data = parts
    try:
        time_s = int(float(stamp))
    except ValueError:
        return Malformed(line_no, f"hora no numérica {stamp!r}", raw)
    if not verb or not verb.replace("_", "").isalnum() or verb.upper() != verb:
        return Malformed(line_no, f"evento inválido {verb!r}", raw)
    if verb in CALL_VERBS and verb not in {"SYSCOMPAT", "AGENTDUMP"} and not callid:
        return Malformed(line_no, "evento de llamada sin callid", raw)
    if len(data) < _MIN_DATA.get(verb, 0):
        return Malformed(line_no, f"{verb} con {len(data)} campos de datos", raw)
    line = QueueLogLine(line_no, time_s, callid, queue, agent, verb, tuple(data), raw)
    problem = _check_numbers(line)
    if problem:
        return Malformed(line_no, problem, raw)
    return line


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _check_numbers(line: QueueLogLine) -> str:
    fields_to_check: tuple[int, ...] = ()
    if line.verb == "CONNECT":
        fields_to_check = (0,)
    elif line.verb in {"ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"}:
        fields_to_check = (2,)
    elif line.verb == "EXITWITHKEY":
        fields_to_check = (3,)
    elif line.verb in {"COMPLETECALLER", "COMPLETEAGENT"}:
        fields_to_check = (0, 1)
    for index in fields_to_check:
        if _int(line.data[index]) is None:
            return f"{line.verb}: dato {index + 1} no numérico {line.data[index]!r}"
    return ""


def iter_lines(text: str) -> Iterator[QueueLogLine | Malformed]:
    """Parse a whole file's text; blank lines are ignored."""
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.rstrip("\r")
        if stripped.strip():
            yield parse_line(stripped, number)


@dataclass
class QlEntry:
    """One stay of a caller in one queue, from queue_log."""

    queue: str
    service: str
    entered_s: int
    caller_num: str = ""
    left_s: int | None = None
    answered_s: int | None = None
    outcome: str | None = None
    wait_s: int | None = None
    agent_name: str = ""
    exit_key: str = ""
    talk_s: int | None = None
    ended_s: int | None = None
    transferred: bool = False
    caller_name: str = ""
    join_position: int = 0
    leave_position: int | None = None
    original_position: int | None = None
    ring_no_answer: int = 0

    @property
    def finished(self) -> bool:
        """True once the stay ended (answered or left the queue)."""
        return self.answered_s is not None or self.left_s is not None

    @property
    def closed(self) -> bool:
        """True once nothing more can happen to the stay: it left the queue unanswered,
        or it was answered and the conversation ended (COMPLETE*, TRANSFER)."""
        if self.answered_s is not None:
            return self.ended_s is not None
        return self.left_s is not None


@dataclass
class QlCall:
    """One caller (callid) folded from queue_log."""

    uniqueid: str
    entries: list[QlEntry] = field(default_factory=list)

    @property
    def closed(self) -> bool:
        """True when the call is over in queue_log: every stay closed (see
        :attr:`QlEntry.closed`). Only closed calls are used to heal the call records."""
        return bool(self.entries) and all(entry.closed for entry in self.entries)

    @property
    def end_s(self) -> int:
        """The last time queue_log wrote about this call (whole seconds)."""
        return max(
            max(e.entered_s, e.left_s or 0, e.answered_s or 0, e.ended_s or 0) for e in self.entries
        )

    @property
    def done_entries(self) -> list[QlEntry]:
        """The stays that ended (unfinished ones are left out)."""
        return [e for e in self.entries if e.finished]

    def row(self, pbx_id: str) -> dict[str, object] | None:
        """The ``ql_calls`` row, or None when no stay finished."""
        done = self.done_entries
        if not done:
            return None
        first = done[0]
        answered = next((e for e in done if e.answered_s is not None), None)
        wait_total = 0
        for entry in done:
            wait_total += entry.wait_s or 0
            if entry is answered:
                break
        last = done[-1]
        talks = [e.talk_s for e in done if e.answered_s is not None and e.talk_s is not None]
        if answered is not None:
            assert answered.answered_s is not None
            outcome = "transferred" if answered.transferred else "answered"
            wait_ms = (answered.answered_s - first.entered_s) * 1000
        else:
            outcome = last.outcome or "abandoned"
            end = last.left_s if last.left_s is not None else last.entered_s
            wait_ms = (end - first.entered_s) * 1000
        ended = max((e.ended_s or e.left_s or e.answered_s or 0) for e in done)
        return {
            "pbx_id": pbx_id,
            "uniqueid": self.uniqueid,
            "service": first.service,
            "queue": (answered or last).queue,
            "queues": ",".join(e.queue for e in done),
            "caller_num": first.caller_num,
            "caller_name": "",
            "entered_at_ms": first.entered_s * 1000,
            "answered_at_ms": None if answered is None else (answered.answered_s or 0) * 1000,
            "ended_at_ms": ended * 1000 if ended else None,
            "wait_ms": wait_ms,
            "wait_asterisk_s": wait_total,
            # every answered stay's talk (a transferred call talked to more than one agent)
            "talk_ms": None if not talks else sum(talks) * 1000,
            "agent_interface": "",
            "agent_name": "" if answered is None else answered.agent_name,
            "outcome": outcome,
            "transferred": any(e.transferred for e in done),
        }

    def entry_rows(self, pbx_id: str) -> list[dict[str, object]]:
        """The ``ql_queue_entries`` rows of the finished stays."""
        rows: list[dict[str, object]] = []
        for seq, entry in enumerate(self.done_entries):
            end = entry.answered_s if entry.answered_s is not None else entry.left_s
            rows.append(
                {
                    "pbx_id": pbx_id,
                    "uniqueid": self.uniqueid,
                    "seq": seq,
                    "queue": entry.queue,
                    "service": entry.service,
                    "entered_at_ms": entry.entered_s * 1000,
                    "left_at_ms": None if entry.left_s is None else entry.left_s * 1000,
                    "answered_at_ms": None if entry.answered_s is None else entry.answered_s * 1000,
                    "outcome": entry.outcome,
                    "wait_ms": None if entry.wait_s is None else entry.wait_s * 1000,
                    "wait_asterisk_s": entry.wait_s
                    if entry.wait_s is not None
                    else (None if end is None else end - entry.entered_s),
                    "agent_name": entry.agent_name,
                    "exit_key": entry.exit_key,
                    "talk_ms": None
                    if entry.answered_s is None or entry.talk_s is None
                    else entry.talk_s * 1000,
                }
            )
        return rows


@dataclass
class FoldStats:
    """What a fold saw."""

    lines: int = 0
    malformed: list[Malformed] = field(default_factory=list)
    unknown_verbs: dict[str, int] = field(default_factory=dict)
    orphans: int = 0  # call lines whose callid never entered a queue
    unfinished: int = 0  # stays with ENTERQUEUE only
    incomplete_callids: set[str] = field(default_factory=set)


class QueueLogFolder:
    """Fold queue_log lines into :class:`QlCall` objects (pure, incremental)."""

    def __init__(self, service_for_queue: Callable[[str], str] = service_of_queue) -> None:
        self.calls: dict[str, QlCall] = {}
        self.stats = FoldStats()
        self._service_for = service_for_queue

    def feed(self, items: Iterable[QueueLogLine | Malformed]) -> None:
        """Fold parsed lines (malformed ones are only counted)."""
        for item in items:
            self.stats.lines += 1
            if isinstance(item, Malformed):
                self.stats.malformed.append(item)
                continue
            self.apply(item)

    def _open(self, line: QueueLogLine) -> QlEntry | None:
        call = self.calls.get(line.callid)
        if call is not None:
            for entry in reversed(call.entries):
                if entry.queue == line.queue:
                    return entry
        self.stats.orphans += 1
        self.stats.incomplete_callids.add(line.callid)
        return None

    def apply(self, line: QueueLogLine) -> None:
        """Fold one line."""
        verb, data = line.verb, line.data
        if verb not in KNOWN_VERBS:
            self.stats.unknown_verbs[verb] = self.stats.unknown_verbs.get(verb, 0) + 1
            return
        if verb == "ENTERQUEUE":
            call = self.calls.setdefault(line.callid, QlCall(line.callid))
            if call.entries:
                last = call.entries[-1]
                _moved_while_talking(last, line.time_s)
                if last.outcome == "abandoned":
                    # an ABANDON, and the caller enters a queue again: alive, so not a
                    # hang-up (a waiting caller Redirected by AMI); the tracker reads the
                    # AMI stream the same way
                    last.outcome = "timeout"
            call.entries.append(
                QlEntry(
                    queue=line.queue,
                    service=self._service_for(line.queue),
                    entered_s=line.time_s,
                    caller_num=data[1] if len(data) > 1 else "",
                    caller_name=data[3] if len(data) > 3 else "",
                    join_position=(_int(data[2]) or 0) if len(data) > 2 else 0,
                )
            )
            return
        if verb == "RINGNOANSWER":  # counted on a known stay; never an orphan
            known = self.calls.get(line.callid)
            stays = known.entries if known is not None else []
            stay = next((e for e in reversed(stays) if e.queue == line.queue), None)
            if stay is not None:
                stay.ring_no_answer += 1
            return
        if verb not in CALL_VERBS or verb in {"RINGCANCELED", "SYSCOMPAT"}:
            return
        entry = self._open(line)
        if entry is None:
            return
        if verb == "CONNECT":
            entry.answered_s = line.time_s
            entry.outcome = "answered"
            entry.wait_s = _int(data[0])
            entry.agent_name = line.agent
        elif verb in EXIT_OUTCOMES:
            entry.left_s = line.time_s
            entry.outcome = EXIT_OUTCOMES[verb]
            if verb == "EXITWITHKEY":
                entry.exit_key = data[0]
                entry.wait_s = _int(data[3])
                entry.leave_position = _int(data[1])
                entry.original_position = _int(data[2])
            elif len(data) >= 3:
                entry.wait_s = _int(data[2])
                entry.leave_position = _int(data[0])
                entry.original_position = _int(data[1])
        elif verb in {"COMPLETECALLER", "COMPLETEAGENT"}:
            if entry.transferred:
                return  # the stay the caller was moved out of, written at the hang-up
            entry.talk_s = _int(data[1])
            entry.ended_s = line.time_s
            entry.left_s = entry.left_s or line.time_s
        elif verb in TRANSFER_VERBS:
            entry.transferred = True
            entry.outcome = "transferred"
            entry.talk_s = _int(data[-2])
            entry.ended_s = line.time_s
            entry.left_s = entry.left_s or line.time_s

    def finish(self) -> list[QlCall]:
        """The folded calls; counts unfinished stays."""
        for call in self.calls.values():
            open_stays = sum(1 for e in call.entries if not e.finished)
            if open_stays:
                self.stats.unfinished += open_stays
                self.stats.incomplete_callids.add(call.uniqueid)
        return list(self.calls.values())


def _moved_while_talking(entry: QlEntry, at_s: int) -> None:
    """A CONNECTed stay with no COMPLETE yet, and the caller enters another queue: moved
    while talking (the console's transfer is an AMI Redirect). Asterisk writes that stay's
    COMPLETECALLER only when the caller hangs up, its talk counted up to then; the stay's
    talk really ended here (the call tracker reads the AMI stream the same way)."""
    if entry.answered_s is None or entry.ended_s is not None:
        return
    entry.transferred = True
    entry.outcome = "transferred"
    entry.talk_s = at_s - entry.answered_s
    entry.ended_s = at_s
    entry.left_s = entry.left_s or at_s


def line_digests(
    lines: Iterable[QueueLogLine], seen: dict[str, int] | None = None
) -> Iterator[tuple[QueueLogLine, bytes]]:
    """Each line with its import identity (identical lines get increasing occurrences).

    ``seen`` holds how many times each raw line already occurred earlier in the same file
    (a follower reading the file piece by piece passes the lines just before the piece).
    """
    seen = {} if seen is None else seen
    for line in lines:
        occurrence = seen.get(line.raw, 0)
        seen[line.raw] = occurrence + 1
        yield line, line.digest(occurrence)
