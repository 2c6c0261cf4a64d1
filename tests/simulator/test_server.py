"""The TCP AMI server: login, filter, Ping, QueueStatus, member actions, Originate,
several clients, a stalled client, faults. Real loopback TCP, no wall-clock assertions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from centralita.simulator.config import lab_config
from centralita.simulator.runner import Simulator
from centralita.simulator.truth import read_truth
from tests.simulator.amiclient import AmiTestClient
from tests.simulator.helpers import mismatches, track

SECRET = "s3cret"


@pytest.fixture(params=["12", "11"])
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    config = lab_config(calls=60, dialect=request.param)
    async with Simulator(config, seed=21, speed=None, secret=SECRET) as simulator:
        yield simulator


async def test_login_ok_and_bad_secret(sim: Simulator) -> None:
    client, reply = await AmiTestClient.login(sim.port, SECRET)
    assert client.banner == ("1.3" if sim.engine.config.dialect == "11" else "13.0.0")
    assert reply.get("Response") == "Success"
    assert reply.get("Message") == "Authentication accepted"
    await client.wait_for(lambda m: m.name == "FullyBooted")
    await client.send([("Action", "Logoff"), ("ActionID", "bye")])
    bye = await client.wait_for(lambda m: m.action_id == "bye")
    assert bye.get("Response") == "Goodbye"
    await client.read_until_eof()

    bad, reply = await AmiTestClient.login(sim.port, "wrong")
    assert reply.get("Response") == "Error"
    assert reply.get("Message") == "Authentication failed"
    await bad.read_until_eof()


async def test_event_filter_ping_and_two_clients(sim: Simulator) -> None:
    everything, _ = await AmiTestClient.login(sim.port, SECRET, events="on")
    agent_only, _ = await AmiTestClient.login(sim.port, SECRET, events="agent")
    nothing, _ = await AmiTestClient.login(sim.port, SECRET, events="off")
    await nothing.send([("Action", "Ping"), ("ActionID", "p1")])
    pong = await nothing.wait_for(lambda m: m.action_id == "p1")
    assert pong.get("Ping") == "Pong"
    assert float(pong.get("Timestamp")) > 1e9
    await sim.run()
    for client in (everything, agent_only, nothing):
        await client.send([("Action", "Ping"), ("ActionID", "end")])
        await client.wait_for(lambda m: m.action_id == "end")
    assert not nothing.events()
    assert {m.get("Privilege").split(",")[0] for m in agent_only.events()} == {"agent"}
    classes = {m.get("Privilege").split(",")[0] for m in everything.events()}
    assert {"agent", "call", "dialplan", "system"} <= classes
    # Same agent events, same order, on both clients.
    agent_events = [m.digest for m in everything.events() if m.get("Privilege") == "agent,all"]
    assert agent_events == [m.digest for m in agent_only.events()]
    records = track(everything.inbox)
    assert mismatches(sim.truth.queue_calls(), records) == []


async def test_queue_status_mid_run_lists_waiting_callers(sim: Simulator) -> None:
    engine = sim.engine
    while not any(qs.waiting for qs in engine.queues.values()):
        nxt = engine.next_time()
        assert nxt is not None
        engine.advance(nxt)
    engine.advance(engine.now + 3)
    waiting = {c.chan.uniqueid: qs.name for qs in engine.queues.values() for c in qs.waiting}
    assert waiting
    client, _ = await AmiTestClient.login(sim.port, SECRET, events="off")
    await client.send([("Action", "QueueStatus"), ("ActionID", "qs-1")])
    done = await client.wait_for(lambda m: m.name == "QueueStatusComplete")
    listed = [m for m in client.inbox if m.action_id == "qs-1"]
    assert all(m.action_id == "qs-1" for m in listed)
    entries = {m.get("Uniqueid"): m for m in listed if m.name == "QueueEntry"}
    assert {uid: m.get("Queue") for uid, m in entries.items()} == waiting
    assert all(int(m.get("Wait")) >= 0 for m in entries.values())
    members = [m for m in listed if m.name == "QueueMember"]
    assert len(members) == sum(len(qs.members) for qs in engine.queues.values())
    if engine.config.dialect == "11":
        assert "EventList" not in done.headers
        assert "EventList" not in listed[0].headers
        assert all("IsInCall" in m.headers for m in members)
    else:
        assert done.get("EventList") == "Complete"
        assert listed[0].get("EventList") == "start"
        assert int(done.get("ListItems")) == len(listed) - 2
    await client.send([("Action", "QueueSummary"), ("ActionID", "sum")])
    await client.wait_for(lambda m: m.name == "QueueSummaryComplete")
    summary = [m for m in client.inbox if m.name == "QueueSummary"]
    assert {m.get("Queue") for m in summary} == set(engine.queues)


async def test_queue_add_pause_remove(sim: Simulator) -> None:
    client, _ = await AmiTestClient.login(sim.port, SECRET, events="agent")
    iface = "Local/agent9@lab-agents"
    await client.send([("Action", "QueueAdd"), ("ActionID", "a1"), ("Queue", "q101"),
                       ("Interface", iface), ("MemberName", "Agent 9")])  # fmt: skip
    assert (await client.wait_for(lambda m: m.action_id == "a1")).get("Response") == "Success"
    added = await client.wait_for(
        lambda m: m.name == "QueueMemberAdded" and iface in (m.get("Interface"), m.get("Location"))
    )
    assert added.get("MemberName") == "Agent 9"
    await client.send([("Action", "QueueAdd"), ("ActionID", "a2"), ("Queue", "q101"),
                       ("Interface", iface)])  # fmt: skip
    assert (await client.wait_for(lambda m: m.action_id == "a2")).get("Response") == "Error"
    await client.send([("Action", "QueuePause"), ("ActionID", "p1"), ("Interface", iface),
                       ("Paused", "true"), ("Reason", "almuerzo")])  # fmt: skip
    assert (await client.wait_for(lambda m: m.action_id == "p1")).get("Response") == "Success"
    pause = await client.wait_for(
        lambda m: (
            m.name in ("QueueMemberPause", "QueueMemberPaused")
            and iface in (m.get("Interface"), m.get("Location"))
        )
    )
    assert pause.get("Paused") == "1"
    assert "almuerzo" in (pause.get("PausedReason"), pause.get("Reason"))
    assert sim.engine.queues["q101"].member(iface).paused  # type: ignore[union-attr]
    await client.send([("Action", "QueueRemove"), ("ActionID", "r1"), ("Queue", "q101"),
                       ("Interface", iface)])  # fmt: skip
    assert (await client.wait_for(lambda m: m.action_id == "r1")).get("Response") == "Success"
    assert sim.engine.queues["q101"].member(iface) is None
    assert any("|REMOVEMEMBER|" in line for line in sim.engine.queue_log)


async def test_originate_async_then_originate_response(sim: Simulator) -> None:
    client, _ = await AmiTestClient.login(sim.port, SECRET, events="call")
    for i in range(6):
        await client.send([("Action", "Originate"), ("ActionID", f"camp-{i}"),
                           ("Channel", "Local/70000001@outbound"), ("Context", "campaign"),
                           ("Exten", "q102"), ("Priority", "1"), ("CallerID", "Centralita <800>"),
                           ("Async", "true"), ("Timeout", "30000")])  # fmt: skip
        aid = f"camp-{i}"
        reply = await client.wait_for(lambda m, aid=aid: m.action_id == aid and not m.is_event)  # type: ignore[misc]
        assert reply.get("Message") == "Originate successfully queued"
    await sim.run()
    await client.send([("Action", "Ping"), ("ActionID", "end")])
    await client.wait_for(lambda m: m.action_id == "end")
    responses = {m.action_id: m for m in client.events("OriginateResponse")}
    assert set(responses) == {f"camp-{i}" for i in range(6)}
    truth = {o.action_id: o for o in sim.truth.originates}
    for aid, msg in responses.items():
        assert (msg.get("Response") == "Success") == (truth[aid].outcome == "answered")


async def test_stalled_client_does_not_stall_the_others() -> None:
    config = lab_config(calls=400)
    async with Simulator(
        config, seed=5, speed=None, secret=SECRET, write_timeout_s=0.3, max_buffer_bytes=1 << 18
    ) as sim:
        reader, _ = await AmiTestClient.login(sim.port, SECRET)
        # Never reads again; a small receive buffer so the server notices soon.
        stalled, _ = await AmiTestClient.login(sim.port, SECRET, rcvbuf=4096)
        pump = asyncio.create_task(reader.pump())
        truth = await sim.run()
        # Stop the pump before wait_for reads: one reader at a time on a stream.
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        await reader.send([("Action", "Ping"), ("ActionID", "end")])
        await reader.wait_for(lambda m: m.action_id == "end", limit_s=30)
        assert len(sim.server.clients) == 1
        records = track(reader.inbox)
        assert len(records) == 400
        assert mismatches(truth.queue_calls(), records) == []
        await stalled.close()


async def test_faults_drop_restart_pause_resume() -> None:
    async with Simulator(lab_config(calls=80), seed=8, speed=None, secret=SECRET) as sim:
        client, _ = await AmiTestClient.login(sim.port, SECRET)
        sim.drop_clients()
        await client.read_until_eof()
        client, _ = await AmiTestClient.login(sim.port, SECRET, events="agent")
        sim.pause_events()
        sim.engine.advance(sim.engine.now + 120)
        sim.flush()
        await client.send([("Action", "Ping"), ("ActionID", "p")])
        await client.wait_for(lambda m: m.action_id == "p")
        assert not client.events("QueueCallerJoin")
        sim.resume_events()
        await client.wait_for(lambda m: m.name == "QueueCallerJoin")
        sim.restart()
        await client.read_until_eof()
        assert any(c.lost for c in sim.truth.calls)
        client, _ = await AmiTestClient.login(sim.port, SECRET)
        await client.wait_for(lambda m: m.name == "FullyBooted")
        truth = await sim.run()
        await client.send([("Action", "Ping"), ("ActionID", "end")])
        await client.wait_for(lambda m: m.action_id == "end")
        finished = track(client.inbox)
        later = [c for c in truth.queue_calls() if c.arrived_at > truth.restarts[0]]
        assert later
        assert mismatches(later, finished) == []


async def _fake_ivr(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    env = {}
    while True:
        line = (await reader.readline()).decode().strip()
        if not line:
            break
        key, _, value = line.partition(": ")
        env[key] = value
    service = env["agi_network_script"].split("=", 1)[1]
    commands = [
        "ANSWER",
        "GET DATA bienvenida 3000 1",
        f'EXEC UserEvent "CentralitaIvr,Service: {service},Uniqueid2: {env["agi_uniqueid"]}"',
        "SET VARIABLE CC_QUEUE q102",
    ]
    for command in commands:
        writer.write(command.encode() + b"\n")
        await writer.drain()
        reply = (await reader.readline()).decode()
        assert reply.startswith("200 result=")
    writer.close()


async def test_fastagi_sessions_route_calls_and_emit_user_events() -> None:
    ivr = await asyncio.start_server(_fake_ivr, "127.0.0.1", 0)
    agi_port = ivr.sockets[0].getsockname()[1]
    config = lab_config(calls=20)
    try:
        async with Simulator(
            config, seed=2, speed=None, secret=SECRET, agi_address=("127.0.0.1", agi_port)
        ) as sim:
            client, _ = await AmiTestClient.login(sim.port, SECRET, events="user,agent,call")
            truth = await sim.run()
            await client.send([("Action", "Ping"), ("ActionID", "end")])
            await client.wait_for(lambda m: m.action_id == "end")
    finally:
        ivr.close()
        await ivr.wait_closed()
    calls = truth.queue_calls()
    assert len(calls) == 20
    assert all(c.queues[0] == "q102" for c in calls)
    assert all(c.ivr is not None and c.ivr["Service"] == c.service for c in calls)
    user_events = client.events("UserEvent")
    assert len(user_events) == 20
    assert {m.get("Uniqueid") for m in user_events} == {c.uniqueid for c in calls}
    records = track(client.inbox)
    assert all(records[c.uniqueid].ivr for c in calls)


async def test_unreachable_fastagi_falls_back_to_the_default_queue() -> None:
    free = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = free.sockets[0].getsockname()[1]
    free.close()
    await free.wait_closed()
    async with Simulator(
        lab_config(calls=10), seed=3, speed=None, secret=SECRET, agi_address=("127.0.0.1", port)
    ) as sim:
        truth = await sim.run()
    services = {s.exten: s.queue for s in lab_config().services}
    assert all(c.queues[0] == services[c.service] for c in truth.queue_calls())


def test_cli_run_writes_queue_log_and_truth(tmp_path: Path) -> None:
    from centralita.cli import main

    qlog, truth_file = tmp_path / "queue_log", tmp_path / "truth.json"
    code = main(
        ["simulator", "run", "--calls", "15", "--seed", "4", "--speed", "0", "--dialect", "11",
         "--queue-log", str(qlog), "--truth", str(truth_file)]
    )  # fmt: skip
    assert code == 0
    truth = read_truth(truth_file)
    assert len(truth.calls) == 15
    assert truth.dialect == "11"
    lines = qlog.read_text().splitlines()
    assert sum("|ENTERQUEUE|" in line for line in lines) >= 15
