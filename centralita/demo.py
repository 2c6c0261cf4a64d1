"""`centralita demo`: the whole product on embedded defaults, on this machine alone.

A simulated PBX (AMI + FastAGI) or a recorded capture replayed over TCP, the daemon
(listener, IVR, screen-pops on the in-process broker, console and wallboard) and SQLite in
``--dir`` (default: a fresh temporary folder; nothing is written anywhere else). Prints
the URLs and a live summary, then the ATT indicator per service.

What it shows can be trusted:

- the simulated PBX runs *paced* (``Simulator(speed=None, pace=...)``): its event stream,
  hence the figures, depend on the seed alone, never on how fast the machine is;
- the calls are dated from now (the same seeded offsets from a different start: the
  dates change from run to run, the figures do not), kept inside one local day so that
  the wallboard's "today" and the month's report hold every call;
- the final table is printed once every event the PBX sent has been received and every
  record stored, and it is ``centralita report`` for that month on the demo's database;
- Ctrl-C stops it at once with a short summary and exit code 130, never a partial table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from centralita.daemon import Daemon
from centralita.settings import Settings, StartupError, parse_settings

BUNDLED_CAPTURE = "GIT-master-f0c1c1a7b7-scenario.ami"
DB_NAME = "centralita-demo.db"
USERS_NAME = "console-users.toml"
LOCAL_TZ = "America/La_Paz"  # the report's months and the wallboard's "today"
DAY_MARGIN_S = 600.0  # slack kept before local midnight beyond the calls' own span
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def free_port(preferred: int = 0) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port")


def demo_settings(
    db_path: Path, ami_port: int, http_port: int, ivr_port: int, users_file: Path | None = None
) -> Settings:
    """Settings of the demo daemon (embedded broker: no MQTT host)."""
    base = parse_settings("", "<demo>", env={})
    return msgspec.structs.replace(
        base,
        pbx_id="demo",
        ami=msgspec.structs.replace(base.ami, port=ami_port, ping_interval_s=5.0),
        database=msgspec.structs.replace(base.database, url=f"sqlite+aiosqlite:///{db_path}"),
        ivr=msgspec.structs.replace(base.ivr, host="127.0.0.1", port=ivr_port),
        http=msgspec.structs.replace(
            base.http,
            port=http_port,
            users_file=str(users_file) if users_file else "",
            state_dir=str(db_path.parent),  # the session key stays in --dir too
        ),
        mqtt=msgspec.structs.replace(base.mqtt, host=""),
        replay_window_s=0.0,
    )


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class DemoUsageError(StartupError):
    """A demo option that cannot work (a user's mistake: one Spanish line, exit 2)."""

    exit_code = 2


@dataclass
class DemoRun:
    """What a run has done so far: the summary printed when it is interrupted."""

    total: int | None = None
    sim: Any = None
    server: Any = None
    db_path: Path | None = None
    stored: int | None = None
    reported: bool = False
    signum: int | None = None
    pbx_closed: bool = False
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)

    def on_signal(self, signum: int) -> None:
        """SIGINT / SIGTERM: stop the run (the first signal is the one reported)."""
        self.signum = self.signum or signum
        self.interrupted.set()

    def interrupted_text(self) -> str:
        """The short Spanish summary of an interrupted run (no partial table)."""
        if self.sim is not None:
            done = f"{self.sim.engine.generated} de {self.total} llamadas simuladas"
        elif self.server is not None:
            done = f"{self.server.position} de {len(self.server.frames)} eventos reproducidos"
        else:
            done = "ninguna llamada simulada todavía"
        stored = "" if self.stored is None else f", {self.stored} registradas"
        where = f" en {self.db_path}" if self.db_path is not None and self.stored else ""
        return (
            f"centralita demo: interrumpida ({done}{stored}{where}); "
            "sin informe final: estaría incompleto"
        )


