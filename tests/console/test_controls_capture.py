"""The console's call controls against a REAL Asterisk: captures replayed through the
parser and the tracker (pure, no I/O), and the simulator checked against them.

Captured by hand on Asterisk GIT-master-f0c1c1a7b7 (the lab of tests/fixtures/captures,
README there) with the daemon running ``[console] call_controls = true`` and the generated
``[centralita-transfer]`` context: agent1 serves q101 only, agent2 (beto) q102 only.

- ``pause-redirect``: beto pauses with «Baño» from the console (QueuePause + Reason), a
  102 caller waits and is Redirected to ``centralita-transfer,q101,1`` (AMI, while
  waiting), beto resumes, a second 102 caller talking to beto is transferred to 101 from
  the console (Redirect while talking);
- ``redirect-102-to-101``: a 102 caller transferred to 101 from the console while the
  next 102 caller is answered by the freed beto;
- ``redirect-to-interno``: a 102 caller sent to the internal extension 2001;
- ``queuestatus-paused``: QueueStatus while beto is paused with «Capacitación».

What the real Asterisk does (and the simulator now does too): a Redirect of a talking
caller writes nothing for that stay at the time; the stay's ``AgentComplete Reason:
caller`` (no ``Dest*`` block, sometimes no caller fields either) and queue_log
COMPLETECALLER come when the caller finally hangs up, TalkTime counted up to then. A
Redirect of a waiting caller is a ``QueueCallerAbandon`` (queue_log ABANDON) whose snapshot
already shows the new context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from centralita.ami_listener.events import QueueMember, decode_event
from centralita.ami_listener.protocol import AmiMessage, AmiParser, encode_action
from centralita.ami_listener.records import CallRecord
from centralita.ami_listener.tracker import (
    CallAnswered,
    CallFinished,
    CallLeftAgent,
    CallTracker,
    MemberUpdated,
)
from centralita.console.controls import CallControls
from centralita.metrics.queue_log import QlCall, QueueLogFolder, iter_lines
from centralita.simulator.model import Engine
from tests.console.test_controls_simulator import TRANSFER_CONTEXT, pbx
from tests.simulator.helpers import encode_stream, parse_stream

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "captures"
VERSION = "GIT-master-f0c1c1a7b7"
AGENT1, AGENT2 = "Local/agent1@lab-agents", "Local/agent2@lab-agents"
# callers (queue_log callids = the caller channel's Uniqueid)
WAITING_B = "1796302047.0"  # waiting in q102 (agent2 paused), Redirected to q101
TALKING_A = "1796302159.4"  # talking to agent2, transferred to 101 from the console
TALKING_C = "1796302315.10"  # the same, while ...
NEXT_D = "1796302332.16"  # ... the next 102 caller is answered by the freed agent2
INTERNO_E = "1796302456.20"  # talking to agent2, sent to the internal extension 2001
QUEUE_VERBS = {"ENTERQUEUE", "CONNECT", "ABANDON", "COMPLETEAGENT", "COMPLETECALLER"}
QUEUE_EVENTS = {
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentConnect",
    "AgentComplete",
}


def messages(data: bytes) -> list[AmiMessage]:
    """The capture's messages, parsed in TCP-sized chunks as the live client does."""
    parser = AmiParser()
    out: list[AmiMessage] = []
    for start in range(0, len(data), 4096):
        out += [m for m in parser.feed(data[start : start + 4096]) if isinstance(m, AmiMessage)]
    return out


def capture(name: str) -> list[AmiMessage]:
    return messages((CAPTURES / f"{VERSION}-{name}.ami").read_bytes())


def queue_log(name: str) -> str:
    return (CAPTURES / f"{VERSION}-{name}-queue_log").read_text("utf-8")


