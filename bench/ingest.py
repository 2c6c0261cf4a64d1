"""End-to-end ingest throughput, next to panoramisk 1.4's stock parser alone.

    .venv/bin/python bench/ingest.py [--calls 2000] [--db sqlite|postgresql|URL]

Builds an AMI stream with the simulator's engine (Asterisk 12+ dialect, realistic noise),
then measures, in one run:
  1. panoramisk's stock AMIProtocol.data_received alone (parse only, 64 KiB reads);
  2. our AmiParser alone;
  3. end to end: the stream served over loopback TCP → AmiClient (panoramisk Manager with
     our protocol) → typed events → CallTracker → batched writes to the store, timed from
     login to the last row committed.
Prints events/s for each and the ratio end-to-end / stock parser.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ami_listener.protocol import AmiMessage, AmiParser, encode_action
from ami_listener.service import AmiSettings, ListenerService
from ami_listener.store import create_schema, make_engine
from ami_listener.tracker import CallTracker
from simulator.config import lab_config
from simulator.model import Engine

CHUNK = 64 * 1024


def build_stream(calls: int, seed: int) -> tuple[bytes, int]:
    """AMI bytes (events only) of a seeded simulator run, and their count."""
    engine = Engine(lab_config(calls=calls), seed)
    events = engine.run()
    out = bytearray()
    count = 0
    for headers in events:
        out += encode_action(list(headers))
        count += 1
    return bytes(out), count


def bench_stock(data: bytes) -> float:
    """panoramisk's own protocol parsing the stream; events/s."""
    from panoramisk.ami_protocol import AMIProtocol

    class Factory:
        save_stream = None
        n = 0

        def dispatch(self, _message: Any) -> None:
            Factory.n += 1

    proto = AMIProtocol()
    proto.connection_made(transport=None)
    proto.factory = Factory()
    proto.encoding = "utf8"
    t0 = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        proto.data_received(data[i : i + CHUNK])
    elapsed = time.perf_counter() - t0
    return Factory.n / elapsed


def bench_ours(data: bytes) -> float:
    """Our AmiParser alone; events/s."""
    parser = AmiParser()
    n = 0
    t0 = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        for item in parser.feed(data[i : i + CHUNK]):
            if isinstance(item, AmiMessage):
                n += 1
    return n / (time.perf_counter() - t0)


class StreamServer:
    """Minimal AMI peer: banner, Login, then the whole stream as fast as TCP takes it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.login_at = 0.0

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/13.0.0\r\n")
        parser = AmiParser()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(4096):
                for item in parser.feed(data):
                    if not isinstance(item, AmiMessage):
                        continue
                    aid = item.get("ActionID")
                    if item.get("Action") == "Login":
                        writer.write(encode_action([("Response", "Success"), ("ActionID", aid)]))
                        self.login_at = time.perf_counter()
                        view = memoryview(self.data)
                        for i in range(0, len(view), CHUNK):
                            writer.write(view[i : i + CHUNK])
                            await writer.drain()
                    elif item.get("Action") == "QueueStatus":
                        writer.write(
                            encode_action([("Event", "QueueStatusComplete"), ("ActionID", aid)])
                        )
                    else:
                        writer.write(encode_action([("Response", "Success"), ("ActionID", aid)]))


def _serve(data: bytes, conn: Any) -> None:
    """Child process: the AMI peer, so that its work does not share the daemon's core."""

    async def main() -> None:
        peer = StreamServer(data)
        server = await asyncio.start_server(peer.client, "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told
        server.close()

    asyncio.run(main())


async def bench_end_to_end(data: bytes, n_events: int, url: str) -> tuple[float, int]:
    """Loopback TCP (peer in its own process) → client → pipeline → store; events/s."""
    import multiprocessing

    engine = make_engine(url)
    await create_schema(engine)
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(target=_serve, args=(data, child))
    proc.start()
    port = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
    service = ListenerService(
        AmiSettings(port=port, secret="bench", ping_interval_s=3600), engine, CallTracker("bench")
    )
    task = asyncio.create_task(service.run())
    await service.client.logged_in.wait()
    cpu_parent = time.process_time()
    cpu_child = _cpu_of(service)
    start = time.perf_counter()
    tracked_at = 0.0
    stored_then = 0
    while service.writer_stats.events_written < n_events:
        if not tracked_at and service.pipeline.stats.events >= n_events:
            tracked_at = time.perf_counter() - start
            stored_then = service.writer_stats.events_written
        await asyncio.sleep(0.01)
    print(f"reading process: every event tracked after {tracked_at:.2f} s", end="")
    print(f" ({stored_then} stored by then)")
    await service.drain(timeout_s=600)
    elapsed = time.perf_counter() - start
    cpu_parent = time.process_time() - cpu_parent
    cpu_child = _cpu_of(service) - cpu_child
    print(
        f"CPU per event: reading process {cpu_parent / n_events * 1e6:.1f} µs,"
        f" event-log writer process {cpu_child / n_events * 1e6:.1f} µs"
    )
    calls = service.writer_stats.calls_written
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    parent.send("stop")
    proc.join(10)
    await engine.dispose()
    return n_events / elapsed, calls


def _cpu_of(service: ListenerService) -> float:
    """CPU seconds (user + system, all threads) used so far by the event-log writer process."""
    proc = service.log_process._process if service.log_process is not None else None
    if proc is None or proc.pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=5432, database="test")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", default="sqlite", help="sqlite, postgresql, or a SQLAlchemy URL")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the canonical per-call log line is not what we time
    data, n_events = build_stream(args.calls, args.seed)
    print(f"stream: {n_events} events, {len(data) / 1e6:.1f} MB, {args.calls} calls")
    stock = bench_stock(data)
    ours = bench_ours(data)
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        elif args.db == "postgresql":
            url = "postgresql+asyncpg://127.0.0.1:5432/centralita_bench"
            asyncio.run(_pg_admin('DROP DATABASE IF EXISTS "centralita_bench"'))
            asyncio.run(_pg_admin('CREATE DATABASE "centralita_bench"'))
        else:
            url = args.db
        try:
            e2e, calls = asyncio.run(bench_end_to_end(data, n_events, url))
        finally:
            if args.db == "postgresql":
                asyncio.run(_pg_admin('DROP DATABASE IF EXISTS "centralita_bench" WITH (FORCE)'))
    print(f"panoramisk 1.4 stock parser alone : {stock:>10,.0f} events/s")
    print(f"centralita AmiParser alone        : {ours:>10,.0f} events/s ({ours / stock:.1f}x)")
    print(f"end to end, TCP to {args.db:<14} : {e2e:>10,.0f} events/s ({e2e / stock:.1f}x)")
    print(f"calls recorded: {calls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