def demo_start(config: Any, seed: int, now: float, tz: str = LOCAL_TZ) -> float:
    """Where the demo's PBX clock starts: ``now`` (a whole second), or earlier when the
    calls would run past local midnight, so that they all fall in one local day (the
    wallboard's "today", the month's report). The span comes from a dry run of the same
    seeded PBX (pure, no network). Whole seconds keep the figures equal from any start:
    every timestamp is the start plus the same offsets, to the microsecond."""
    from zoneinfo import ZoneInfo

    from centralita.simulator.model import Engine

    dry = Engine(config, seed)
    dry.run()
    span = dry.now - config.start_epoch + DAY_MARGIN_S
    start = float(math.floor(now))
    zone = ZoneInfo(tz)
    local = dt.datetime.fromtimestamp(start, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    next_midnight = (midnight + dt.timedelta(days=1, hours=3)).replace(hour=0)
    if start + span > next_midnight.timestamp():
        start = max(midnight.timestamp(), math.floor(next_midnight.timestamp() - span))
    return start


async def _progress(daemon: Daemon, total: int | None, stop: asyncio.Event) -> None:
    tty = sys.stdout.isatty()
    parts = daemon.parts
    assert parts is not None
    while not stop.is_set():
        stats = parts.listener.pipeline.stats
        waiting = sum(len(c) for c in parts.tracker.waiting().values())
        of = f"/{total}" if total else ""
        line = (
            f"eventos {stats.events:>7} | llamadas terminadas {stats.calls_finished:>4}{of}"
            f" | en curso {len(parts.tracker.calls):>3} | en espera {waiting:>3}"
        )
        sys.stdout.write(("\r" + line) if tty else (line + "\n"))
        sys.stdout.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0 if tty else 5.0)
    if tty:
        sys.stdout.write("\n")


async def _first_call_month(engine: Any) -> str | None:
    import sqlalchemy as sa

    from centralita.ami_listener.schema import calls
    from centralita.metrics.periods import local_text

    async with engine.connect() as conn:
        first = (await conn.execute(sa.select(sa.func.min(calls.c.entered_at_ms)))).scalar()
    return None if first is None else local_text(int(first), LOCAL_TZ)[:7]


async def _stored_calls(engine: Any) -> int:
    import sqlalchemy as sa

    from centralita.ami_listener.schema import calls

    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(calls))).scalar_one())


async def print_indicator(daemon: Daemon, db_url: str) -> None:
    """The ATT indicator per service over the demo's calls: ``centralita report --month M
    --db URL`` itself (its parser, rules, query and table), for the calls' month."""
    from centralita.cli import build_parser

    parts = daemon.parts
    assert parts is not None
    month = await _first_call_month(parts.engine)
    if month is None:
        _say("sin llamadas registradas")
        return
    argv = ["report", "--month", month, "--db", db_url]
    args = build_parser().parse_args([*argv, "--format", "table"])
    _say("")
    code = await asyncio.to_thread(args.func, args)  # its own event loop, as from a shell
    sys.stdout.flush()
    if code:
        _say(f"el informe terminó con el código {code}")
    _say(f"el mismo informe: centralita {' '.join(argv)}")


DEMO_AGENTS = 8


def demo_users(path: Path) -> dict[str, str]:
    """A fresh console users file: one supervisor and the simulator's agents, each with a
    random password (returned, to be printed once: the demo's only copy)."""
    from centralita.console.users import User, hash_password, save_user

    path.unlink(missing_ok=True)
    accounts = {"supervisor": ("supervisor", "")}
    for i in range(1, DEMO_AGENTS + 1):
        accounts[f"agente{i}"] = ("agent", f"Local/agent{i}@lab-agents")
    passwords: dict[str, str] = {}
    for name, (role, interface) in accounts.items():
        passwords[name] = secrets.token_urlsafe(6)
        user = User(
            name=name,
            role=role,  # type: ignore[arg-type]
            interface=interface,
            password=hash_password(passwords[name]),
        )
        save_user(path, user)
    return passwords


def work_dir(option: str | None) -> Path:
    """``--dir``, created if needed, or a fresh temporary folder (kept: the database is
    there to be looked at after the run).

    Raises:
        DemoUsageError: the path is a file or cannot be created or written.
    """
    if not option:
        return Path(tempfile.mkdtemp(prefix="centralita-demo-"))
    path = Path(option)
    if path.exists() and not path.is_dir():
        raise DemoUsageError(f"--dir: {path} es un archivo, no una carpeta; indique una carpeta")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DemoUsageError(
            f"--dir: no se puede crear la carpeta {path} ({exc.strerror}); indique otra"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise DemoUsageError(f"--dir: no se puede escribir en {path}; indique otra carpeta")
    return path


def _prepare(args: argparse.Namespace) -> tuple[Path, bytes]:
    """A fresh database path in the work directory, and the capture bytes if any."""
    data = b""
    if args.capture == "bundled":
        data = resources.files("centralita.simulator.data").joinpath(BUNDLED_CAPTURE).read_bytes()
    elif args.capture:
        try:
            data = Path(args.capture).read_bytes()
        except OSError as exc:
            raise DemoUsageError(
                f"--capture: no se puede leer {args.capture} ({exc.strerror});"
                " indique otra captura o «bundled»"
            ) from exc
    db_path = work_dir(getattr(args, "dir", None)) / DB_NAME
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    return db_path, data


def main(args: argparse.Namespace) -> int:
    """`centralita demo`: run it; Ctrl-C at any point ends it with a summary, exit 130."""
    run = DemoRun()
    try:
        return asyncio.run(run_demo(args, run))
    except KeyboardInterrupt:
        if run.reported:
            return 0
        _say("")
        _say(run.interrupted_text())
        return EXIT_INTERRUPTED


def _on_signals(handler: Any) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, handler, signum)