@dataclass
class Replay:
    """A stream folded through decode_event + CallTracker, with the console's pause view."""

    tracker: CallTracker = field(default_factory=lambda: CallTracker("lab1"))
    controls: CallControls = field(default_factory=lambda: CallControls(enabled=True))
    answers: list[CallAnswered] = field(default_factory=list)
    left: list[CallLeftAgent] = field(default_factory=list)  # agents done, call goes on
    finished: dict[str, CallRecord] = field(default_factory=dict)
    pauses: list[tuple[str, bool, str]] = field(default_factory=list)  # from the console view

    def feed(self, msgs: Iterable[AmiMessage]) -> Replay:
        for msg in msgs:
            if not msg.is_event:
                continue
            for effect in self.tracker.apply(decode_event(msg), 0.0):
                self.controls.handle(effect)
                if isinstance(effect, CallAnswered):
                    self.answers.append(effect)
                elif isinstance(effect, CallLeftAgent):
                    assert effect.call.uniqueid not in self.finished
                    self.left.append(effect)
                elif isinstance(effect, CallFinished):
                    self.finished[effect.call.uniqueid] = effect.call
                elif isinstance(effect, MemberUpdated) and msg.name == "QueueMemberPause":
                    state = self.controls.pause_state(effect.interface)
                    self.pauses.append((effect.interface, state["paused"], state["reason"]))
        return self

    def answered_by(self, uniqueid: str) -> list[tuple[str, str, str]]:
        return [
            (a.queue, a.agent_interface, a.call.service)
            for a in self.answers
            if a.call.uniqueid == uniqueid
        ]


def folded_queue_log(text: str) -> dict[str, QlCall]:
    folder = QueueLogFolder()
    folder.feed(iter_lines(text))
    return {c.uniqueid: c for c in folder.finish()}


def queue_verbs(lines: Iterable[str], callid: str) -> list[tuple[str, str]]:
    """(queue, verb) of a call's queue_log lines, in order."""
    out = []
    for line in lines:
        f = line.split("|")
        if len(f) > 4 and f[1] == callid and f[4] in QUEUE_VERBS:
            out.append((f[2], f[4]))
    return out


def queue_events(msgs: Iterable[AmiMessage], callid: str, channel: str) -> list[tuple[str, ...]]:
    """(event, queue[, reason]) of a call's queue events; an AgentComplete without caller
    fields is the caller's when it names one of the call's stays (queue + interface)."""
    stays: set[tuple[str, str]] = set()
    out: list[tuple[str, ...]] = []
    for msg in msgs:
        if msg.name not in QUEUE_EVENTS:
            continue
        h = msg.headers
        mine = h.get("Uniqueid") == callid or h.get("Channel") == channel
        if msg.name == "AgentConnect" and mine:
            stays.add((h["Queue"], h["Interface"]))
        if not mine and not (
            msg.name == "AgentComplete"
            and "Uniqueid" not in h
            and (h.get("Queue"), h.get("Interface")) in stays
        ):
            continue
        item: tuple[str, ...] = (msg.name, h["Queue"])
        out.append((*item, h["Reason"]) if msg.name == "AgentComplete" else item)
    return out


# ---------------------------------------------------------------------- pause
def test_pause_with_reason_as_the_real_pbx_sends_it() -> None:
    msgs = capture("pause-redirect")
    pauses = [m for m in msgs if m.name == "QueueMemberPause"]
    assert [(m.get("Paused"), m.get("PausedReason")) for m in pauses] == [("1", "Baño"), ("0", "")]
    assert all("Reason" not in m.headers for m in pauses)  # master: PausedReason only
    assert not any(m.name == "QueueMemberPaused" for m in msgs)  # that is Asterisk 11's

    replay = Replay().feed(msgs)
    # the console's own view (what /api/controles shows), after each pause event
    assert replay.pauses == [(AGENT2, True, "Baño"), (AGENT2, False, "")]
    member = replay.tracker.members[("q102", AGENT2)]
    assert (member.paused, member.pause_reason) == (False, "")

    # queue_log: PAUSEALL + PAUSE per queue, with the member's name and the reason
    pause_lines = [
        line.split("|", 3)[3]
        for line in queue_log("pause-redirect").splitlines()
        if "PAUSE" in line
    ]
    assert pause_lines == [
        "Agent 2|PAUSEALL|Baño",
        "Agent 2|PAUSE|Baño",
        "Agent 2|UNPAUSEALL|",
        "Agent 2|UNPAUSE|",
    ]


def test_the_simulator_pauses_with_the_real_field_names_and_queue_log() -> None:
    real = [m for m in capture("pause-redirect") if m.name == "QueueMemberPause"]
    engine = Engine(pbx("12"), seed=7)
    engine.drain()
    start = len(engine.queue_log)
    assert engine.pause_member(AGENT2, True, reason="Baño")
    assert engine.pause_member(AGENT2, False)
    simulated = [m for m in parse_stream(encode_stream(engine.drain())) if m.name == real[0].name]
    assert [[k for k, _ in m.pairs()] for m in simulated] == [
        [k for k, _ in m.pairs()] for m in real
    ]
    assert [(m.get("Paused"), m.get("PausedReason")) for m in simulated] == [
        ("1", "Baño"),
        ("0", ""),
    ]
    sim_lines = [line.split("|", 3)[3] for line in engine.queue_log[start:]]
    real_lines = [
        line.split("|", 3)[3]
        for line in queue_log("pause-redirect").splitlines()
        if "PAUSE" in line
    ]
    assert sim_lines == real_lines


