"""The screen-pop publisher against the real Mosquitto (and a private one we restart)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

import centralita.screenpop.publisher as publisher_module
from centralita.ami_listener.pipeline import Pipeline
from centralita.ami_listener.protocol import AmiMessage, iter_capture
from centralita.ami_listener.schema import calls
from centralita.ami_listener.store import create_schema, make_engine, write_batch
from centralita.ami_listener.tracker import CallTracker
from centralita.ivr.directory import Customer, StaticCustomerDirectory
from centralita.routing import default_routing_path, load_routing
from centralita.screenpop.bus import LocalBus
from centralita.screenpop.model import ScreenPop, agent_id, payload_schemas
from centralita.screenpop.publisher import ScreenPopPublisher
from centralita.screenpop.resolvers import directory_lookup, service_resolver
from tests.brokers import PrivateBroker, free_port
from tests.conftest import FIXTURES
from tests.console.ami_calls import Call, messages
from tests.console.conftest import Received, collect

pytestmark = pytest.mark.mqtt

CAPTURE = FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"
IVR_OK = {
    "service": "101",
    "queue": "q101",
    "priority": "5",
    "customer": "100234",
    "segment": "residencial",
    "input": "contract",
    "result": "ok",
}
DIRECTORY = StaticCustomerDirectory(
    [
        Customer(
            contract="100234",
            name="María Quispe",
            segment="residencial",
            phone="2247249",
            ci="4455667",
            services=("linea", "internet"),
        ),
        Customer(contract="200777", name="Ferretería El Sol", segment="empresa", phone="78037242"),
    ]
)


@contextlib.asynccontextmanager
async def running(publisher: ScreenPopPublisher) -> AsyncIterator[ScreenPopPublisher]:
    task = asyncio.create_task(publisher.run())
    try:
        yield publisher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(predicate, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def capture_messages() -> list[AmiMessage]:
    return [m for m in iter_capture(CAPTURE.read_bytes()) if isinstance(m, AmiMessage)]


def test_agent_id_is_stable_and_topic_safe() -> None:
    assert agent_id("Local/agent1@lab-agents") == "agent1"
    assert agent_id("Local/agent1@lab-agents/n") == "agent1"
    assert agent_id("SIP/2001") == "sip-2001"
    assert agent_id("PJSIP/Ana.Perez") == "pjsip-ana-perez"
    assert agent_id("Agent/1001") == "agent-1001"
    assert agent_id("weird#+/x") == "weird-x"


def test_payload_schemas_are_published() -> None:
    defs = payload_schemas()["$defs"]
    pop = defs["ScreenPop"]
    for key in (
        "call_id",
        "service",
        "service_name",
        "queue",
        "caller_num",
        "wait_s",
        "ivr",
        "customer",
        "script_id",
        "script_version",
        "agent",
    ):
        assert key in pop["required"]
    assert {"CallEvent", "Status", "CustomerInfo", "IvrInfo"} <= set(defs)


async def test_pop_reaches_the_answering_agent_with_qos1(mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    pbx = f"t{uuid.uuid4().hex[:8]}"
    routing = load_routing(default_routing_path())
    publisher = ScreenPopPublisher(
        pbx,
        host,
        port,
        services=service_resolver(routing),
        customer_lookup=directory_lookup(DIRECTORY),
    )
    pipeline = Pipeline(CallTracker(pbx), sinks=[publisher], log_events=False)
    async with (
        collect(
            host,
            port,
            f"centralita/{pbx}/agents/+/screenpop",
            f"centralita/{pbx}/calls/#",
            f"centralita/{pbx}/status",
        ) as got,
        running(publisher),
    ):
        for msg in capture_messages():
            pipeline.feed(msg, None)
        pops = await got.wait_for("/agents/agent2/screenpop", 1)
        await got.wait_for("/screenpop", 67)
        # Events go out in the capture's order (an "ended" before the first "abandoned"):
        # wait for each kind, not for the first event.
        for kind in ("joined", "answered", "abandoned", "ended"):
            await got.wait_for(f"/calls/{kind}", 1)
        status = await got.wait_for("/status", 1)
    first = msgspec.json.decode(pops[0].payload, type=ScreenPop)
    assert pops[0].qos == 1
    assert first.call_id == "1795922042.4"
    assert first.agent == "agent2"
    assert first.agent_name == "Agent 2"
    assert (first.service, first.service_name, first.queue) == (
        "102",
        "Información Facturación",
        "q102",
    )
    assert first.caller_num == "78037242"
    assert (first.script_id, first.script_version) == ("102", 1)
    assert first.wait_s == pytest.approx(2.003)
    assert first.customer is not None
    assert first.customer.name == "Ferretería El Sol"
    assert first.customer.source == "caller_number"
    # every pop on the agent's own topic, for that agent only
    for m in got.on("/screenpop"):
        pop = msgspec.json.decode(m.payload, type=ScreenPop)
        assert m.topic == f"centralita/{pbx}/agents/{pop.agent}/screenpop"
    assert msgspec.json.decode(status[0].payload) == {"status": "online"}
    assert {"joined", "answered", "abandoned", "ended"} <= {
        m.topic.rsplit("/", 1)[1] for m in got.on("") if "/calls/" in m.topic
    }


async def test_pop_carries_the_ivr_result_and_customer(mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    pbx = f"t{uuid.uuid4().hex[:8]}"
    publisher = ScreenPopPublisher(pbx, host, port, customer_lookup=directory_lookup(DIRECTORY))
    pipeline = Pipeline(CallTracker(pbx), sinks=[publisher], log_events=False)
    call = Call("1795930000.1", "101", "70000001", agent=3, ivr=IVR_OK)
    async with (
        collect(host, port, f"centralita/{pbx}/agents/agent3/screenpop") as got,
        running(publisher),
    ):
        for msg in messages(call.ivr_frame() + call.join() + call.connect()):
            pipeline.feed(msg, None)
        [received] = await got.wait_for("/screenpop")
    pop = msgspec.json.decode(received.payload, type=ScreenPop)
    assert pop.ivr is not None
    assert (pop.ivr.result, pop.ivr.customer, pop.ivr.input) == ("ok", "100234", "contract")
    assert pop.customer is not None
    assert (pop.customer.name, pop.customer.source) == ("María Quispe", "ivr")
    assert pop.service_name == "Reclamos Técnicos"
    assert (pop.script_id, pop.wait_s) == ("101", 3.0)


async def test_status_is_retained_and_offline_on_stop(mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    pbx = f"t{uuid.uuid4().hex[:8]}"
    publisher = ScreenPopPublisher(pbx, host, port)
    async with running(publisher):
        await until(lambda: publisher.stats.connected)
        async with collect(host, port, f"centralita/{pbx}/status") as got:
            [online] = await got.wait_for("/status")
    assert online.retain
    assert msgspec.json.decode(online.payload) == {"status": "online"}
    async with collect(host, port, f"centralita/{pbx}/status") as got:
        [offline] = await got.wait_for("/status")
    assert msgspec.json.decode(offline.payload) == {"status": "offline"}


async def test_embedded_mode_delivers_on_the_local_bus() -> None:
    bus = LocalBus()
    publisher = ScreenPopPublisher("lab", None, bus=bus)
    pipeline = Pipeline(CallTracker("lab"), sinks=[publisher], log_events=False)
    call = Call("1795930000.2", "104", "70000002", agent=1)
    async with running(publisher), bus.listen() as queue:
        for msg in messages(call.join() + call.connect()):
            pipeline.feed(msg, None)
        kinds = []
        while "screenpop" not in kinds:
            item = await asyncio.wait_for(queue.get(), 5)
            kinds.append(item.kind)
    [recent] = bus.recent_pops("agent1")
    assert recent.call_id == "1795930000.2"
    assert bus.recent_pops("agent2") == []
    assert bus.pop_for_call("1795930000.2") is recent
    assert publisher.buffered() == 0


async def test_broker_restart_buffers_and_ingestion_goes_on(
    private_broker: PrivateBroker, tmp_path: Path
) -> None:
    """Broker stopped mid-test: every call is still recorded; the pops made meanwhile
    arrive after the reconnect, and the publisher never slows the pipeline."""
    broker = private_broker
    pbx = "lab"
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    await create_schema(engine)
    publisher = ScreenPopPublisher(pbx, broker.host, broker.port, backoff_s=(0.05, 0.2))
    pipeline = Pipeline(CallTracker(pbx), sinks=[publisher])
    topic = f"centralita/{pbx}/agents/+/screenpop"

    def play(batch: list[Call]) -> None:
        # Pipeline.feed is synchronous: the ingest path cannot wait on the broker.
        for call in batch:
            for msg in messages(call.all()):
                pipeline.feed(msg, None)

    async def store() -> None:
        await write_batch(engine, pipeline.buffer.take(len(pipeline.buffer.events)))

    before = [Call(f"1795931000.{i}", "101", f"7100000{i}", agent=1 + i % 3) for i in range(3)]
    during = [Call(f"1795932000.{i}", "104", f"7200000{i}", agent=1 + i % 3) for i in range(20)]
    try:
        async with collect(broker.host, broker.port, topic) as got, running(publisher):
            await until(lambda: publisher.stats.connected)
            play(before)
            await got.wait_for("/screenpop", 3)
            broker.stop()
            await until(lambda: not publisher.stats.connected)
            play(during)
            await store()
            assert publisher.buffered() >= 20
            broker.start()
            # QoS 1 may deliver a message twice (one in flight when the broker stopped):
            # wait for every call, not for a count of messages.
            every = {c.uniqueid for c in before + during}
            await got.wait_until(
                lambda: every <= pop_ids(got.on("/screenpop")),
                20,
                lambda: f"pops missing: {sorted(every - pop_ids(got.on('/screenpop')))}",
            )
            received = got.on("/screenpop")
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.select(sa.func.count()).select_from(calls))).scalar()
    finally:
        await engine.dispose()
    assert stored == 23
    assert {c.uniqueid for c in during} <= pop_ids(received)
    assert publisher.stats.dropped_stale == 0
    assert publisher.stats.connects >= 2


async def test_stale_pops_are_dropped_and_counted(
    private_broker: PrivateBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The publisher's clock is the test's: pops age only when the test says (a loaded
    # machine must not make the fresh ones stale before the broker is back).
    clock = [1000.0]
    monkeypatch.setattr(
        publisher_module, "time", SimpleNamespace(monotonic=lambda: clock[0], time=time.time)
    )
    broker = private_broker
    topic = "centralita/lab/agents/+/screenpop"
    agent_app = f"t-{uuid.uuid4().hex[:10]}"  # the agents' subscriber, one persistent session
    async with collect(broker.host, broker.port, topic, identifier=agent_app):
        pass  # registers the session: the broker keeps QoS 1 pops for it while it is away
    broker.stop()
    publisher = ScreenPopPublisher(
        "lab", broker.host, broker.port, pop_max_age_s=2.0, backoff_s=(0.05, 0.1)
    )
    pipeline = Pipeline(CallTracker("lab"), sinks=[publisher], log_events=False)
    old = [Call(f"1795933000.{i}", "101", "71000000", agent=1) for i in range(3)]
    fresh = [Call(f"1795934000.{i}", "101", "71000000", agent=2) for i in range(2)]
    async with running(publisher):
        for call in old:
            for msg in messages(call.all()):
                pipeline.feed(msg, None)
        clock[0] += 2.5  # older than pop_max_age_s: stale
        for call in fresh:
            for msg in messages(call.all()):
                pipeline.feed(msg, None)
        broker.start()
        # Everything fresh reaches the broker (acknowledged) before the subscriber is back,
        # the order a loaded machine gave this test at times: the subscriber's session
        # keeps the pops, a new session would never see them (the test used to make one).
        every = len(fresh) + 3 * len(old + fresh)  # the fresh pops; joined/answered/ended
        await until(lambda: publisher.stats.published >= every)
        async with collect(broker.host, broker.port, topic, identifier=agent_app) as got:
            received = await got.wait_for("/screenpop", 2)
            await asyncio.sleep(0.3)
    ids = [msgspec.json.decode(m.payload, type=ScreenPop).call_id for m in got.on("/screenpop")]
    assert sorted(ids) == sorted(c.uniqueid for c in fresh)
    assert len(received) == 2
    assert publisher.stats.dropped_stale == 3


class HangingBroker:
    """A minimal MQTT 3.1.1 broker: it acknowledges the daemon's status always, but on the
    first connection that brings it a pop or an event it acknowledges none of those, as
    a link that hangs without breaking (or a writer callback the loop lost) would."""

    def __init__(self) -> None:
        self.connections = 0
        self.hanging: int | None = None  # the connection whose publishes get no PUBACK
        self.published: list[tuple[int, str]] = []  # (connection, topic)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                first = (await reader.readexactly(1))[0]
                length, shift = 0, 0
                while True:  # the remaining length, 7 bits a byte
                    byte = (await reader.readexactly(1))[0]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                body = await reader.readexactly(length)
                kind = first >> 4
                if kind == 1:  # CONNECT: accepted
                    writer.write(b"\x20\x02\x00\x00")
                elif kind == 3:  # PUBLISH: QoS 1 from the publisher
                    size = int.from_bytes(body[:2], "big")
                    topic = body[2 : 2 + size].decode()
                    self.published.append((conn, topic))
                    if not topic.endswith("/status") and self.hanging is None:
                        self.hanging = conn
                    if topic.endswith("/status") or conn != self.hanging:
                        writer.write(b"\x40\x02" + body[2 + size : 4 + size])  # PUBACK
                elif kind == 12:  # PINGREQ
                    writer.write(b"\xd0\x00")
                elif kind == 14:  # DISCONNECT
                    break
                await writer.drain()
        writer.close()


async def test_unacknowledged_publishes_are_sent_again_on_a_new_session() -> None:
    """Publishes left without their PUBACK (the "no pop" an agent would see until the next
    reconnect) end the session after ``publish_timeout_s``: the publisher reconnects and
    sends them again (QoS 1: a duplicate is allowed, a loss is not)."""
    broker = HangingBroker()
    server = await asyncio.start_server(broker.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    publisher = ScreenPopPublisher(
        "lab", "127.0.0.1", port, publish_timeout_s=1.0, backoff_s=(0.05, 0.1)
    )
    pipeline = Pipeline(CallTracker("lab"), sinks=[publisher], log_events=False)
    call = Call("1795936000.1", "101", "71000000", agent=1)
    async with server, running(publisher):
        await until(lambda: publisher.stats.connected)
        for msg in messages(call.all()):
            pipeline.feed(msg, None)
        # the pop and the joined/answered/ended events, each acknowledged once
        await until(lambda: publisher.stats.published == 4 and publisher.buffered() == 0, 30)
    pops = [conn for conn, topic in broker.published if topic.endswith("/agent1/screenpop")]
    assert broker.hanging is not None
    assert pops[0] == broker.hanging  # sent, never acknowledged there
    assert pops[-1] > broker.hanging  # sent again on a later session, which acknowledged it
    assert publisher.stats.connects >= 2


async def test_unreachable_broker_never_blocks_and_buffer_is_bounded() -> None:
    publisher = ScreenPopPublisher(
        "lab", "127.0.0.1", free_port(), buffer_size=10, backoff_s=(0.05, 0.1)
    )
    pipeline = Pipeline(CallTracker("lab"), sinks=[publisher], log_events=False)
    async with running(publisher):
        # 50 calls fed synchronously while the broker is unreachable: nothing waits on it.
        for i in range(50):
            for msg in messages(Call(f"1795935000.{i}", "101", "7100", agent=1).all()):
                pipeline.feed(msg, None)
        await until(lambda: publisher.buffered() > 0)
        assert publisher.buffered() <= 10
        assert publisher.stats.dropped_overflow > 0
    assert len(pipeline.buffer.calls) == 50


async def test_publishing_leaves_no_writer_behind_and_stop_logs_no_error(
    mqtt_broker: tuple[str, int],
) -> None:
    """``_flush`` writes before aiomqtt's queued ``add_writer`` runs: that writer used to stay
    registered (a callback on every loop turn) and, once paho closed the socket, made the
    next ``add_writer`` fail with "Bad file descriptor" at every daemon stop."""
    host, port = mqtt_broker
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        publisher = ScreenPopPublisher(f"t{uuid.uuid4().hex[:8]}", host, port)
        async with running(publisher):
            await until(lambda: publisher.stats.connected)
            for round_ in range(3):
                for _ in range(5):
                    publisher.publish_interaction(b"{}")
                await until(lambda n=round_: publisher.stats.published >= 5 * (n + 1))
                for _ in range(3):  # the queued add_writer and its clean-up run
                    await asyncio.sleep(0)
                # The selector's map is the loop's own record of registered callbacks.
                selector = loop._selector  # type: ignore[attr-defined]
                writers = [k.fd for k in selector.get_map().values() if k.data[1] is not None]
                assert writers == []
        for _ in range(5):  # callbacks the session's close queued
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(previous)
    assert [c.get("exception") or c.get("message") for c in errors] == []


async def test_the_publish_flush_reaches_paho() -> None:
    """``_flush`` writes through aiomqtt's paho client; an aiomqtt release that moves it
    would silently bring back the slower writer-callback path (bench/RESULTS.md)."""
    import aiomqtt
    import paho.mqtt.client as paho

    client = aiomqtt.Client("127.0.0.1")
    assert isinstance(getattr(client, "_client", None), paho.Client)


def pop_ids(messages: list[Received]) -> set[str]:
    """The call ids of screen-pop messages."""
    return {msgspec.json.decode(m.payload, type=ScreenPop).call_id for m in messages}


async def test_a_transfer_tells_the_agent_who_made_it_that_their_part_ended() -> None:
    """The real capture of a console transfer 102 → 101: ``calls/transferred`` names beto
    (agent2) at the moment the caller left him; ``calls/ended`` comes at the hang-up."""
    from tests.console.test_controls_capture import TALKING_C, capture

    bus = LocalBus()
    publisher = ScreenPopPublisher("lab1", None, bus=bus)
    pipeline = Pipeline(CallTracker("lab1"), sinks=[publisher], log_events=False)
    events: list[dict[str, Any]] = []
    async with running(publisher), bus.listen() as queue:
        for msg in capture("redirect-102-to-101"):
            pipeline.feed(msg, None)
        while not any(e["event"] == "ended" and e["call_id"] == TALKING_C for e in events):
            item = await asyncio.wait_for(queue.get(), 5)
            if item.kind == "call":
                events.append(msgspec.json.decode(item.body))
    mine = [(e["event"], e["agent"]) for e in events if e["call_id"] == TALKING_C]
    assert mine == [
        ("joined", ""),
        ("answered", "agent2"),
        ("transferred", "agent2"),
        ("answered", "agent1"),
        ("ended", ""),
    ]
    [moved] = [e for e in events if e["event"] == "transferred"]
    [ended] = [e for e in events if e["event"] == "ended" and e["call_id"] == TALKING_C]
    assert moved["at"] < ended["at"] and moved["agent_name"]
