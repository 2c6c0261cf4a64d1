"""The simulator as an independent PBX: it runs while no client is connected, refuses
connections during a network cut, crashes and restarts, writes its queue_log live, tells
its clock on the wire, and writes every queued byte before closing. Real loopback TCP;
the PBX's clock is virtual (``speed=None``), nothing here depends on wall-clock speed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from centralita.simulator.config import lab_config
from centralita.simulator.exceptions import SimulatorError
from centralita.simulator.runner import Simulator
from centralita.simulator.server import epoch_usec
from centralita.simulator.truth import read_truth
from tests.simulator.amiclient import AmiTestClient

SECRET = "s3cret"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Simulator]:
    config = lab_config(calls=100_000, load=3.0)
    async with Simulator(
        config, seed=31, speed=None, secret=SECRET, queue_log_path=tmp_path / "queue_log"
    ) as simulator:
        yield simulator


async def ping(client: AmiTestClient, aid: str) -> None:
    """Every event sent to this client before the Ping's answer is in its inbox after."""
    await client.send([("Action", "Ping"), ("ActionID", aid)])
    await client.wait_for(lambda m: m.action_id == aid and not m.is_event)


def event_times(client: AmiTestClient) -> list[float]:
    return [float(m.get("Timestamp")) for m in client.events() if m.get("Timestamp")]


def inode(path: Path | str) -> int:
    return os.stat(path).st_ino


def queue_log_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


# ------------------------------------------------------------------ busy during outages
async def test_advance_runs_the_pbx_with_no_client_and_replays_nothing(sim: Simulator) -> None:
    start = sim.engine.now
    await sim.advance(900)
    assert sim.engine.now == start + 900
    truth = sim.truth
    answered = [c for c in truth.queue_calls() if c.answered_at is not None and c.ended_at]
    assert answered, "calls were answered and ended with nobody connected"
    assert any(c.outcome == "abandoned" for c in truth.calls)
    client, _ = await AmiTestClient.login(sim.port, SECRET)
    booted = await client.wait_for(lambda m: m.name == "FullyBooted")
    assert int(booted.get("Uptime")) == int(sim.engine.now - start)
    await ping(client, "p1")
    assert [m.name for m in client.events()] == ["FullyBooted"]  # nothing replayed
    login_at = sim.engine.now
    await sim.advance(120)
    await ping(client, "p2")
    times = event_times(client)
    assert times
    assert min(times) >= login_at


async def test_events_go_only_to_the_clients_connected_when_they_happen(sim: Simulator) -> None:
    first, _ = await AmiTestClient.login(sim.port, SECRET)
    await sim.advance(300)
    await ping(first, "p1")
    dropped_at = sim.engine.now
    sim.drop_clients()
    await first.read_until_eof()
    seen_before = {m.get("Uniqueid") for m in first.events("QueueCallerJoin")}
    await sim.advance(300)  # the outage: the PBX goes on
    back_at = sim.engine.now
    second, _ = await AmiTestClient.login(sim.port, SECRET)
    await sim.advance(300)
    await ping(second, "p2")
    assert max(event_times(first)) <= dropped_at
    assert min(event_times(second)) >= back_at
    # Calls that started and ended inside the outage are in the truth, on neither wire.
    inside = [
        c
        for c in sim.truth.queue_calls()
        if c.entered_at is not None
        and dropped_at < c.entered_at
        and c.ended_at is not None
        and c.ended_at < back_at
    ]
    assert inside
    on_wire = seen_before | {m.get("Uniqueid") for m in second.events()}
    assert not {c.uniqueid for c in inside} & on_wire


async def test_advance_until_stops_on_the_predicate(sim: Simulator) -> None:
    engine = sim.engine

    def talking_and_waiting() -> bool:
        states = {c.state for c in engine.active.values()}
        return {"talking", "waiting"} <= states

    assert await sim.advance_until(talking_and_waiting, max_seconds=3600)
    now = engine.now
    assert not await sim.advance_until(lambda: False, max_seconds=10)
    assert engine.now == now + 10