def test_queuestatus_reports_the_pause_reason() -> None:
    members = [
        decode_event(m) for m in capture("queuestatus-paused") if m.get("Event") == "QueueMember"
    ]
    by_iface = {}
    for event in members:
        assert isinstance(event, QueueMember)
        by_iface[event.agent_interface] = event
    assert by_iface[AGENT2].paused and by_iface[AGENT2].paused_reason == "Capacitación"
    assert not by_iface[AGENT1].paused and by_iface[AGENT1].paused_reason == ""


# ---------------------------------------------------------------------- transfers
def test_every_captured_caller_is_one_call_equal_to_queue_log() -> None:
    for name, callers in (
        ("pause-redirect", {WAITING_B, TALKING_A}),
        ("redirect-102-to-101", {TALKING_C, NEXT_D}),
        ("redirect-to-interno", {INTERNO_E}),
    ):
        replay = Replay().feed(capture(name))
        ql = folded_queue_log(queue_log(name))
        assert set(replay.finished) == set(ql) == callers, name
        for uid, record in replay.finished.items():
            ql_row = ql[uid].row("lab1")
            assert ql_row is not None
            assert record.service == ql_row["service"] == "102", uid
            assert ",".join(record.queues) == ql_row["queues"], uid
            assert record.answered_at is not None and ql_row["answered_at_ms"] is not None
            assert record.queue == ql_row["queue"], uid
            assert record.agent_name == ql_row["agent_name"], uid
            if uid == INTERNO_E:
                continue  # queue_log cannot see a Redirect to an extension (its own test)
            # the same outcome, and the same talk within queue_log's whole seconds
            assert record.outcome == ql_row["outcome"], uid
            assert record.transferred == ql_row["transferred"], uid
            assert record.talk_s is not None and isinstance(ql_row["talk_ms"], int)
            assert abs(record.talk_s - ql_row["talk_ms"] / 1000) < 2.0, uid


def test_redirect_of_a_waiting_caller() -> None:
    msgs = capture("pause-redirect")
    replay = Replay().feed(msgs)
    record = replay.finished[WAITING_B]
    assert [(e.queue, e.service, e.answered_at is not None) for e in record.entries] == [
        ("q102", "102", False),
        ("q101", "101", True),
    ]
    # Asterisk reports it as an abandon (queue_log ABANDON); the caller lives on and joins
    # q101, which the tracker reads as it reads an overflow: not an abandon of the call.
    assert record.entries[0].outcome == "timeout"
    assert record.outcome == "answered"
    abandon = next(m for m in msgs if m.name == "QueueCallerAbandon")
    join = next(m for m in msgs if m.name == "QueueCallerJoin")
    assert (join.get("Context"), abandon.get("Context")) == ("from-pstn", TRANSFER_CONTEXT)
    assert queue_verbs(queue_log("pause-redirect").splitlines(), WAITING_B) == [
        ("q102", "ENTERQUEUE"),
        ("q102", "ABANDON"),
        ("q101", "ENTERQUEUE"),
        ("q101", "CONNECT"),
        ("q101", "COMPLETEAGENT"),
    ]
    # folded from queue_log, the stay reads as the tracker reads it: alive, not a hang-up
    ql = folded_queue_log(queue_log("pause-redirect"))[WAITING_B]
    assert [(e.queue, e.outcome) for e in ql.entries] == [
        ("q102", "timeout"),
        ("q101", "answered"),
    ]
    # the 101 agent gets the pop
    assert replay.answered_by(WAITING_B) == [("q101", AGENT1, "102")]


