"""`centralita demo`: the whole product on embedded defaults, on this machine alone.

A simulated PBX (AMI + FastAGI) or a recorded capture replayed over TCP, the daemon
(listener, IVR, screen-pops on the in-process broker, console and wallboard) and SQLite in
the chosen directory. Prints the URLs and a live summary, then the ATT indicator per
service.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from centralita import __version__
from centralita.daemon import Daemon
from centralita.settings import Settings, parse_settings

BUNDLED_CAPTURE = "GIT-master-f0c1c1a7b7-scenario.ami"


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
            base.http, port=http_port, users_file=str(users_file) if users_file else ""
        ),
        mqtt=msgspec.structs.replace(base.mqtt, host=""),
        replay_window_s=0.0,
    )


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


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


async def print_indicator(daemon: Daemon) -> None:
    """The ATT indicator per service over the demo's calls (metrics' own table)."""
    import sqlalchemy as sa

    from ami_listener.schema import calls
    from metrics.export_text import render_table
    from metrics.periods import Period, local_text
    from metrics.queries import ReportRequest, monthly_report
    from metrics.service_level import CountingRules

    parts = daemon.parts
    assert parts is not None
    async with parts.engine.connect() as conn:
        first = (await conn.execute(sa.select(sa.func.min(calls.c.entered_at_ms)))).scalar()
    if first is None:
        _say("sin llamadas registradas")
        return
    month = local_text(int(first))[:7]
    report = await monthly_report(
        parts.engine,
        ReportRequest(period=Period.month(month), rules=CountingRules()),
        software_version=__version__,
    )
    _say("")
    _say(render_table(report))


DEMO_AGENTS = 8


def demo_users(path: Path) -> dict[str, str]:
    """A fresh console users file: one supervisor and the simulator's agents, each with a
    random password (returned, to be printed once: the demo's only copy)."""
    from console.users import User, hash_password, save_user

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


def _prepare(args: argparse.Namespace) -> tuple[Path, bytes]:
    """A fresh database path in the work directory, and the capture bytes if any."""
    workdir = Path(args.dir)
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "centralita-demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    data = b""
    if args.capture == "bundled":
        data = resources.files("simulator.data").joinpath(BUNDLED_CAPTURE).read_bytes()
    elif args.capture:
        data = Path(args.capture).read_bytes()
    return db_path, data


async def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code."""
    from centralita.logs import configure_logging

    configure_logging(debug=bool(getattr(args, "debug", False)), quiet=True)
    db_path, data = await asyncio.to_thread(_prepare, args)
    secret = secrets.token_hex(12)
    os.environ["CENTRALITA_AMI_SECRET"] = secret  # the demo's own, never printed
    http_port = free_port(args.console_port)
    ivr_port = free_port()
    total: int | None = None
    sim: Any = None
    server: Any = None
    if args.capture:
        from simulator.capture_server import CaptureServer

        server = CaptureServer(data, secret=secret, speed=args.speed or None)
        ami_port = await server.start()
        source = f"captura {args.capture}"
    else:
        from simulator.config import lab_config
        from simulator.runner import Simulator

        total = args.calls
        sim = Simulator(
            lab_config(calls=args.calls),
            seed=args.seed,
            speed=args.speed or None,
            secret=secret,
            agi_address=("127.0.0.1", ivr_port),
        )
        await sim.__aenter__()
        ami_port = sim.port
        source = f"simulador ({args.calls} llamadas, semilla {args.seed}, x{args.speed:g})"
    users_file = db_path.parent / "console-users.toml"
    passwords = {} if args.no_console else await asyncio.to_thread(demo_users, users_file)
    settings = demo_settings(db_path, ami_port, http_port, ivr_port, users_file)
    if args.no_console:
        settings = msgspec.structs.replace(
            settings, http=msgspec.structs.replace(settings.http, enabled=False)
        )
    daemon = Daemon(settings)
    await daemon.build()
    runner = asyncio.create_task(daemon.run())
    stop_progress = asyncio.Event()
    progress: asyncio.Task[None] | None = None
    started = time.monotonic()
    try:
        await daemon.ready.wait()
        parts = daemon.parts
        assert parts is not None
        await asyncio.wait_for(parts.listener.client.logged_in.wait(), 30)
        _say(f"centralita demo: PBX = {source}")
        _say(f"  base de datos  {db_path}")
        if not args.no_console:
            _say(f"  consola        http://127.0.0.1:{http_port}/")
            _say(f"  panel (wallboard) http://127.0.0.1:{http_port}/muro")
            _say(f"  métricas       http://127.0.0.1:{http_port}/metrics")
            logins = ", ".join(f"{n} / {p}" for n, p in passwords.items())
            _say(f"  usuarios (usuario / clave de esta demo): {logins}")
        _say(f"  IVR (FastAGI)  agi://127.0.0.1:{ivr_port}/ivr")
        progress = asyncio.create_task(_progress(daemon, total, stop_progress))
        if sim is not None:
            await sim.run()
        else:
            await server.finished.wait()
        await parts.listener.drain(timeout_s=60)
        stop_progress.set()
        await progress
        _say(f"terminado en {time.monotonic() - started:.1f} s")
        await print_indicator(daemon)
        if getattr(args, "keep", False):
            _say("la consola sigue activa; Ctrl-C para salir")
            await daemon.stop_event.wait()
    finally:
        stop_progress.set()
        daemon.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner, 30)
        if sim is not None:
            await sim.__aexit__(None, None, None)
        if server is not None:
            await server.close()
    return 0