async def test_advance_needs_the_jumping_clock() -> None:
    async with Simulator(lab_config(calls=5), seed=1, speed=50.0, secret=SECRET) as sim:
        with pytest.raises(SimulatorError):
            await sim.advance(10)


async def test_network_cut_refuses_connections_then_accepts_on_the_same_port(
    sim: Simulator,
) -> None:
    client, _ = await AmiTestClient.login(sim.port, SECRET)
    port = sim.port
    await sim.cut_network()
    await client.read_until_eof()
    with pytest.raises(OSError):
        await AmiTestClient.open(port)
    joined = len(sim.truth.calls)
    await sim.advance(120)
    assert len(sim.truth.calls) > joined
    await sim.restore_network()
    assert sim.port == port
    again, reply = await AmiTestClient.login(port, SECRET)
    assert reply.get("Response") == "Success"
    await again.wait_for(lambda m: m.name == "FullyBooted")


async def test_silent_cut_accepts_tcp_but_never_answers(sim: Simulator) -> None:
    await sim.refuse_logins("silent")
    mute = await AmiTestClient.open(sim.port)
    await mute.send(
        [("Action", "Login"), ("ActionID", "l"), ("Username", "centralita"), ("Secret", SECRET)]
    )
    await sim.advance(60)
    assert not any(c.logged_in for c in sim.server.clients)
    await sim.accept_logins()  # the path comes back: the half-open connection is reset
    with contextlib.suppress(ConnectionError):
        await mute.read_until_eof()
    assert mute.banner == ""
    assert mute.inbox == []
    _client, reply = await AmiTestClient.login(sim.port, SECRET)
    assert reply.get("Response") == "Success"


# ------------------------------------------------------------------ clock on the wire
@pytest.mark.parametrize("dialect", ["12", "11"])
async def test_ping_and_fully_booted_tell_the_pbx_clock(dialect: str) -> None:
    config = lab_config(calls=50, dialect=dialect)  # type: ignore[arg-type]
    async with Simulator(config, seed=4, speed=None, secret=SECRET) as sim:
        await sim.advance(37.25)
        client, _ = await AmiTestClient.login(sim.port, SECRET)
        booted = await client.wait_for(lambda m: m.name == "FullyBooted")
        if dialect == "11":
            assert [k for k, _ in booted.pairs()] == ["Event", "Privilege", "Status"]
        else:
            assert booted.get("Uptime") == booted.get("LastReload") == "37"
        await ping(client, "p-1")
        pong = client.inbox[-1]
        assert [k for k, _ in pong.pairs()] == ["Response", "ActionID", "Ping", "Timestamp"]
        assert pong.get("Ping") == "Pong"
        assert re.fullmatch(r"\d+\.\d{6}", pong.get("Timestamp"))
        assert pong.get("Timestamp") == epoch_usec(sim.engine.now)
        assert float(pong.get("Timestamp")) == pytest.approx(config.start_epoch + 37.25)
        await client.send([("Action", "Ping")])  # no ActionID: none echoed, as Asterisk
        await client.wait_for(lambda m: m.get("Ping") == "Pong" and m is not pong)
        assert "ActionID" not in client.inbox[-1].headers


def test_epoch_usec_is_asterisk_timeval_format() -> None:
    assert epoch_usec(1795922040.0) == "1795922040.000000"
    assert epoch_usec(1795922040.9999996) == "1795922041.000000"
    assert epoch_usec(12.000042) == "12.000042"


