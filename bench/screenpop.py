"""Screen-pop latency: AgentConnect bytes leaving a fake AMI server → pop at an MQTT
subscriber on the real Mosquitto, at N answered calls per second.

    .venv/bin/python -m bench.screenpop [--rate 50] [--seconds 20] [--host 127.0.0.1]

One process: the fake AMI server (TCP, port 0) writes each call's frames on schedule and
notes the wall time just before writing the AgentConnect bytes; the listener side reads
the socket, parses with ``AmiParser`` and feeds ``Pipeline`` → ``ScreenPopPublisher``; a
subscriber (aiomqtt, QoS 1) notes the arrival time of each pop. Same clock on both ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time

import aiomqtt
import msgspec

from ami_listener.pipeline import Pipeline
from ami_listener.protocol import AmiMessage, AmiParser
from ami_listener.publisher import ScreenPopPublisher
from ami_listener.tracker import CallTracker
from tests.console.ami_calls import Call


async def run(rate: float, seconds: float, host: str, port: int) -> dict[str, float]:
    pbx = f"bench{int(time.time())}"
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    total = int(rate * seconds)
    done = asyncio.Event()

    async def fake_ami(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/13.0.0\r\n")
        start = time.monotonic()
        t0 = time.time()
        for i in range(total):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            call = Call(f"{int(t0)}.{i}", "101", f"7{i:07d}", agent=1 + i % 12, t0=t0 + i / rate)
            writer.write(call.join())
            sent[call.uniqueid] = time.time()
            writer.write(call.connect())
            await writer.drain()
            if i >= 20:  # the call answered 20 calls ago ends
                old = Call(f"{int(t0)}.{i - 20}", "101", "7", agent=1 + (i - 20) % 12)
                writer.write(old.end())
        await done.wait()
        writer.close()

    server = await asyncio.start_server(fake_ami, "127.0.0.1", 0)
    ami_port = server.sockets[0].getsockname()[1]
    publisher = ScreenPopPublisher(pbx, host, port)
    pipeline = Pipeline(CallTracker(pbx), sinks=[publisher], log_events=False)

    async def subscriber(ready: asyncio.Event) -> None:
        async with aiomqtt.Client(host, port) as client:
            await client.subscribe(f"centralita/{pbx}/agents/+/screenpop", qos=1)
            ready.set()
            async for msg in client.messages:
                now = time.time()
                assert isinstance(msg.payload, bytes)
                arrived[msgspec.json.decode(msg.payload)["call_id"]] = now
                if len(arrived) >= total:
                    done.set()

    async def listener() -> None:
        reader, _writer = await asyncio.open_connection("127.0.0.1", ami_port)
        parser = AmiParser()
        while data := await reader.read(65536):
            for item in parser.feed(data):
                if isinstance(item, AmiMessage):
                    pipeline.feed(item, time.time())

    ready = asyncio.Event()
    tasks = [asyncio.create_task(subscriber(ready)), asyncio.create_task(publisher.run())]
    await ready.wait()
    while not publisher.stats.connected:
        await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(listener()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), seconds + 10)
    for task in tasks:
        task.cancel()
    server.close()
    lat = sorted((arrived[k] - sent[k]) * 1000 for k in arrived if k in sent)
    q = statistics.quantiles(lat, n=100)
    return {
        "calls": total,
        "received": len(lat),
        "p50_ms": round(statistics.median(lat), 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(lat[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="answered calls per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args()
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    result = asyncio.run(run(args.rate, args.seconds, args.host, args.port))
    print(
        f"screenpop: {result['received']}/{result['calls']} pops at {args.rate:g}/s "
        f"p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  max {result['max_ms']} ms"
    )


if __name__ == "__main__":
    main()
