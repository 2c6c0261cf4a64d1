"""Screen-pop latency through the real daemon: AgentConnect bytes leaving a fake AMI server
→ pop at an MQTT subscriber on the real Mosquitto, at N answered calls per second.

    .venv/bin/python -m bench.screenpop [--rate 50] [--seconds 20] [--wait 2] [--breakdown]

The daemon is ``centralita.daemon.Daemon`` as ``centralita run`` builds it (SQLite event
log and call records, routing, customer lookups in the ``customers`` table, the publisher
on the broker; IVR and HTTP off). The fake AMI server is the simulator's
``CaptureServer`` (Login, QueueStatus resync, Ping) with a paced stream: each call's
QueueCallerJoin ``--wait`` seconds before its QueueCallerLeave + AgentConnect, on an
absolute schedule; it notes the wall time just before writing the AgentConnect bytes. The
subscriber (aiomqtt, QoS 1) runs in its own process (``--same-process`` to compare) and
notes each pop's arrival; both use the wall clock of the same machine.

``--breakdown`` also times the stages inside the daemon (socket read, tracker effect,
pop ready on the in-process bus, MQTT publish call) and the garbage collector's pauses.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import gc
import heapq
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import msgspec
import paho.mqtt.client as paho

from centralita.ami_listener.client import ReadItem
from centralita.ami_listener.protocol import AmiMessage
from centralita.ami_listener.tracker import CallAnswered, Effect
from centralita.daemon import Daemon
from centralita.settings import parse_settings
from centralita.simulator.capture_server import CaptureServer
from tests.console.ami_calls import Call

SECRET = "bench-secret"
AGENTS = 12


class PacedAmiServer(CaptureServer):
    """The capture server's AMI session, streaming synthetic calls on a fixed schedule."""

    def __init__(self, rate: float, total: int, wait_s: float, talk_s: float = 1.0) -> None:
        super().__init__(b"Asterisk Call Manager/13.0.0\r\n", secret=SECRET)
        self.rate, self.total, self.wait_s, self.talk_s = rate, total, wait_s, talk_s
        self.go = asyncio.Event()
        self.sent: dict[str, float] = {}

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        await self.go.wait()
        start, t0 = time.monotonic(), time.time()
        plan: list[tuple[float, int, str, Call]] = []
        for i in range(self.total):
            offset = i / self.rate
            call = Call(
                f"{int(t0)}.{i}",
                "101",
                f"7{i:07d}",
                agent=1 + i % AGENTS,
                t0=t0 + offset,
                wait_s=self.wait_s,
                talk_s=self.talk_s,
            )
            plan.append((offset, 3 * i, "join", call))
            plan.append((offset + self.wait_s, 3 * i + 1, "connect", call))
            plan.append((offset + self.wait_s + self.talk_s, 3 * i + 2, "end", call))
        heapq.heapify(plan)
        while plan:
            offset, _, kind, call = heapq.heappop(plan)
            await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
            if kind == "join":
                writer.write(call.join())
            elif kind == "connect":
                data = call.connect()
                self.sent[call.uniqueid] = time.time()
                writer.write(data)
            else:
                writer.write(call.end())
            await writer.drain()
        self.finished.set()


# ------------------------------------------------------------------------- subscriber
async def subscribe(
    host: str, port: int, topic: str, expect: int, *, idle_s: float, ready: Callable[[], None]
) -> dict[str, float]:
    """Arrival wall time of each pop, by call id, until ``expect`` or ``idle_s`` of silence."""
    arrived: dict[str, float] = {}
    decoder = msgspec.json.Decoder()
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(topic, qos=1)
        ready()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(idle_s) as idle:
                async for msg in client.messages:
                    now = time.time()
                    assert isinstance(msg.payload, bytes)
                    arrived[decoder.decode(msg.payload)["call_id"]] = now
                    if len(arrived) >= expect:
                        break
                    idle.reschedule(asyncio.get_running_loop().time() + idle_s)
    return arrived


def subscriber_main(args: argparse.Namespace) -> None:
    """``--subscribe``: the subscriber process; prints ``ready`` then a JSON object."""

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    got = asyncio.run(
        subscribe(args.host, args.port, args.subscribe, args.expect, idle_s=30.0, ready=ready)
    )
    sys.stdout.write(json.dumps(got) + "\n")