@pytest.mark.parametrize("dialect", ["12", "11"])
async def test_queue_status_wait_and_member_fields(dialect: str) -> None:
    config = lab_config(calls=100_000, dialect=dialect, load=3.0)  # type: ignore[arg-type]
    async with Simulator(config, seed=9, speed=None, secret=SECRET) as sim:
        engine = sim.engine

        def busy() -> bool:
            states = {c.state for c in engine.active.values()}
            done = any(a.last_call for a in engine.agents.values())
            return done and {"talking", "waiting"} <= states

        assert await sim.advance_until(busy, max_seconds=7200)
        await sim.advance(0.6)
        client, _ = await AmiTestClient.login(sim.port, SECRET, events="off")
        await client.send([("Action", "QueueStatus"), ("ActionID", "qs")])
        await client.wait_for(lambda m: m.name == "QueueStatusComplete")
        now = engine.now
        entries = [m for m in client.inbox if m.name == "QueueEntry"]
        assert entries
        truth = sim.truth.by_uniqueid()
        for m in entries:
            entered = truth[m.get("Uniqueid")].entries[-1].entered_at
            # app_queue: (long)(time(NULL) - qe->start), both whole epoch seconds.
            assert int(m.get("Wait")) == int(now) - int(entered)
        members = [m for m in client.inbox if m.name == "QueueMember"]
        in_call_key = "IsInCall" if dialect == "11" else "InCall"
        talking = {
            c.agent_interface
            for c in truth.values()
            if c.answered_at is not None and c.ended_at is None
        }
        assert talking
        for m in members:
            iface = m.get("Location")
            ended = [
                int(c.ended_at)
                for c in truth.values()
                if c.agent_interface == iface and c.ended_at is not None and c.answered_at
            ]
            assert int(m.get("LastCall")) - max(ended, default=0) in (0, -1)
            assert m.get(in_call_key) == ("1" if iface in talking else "0")
            agent = engine.agents[iface]
            assert m.get("Status") == ("1" if agent.free else "2")
            membership = engine.queues[m.get("Queue")].member(iface)
            assert membership is not None
            assert m.get("Paused") == str(int(membership.paused))
        assert any(m.get(in_call_key) == "1" for m in members)


@pytest.mark.parametrize("dialect", ["12", "11"])
async def test_status_lists_the_live_channels(dialect: str) -> None:
    config = lab_config(calls=100_000, dialect=dialect, load=3.0)  # type: ignore[arg-type]
    async with Simulator(config, seed=9, speed=None, secret=SECRET) as sim:
        engine = sim.engine
        assert await sim.advance_until(
            lambda: {"talking", "waiting"} <= {c.state for c in engine.active.values()},
            max_seconds=7200,
        )
        client, _ = await AmiTestClient.login(sim.port, SECRET, events="off")
        await client.send([("Action", "Status"), ("ActionID", "st")])
        done = await client.wait_for(lambda m: m.name == "StatusComplete")
        listed = [m for m in client.inbox if m.name == "Status"]
        assert all(m.action_id == "st" for m in listed)
        assert done.get("Items") == str(len(listed))
        uids = {m.get("Uniqueid") for m in listed}
        assert set(engine.active) <= uids
        ended = {c.uniqueid for c in sim.truth.calls if c.ended_at is not None}
        assert not ended & uids
        talking = [c for c in engine.active.values() if c.state == "talking"]
        if dialect == "11":
            assert "EventList" not in done.headers
            by_uid = {m.get("Uniqueid"): m for m in listed}
            for call in talking:
                assert call.agent_chan is not None
                peer = by_uid[call.chan.uniqueid].get("BridgedUniqueid")
                assert peer == call.agent_chan.uniqueid
        else:
            assert done.get("EventList") == "Complete"
            assert all(m.get("Linkedid") for m in listed)
        sim.crash()
        await client.read_until_eof()
        again, _ = await AmiTestClient.login(sim.port, SECRET, events="off")
        await again.send([("Action", "Status"), ("ActionID", "st2")])
        after = await again.wait_for(lambda m: m.name == "StatusComplete")
        assert after.get("Items") == "0"


