"""The pure tracker: outcome rules, resynchronisation, and robustness to any event order."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ami_listener.events import (
    AgentComplete,
    AgentConnect,
    AmiEvent,
    Hangup,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    VarSet,
)
from ami_listener.pipeline import Pipeline
from ami_listener.protocol import AmiMessage
from ami_listener.tracker import (
    CallFinished,
    CallTracker,
    Effect,
    IvrHangup,
    MemberUpdated,
    QueueSnapshot,
)


def join(uid: str, ts: float, queue: str = "q101", exten: str = "101") -> QueueCallerJoin:
    return QueueCallerJoin(
        timestamp=ts,
        uniqueid=uid,
        linkedid=uid,
        queue=queue,
        exten=exten,
        position=1,
        caller_id_num="71234567",
        context="from-pstn",
    )


def fold(tracker: CallTracker, events: list[AmiEvent]) -> list[Effect]:
    out: list[Effect] = []
    for e in events:
        out.extend(tracker.apply(e, 0.0))
    return out


def finished(effects: list[Effect]) -> list[CallFinished]:
    return [e for e in effects if isinstance(e, CallFinished)]


def test_abandon_then_hangup_is_abandoned_but_then_timeout_status_is_timeout() -> None:
    t = CallTracker("p")
    hung = fold(
        t,
        [
            join("1", 100.0),
            QueueCallerAbandon(timestamp=110.0, uniqueid="1", queue="q101", hold_time=10),
            QueueCallerLeave(timestamp=110.0, uniqueid="1", queue="q101"),
            Hangup(timestamp=110.5, uniqueid="1"),
        ],
    )
    assert finished(hung)[0].call.outcome == "abandoned"
    timed = fold(
        t,
        [
            join("2", 100.0),
            QueueCallerAbandon(timestamp=130.0, uniqueid="2", queue="q101", hold_time=30),
            QueueCallerLeave(timestamp=130.0, uniqueid="2", queue="q101"),
            VarSet(timestamp=130.0, uniqueid="2", variable="QUEUESTATUS", value="TIMEOUT"),
            Hangup(timestamp=131.0, uniqueid="2"),
        ],
    )
    (done,) = finished(timed)
    assert done.call.outcome == "timeout"
    assert done.call.wait_s == 30.0


def test_wait_boundary_in_milliseconds() -> None:
    t = CallTracker("p")
    effects = fold(
        t,
        [
            join("1", 1000.0),
            QueueCallerLeave(timestamp=1020.0, uniqueid="1", queue="q101"),
            AgentConnect(
                timestamp=1020.0,
                uniqueid="1",
                queue="q101",
                interface="SIP/1",
                member_name="Ana",
                hold_time=20,
            ),
            AgentComplete(
                timestamp=1050.0,
                uniqueid="1",
                queue="q101",
                interface="SIP/1",
                talk_time=30,
                reason="agent",
            ),
            Hangup(timestamp=1050.0, uniqueid="1"),
        ],
    )
    call = finished(effects)[0].call
    assert call.wait_s == 20.0
    assert call.talk_s == 30.0
    assert call.agent_name == "Ana"


def test_resync_adds_unknown_waiting_caller_and_closes_vanished_one() -> None:
    t = CallTracker("p")
    fold(t, [join("known", 100.0), join("gone", 101.0)])
    t.apply(Hangup(timestamp=150.0, uniqueid="other"), 0.0)  # moves the event clock
    snap = QueueSnapshot(
        entries=[
            QueueEntry(queue="q101", uniqueid="known", wait=50, position=1),
            QueueEntry(queue="q101", uniqueid="new", wait=20, position=2, caller_id_num="4444444"),
        ],
        members=[QueueMember(queue="q101", location="SIP/1", name="Ana", status=1)],
    )
    effects = t.resync(snap, at=150.0)
    closed = finished(effects)
    assert [c.call.uniqueid for c in closed] == ["gone"]
    assert closed[0].call.gap and closed[0].call.outcome == "abandoned"
    assert set(t.calls) == {"known", "new"}
    new = t.calls["new"].record
    assert new.resynced and new.entered_at == 130.0
    assert t.calls["known"].record.entries[0].entered_at == 100.0  # not counted twice
    # A second identical resync changes nothing.
    assert all(isinstance(e, MemberUpdated) for e in t.resync(snap, at=150.0))


def test_resync_finishes_a_conversation_that_ended_during_the_outage() -> None:
    t = CallTracker("p")
    fold(
        t,
        [
            join("1", 100.0),
            QueueCallerLeave(timestamp=105.0, uniqueid="1", queue="q101"),
            AgentConnect(
                timestamp=105.0, uniqueid="1", queue="q101", interface="SIP/1", hold_time=5
            ),
        ],
    )
    busy = QueueSnapshot(members=[QueueMember(queue="q101", location="SIP/1", status=2, in_call=1)])
    assert all(isinstance(e, MemberUpdated) for e in t.resync(busy, at=120.0))
    idle = QueueSnapshot(members=[QueueMember(queue="q101", location="SIP/1", status=1)])
    (done,) = finished(t.resync(idle, at=160.0))
    assert done.call.outcome == "answered" and done.call.gap
    assert done.call.talk_s == 55.0


def test_sweep_finishes_a_call_whose_hangup_was_lost() -> None:
    t = CallTracker("p")
    fold(
        t,
        [
            join("1", 100.0),
            QueueCallerAbandon(timestamp=110.0, uniqueid="1", queue="q101", hold_time=10),
        ],
    )
    t.apply(Hangup(timestamp=400.0, uniqueid="x"), 0.0)
    (done,) = finished(t.sweep())
    assert done.call.outcome == "abandoned" and done.call.gap


class Exploding:
    def __init__(self) -> None:
        self.seen = 0

    def handle(self, effect: Effect) -> None:
        self.seen += 1
        raise RuntimeError("sink down")


def test_a_failing_sink_never_stops_ingestion() -> None:
    sink = Exploding()
    pipeline = Pipeline(CallTracker("p"), sinks=[sink])
    msgs = [
        AmiMessage(
            {"Event": "QueueCallerJoin", "Uniqueid": "1", "Queue": "q101", "Timestamp": "1.0"}
        ),
        AmiMessage(
            {"Event": "QueueCallerJoin", "Uniqueid": "2", "Queue": "q101", "Timestamp": "2.0"}
        ),
        AmiMessage({"Event": "QueueCallerJoin", "Uniqueid": "3", "Queue": "q101", "Position": "x"}),
        AmiMessage({"Event": "Hangup", "Uniqueid": "1", "Timestamp": "3.0"}),
    ]
    for m in msgs:
        pipeline.feed(m, None)
    assert sink.seen == 3  # two joins and one finished call; the bad event was skipped
    assert pipeline.stats.rejected == 1
    assert [c.uniqueid for c in pipeline.buffer.calls] == ["1"]
    assert len(pipeline.buffer.events) == 4  # the bad event is still in the log, raw


UIDS = st.sampled_from(["1", "2", "3"])
QUEUES = st.sampled_from(["q101", "q102"])
TS = st.floats(min_value=0, max_value=1000, allow_nan=False)
EVENTS = st.one_of(
    st.builds(
        QueueCallerJoin,
        timestamp=TS,
        uniqueid=UIDS,
        queue=QUEUES,
        exten=st.sampled_from(["101", ""]),
    ),
    st.builds(
        QueueCallerLeave,
        timestamp=TS,
        uniqueid=UIDS,
        queue=QUEUES,
        context=st.sampled_from(["", "x"]),
    ),
    st.builds(QueueCallerAbandon, timestamp=TS, uniqueid=UIDS, queue=QUEUES),
    st.builds(
        AgentConnect,
        timestamp=TS,
        uniqueid=UIDS,
        queue=QUEUES,
        interface=st.sampled_from(["A", "B"]),
    ),
    st.builds(
        AgentComplete,
        timestamp=TS,
        uniqueid=st.sampled_from(["1", ""]),
        queue=QUEUES,
        interface=st.sampled_from(["A", "B"]),
        reason=st.sampled_from(["agent", "transfer"]),
    ),
    st.builds(Hangup, timestamp=TS, uniqueid=UIDS),
    st.builds(
        VarSet,
        timestamp=TS,
        uniqueid=UIDS,
        variable=st.just("QUEUESTATUS"),
        value=st.sampled_from(["TIMEOUT", "LEAVEEMPTY", "FULL"]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(EVENTS, max_size=40))
def test_fuzz_any_event_order_never_crashes_and_records_are_sane(events: list[AmiEvent]) -> None:
    t = CallTracker("p")
    effects = fold(t, events)
    effects += t.resync(QueueSnapshot(), at=2000.0)
    effects += t.sweep(now=10**6)
    for done in finished(effects):
        call = done.call
        assert call.outcome in {
            "answered",
            "transferred",
            "abandoned",
            "timeout",
            "exit-empty",
            "exit-with-key",
        }
        assert (call.answered_at is not None) == (call.outcome in {"answered", "transferred"})
        assert call.entries and call.queues
    assert t.calls == {}


def test_ivr_hangup_before_the_queue_is_recorded_once() -> None:
    t = CallTracker("p")
    effects = fold(
        t,
        [
            VarSet(
                timestamp=10.0,
                uniqueid="a",
                variable="CC_SERVICE",
                value="101",
                caller_id_num="711",
            ),
            VarSet(timestamp=10.0, uniqueid="b", variable="CC_SERVICE", value="104"),
            join("b", 15.0, exten="104"),
            Hangup(timestamp=12.0, uniqueid="a"),
            Hangup(timestamp=40.0, uniqueid="b"),
        ],
    )
    hangups = [e for e in effects if isinstance(e, IvrHangup)]
    assert [(h.uniqueid, h.service, h.started_at, h.caller_num) for h in hangups] == [
        ("a", "101", 10.0, "711")
    ]
    assert [c.call.uniqueid for c in finished(effects)] == ["b"]


async def test_ivr_hangups_reach_the_store(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from ami_listener.schema import ivr_calls
    from ami_listener.store import create_schema, make_engine, write_batch

    pipeline = Pipeline(CallTracker("p"))
    for m in (
        AmiMessage(
            {
                "Event": "VarSet",
                "Uniqueid": "a",
                "Variable": "CC_SERVICE",
                "Value": "101",
                "Timestamp": "5.0",
            }
        ),
        AmiMessage({"Event": "Hangup", "Uniqueid": "a", "Timestamp": "6.0"}),
    ):
        pipeline.feed(m, None)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'i.db'}")
    await create_schema(engine)
    batch = pipeline.buffer.take(100)
    await write_batch(engine, batch)
    await write_batch(engine, batch)  # idempotent
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(ivr_calls))).mappings().all()
    await engine.dispose()
    assert [(r["uniqueid"], r["service"], r["started_at_ms"]) for r in rows] == [("a", "101", 5000)]


def test_resync_reports_members_and_removes_the_gone() -> None:
    t = CallTracker("p")
    t.resync(QueueSnapshot(members=[QueueMember(queue="q1", location="A", status=1)]), at=1.0)
    effects = t.resync(
        QueueSnapshot(members=[QueueMember(queue="q1", location="B", status=1)]), at=2.0
    )
    got = {(e.interface, e.removed) for e in effects if isinstance(e, MemberUpdated)}
    assert got == {("B", False), ("A", True)}