@contextlib.asynccontextmanager
async def subscriber_process(
    host: str, port: int, topic: str, expect: int
) -> AsyncIterator[Callable[[], Awaitable[dict[str, float]]]]:
    """The subscriber in its own process; yields the coroutine function of its result."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.screenpop",
        "--subscribe",
        topic,
        "--expect",
        str(expect),
        "--host",
        host,
        "--port",
        str(port),
        stdout=asyncio.subprocess.PIPE,
        limit=64 << 20,  # the result is one JSON line
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert line.strip() == b"ready", line

    async def result() -> dict[str, float]:
        assert proc.stdout is not None
        out = await proc.stdout.readline()
        await proc.wait()
        parsed: dict[str, float] = json.loads(out)
        return parsed

    try:
        yield result
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


# ------------------------------------------------------------------------ breakdown
class Stages:
    """Wall times of each pop's stages inside the daemon, by call id."""

    def __init__(self) -> None:
        self.read: dict[str, float] = {}
        self.effect: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.publish: dict[str, float] = {}
        self.puback: dict[str, float] = {}
        self.writes: list[float] = []  # paho socket writes (loop_write calls)
        self.gc_pauses_ms: list[float] = []
        self._gc_start = 0.0

    def install(self, daemon: Daemon) -> None:
        parts = daemon.parts
        assert parts is not None
        client = parts.listener.client
        on_batch = client.on_batch
        assert on_batch is not None

        def batch(items: list[ReadItem], received_at: float) -> None:
            for item in items:
                if isinstance(item, AmiMessage) and item.name == "AgentConnect":
                    self.read[item.get("Uniqueid")] = received_at
            on_batch(items, received_at)

        client.on_batch = batch
        publisher = parts.extra["publisher"]
        handle = publisher.handle

        def effect(e: Effect) -> None:
            if isinstance(e, CallAnswered):
                self.effect[e.call.uniqueid] = time.time()
            handle(e)

        publisher.handle = effect  # the pipeline calls ``sink.handle`` on each effect
        deliver = publisher.bus.deliver

        def delivered(item: Any) -> None:
            if item.kind == "screenpop":
                self.ready[item.call_id] = time.time()
            deliver(item)

        publisher.bus.deliver = delivered
        original = aiomqtt.Client.publish
        stages = self

        publisher_paho: list[paho.Client | None] = [None]  # the publisher's, not the subscriber's

        async def publish(
            client: aiomqtt.Client, topic: str, payload: Any = None, *a: Any, **kw: Any
        ) -> None:
            call_id = ""
            if topic.endswith("/screenpop"):
                publisher_paho[0] = client._client
                call_id = json.loads(payload)["call_id"]
                stages.publish[call_id] = time.time()
            await original(client, topic, payload, *a, **kw)
            if call_id:
                stages.puback[call_id] = time.time()

        aiomqtt.Client.publish = publish  # type: ignore[method-assign,assignment]
        loop_write = paho.Client.loop_write

        def write(paho_client: paho.Client) -> Any:
            if paho_client is publisher_paho[0]:
                stages.writes.append(time.time())
            return loop_write(paho_client)

        paho.Client.loop_write = write  # type: ignore[method-assign,assignment]
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif info.get("generation", 0) >= 1:
            self.gc_pauses_ms.append((time.perf_counter() - self._gc_start) * 1000)