# ------------------------------------------------------------------ crash and restart
@pytest.mark.parametrize("fault", ["crash", "restart"])
async def test_crash_and_restart_write_nothing_for_calls_in_progress(
    sim: Simulator, fault: str
) -> None:
    engine = sim.engine
    assert await sim.advance_until(
        lambda: {"talking", "waiting"} <= {c.state for c in engine.active.values()},
        max_seconds=3600,
    )
    client, _ = await AmiTestClient.login(sim.port, SECRET)
    await ping(client, "p")
    before = {uid: call.state for uid, call in engine.active.items()}
    at = engine.now
    qlog_path = sim.queue_log_path
    assert qlog_path is not None
    lines_before = len(queue_log_lines(qlog_path))
    if fault == "crash":
        sim.crash()
    else:
        sim.restart()
    await client.read_until_eof()
    hangups = {m.get("Uniqueid") for m in client.events("Hangup")}
    assert not hangups & set(before)
    after = queue_log_lines(qlog_path)[lines_before:]
    assert [line.split("|")[4] for line in after] == ["QUEUESTART"]
    assert int(after[0].split("|")[0]) > int(at)  # booted at a later second
    truth = sim.truth.by_uniqueid()
    for uid, state in before.items():
        call = truth[uid]
        assert call.ended_at == round(at, 6)
        if fault == "restart":
            assert call.lost and call.outcome == "lost"
            continue
        assert call.cut and not call.lost
        if state == "talking":
            assert call.outcome == "answered"
        elif state == "waiting":
            assert call.outcome == "cut"
            assert call.entries[-1].outcome == "cut"
            assert call.wait_s == pytest.approx(round(at - call.entries[0].entered_at, 3))
    assert (sim.truth.crashes if fault == "crash" else sim.truth.restarts) == [round(at, 6)]
    # The PBX is back: a new start time, new calls with new ids.
    again, _ = await AmiTestClient.login(sim.port, SECRET)
    booted = await again.wait_for(lambda m: m.name == "FullyBooted")
    assert int(booted.get("Uptime")) <= 1
    old_ids = set(truth)
    await sim.advance(300)
    await ping(again, "p2")
    new_joins = [m.get("Uniqueid") for m in again.events("QueueCallerJoin")]
    assert new_joins
    assert not set(new_joins) & old_ids


async def test_restart_now_hangs_up_every_call_with_its_events_first(sim: Simulator) -> None:
    engine = sim.engine
    assert await sim.advance_until(
        lambda: {"talking", "waiting"} <= {c.state for c in engine.active.values()},
        max_seconds=3600,
    )
    client, _ = await AmiTestClient.login(sim.port, SECRET)
    await sim.advance(5)
    await ping(client, "p")
    rung = len(client.events("AgentCalled"))
    before = {uid: call.state for uid, call in engine.active.items()}
    assert {"talking", "waiting"} <= set(before.values())
    qlog_path = sim.queue_log_path
    assert qlog_path is not None
    lines_before = len(queue_log_lines(qlog_path))
    at = engine.now
    await sim.restart_now()
    await client.read_until_eof()
    assert {m.get("Uniqueid") for m in client.events("Hangup")} >= set(before)
    after = [line.split("|") for line in queue_log_lines(qlog_path)[lines_before:]]
    verbs = {(f[1], f[4]) for f in after}
    truth = sim.truth.by_uniqueid()
    for uid, state in before.items():
        call = truth[uid]
        assert not call.lost and not call.cut
        assert call.ended_at is not None and call.ended_at >= at
        if state == "talking":
            assert call.outcome == "answered"
            assert (uid, "COMPLETECALLER") in verbs
        elif state == "waiting":
            assert call.outcome == "abandoned"
            assert (uid, "ABANDON") in verbs
    assert after[-1][4] == "QUEUESTART"
    assert len(client.events("AgentCalled")) == rung  # no new ring during the shutdown
    assert sim.truth.restarts
    again, _ = await AmiTestClient.login(sim.port, SECRET)
    booted = await again.wait_for(lambda m: m.name == "FullyBooted")
    assert int(booted.get("Uptime")) <= 1


async def test_crash_down_time_moves_the_clock(sim: Simulator) -> None:
    await sim.advance(200)
    at = sim.engine.now
    sim.crash(down_s=90)
    assert sim.engine.boot_at == sim.engine.now == at + 90
    await sim.advance(300)
    arrivals = [c.arrived_at for c in sim.truth.calls if c.arrived_at > at]
    assert arrivals
    assert min(arrivals) >= at + 90