@pytest.mark.parametrize(
    ("name", "uid"), [("pause-redirect", TALKING_A), ("redirect-102-to-101", TALKING_C)]
)
def test_console_transfer_of_a_talking_caller(name: str, uid: str) -> None:
    msgs = capture(name)
    replay = Replay().feed(msgs)
    record = replay.finished[uid]
    assert [(e.queue, e.outcome, e.agent_interface) for e in record.entries] == [
        ("q102", "transferred", AGENT2),
        ("q101", "answered", AGENT1),
    ]
    assert record.service == "102"
    assert record.transferred and record.outcome == "transferred"
    # beto is told he is done with it when the caller leaves him, not at the hang-up
    [left] = [x for x in replay.left if x.call.uniqueid == uid]
    assert (left.queue, left.agent_interface) == ("q102", AGENT2)
    assert left.at == pytest.approx(record.entries[1].entered_at, abs=0.01)
    # talk = beto's part (answer in q102 to the join of q101) + agent1's part; not
    # Asterisk's late TalkTime for the q102 stay, which runs to the caller's hang-up
    q102, q101 = record.entries
    assert q102.answered_at is not None and q101.answered_at is not None
    assert record.ended_at is not None
    beto = q101.entered_at - q102.answered_at
    agent1 = record.ended_at - q101.answered_at
    assert record.talk_s == pytest.approx(beto + agent1, abs=0.01)
    # each stay keeps its own agent's part
    assert q102.talk_s == pytest.approx(beto, abs=0.01)
    assert q101.talk_s == pytest.approx(agent1, abs=0.01)
    late = next(
        m
        for m in msgs
        if m.name == "AgentComplete" and m.get("Queue") == "q102" and m.get("Reason") == "caller"
    )
    assert int(late.get("TalkTime")) > beto + 30  # what Asterisk says: ignored
    assert record.asterisk_talk_s is not None and record.asterisk_talk_s < 60
    # queue_log, folded the same way: the q102 stay ends at the q101 ENTERQUEUE
    ql = folded_queue_log(queue_log(name))[uid]
    assert [(e.queue, e.outcome, e.transferred) for e in ql.entries] == [
        ("q102", "transferred", True),
        ("q101", "answered", False),
    ]
    assert ql.entries[0].talk_s == ql.entries[1].entered_s - (ql.entries[0].answered_s or 0)
    # both agents got the pop, the same caller channel in both (what the console Redirects)
    pops = [a for a in replay.answers if a.call.uniqueid == uid]
    assert [(a.queue, a.agent_interface) for a in pops] == [("q102", AGENT2), ("q101", AGENT1)]
    assert len({a.caller_channel for a in pops}) == 1
    # nothing ends the q102 stay until the caller hangs up, after the q101 stay
    channel = pops[0].caller_channel
    assert queue_events(msgs, uid, channel) == [
        ("QueueCallerJoin", "q102"),
        ("QueueCallerLeave", "q102"),
        ("AgentConnect", "q102"),
        ("QueueCallerJoin", "q101"),
        ("QueueCallerLeave", "q101"),
        ("AgentConnect", "q101"),
        ("AgentComplete", "q101", "agent"),
        ("AgentComplete", "q102", "caller"),
    ]
    assert queue_verbs(queue_log(name).splitlines(), uid) == [
        ("q102", "ENTERQUEUE"),
        ("q102", "CONNECT"),
        ("q101", "ENTERQUEUE"),
        ("q101", "CONNECT"),
        ("q101", "COMPLETEAGENT"),
        ("q102", "COMPLETECALLER"),
    ]


def _without_caller_fields(msg: AmiMessage, keep: set[str]) -> AmiMessage:
    [again] = messages(encode_action([(k, v) for k, v in msg.pairs() if k in keep]))
    return again


def test_a_late_agent_complete_does_not_close_the_freed_agents_next_call() -> None:
    """C is transferred to 101; beto, free, answers D in q102; C's q102 AgentComplete
    comes when C hangs up, during D's talk. In this capture it names C; in the first
    capture the same late event came without the caller's fields (only Queue ... Reason):
    replayed both ways, D stays open until its own AgentComplete."""
    late_keys = {
        k
        for m in capture("pause-redirect")
        if m.name == "AgentComplete" and "Uniqueid" not in m.headers
        for k, _ in m.pairs()
    }
    assert late_keys == {
        "Event",
        "Privilege",
        "Timestamp",
        "Queue",
        "Interface",
        "MemberName",
        "HoldTime",
        "TalkTime",
        "Reason",
    }
    msgs = capture("redirect-102-to-101")
    late = next(m for m in msgs if m.name == "AgentComplete" and m.get("Reason") == "caller")
    own_end = next(m for m in msgs if m.name == "AgentComplete" and m.get("Uniqueid") == NEXT_D)
    stripped = [_without_caller_fields(m, late_keys) if m is late else m for m in msgs]
    for stream in (msgs, stripped):
        replay = Replay().feed(stream)
        d = replay.finished[NEXT_D]
        assert d.agent_interface == AGENT2
        assert d.answered_at is not None
        # talk up to D's own AgentComplete, not to C's late one
        assert d.talk_s == pytest.approx(float(own_end.get("Timestamp")) - d.answered_at, abs=0.01)
        assert d.asterisk_talk_s == int(own_end.get("TalkTime"))
        c = replay.finished[TALKING_C]
        assert [e.queue for e in c.entries] == ["q102", "q101"]


