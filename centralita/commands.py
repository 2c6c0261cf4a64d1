"""Core sub-commands: run, demo, ingest-file, calls, rebuild, db migrate."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_DB_URL = "sqlite+aiosqlite:///centralita.db"


def db_url_from(args: argparse.Namespace) -> str:
    """`--db`, else `CENTRALITA_DB_URL`, else a SQLite file in the working directory."""
    url = getattr(args, "db", None) or os.environ.get("CENTRALITA_DB_URL") or DEFAULT_DB_URL
    return str(url)


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="SQLAlchemy URL (default: $CENTRALITA_DB_URL or sqlite+aiosqlite:///centralita.db)",
    )


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the core sub-commands."""
    p = subparsers.add_parser("run", help="run the daemon (AMI listener, IVR, console)")
    p.add_argument("--config", metavar="FILE", help="centralita.toml (default: built-in)")
    _add_db(p)
    p.set_defaults(func=_cmd_run)

    p = subparsers.add_parser("demo", help="simulated PBX + daemon + console on localhost")
    p.add_argument("--dir", metavar="DIR", default=".", help="where to write the demo database")
    p.add_argument(
        "--capture", metavar="FILE", help='replay this AMI capture (or "bundled") instead'
    )
    p.add_argument("--calls", type=int, default=300, help="simulated calls (default 300)")
    p.add_argument("--speed", type=float, default=60.0, help="simulation speed-up (default 60)")
    p.add_argument("--seed", type=int, default=2027)
    p.add_argument("--console-port", type=int, default=8080)
    p.add_argument("--no-console", action="store_true", help="do not serve the web console")
    p.add_argument("--keep", action="store_true", help="keep serving the console after the run")
    p.set_defaults(func=_cmd_demo)

    p = subparsers.add_parser("ingest-file", help="feed a raw AMI capture through the pipeline")
    p.add_argument("capture", metavar="CAPTURE.ami")
    p.add_argument(
        "--pbx",
        default=os.environ.get("CENTRALITA_PBX_ID", "pbx1"),
        help="pbx id of the capture (default: $CENTRALITA_PBX_ID or pbx1, as import-queue-log)",
    )
    p.add_argument("--routing", metavar="FILE", help="map dialed numbers through this routing")
    _add_db(p)
    p.set_defaults(func=_cmd_ingest_file)

    p = subparsers.add_parser("calls", help="list call records")
    _add_db(p)
    p.add_argument("--month", metavar="YYYY-MM", help="calendar month in America/La_Paz")
    p.add_argument("--pbx", help="only this pbx id")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=_cmd_calls)

    p = subparsers.add_parser("rebuild", help="recompute call records from the event log")
    _add_db(p)
    p.add_argument("--pbx", help="only this pbx id")
    p.add_argument("--routing", metavar="FILE", help="map dialed numbers through this routing")
    p.set_defaults(func=_cmd_rebuild)

    p = subparsers.add_parser("db-migrate", help="create or upgrade the database schema")
    _add_db(p)
    p.set_defaults(func=_cmd_migrate)


def _service_resolver(routing_path: str | None) -> Any:
    from ami_listener.tracker import default_service

    if not routing_path:
        return default_service
    from centralita.routing_glue import resolver_from_routing

    return resolver_from_routing(routing_path)


async def _open(url: str) -> Any:
    from ami_listener.store import make_engine
    from centralita.db import migrate

    engine = make_engine(url)
    await migrate(engine)
    return engine


def _cmd_migrate(args: argparse.Namespace) -> int:
    async def main() -> int:
        engine = await _open(db_url_from(args))
        await engine.dispose()
        print("esquema al día")
        return 0

    return asyncio.run(main())


def _cmd_ingest_file(args: argparse.Namespace) -> int:
    from ami_listener.ingest import ingest_capture

    path = Path(args.capture)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"{path}: {exc.strerror}", file=sys.stderr)
        return 2
    resolver = _service_resolver(args.routing)

    async def main() -> int:
        engine = await _open(db_url_from(args))
        try:
            stats = await ingest_capture(data, engine, args.pbx, service_for=resolver)
        finally:
            await engine.dispose()
        print(
            f"{path.name}: {stats.events} eventos, {stats.calls} llamadas, "
            f"{stats.malformed} tramas inválidas, {stats.rejected} eventos rechazados, "
            f"{stats.open_calls} llamadas en curso al final"
        )
        return 0

    return asyncio.run(main())


def _cmd_calls(args: argparse.Namespace) -> int:
    from centralita.calls_view import fetch_calls, render_csv, render_json, render_table

    async def main() -> int:
        engine = await _open(db_url_from(args))
        try:
            rows = await fetch_calls(engine, args.month, args.pbx)
        finally:
            await engine.dispose()
        text = {"csv": render_csv, "json": render_json, "table": render_table}[args.format](rows)
        if args.out:
            await asyncio.to_thread(_write_text, Path(args.out), text)
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0

    try:
        return asyncio.run(main())
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2


def _cmd_rebuild(args: argparse.Namespace) -> int:
    from ami_listener.ingest import rebuild

    resolver = _service_resolver(args.routing)

    async def main() -> int:
        engine = await _open(db_url_from(args))
        try:
            written = await rebuild(engine, args.pbx, service_for=resolver)
        finally:
            await engine.dispose()
        for pbx, count in written.items():
            print(f"{pbx}: {count} llamadas recalculadas")
        return 0

    return asyncio.run(main())


def _cmd_run(args: argparse.Namespace) -> int:
    from centralita.daemon import run_daemon
    from centralita.settings import load_settings

    settings = load_settings(args.config, db_url=args.db)
    return asyncio.run(run_daemon(settings))


def _cmd_demo(args: argparse.Namespace) -> int:
    from centralita.demo import run_demo

    return asyncio.run(run_demo(args))


def _write_text(path: Path, text: str) -> None:
    path.write_text(text if text.endswith("\n") else text + "\n", "utf-8")