# ------------------------------------------------------------------ queue_log file
async def test_queue_log_file_is_written_live_and_rotates(sim: Simulator) -> None:
    path = sim.queue_log_path
    assert path is not None
    assert queue_log_lines(path) == sim.engine.queue_log  # QUEUESTART, ADDMEMBER at start
    await sim.advance(600)
    assert queue_log_lines(path) == sim.engine.queue_log
    assert any("|ENTERQUEUE|" in line for line in sim.engine.queue_log)
    first_inode = inode(path)

    rotated = sim.rotate_queue_log()
    assert rotated == Path(f"{path}.1")
    assert inode(rotated) == first_inode
    assert path.read_text() == ""
    await sim.advance(600)
    assert inode(path) != first_inode
    assert queue_log_lines(rotated) + queue_log_lines(path) == sim.engine.queue_log

    second_inode = inode(path)
    copy = sim.truncate_queue_log()
    assert copy == Path(f"{path}.1")
    assert inode(f"{path}.2") == first_inode  # the older rotation shifted
    assert inode(path) == second_inode  # copytruncate: same file, emptied
    assert os.stat(path).st_size == 0
    await sim.advance(600)
    content = path.read_bytes()
    assert not content.startswith(b"\x00")  # appended at the new end, not the old offset
    assert (
        queue_log_lines(Path(f"{path}.2")) + queue_log_lines(copy) + queue_log_lines(path)
        == sim.engine.queue_log
    )
    for line in queue_log_lines(path):
        epoch, _callid, _queue, _agent, verb, *_data = line.split("|")
        assert epoch.isdigit() and verb.isupper()


async def test_rotation_needs_a_live_file() -> None:
    async with Simulator(lab_config(calls=5), seed=1, speed=None, secret=SECRET) as sim:
        with pytest.raises(SimulatorError):
            sim.rotate_queue_log()


# ------------------------------------------------------------------ flush before close
async def test_close_writes_every_queued_event_first() -> None:
    calls = 200
    # The flush's bound (10 s by default) is not what this test is about: on a loaded
    # machine the small-buffered reader may need longer, and must still get every byte.
    async with Simulator(
        lab_config(calls=calls), seed=7, speed=None, secret=SECRET, flush_timeout_s=300.0
    ) as sim:
        client, _ = await AmiTestClient.login(sim.port, SECRET, rcvbuf=4096)
        pump = asyncio.create_task(client.pump())
        truth = await sim.run()
        queued = sim.server.max_backlog
        await sim.close()
        await asyncio.wait_for(pump, 60)
    assert queued > 0, "the test must close with bytes still queued"
    assert len(truth.calls) == calls
    hung_up = {m.get("Uniqueid") for m in client.events("Hangup")}
    assert {c.uniqueid for c in truth.calls} <= hung_up


async def test_cli_run_delivers_every_call_to_a_connected_client(tmp_path: Path) -> None:
    """``centralita simulator run --calls 200``: a client reading the whole run sees every
    call's final Hangup (the last events are written before the process closes)."""
    truth_file, qlog = tmp_path / "truth.json", tmp_path / "queue_log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTRALITA_")}
    env["CENTRALITA_SIM_SECRET"] = SECRET
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "centralita.cli", "simulator", "run", "--calls", "200",
        "--seed", "3", "--speed", "0", "--wait-client", "--truth", str(truth_file),
        "--queue-log", str(qlog),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        port = int(first.removeprefix("puerto AMI ").strip())
        client, _ = await AmiTestClient.login(port, SECRET, rcvbuf=4096)
        await asyncio.wait_for(client.pump(), 120)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    truth = read_truth(truth_file)
    assert len(truth.calls) == 200
    hung_up = {m.get("Uniqueid") for m in client.events("Hangup")}
    assert {c.uniqueid for c in truth.calls} <= hung_up
    entered = sum("|ENTERQUEUE|" in line for line in queue_log_lines(qlog))
    assert entered == sum(len(c.entries) for c in truth.calls)
