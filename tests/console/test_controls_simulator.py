"""The simulated PBX's AMI Redirect, folded through the real tracker (pure, no I/O).

A caller of 102 talking to 102's agent is redirected to the transfer context's ``q101``:
the agent's leg ends, the same channel joins q101 and 101's agent answers. The tracker
keeps ONE call: first service 102, two queue stays, the channel in both answers' pops.
A redirect to an internal extension ends the agent's leg and the call leaves the queues.
"""

from __future__ import annotations

import msgspec
import pytest

from centralita.ami_listener.events import decode_event
from centralita.ami_listener.records import CallRecord
from centralita.ami_listener.tracker import CallAnswered, CallFinished, CallTracker
from centralita.simulator.config import (
    AgentConfig,
    Behaviour,
    Dialect,
    PatienceClass,
    SimConfig,
    lab_config,
)
from centralita.simulator.model import Engine
from centralita.simulator.state import Call
from tests.simulator.helpers import encode_stream, parse_stream

TRANSFER_CONTEXT = "centralita-transfer"


def pbx(dialect: Dialect) -> SimConfig:
    """One caller to 102 (patient, long talk); agent2 serves q102 only, agent1 q101 only."""
    base = lab_config(calls=1, dialect=dialect)
    return msgspec.structs.replace(
        base,
        services=tuple(s for s in base.services if s.exten == "102"),
        agents=(
            AgentConfig(name="Agent 2", interface="Local/agent2@lab-agents", queues=("q102",)),
            AgentConfig(name="Agent 1", interface="Local/agent1@lab-agents", queues=("q101",)),
        ),
        behaviour=Behaviour(
            no_answer_prob=0.0,
            pause_mean_interval_s=0.0,
            talk_min_s=200.0,
            talk_max_s=220.0,
            patience=(PatienceClass(name="patient", weight=1.0, min_s=900.0, max_s=950.0),),
        ),
    )


class Folded:
    """The engine's events so far, through decode_event + CallTracker."""

    def __init__(self) -> None:
        self.tracker = CallTracker("sim")
        self.answers: list[CallAnswered] = []
        self.finished: dict[str, CallRecord] = {}

    def feed(self, engine: Engine) -> None:
        for msg in parse_stream(encode_stream(engine.drain())):
            if not msg.is_event:
                continue
            for effect in self.tracker.apply(decode_event(msg), 0.0):
                if isinstance(effect, CallAnswered):
                    self.answers.append(effect)
                elif isinstance(effect, CallFinished):
                    self.finished[effect.call.uniqueid] = effect.call


def run_until(engine: Engine, folded: Folded, done: object) -> None:
    assert callable(done)
    while not done():
        at = engine.next_time()
        assert at is not None, "the PBX ran dry"
        engine.advance(at)
        folded.feed(engine)


def talking(engine: Engine) -> Call | None:
    return next((c for c in engine.active.values() if c.state == "talking"), None)


@pytest.mark.parametrize("dialect", ["11", "12"])
def test_redirect_to_another_queue_is_one_call(dialect: Dialect) -> None:
    engine = Engine(pbx(dialect), seed=7)
    folded = Folded()
    run_until(engine, folded, lambda: folded.answers)
    [first] = folded.answers
    call = talking(engine)
    assert call is not None
    assert first.agent_interface == "Local/agent2@lab-agents"
    assert first.caller_channel == call.chan.name  # what the console Redirects

    assert engine.redirect(call.chan.name, TRANSFER_CONTEXT, "q101")
    run_until(engine, folded, lambda: len(folded.answers) == 2)
    second = folded.answers[1]
    assert second.queue == "q101"
    assert second.agent_interface == "Local/agent1@lab-agents"
    assert second.call.uniqueid == first.call.uniqueid
    assert second.caller_channel == call.chan.name
    run_until(engine, folded, lambda: folded.finished)

    [record] = folded.finished.values()
    assert record.service == "102"  # counted once, under its first service
    assert [e.queue for e in record.entries] == ["q102", "q101"]
    assert [e.service for e in record.entries] == ["102", "101"]
    assert all(e.answered_at is not None for e in record.entries)
    # Asterisk 11 reports the redirect as a transfer (the caller's exten changed); in 12+
    # the agent's channel hangs up and the join of q101 is what tells the tracker.
    assert record.entries[0].outcome == "transferred"
    assert record.transferred and record.outcome == "transferred"
    assert record.agent_interface in {"Local/agent2@lab-agents", "Local/agent1@lab-agents"}
    log = "\n".join(engine.queue_log)
    assert ("|TRANSFER|q101|centralita-transfer|" in log) == (dialect == "11")
    # the truth: one call, two stays, both answered
    [truth] = engine.truth.calls
    assert [(e.queue, e.outcome) for e in truth.entries] == [
        ("q102", "answered"),
        ("q101", "answered"),
    ]


def test_redirect_to_an_extension_leaves_the_queues() -> None:
    engine = Engine(pbx("12"), seed=7)
    folded = Folded()
    run_until(engine, folded, lambda: folded.answers)
    call = talking(engine)
    assert call is not None
    assert engine.redirect(call.chan.name, "from-internal", "2104")
    agent = engine.agents["Local/agent2@lab-agents"]
    assert agent.talking is None  # the agent is free for the next call at once
    run_until(engine, folded, lambda: folded.finished)
    [record] = folded.finished.values()
    assert [e.queue for e in record.entries] == ["q102"]
    assert len(folded.answers) == 1
    # the agent's part ended at the Redirect: a transferred call, its talk up to then
    assert [e.outcome for e in record.entries] == ["transferred"]
    assert record.transferred and record.outcome == "transferred"
    [stay] = record.entries
    assert stay.answered_at is not None and record.ended_at is not None
    assert record.talk_s is not None
    assert record.talk_s < record.ended_at - stay.answered_at


def test_redirect_of_an_unknown_channel_is_refused() -> None:
    engine = Engine(pbx("12"), seed=7)
    assert not engine.redirect("Local/nobody@lab-callers-00000001;1", TRANSFER_CONTEXT, "q101")