async def run_demo(args: argparse.Namespace, run: DemoRun | None = None) -> int:
    """Run the demo; returns the exit code (130 when interrupted before its report)."""
    from centralita.logs import configure_logging

    run = run or DemoRun()
    _on_signals(run.on_signal)  # from here on, Ctrl-C is ours (the daemon's is replaced below)
    configure_logging(debug=bool(getattr(args, "debug", False)), quiet=True)
    db_path, data = await asyncio.to_thread(_prepare, args)
    run.db_path = db_path
    previous_secret = os.environ.get("CENTRALITA_AMI_SECRET")
    secret = secrets.token_hex(12)
    os.environ["CENTRALITA_AMI_SECRET"] = secret  # the demo's own, never printed
    try:
        return await _run(args, run, db_path, data, secret)
    finally:
        if previous_secret is None:
            os.environ.pop("CENTRALITA_AMI_SECRET", None)
        else:
            os.environ["CENTRALITA_AMI_SECRET"] = previous_secret


async def _run(
    args: argparse.Namespace, run: DemoRun, db_path: Path, data: bytes, secret: str
) -> int:
    http_port = free_port(args.console_port)
    ivr_port = free_port()
    speed = float(args.speed) or None
    clock: Any = time.time
    if args.capture:
        from centralita.simulator.capture_server import CaptureServer

        run.server = server = CaptureServer(data, secret=secret, speed=speed)
        ami_port = await server.start()
        source = f"captura {args.capture}"
        clock = lambda: server.state.last_ts or time.time()  # noqa: E731 - the PBX's clock
    else:
        from centralita.simulator.config import lab_config
        from centralita.simulator.runner import Simulator

        config = lab_config(calls=args.calls)
        start = await asyncio.to_thread(demo_start, config, args.seed, time.time())
        run.total = args.calls
        run.sim = sim = Simulator(
            msgspec.structs.replace(config, start_epoch=start),
            seed=args.seed,
            speed=None,
            pace=speed,
            secret=secret,
            agi_address=("127.0.0.1", ivr_port),
        )
        await sim.start()
        ami_port = sim.port
        clock = sim.clock
        pace = f"x{speed:g}" if speed else "sin pausas"
        source = f"simulador ({args.calls} llamadas, semilla {args.seed}, {pace})"
    users_file = db_path.parent / USERS_NAME
    passwords = {} if args.no_console else await asyncio.to_thread(demo_users, users_file)
    settings = demo_settings(db_path, ami_port, http_port, ivr_port, users_file)
    if args.no_console:
        settings = msgspec.structs.replace(
            settings, http=msgspec.structs.replace(settings.http, enabled=False)
        )
    daemon = Daemon(settings)
    runner: asyncio.Task[int] | None = None
    work: asyncio.Task[None] | None = None
    try:
        building = asyncio.create_task(daemon.build())
        await _first(building, run.interrupted, None)
        if not building.done():  # Ctrl-C while opening the database: nothing to store yet
            await _cancel(building)
            await _close_pbx(run)
            return _say_interrupted(run)
        building.result()
        parts = daemon.parts
        assert parts is not None
        live = parts.extra.get("live")
        if live is not None:
            live.clock = clock  # the wallboard reads the PBX's clock ("today", waits)
        runner = asyncio.create_task(daemon.run())
        await _first(daemon.ready.wait(), run.interrupted, runner)
        _on_signals(run.on_signal)  # replaces the daemon's quiet stop: a demo reports it
        if run.interrupted.is_set() or runner.done():
            return await _interrupted(run, daemon, runner)
        banner = [f"centralita demo: PBX = {source}", f"  carpeta        {db_path.parent}"]
        banner.append(f"  base de datos  {db_path}")
        if not args.no_console:
            logins = ", ".join(f"{n} / {p}" for n, p in passwords.items())
            banner += [
                f"  consola        http://127.0.0.1:{http_port}/",
                f"  panel (wallboard) http://127.0.0.1:{http_port}/muro",
                f"  métricas       http://127.0.0.1:{http_port}/metrics",
                f"  usuarios (usuario / clave de esta demo): {logins}",
            ]
        banner.append(f"  IVR (FastAGI)  agi://127.0.0.1:{ivr_port}/ivr")
        work = asyncio.create_task(_work(args, run, daemon, banner, db_path))
        await _first(work, run.interrupted, runner)
        if work.done() and not work.cancelled() and work.exception() is None:
            return 0
        if work.done() and not work.cancelled():
            work.result()  # its error, as it is
        await _cancel(work)
        if run.interrupted.is_set() and run.reported:
            return 0  # Ctrl-C after the report (--keep): the normal way out
        return await _interrupted(run, daemon, runner)
    finally:
        if work is not None:
            await _cancel(work)
        await _shutdown(run, daemon, runner)
        _on_signals(run.on_signal)  # the daemon restored the default handler on its way out