def test_redirect_to_an_internal_extension() -> None:
    msgs = capture("redirect-to-interno")
    replay = Replay().feed(msgs)
    record = replay.finished[INTERNO_E]
    assert [(e.queue, e.outcome) for e in record.entries] == [("q102", "transferred")]
    assert record.transferred and record.outcome == "transferred"
    assert replay.answered_by(INTERNO_E) == [("q102", AGENT2, "102")]
    complete = [m for m in msgs if m.name == "AgentComplete"]
    assert [(m.get("Queue"), m.get("Reason"), m.get("Context")) for m in complete] == [
        ("q102", "caller", "from-internal")
    ]
    assert not any(k.startswith("Dest") for k, _ in complete[0].pairs())
    # beto's talk ends when the caller leaves his bridge for the extension: not when the
    # caller hangs up, which is what Asterisk's TalkTime and queue_log's COMPLETECALLER say
    moved = next(
        m
        for m in msgs
        if m.name == "BridgeLeave"
        and m.get("Uniqueid") == INTERNO_E
        and m.get("Context") == "from-internal"
    )
    [stay] = record.entries
    assert stay.answered_at is not None
    [left] = replay.left
    assert (left.queue, left.agent_interface) == ("q102", AGENT2)
    assert left.at == pytest.approx(float(moved.get("Timestamp")), abs=0.001)
    assert record.talk_s == pytest.approx(
        float(moved.get("Timestamp")) - stay.answered_at, abs=0.01
    )
    assert record.talk_s is not None and record.talk_s < 10
    ql = folded_queue_log(queue_log("redirect-to-interno"))
    [ql_stay] = ql[INTERNO_E].entries
    assert ql_stay.talk_s == int(complete[0].get("TalkTime")) == 28
    # ... and reconcile does not call that a difference of outcome
    ql_row = ql[INTERNO_E].row("lab1")
    assert ql_row is not None and ql_row["outcome"] == "answered"


# ---------------------------------------------------------------------- the simulator
@dataclass
class SimRun:
    """The simulated PBX (12+ dialect, the pbx() of test_controls_simulator), every event
    it sent kept and folded through the tracker."""

    engine: Engine = field(default_factory=lambda: Engine(pbx("12"), seed=7))
    replay: Replay = field(default_factory=Replay)
    events: list[AmiMessage] = field(default_factory=list)

    def until(self, done: Callable[[], bool]) -> None:
        while not done():
            at = self.engine.next_time()
            assert at is not None, "the PBX ran dry"
            self.engine.advance(at)
            batch = parse_stream(encode_stream(self.engine.drain()))
            self.events += batch
            self.replay.feed(batch)

    def call_in(self, state: str) -> tuple[str, str]:
        self.until(lambda: any(c.state == state for c in self.engine.active.values()))
        call = next(c for c in self.engine.active.values() if c.state == state)
        return call.chan.uniqueid, call.chan.name


