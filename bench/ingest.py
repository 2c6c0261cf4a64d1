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
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from centralita.ami_listener.protocol import AmiMessage, AmiParser, encode_action
from centralita.ami_listener.service import AmiSettings, ListenerService
from centralita.ami_listener.store import create_schema, make_engine
from centralita.ami_listener.tracker import CallTracker
from centralita.simulator.config import lab_config
from centralita.simulator.model import Engine

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


async def bench_end_to_end(
    data: bytes, n_events: int, url: str, log_writer: str = "process"
) -> tuple[float, int]:
    """Loopback TCP (peer in its own process) → client → pipeline → store; events/s."""
    import multiprocessing

    engine = make_engine(url)
    await create_schema(engine)
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(target=_serve, args=(data, child))
    proc.start()
    port = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
    service = ListenerService(
        AmiSettings(port=port, secret="bench", ping_interval_s=3600),
        engine,
        CallTracker("bench"),
        log_writer=log_writer,
    )
    task = asyncio.create_task(service.run())
    await service.client.logged_in.wait()
    cpu_parent = time.process_time()
    cpu_child = _cpu_of(service)
    cpu_peer = _cpu_of_pid(proc.pid)
    start = time.perf_counter()
    tracked_at = 0.0
    stored_then = 0
    child_then = parent_then = 0.0
    while service.writer_stats.events_written < n_events:
        if not tracked_at and service.pipeline.stats.events >= n_events:
            tracked_at = time.perf_counter() - start
            stored_then = service.writer_stats.events_written
            child_then = _cpu_of(service) - cpu_child
            parent_then = time.process_time() - cpu_parent
        await asyncio.sleep(0.01)
    print(f"reading process: every event tracked after {tracked_at:.2f} s", end="")
    print(f" ({stored_then} stored by then; CPU s by then: reading {parent_then:.2f},", end="")
    print(f" writer {child_then:.2f})")
    await service.drain(timeout_s=600)
    elapsed = time.perf_counter() - start
    cpu_parent = time.process_time() - cpu_parent
    cpu_child = _cpu_of(service) - cpu_child
    cpu_peer = _cpu_of_pid(proc.pid) - cpu_peer
    print(
        f"CPU per event: reading process {cpu_parent / n_events * 1e6:.1f} µs,"
        f" event-log writer process {cpu_child / n_events * 1e6:.1f} µs,"
        f" AMI peer {cpu_peer / n_events * 1e6:.1f} µs"
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
    """CPU seconds used so far by the event-log writer process (0 without one)."""
    pid = service.log_process.pid if service.log_process is not None else None
    return 0.0 if pid is None else _cpu_of_pid(pid)


def _cpu_of_pid(pid: int | None) -> float:
    """CPU seconds (user + system, all threads) used so far by a process."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
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


def _end_to_end_fresh_db(data: bytes, n_events: int, db: str, log_writer: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        if db == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        elif db == "postgresql":
            url = "postgresql+asyncpg://127.0.0.1:5432/centralita_bench"
            asyncio.run(_pg_admin('DROP DATABASE IF EXISTS "centralita_bench"'))
            asyncio.run(_pg_admin('CREATE DATABASE "centralita_bench"'))
        else:
            url = db
        try:
            return asyncio.run(bench_end_to_end(data, n_events, url, log_writer))
        finally:
            if db == "postgresql":
                asyncio.run(_pg_admin('DROP DATABASE IF EXISTS "centralita_bench" WITH (FORCE)'))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", default="sqlite", help="sqlite, postgresql, or a SQLAlchemy URL")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians are printed)")
    parser.add_argument("--log-writer", choices=("process", "inline"), default="process")
    parser.add_argument(
        "--compare-inline", action="store_true", help="also run the inline writer each round"
    )
    args = parser.parse_args()
    # Production logging (JSON lines, INFO: one canonical line per finished call), rendered
    # as in production but written to /dev/null rather than to this terminal.
    from centralita.logs import configure_logging

    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    configure_logging(json=True)
    data, n_events = build_stream(args.calls, args.seed)
    print(f"stream: {n_events} events, {len(data) / 1e6:.1f} MB, {args.calls} calls")
    rounds: list[tuple[float, float, float]] = []
    for round_no in range(1, args.repeat + 1):
        # The stock parser right before and right after the end-to-end run: this VM's
        # speed drifts within seconds, and the ratio is taken against their mean.
        before = bench_stock(data)
        ours = bench_ours(data)
        e2e, calls = _end_to_end_fresh_db(data, n_events, args.db, args.log_writer)
        after = bench_stock(data)
        stock = (before + after) / 2
        rounds.append((stock, ours, e2e))
        print(
            f"round {round_no}: stock parser {stock:,.0f}/s ({before:,.0f} before,"
            f" {after:,.0f} after), AmiParser {ours:,.0f}/s,"
            f" end to end {e2e:,.0f}/s ({e2e / stock:.2f}x stock), {calls} calls recorded"
        )
        if args.compare_inline:
            inline, _calls = _end_to_end_fresh_db(data, n_events, args.db, "inline")
            print(f"round {round_no}: end to end with the inline writer {inline:,.0f}/s")
    stock, ours, e2e = (statistics.median(r[i] for r in rounds) for i in range(3))
    ratio = statistics.median(r[2] / r[0] for r in rounds)
    print(f"median of {len(rounds)} rounds (ratios taken within each round):")
    ratios = sorted(r[2] / r[0] for r in rounds)
    print(f"ratios end to end / stock, sorted: {', '.join(f'{x:.2f}' for x in ratios)}")
    print(f"panoramisk 1.4 stock parser alone : {stock:>10,.0f} events/s")
    print(f"centralita AmiParser alone        : {ours:>10,.0f} events/s", end="")
    print(f" ({statistics.median(r[1] / r[0] for r in rounds):.1f}x)")
    print(f"end to end, TCP to {args.db:<14} : {e2e:>10,.0f} events/s ({ratio:.2f}x stock)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