async def _cancel(task: asyncio.Task[Any]) -> None:
    if not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def _close_pbx(run: DemoRun) -> None:
    if run.pbx_closed:
        return
    run.pbx_closed = True
    if run.sim is not None:
        await run.sim.close()
    if run.server is not None:
        await run.server.close()


async def _shutdown(run: DemoRun, daemon: Daemon, runner: asyncio.Task[int] | None) -> None:
    """Stop the daemon (it stores what it received and logs off), then the PBX. A daemon
    still starting (nothing received yet) is cancelled instead of waited for."""
    daemon.stop()
    if runner is not None and not daemon.ready.is_set():
        runner.cancel()
    if runner is not None and not runner.done():
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(runner), 30)
    if runner is not None and not runner.done():
        runner.cancel()
        with contextlib.suppress(BaseException):
            await runner
    await _close_pbx(run)


async def _interrupted(run: DemoRun, daemon: Daemon, runner: asyncio.Task[int]) -> int:
    """Stop everything, count what was stored, say so in one line: exit 130 (143 for
    SIGTERM). A daemon that ended by itself (a crash) is its error instead."""
    if runner.done() and not runner.cancelled() and runner.exception() is not None:
        await _close_pbx(run)
        runner.result()
    await _shutdown(run, daemon, runner)
    parts = daemon.parts
    if parts is not None:
        with contextlib.suppress(Exception):
            run.stored = await _stored_calls(parts.engine)
            await parts.engine.dispose()
    return _say_interrupted(run)


def _say_interrupted(run: DemoRun) -> int:
    _say("")
    _say(run.interrupted_text())
    return 128 + int(run.signum or signal.SIGINT)


async def _first(
    awaitable: Any, interrupted: asyncio.Event, runner: asyncio.Task[int] | None
) -> None:
    """Wait for ``awaitable``, an interruption or the daemon's end, whichever comes first."""
    main = asyncio.ensure_future(awaitable)
    stop = asyncio.ensure_future(interrupted.wait())
    waits: set[asyncio.Future[Any]] = {main, stop} if runner is None else {main, stop, runner}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not main.done() and main is not awaitable:
            main.cancel()


async def _work(
    args: argparse.Namespace, run: DemoRun, daemon: Daemon, banner: list[str], db_path: Path
) -> None:
    """Connect, print the banner, run the PBX to its end, store, report (and --keep)."""
    parts = daemon.parts
    assert parts is not None
    await asyncio.wait_for(parts.listener.client.logged_in.wait(), 30)
    for line in banner:
        _say(line)
    stop_progress = asyncio.Event()
    progress = asyncio.create_task(_progress(daemon, run.total, stop_progress))
    started = time.monotonic()
    try:
        if run.sim is not None:
            await run.sim.run()
        else:
            await run.server.finished.wait()
        # Every event the PBX sent is received once the answer to a Ping that followed
        # them is; then everything received is processed and stored.
        await parts.listener.client.send({"Action": "Ping"}, timeout_s=30)
        await parts.listener.drain(timeout_s=60)
    finally:
        stop_progress.set()
        await progress
    _say(f"terminado en {time.monotonic() - started:.1f} s")
    await print_indicator(daemon, f"sqlite+aiosqlite:///{db_path}")
    run.reported = True
    if getattr(args, "keep", False):
        _say("la consola sigue activa; Ctrl-C para salir")
        await daemon.stop_event.wait()