def quantiles(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    q = statistics.quantiles(values, n=100)
    return f"p50 {statistics.median(values):.2f}  p99 {q[98]:.2f}  max {max(values):.2f} ms"


def stage_report(stages: Stages, sent: dict[str, float], arrived: dict[str, float]) -> list[str]:
    chain = [
        ("sent → read", sent, stages.read),
        ("read → effect", stages.read, stages.effect),
        ("effect → pop ready", stages.effect, stages.ready),
        ("pop ready → publish", stages.ready, stages.publish),
        ("publish → subscriber", stages.publish, arrived),
        ("publish → PUBACK", stages.publish, stages.puback),
    ]
    writes = sorted(stages.writes)
    written = {}
    for key, at in stages.publish.items():
        i = bisect.bisect_left(writes, at)
        if i < len(writes):
            written[key] = writes[i]
    chain[4:5] = [
        ("publish → socket write", stages.publish, written),
        ("socket write → subscr.", written, arrived),
        ("pop ready → sock. write", stages.ready, written),
    ]
    lines = []
    for name, a, b in chain:
        diffs = [(b[k] - a[k]) * 1000 for k in a if k in b]
        lines.append(f"  {name:<23} {quantiles(diffs)}")
    pauses = sorted(stages.gc_pauses_ms)
    lines.append(f"  gc gen1/2 pauses: {len(pauses)}, longest {pauses[-1] if pauses else 0:.1f} ms")
    return lines


# ------------------------------------------------------------------------------ run
async def run(args: argparse.Namespace) -> tuple[dict[str, float], list[str]]:
    pbx = f"bench{os.getpid()}"
    total = int(args.rate * args.seconds)
    topic = f"centralita/{pbx}/agents/+/screenpop"
    server = PacedAmiServer(args.rate, total, args.wait)
    ami_port = await server.start()
    with tempfile.TemporaryDirectory(prefix="screenpop-bench-") as tmp:
        secret_file = Path(tmp) / "secret"
        secret_file.write_text(SECRET)
        text = (
            f'pbx_id = "{pbx}"\nreplay_window_s = 0.0\n'
            f'[ami]\nport = {ami_port}\nsecret_file = "{secret_file}"\n'
            f'[database]\nurl = "sqlite+aiosqlite:///{tmp}/bench.db"\n'
            f'[mqtt]\nhost = "{args.host}"\nport = {args.port}\n'
            "[ivr]\nenabled = false\n[http]\nenabled = false\n"
        )
        daemon = Daemon(parse_settings(text, "<bench>", env={}))
        parts = await daemon.build()
        stages = Stages()
        if args.breakdown:
            stages.install(daemon)
        runner = asyncio.create_task(daemon.run())
        publisher = parts.extra["publisher"]
        try:
            async with contextlib.AsyncExitStack() as stack:
                if args.same_process:
                    ready = asyncio.Event()
                    sub = asyncio.create_task(
                        subscribe(args.host, args.port, topic, total, idle_s=30.0, ready=ready.set)
                    )
                    await ready.wait()

                    async def same() -> dict[str, float]:
                        return await sub

                    result: Callable[[], Awaitable[dict[str, float]]] = same
                else:
                    result = await stack.enter_async_context(
                        subscriber_process(args.host, args.port, topic, total)
                    )
                await asyncio.wait_for(parts.listener.client.logged_in.wait(), 30)
                while not publisher.stats.connected:
                    await asyncio.sleep(0.01)
                await parts.listener.drain(timeout_s=30)
                server.go.set()
                arrived = await asyncio.wait_for(result(), args.seconds + args.wait + 60)
        finally:
            daemon.stop()
            await asyncio.wait_for(runner, 30)
            await server.close()
    lat = sorted((arrived[k] - server.sent[k]) * 1000 for k in arrived if k in server.sent)
    q = statistics.quantiles(lat, n=100)
    figures = {
        "calls": total,
        "received": len(lat),
        "p50_ms": round(statistics.median(lat), 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(lat[-1], 2),
    }
    return figures, stage_report(stages, server.sent, arrived) if args.breakdown else []


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="answered calls per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--wait", type=float, default=2.0, help="queue wait before the answer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument(
        "--same-process", action="store_true", help="subscriber in the daemon's loop"
    )
    parser.add_argument("--breakdown", action="store_true", help="time the daemon's stages")
    parser.add_argument("--subscribe", default="", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscribe:
        subscriber_main(args)
        return
    from centralita.logs import configure_logging

    configure_logging(quiet=True)
    logging.getLogger().setLevel(logging.WARNING)
    figures, breakdown = asyncio.run(run(args))
    print(
        f"screenpop: {figures['received']}/{figures['calls']} pops at {args.rate:g}/s "
        f"p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms  max {figures['max_ms']} ms"
    )
    for line in breakdown:
        print(line)


if __name__ == "__main__":
    main()