def test_the_simulated_redirect_of_a_talking_caller_is_the_real_one() -> None:
    sim = SimRun()
    uid, channel = sim.call_in("talking")
    assert sim.engine.redirect(channel, TRANSFER_CONTEXT, "q101")
    assert sim.engine.agents[AGENT2].talking is None  # free at once
    sim.until(lambda: bool(sim.replay.finished))

    real = capture("redirect-102-to-101")
    real_channel = next(m.get("Channel") for m in real if m.get("Uniqueid") == TALKING_C)
    assert queue_events(sim.events, uid, channel) == queue_events(real, TALKING_C, real_channel)
    assert queue_verbs(sim.engine.queue_log, uid) == queue_verbs(
        queue_log("redirect-102-to-101").splitlines(), TALKING_C
    )
    [late] = [m for m in sim.events if m.name == "AgentComplete" and m.get("Queue") == "q102"]
    [real_late] = [
        m
        for m in real
        if m.name == "AgentComplete" and m.get("Queue") == "q102" and m.get("Reason") == "caller"
    ]
    assert [k for k, _ in late.pairs()] == [k for k, _ in real_late.pairs()]
    # the caller's BridgeLeave at the Redirect: the real one's fields, at the new place
    [moved] = [m for m in sim.events if m.name == "BridgeLeave" and m.get("Uniqueid") == uid]
    real_moved = next(
        m
        for m in real
        if m.name == "BridgeLeave"
        and m.get("Uniqueid") == TALKING_C
        and m.get("Context") == TRANSFER_CONTEXT
    )
    assert [k for k, _ in moved.pairs()] == [k for k, _ in real_moved.pairs()]
    assert (moved.get("Context"), moved.get("Exten")) == (TRANSFER_CONTEXT, "q101")
    # it comes when the caller hangs up: after the q101 stay, before the caller's Hangup
    order = [(m.name, m.get("Uniqueid"), m.get("Queue")) for m in sim.events]
    assert (
        order.index(("AgentComplete", uid, "q101"))
        < order.index(("AgentComplete", uid, "q102"))
        < order.index(("Hangup", uid, ""))
    )
    record = sim.replay.finished[uid]
    assert [(e.queue, e.outcome) for e in record.entries] == [
        ("q102", "transferred"),
        ("q101", "answered"),
    ]
    assert record.transferred and record.outcome == "transferred"
    assert sim.replay.answered_by(uid) == [("q102", AGENT2, "102"), ("q101", AGENT1, "102")]


def test_the_simulated_redirect_of_a_waiting_caller_is_the_real_one() -> None:
    sim = SimRun()
    assert sim.engine.pause_member(AGENT2, True, reason="Baño")
    uid, channel = sim.call_in("waiting")
    assert sim.engine.redirect(channel, TRANSFER_CONTEXT, "q101")
    sim.until(lambda: bool(sim.replay.finished))

    real = capture("pause-redirect")
    real_channel = next(m.get("Channel") for m in real if m.get("Uniqueid") == WAITING_B)
    assert queue_events(sim.events, uid, channel) == queue_events(real, WAITING_B, real_channel)
    [abandon] = [m for m in sim.events if m.name == "QueueCallerAbandon"]
    assert abandon.get("Context") == TRANSFER_CONTEXT
    assert queue_verbs(sim.engine.queue_log, uid) == queue_verbs(
        queue_log("pause-redirect").splitlines(), WAITING_B
    )
    record = sim.replay.finished[uid]
    assert [(e.queue, e.outcome) for e in record.entries] == [
        ("q102", "timeout"),
        ("q101", "answered"),
    ]
    assert sim.replay.answered_by(uid) == [("q101", AGENT1, "102")]
    [truth] = sim.engine.truth.calls
    assert [(e.queue, e.outcome) for e in truth.entries] == [
        ("q102", "redirected"),
        ("q101", "answered"),
    ]


def test_the_simulated_redirect_to_an_extension_is_the_real_one() -> None:
    sim = SimRun()
    uid, channel = sim.call_in("talking")
    assert sim.engine.redirect(channel, "from-internal", "2001")
    sim.until(lambda: bool(sim.replay.finished))
    assert queue_verbs(sim.engine.queue_log, uid) == queue_verbs(
        queue_log("redirect-to-interno").splitlines(), INTERNO_E
    )
    real = capture("redirect-to-interno")
    real_channel = next(m.get("Channel") for m in real if m.get("Uniqueid") == INTERNO_E)
    assert queue_events(sim.events, uid, channel) == queue_events(real, INTERNO_E, real_channel)
    record = sim.replay.finished[uid]
    real_record = Replay().feed(real).finished[INTERNO_E]
    assert [(e.queue, e.outcome) for e in record.entries] == [("q102", "transferred")]
    assert [(e.queue, e.outcome) for e in real_record.entries] == [("q102", "transferred")]
    assert record.service == "102"


def test_a_redirect_of_an_unknown_or_finished_call_is_refused() -> None:
    sim = SimRun()
    _, channel = sim.call_in("talking")
    assert sim.engine.redirect(channel, "from-internal", "2001")
    # the caller now talks to the extension, outside the queues: nothing to Redirect
    assert not sim.engine.redirect(channel, TRANSFER_CONTEXT, "q101")
    assert not sim.engine.redirect("Local/nobody@lab-callers-00000001;1", TRANSFER_CONTEXT, "q101")
