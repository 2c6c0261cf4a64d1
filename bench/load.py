"""How many concurrent calls and agents the daemon's listener follows, and its memory.

    .venv/bin/python bench/load.py [--calls 5000 10000 20000] [--db sqlite|postgresql|URL]

For each size N: a simulated PBX in a *separate process* (so that its own memory does not
count) with 1.5 N agents (100 per queue, no pauses, no unanswered rings) and N callers
arriving within a few virtual minutes whose talks last an hour, served as fast as possible
(``speed=None``, ``noise=False``). This process runs the whole daemon as ``centralita run``
builds it (``centralita.daemon.Daemon``: AMI listener and its event-log writer process,
routing, IVR server, screen-pop publisher on the in-process bus, HTTP console and
/metrics) into a database; ``--listener-only`` runs its ``ListenerService`` alone.

When every caller has been answered the PBX pauses; the listener must have caught up
(lag 0, nothing buffered) with N calls in progress and N agents known. Reported: the
calls and agents followed at that peak; the resident memory of the daemon's whole process
tree (the sum of VmRSS, read from /proc, of this process and all its descendants: the
event-log writer, multiprocessing's forkserver and resource tracker; the simulated PBX's
process excluded) before the calls and at the peak, its PSS (shared pages divided among
the processes), this process's own VmRSS, each process of the tree, and the open calls'
heap per 1,000 calls in progress. Then the PBX finishes the calls
and the listener must store N records (checked against the simulator's truth counts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import multiprocessing as mp
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from centralita.ami_listener.service import ListenerService
    from centralita.simulator.config import SimConfig

# Only the standard library at module level: the event-log writer is a spawned process,
# which imports this module as __mp_main__; in production that is `centralita`'s small
# entry point, so the writer must not import the simulator or the AMI client here either.

SECRET = "bench"
AGENTS_PER_QUEUE = 100
AGENT_HEADROOM = 1.5  # random arrivals: no queue may run out of agents
ARRIVAL_WINDOW_S = 300.0  # every caller arrives within five virtual minutes
TALK_S = 3600.0


def load_config(calls: int) -> SimConfig:
    """1.5 N agents, 100 per queue, and N callers that all get an agent and talk an hour."""
    from centralita.simulator.config import (
        AgentConfig,
        Behaviour,
        PatienceClass,
        QueueConfig,
        ServiceConfig,
        SimConfig,
        validate,
    )

    n_agents = int(calls * AGENT_HEADROOM)
    n_queues = max(1, -(-n_agents // AGENTS_PER_QUEUE))
    queues = tuple(QueueConfig(name=f"qload{i}", max_wait_s=7200.0) for i in range(n_queues))
    agents = tuple(
        AgentConfig(
            name=f"Agente {i}",
            interface=f"Local/load{i}@load-agents",
            queues=(f"qload{i // AGENTS_PER_QUEUE}",),
        )
        for i in range(n_agents)
    )
    per_queue_per_min = calls / n_queues / (ARRIVAL_WINDOW_S / 60.0)
    services = tuple(
        ServiceConfig(exten=f"7{i:04d}", queue=f"qload{i}", calls_per_min=per_queue_per_min)
        for i in range(n_queues)
    )
    behaviour = Behaviour(
        ring_min_s=1.0,
        ring_max_s=2.0,
        no_answer_prob=0.0,
        talk_min_s=TALK_S,
        talk_max_s=TALK_S + 60.0,
        pause_mean_interval_s=0.0,
        patience=(PatienceClass(name="patient", weight=1.0, min_s=7000.0, max_s=7100.0),),
    )
    return validate(
        SimConfig(
            queues=queues,
            agents=agents,
            services=services,
            behaviour=behaviour,
            calls=calls,
            noise=False,
            caller_context="load-callers",
            agent_context="load-agents",
        )
    )


# ---------------------------------------------------------------- the PBX process
def quiet() -> None:
    """No logs: one line per finished call would dominate the measurement."""
    import structlog

    logging.disable(logging.CRITICAL)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


Signals = tuple[MpEvent, MpEvent, MpEvent]  # go (baseline taken), resume (peak seen), stop


def _pbx_process(calls: int, seed: int, out: Any, signals: Signals) -> None:
    quiet()
    asyncio.run(_pbx(calls, seed, out, signals))


async def _drive(sim: Any, until: Any) -> None:
    engine = sim.engine
    steps = 0
    while not engine.done and not until():
        nxt = engine.next_time()
        if nxt is None:
            break
        engine.advance(nxt)
        sim.flush()
        steps += 1
        if steps % 200 == 0 or sim.server.max_backlog > (1 << 20):
            await asyncio.sleep(0)
            while sim.server.max_backlog > (1 << 20):  # socket buffers have no event
                await asyncio.sleep(0.005)
    sim.flush()


async def _pbx(calls: int, seed: int, out: Any, signals: Signals) -> None:
    go, resume, stop = signals
    from centralita.simulator.runner import Simulator

    config = load_config(calls)
    async with Simulator(
        config, seed=seed, speed=None, secret=SECRET, max_buffer_bytes=256 << 20
    ) as sim:
        out.put(("port", sim.port))
        await sim.wait_for_client(120)
        await asyncio.to_thread(go.wait)  # the daemon side measured its baseline
        engine = sim.engine

        def all_talking() -> bool:
            return engine.generated >= calls and all(
                c.state == "talking" for c in engine.active.values()
            )

        started = time.perf_counter()
        await _drive(sim, all_talking)
        out.put(("peak", len(engine.active), engine.now, time.perf_counter() - started))
        await asyncio.to_thread(resume.wait)
        await _drive(sim, lambda: False)
        counts = engine.truth.outcome_counts()
        out.put(("done", len(engine.truth.queue_calls()), counts))
        await asyncio.to_thread(stop.wait)


# ---------------------------------------------------------------- the daemon side
def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of one process, MB (VmRSS); 0 when it has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0  # a zombie has no VmRSS


def pss_mb(pid: int) -> float:
    """Proportional set size, MB: pages shared by several processes (the writer and the
    forkserver it was forked from) divided among them; 0 when unreadable."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """Direct children of a process, from /proc/<pid>/task/*/children."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(x) for x in (task / "children").read_text().split()]
    return found


@dataclass
class TreeMemory:
    """The daemon side's process tree: this process and every descendant, except the
    simulated PBX's own subtree (it stands for Asterisk, another machine)."""

    rss_mb: float
    pss_mb: float
    processes: dict[str, float]  # "pid name" -> VmRSS MB


def tree_memory(exclude: set[int]) -> TreeMemory:
    """Sum of VmRSS (and PSS) over this process and its descendants, read from /proc."""
    stack, seen = [os.getpid()], {}
    while stack:
        pid = stack.pop()
        if pid in exclude or pid in seen:
            continue
        with contextlib.suppress(OSError):
            name = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            seen[pid] = name.strip()[:80]
        stack += children(pid)
    rss = {f"{pid} {name}": rss_mb(pid) for pid, name in seen.items()}
    return TreeMemory(sum(rss.values()), sum(pss_mb(pid) for pid in seen), rss)


def deep_size(root: object) -> int:
    """Bytes of every object reachable from ``root`` (each counted once), modules and
    classes excluded: what the tracker's open calls really hold."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type | type(sys)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


@dataclass
class Result:
    calls: int
    followed_calls: int
    followed_agents: int
    rss_base_mb: float
    rss_peak_mb: float
    tree_base: TreeMemory
    tree_peak: TreeMemory
    events: int
    seconds_to_peak: float
    stored: int
    truth_calls: int
    calls_heap_mb: float


async def _get(out: Any, kind: str, timeout_s: float) -> tuple[Any, ...]:
    item: tuple[Any, ...] = await asyncio.wait_for(asyncio.to_thread(out.get), timeout_s)
    if item[0] != kind:
        raise RuntimeError(f"expected {kind}, got {item!r}")
    return item


async def _until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out: {what}")
        await asyncio.sleep(0.05)


async def build_daemon(ami_port: int, url: str) -> Any:
    """``centralita run`` as it starts in production, on embedded defaults: listener with
    the writer process, routing, IVR server, screen-pop publisher (in-process bus), HTTP
    console and /metrics."""
    from centralita.daemon import Daemon
    from centralita.settings import parse_settings

    secret = Path(tempfile.mkdtemp()) / "ami.secret"
    secret.write_text(SECRET)
    text = (
        'pbx_id = "load"\n'
        f'[ami]\nport = {ami_port}\nsecret_file = "{secret}"\n'
        "ping_interval_s = 3600.0\nping_timeout_s = 60.0\n"
        f'[database]\nurl = "{url}"\n'
        f"[ivr]\nport = {free_port()}\n"
        f"[http]\nport = {free_port()}\n"
    )
    daemon = Daemon(parse_settings(text, "<load>", env={}))
    await daemon.build()
    return daemon


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_size(calls: int, url: str, seed: int, *, whole_daemon: bool = True) -> Result:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    go, resume, stop = ctx.Event(), ctx.Event(), ctx.Event()
    args = (calls, seed, out, (go, resume, stop))
    pbx = ctx.Process(target=_pbx_process, args=args, daemon=True)
    pbx.start()
    import sqlalchemy as sa

    from centralita.ami_listener.schema import calls as calls_table
    from centralita.ami_listener.service import AmiSettings, ListenerService
    from centralita.ami_listener.store import create_schema, make_engine
    from centralita.ami_listener.tracker import CallTracker

    engine = make_engine(url)
    if not whole_daemon:  # the daemon migrates its database itself
        await create_schema(engine)
    daemon: Any = None
    service: ListenerService
    try:
        (_, port) = await _get(out, "port", 120)
        if whole_daemon:
            daemon = await build_daemon(port, url)
            service = daemon.parts.listener
            task = asyncio.create_task(daemon.run())
        else:
            ami = AmiSettings(port=port, secret=SECRET, ping_interval_s=3600, ping_timeout_s=60)
            service = ListenerService(ami, engine, CallTracker("load"))
            task = asyncio.create_task(service.run())
        gc.collect()
        await _until(lambda: service.pipeline.stats.resyncs >= 1, 120, "login")
        n_agents = int(calls * AGENT_HEADROOM)
        await _until(lambda: len(service.tracker.members) >= n_agents, 600, "members")
        await _until(lambda: service.lag == 0 and not service.buffered, 600, "idle")
        gc.collect()
        base = rss_mb()
        assert pbx.pid is not None
        tree_base = tree_memory({pbx.pid})
        started = time.perf_counter()
        go.set()
        (_, active, _now, _pbx_s) = await _get(out, "peak", 3600)
        tracker = service.tracker

        def caught_up() -> bool:
            answered = sum(1 for c in tracker.calls.values() if c.entry.answered_at is not None)
            return answered >= active and service.lag == 0

        await _until(caught_up, 3600, "peak")
        await service.drain(timeout_s=3600)
        to_peak = time.perf_counter() - started
        gc.collect()
        peak = rss_mb()
        tree_peak = tree_memory({pbx.pid})
        followed = len(tracker.calls)
        calls_heap = deep_size(tracker.calls) / 2**20
        agents = len({m.interface for m in tracker.members.values()})
        resume.set()
        (_, truth_calls, _counts) = await _get(out, "done", 3600)
        await service.client.send({"Action": "Ping"}, timeout_s=600)
        await service.drain(timeout_s=3600)
        async with engine.connect() as conn:
            stored = (
                await conn.execute(sa.select(sa.func.count()).select_from(calls_table))
            ).scalar()
        events = service.pipeline.stats.events
        stop.set()
        if daemon is not None:
            daemon.stop()
            await task
        else:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        go.set()
        stop.set()
        resume.set()
        await engine.dispose()
        pbx.join(30)
        if pbx.is_alive():
            pbx.kill()
    return Result(
        calls,
        followed,
        agents,
        base,
        peak,
        tree_base,
        tree_peak,
        events,
        to_peak,
        int(stored or 0),
        truth_calls,
        calls_heap,
    )


def _db_url(choice: str, workdir: Path, calls: int) -> str:
    if choice == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / f'load-{calls}.db'}"
    if choice == "postgresql":
        raise SystemExit("pass a postgresql+asyncpg:// URL of an empty database")
    return choice


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--calls", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--db", default="sqlite", help="sqlite (temp file) or a database URL")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--listener-only",
        action="store_true",
        help="only the ListenerService (no IVR, HTTP, publisher), as before 2026-12",
    )
    args = parser.parse_args(argv)
    quiet()
    print(
        "| calls in progress | agents | tree RSS before calls | tree RSS at peak "
        "| tree PSS at peak | reader RSS at peak "
        "| open calls' heap per 1,000 | events | s to peak | stored / truth |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    trees: list[tuple[int, TreeMemory]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for calls in args.calls:
            url = _db_url(args.db, Path(tmp), calls)
            r = asyncio.run(run_size(calls, url, args.seed, whole_daemon=not args.listener_only))
            ok = "ok" if r.stored == r.truth_calls == calls else "MISMATCH"
            print(
                f"| {r.followed_calls:,} | {r.followed_agents:,} | {r.tree_base.rss_mb:.0f} MB"
                f" | **{r.tree_peak.rss_mb:.0f} MB** | {r.tree_peak.pss_mb:.0f} MB"
                f" | {r.rss_peak_mb:.0f} MB | {r.calls_heap_mb / r.calls * 1000:.2f} MB"
                f" | {r.events:,}"
                f" | {r.seconds_to_peak:.1f} | {r.stored:,} / {r.truth_calls:,} {ok} |",
                flush=True,
            )
            trees.append((calls, r.tree_peak))
    for calls, tree in trees:
        print(f"\nprocess tree at the peak of {calls:,} calls (VmRSS):")
        for name, mb in sorted(tree.processes.items(), key=lambda kv: -kv[1]):
            print(f"  {mb:7.1f} MB  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
