"""The pure tracker: outcome rules, resynchronisation, and robustness to any event order."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from centralita.ami_listener.events import (
    AgentComplete,
    AgentConnect,
    AmiEvent,
    FullyBooted,
    Hangup,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    UserEvent,
    VarSet,
)
from centralita.ami_listener.pipeline import Pipeline
from centralita.ami_listener.protocol import AmiMessage
from centralita.ami_listener.tracker import (
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


def test_resync_adds_unknown_waiting_caller_and_marks_a_vanished_one_unknown() -> None:
    t = CallTracker("p")
    fold(t, [join("known", 100.0), join("gone", 101.0)])
    t.apply(Hangup(timestamp=120.0, uniqueid="other"), 0.0)  # moves the event clock
    snap = QueueSnapshot(
        entries=[
            QueueEntry(queue="q101", uniqueid="known", wait=50, position=1),
            QueueEntry(queue="q101", uniqueid="new", wait=20, position=2, caller_id_num="4444444"),
        ],
        members=[QueueMember(queue="q101", location="SIP/1", name="Ana", status=1)],
        channels={"known", "new"},
        pbx_now=150.0,
    )
    effects = t.resync(snap, 99999.0)  # the arrival time is not used: the PBX said its clock
    closed = finished(effects)
    assert [c.call.uniqueid for c in closed] == ["gone"]
    gone = closed[0].call
    # It left while we were away and its channel is gone: how is not known, and said so.
    assert gone.gap and gone.outcome == "unknown" and gone.wait_s is None
    assert {"outcome", "ended_at"} <= set(gone.marks)
    assert set(t.calls) == {"known", "new"}
    new = t.calls["new"].record
    assert new.resynced and new.entered_at == 130.0 and new.marks == ["entered_at"]
    assert t.calls["known"].record.entries[0].entered_at == 100.0  # not counted twice
    assert t.calls["known"].record.marks == []
    # A second identical resync changes nothing.
    assert all(isinstance(e, MemberUpdated) for e in t.resync(snap, 0.0))


def test_resync_entry_time_comes_from_the_pbx_clock_not_the_last_event() -> None:
    t = CallTracker("p")
    # Events before the outage: the PBX clock ran 2.5 s behind our arrival times.
    for i in range(5):
        t.apply(Hangup(timestamp=100.0 + i, uniqueid=f"x{i}"), 102.5 + i + 0.1 * (i % 2))
    snap = QueueSnapshot(entries=[QueueEntry(queue="q101", uniqueid="c", wait=7)])
    t.resync(snap, 202.5)  # no Ping Timestamp: arrival − smallest offset = PBX 200.0
    assert t.calls["c"].record.entered_at == 193.0
    assert "entered_at" in t.calls["c"].record.marks


def test_resync_without_channel_list_keeps_a_missing_caller_open_for_its_events() -> None:
    t = CallTracker("p")
    fold(t, [join("w", 100.0)])
    assert finished(t.resync(QueueSnapshot(pbx_now=200.0), 0.0)) == []
    assert t.waiting() == {}  # no longer shown waiting
    # It was answered while we were away: its AgentComplete says when (TalkTime).
    fold(
        t,
        [
            AgentComplete(
                timestamp=260.0,
                uniqueid="w",
                queue="q101",
                interface="SIP/1",
                hold_time=40,
                talk_time=120,
                reason="agent",
            ),
            Hangup(timestamp=260.5, uniqueid="w"),
        ],
    )
    assert t.calls == {}


def test_resync_finishes_a_conversation_whose_caller_channel_is_gone() -> None:
    def answered() -> CallTracker:
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
        return t

    busy = [QueueMember(queue="q101", location="SIP/1", status=2, in_call=1)]
    # The agent is busy, but with another call: the caller's channel is gone.
    t = answered()
    (done,) = finished(t.resync(QueueSnapshot(members=busy, channels={"2"}, pbx_now=160.0), 0))
    call = done.call
    assert call.outcome == "answered" and call.gap and call.wait_s == 5.0
    assert call.talk_s is None and call.ended_at is None  # not known, not guessed
    assert {"ended_at", "talk"} <= set(call.marks)
    # Still talking: the channel is alive, the call stays open.
    t = answered()
    assert finished(t.resync(QueueSnapshot(members=busy, channels={"1"}, pbx_now=160.0), 0)) == []
    assert set(t.calls) == {"1"}
    # Without a channel list: an idle agent means the conversation is over.
    t = answered()
    assert finished(t.resync(QueueSnapshot(members=busy, pbx_now=160.0), 0)) == []
    idle = [QueueMember(queue="q101", location="SIP/1", status=1)]
    (done,) = finished(t.resync(QueueSnapshot(members=idle, pbx_now=160.0), 0))
    assert done.call.outcome == "answered" and done.call.talk_s is None


def test_without_status_the_agents_last_call_tells_a_conversation_ended() -> None:
    """Status refused (the AMI user lacks write=reporting): the agent is busy again, with
    another call, but its LastCall (a call of its ended) is after this answer."""
    t = CallTracker("p")
    fold(t, [join("A", 100.0), AgentConnect(timestamp=104.5, uniqueid="A", queue="q101")])
    t.calls["A"].entry.agent_interface = "SIP/1"

    def member(last_call: int) -> QueueMember:
        return QueueMember(queue="q101", location="SIP/1", status=2, in_call=1, last_call=last_call)

    # LastCall before this answer: the agent is still talking with A.
    assert finished(t.resync(QueueSnapshot(members=[member(90)], pbx_now=200.0), 0)) == []
    # LastCall after it: A ended (when exactly is not known), the agent is with another.
    (done,) = finished(t.resync(QueueSnapshot(members=[member(130)], pbx_now=200.0), 0))
    assert done.call.outcome == "answered" and done.call.talk_s is None
    assert {"ended_at", "talk"} <= set(done.call.marks)


def test_three_callers_across_a_daemon_stop() -> None:
    """One agent. A answered before the stop and ended during it; B joined and was
    answered during it; C joined during it and still waits at the new login."""
    t = CallTracker("p")
    fold(
        t,
        [
            join("A", 100.0),
            AgentConnect(timestamp=104.0, uniqueid="A", queue="q101", interface="SIP/1"),
        ],
    )
    # The daemon is away from 110 to 200. A ended at 130 (talk 26 s); B joined at 140,
    # was answered at 150 (hold 10 s); C joined at 170. At 200 the daemon logs in again.
    snap = QueueSnapshot(
        entries=[QueueEntry(queue="q101", uniqueid="C", wait=30, position=1)],
        members=[QueueMember(queue="q101", location="SIP/1", status=2, in_call=1)],
        channels={"B", "C", "SIP/1-agent"},
        pbx_now=200.2,
    )
    effects = t.resync(snap, 0.0)
    (a,) = finished(effects)
    assert a.call.uniqueid == "A" and a.call.outcome == "answered"
    assert a.call.wait_s == 4.0 and a.call.talk_s is None and "talk" in a.call.marks
    c = t.calls["C"].record
    assert c.entered_at == 170.2 and c.marks == ["entered_at"]  # Wait is whole seconds
    # B's first events after the outage: its AgentComplete and Hangup.
    done = finished(
        fold(
            t,
            [
                AgentComplete(
                    timestamp=236.0,
                    uniqueid="B",
                    queue="q101",
                    interface="SIP/1",
                    member_name="Ana",
                    caller_id_num="70000002",
                    exten="101",
                    hold_time=10,
                    talk_time=86,
                    reason="caller",
                ),
                Hangup(timestamp=236.0, uniqueid="B", caller_id_num="70000002"),
            ],
        )
    )
    (b,) = [d.call for d in done]
    assert b.uniqueid == "B" and b.outcome == "answered" and b.service == "101"
    assert b.entered_at == 140.0 and b.answered_at == 150.0 and b.wait_s == 10.0
    assert b.talk_s == 86.0 and b.agent_interface == "SIP/1" and b.caller_num == "70000002"
    assert set(b.marks) == {"entered_at", "answered_at"} and b.resynced


def test_a_hangup_before_the_agentcomplete_of_an_unseen_call_gives_its_end() -> None:
    t = CallTracker("p")
    done = finished(
        fold(
            t,
            [
                Hangup(timestamp=300.0, uniqueid="B", caller_id_num="70000009", exten="102"),
                AgentComplete(
                    timestamp=300.1,
                    uniqueid="B",
                    queue="q102",
                    interface="SIP/2",
                    hold_time=3,
                    talk_time=40,
                    reason="caller",
                ),
            ],
        )
    )
    (b,) = [d.call for d in done]
    assert b.ended_at == 300.0 and b.caller_num == "70000009" and b.outcome == "answered"


def test_a_pbx_restart_cuts_the_waiting_callers() -> None:
    t = CallTracker("p")
    fold(
        t,
        [
            join("W", 100.0),
            join("T", 101.0),
            AgentConnect(timestamp=105.0, uniqueid="T", queue="q101", interface="SIP/1"),
        ],
    )
    t.apply(FullyBooted(uptime=20), 0.0)  # the PBX started 20 s before the answer
    snap = QueueSnapshot(
        entries=[QueueEntry(queue="q101", uniqueid="N", wait=5)], channels={"N"}, pbx_now=300.0
    )
    by_uid = {d.call.uniqueid: d.call for d in finished(t.resync(snap, 0.0))}
    assert by_uid["W"].outcome == "cut" and by_uid["W"].wait_s is None
    assert by_uid["T"].outcome == "answered" and by_uid["T"].talk_s is None
    assert "talk" in by_uid["T"].marks
    assert set(t.calls) == {"N"}


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
    effects += t.resync(QueueSnapshot(pbx_now=2000.0), 0.0)
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
            "unknown",
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


def test_a_call_the_ivr_sent_elsewhere_is_derived_not_hung_up() -> None:
    t = CallTracker("p")
    effects = fold(
        t,
        [
            VarSet(timestamp=10.0, uniqueid="a", variable="CC_SERVICE", value="4639999"),
            UserEvent(
                timestamp=12.0,
                uniqueid="a",
                user_event="CentralitaIvr",
                fields={"service": "4639999", "topic": "damage", "destination": "number"},
            ),
            VarSet(timestamp=10.0, uniqueid="b", variable="CC_SERVICE", value="4639999"),
            UserEvent(
                timestamp=12.0,
                uniqueid="b",
                user_event="CentralitaIvr",
                fields={"service": "4639999", "destination": "queue"},
            ),
            Hangup(timestamp=30.0, uniqueid="a"),
            Hangup(timestamp=13.0, uniqueid="b"),  # hung up before the queue join
        ],
    )
    hangups = {e.uniqueid: e for e in effects if isinstance(e, IvrHangup)}
    assert (hangups["a"].destination, hangups["a"].derived) == ("number", True)
    assert (hangups["b"].destination, hangups["b"].derived) == ("queue", False)


async def test_ivr_hangups_reach_the_store(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from centralita.ami_listener.schema import ivr_calls
    from centralita.ami_listener.store import create_schema, make_engine, write_batch

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
        AmiMessage(
            {
                "Event": "VarSet",
                "Uniqueid": "d",
                "Variable": "CC_SERVICE",
                "Value": "4639999",
                "Timestamp": "7.0",
            }
        ),
        AmiMessage(
            {
                "Event": "UserEvent",
                "UserEvent": "CentralitaIvr",
                "Uniqueid": "d",
                "destination": "announcement",
                "Timestamp": "8.0",
            }
        ),
        AmiMessage({"Event": "Hangup", "Uniqueid": "d", "Timestamp": "9.0"}),
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
    got = sorted(
        (r["uniqueid"], r["service"], r["started_at_ms"], r["hung_up_before_queue"]) for r in rows
    )
    assert got == [("a", "101", 5000, True), ("d", "4639999", 7000, False)]


def test_resync_reports_members_and_removes_the_gone() -> None:
    t = CallTracker("p")
    t.resync(QueueSnapshot(members=[QueueMember(queue="q1", location="A", status=1)]), 1.0)
    effects = t.resync(
        QueueSnapshot(members=[QueueMember(queue="q1", location="B", status=1)]), 2.0
    )
    got = {(e.interface, e.removed) for e in effects if isinstance(e, MemberUpdated)}
    assert got == {("B", False), ("A", True)}


def test_resync_keeps_the_pause_reason() -> None:
    # 13.8+ say PausedReason in QueueStatus; 11 does not: the reason seen before stays.
    t = CallTracker("p")

    def reasons(effects: list[Effect]) -> dict[str, str]:
        return {e.interface: e.pause_reason for e in effects if isinstance(e, MemberUpdated)}

    said = [QueueMember(queue="q1", location="A", status=1, paused=1, paused_reason="Almuerzo")]
    assert reasons(t.resync(QueueSnapshot(members=said), 1.0)) == {"A": "Almuerzo"}
    silent = [QueueMember(queue="q1", location="A", status=1, paused=1)]  # Asterisk 11
    assert reasons(t.resync(QueueSnapshot(members=silent), 2.0)) == {"A": "Almuerzo"}
    back = [QueueMember(queue="q1", location="A", status=1, paused=0)]
    assert reasons(t.resync(QueueSnapshot(members=back), 3.0)) == {"A": ""}
    assert reasons(t.resync(QueueSnapshot(members=silent), 4.0)) == {"A": ""}  # none known
