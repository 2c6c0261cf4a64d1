"""Core sub-commands: run, demo, ingest-file, calls, rebuild, db-migrate."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from centralita.metrics.commands import (
    add_db_option,
    database_url,
    month_arg,
    whole_number,
    wrong_kind,
)
from centralita.settings import StartupError


def db_url_from(args: argparse.Namespace) -> str:
    """`--db`, else `CENTRALITA_DB_URL`, else a SQLite file in the working directory."""
    return database_url(getattr(args, "db", None))


class UsageError(StartupError):
    """A command-line value that cannot be right (a user's mistake: exit code 2)."""

    exit_code = 2


positive_int = whole_number(1)
"""An argparse ``type=``: a whole number, 1 or more."""

port_arg = whole_number(
    0, 65535, refusal="no es un puerto: use un número de 0 (cualquiera libre) a 65535"
)
"""An argparse ``type=``: a TCP port, 0 (any free port) to 65535."""


def speed_arg(text: str) -> float:
    """An argparse ``type=``: a speed-up, a number 0 (no pauses) or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"«{text}» no vale: use un número, 0 (sin pausas) o más")
    return value


def existing_file(what: str) -> Any:
    """An argparse ``type=``: a file that exists (``what`` names it in the message)."""

    def check(text: str) -> str:
        if not Path(text).is_file():
            raise argparse.ArgumentTypeError(f"{what} {text} no existe; indique otro archivo")
        return text

    return check


def check_out_path(out: str | None) -> None:
    """Refuse, before any work, an output file whose folder does not exist."""
    if out and not Path(out).parent.is_dir():
        raise UsageError(
            f"--out: la carpeta {Path(out).parent} no existe; créela o indique otra ruta"
        )


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the core sub-commands."""
    p = subparsers.add_parser("run", help="el servicio (escucha AMI, IVR, consola)")
    p.add_argument(
        "--config", metavar="FILE", help="centralita.toml (por omisión: valores incorporados)"
    )
    add_db_option(p, config=True)
    p.set_defaults(func=_cmd_run)

    p = subparsers.add_parser("demo", help="central simulada + servicio + consola en esta máquina")
    p.add_argument(
        "--dir",
        metavar="DIR",
        help="carpeta de los archivos de la demo (base de datos, usuarios de la consola);"
        " por omisión una carpeta temporal nueva",
    )
    p.add_argument(
        "--capture",
        metavar="FILE",
        help="reproducir esta captura AMI (o «bundled», la incluida) en vez del simulador",
    )
    p.add_argument(
        "--calls", type=positive_int, default=300, help="llamadas simuladas (por omisión 300)"
    )
    p.add_argument(
        "--speed",
        type=speed_arg,
        default=60.0,
        help="aceleración de la simulación (por omisión 60; 0 = sin pausas)",
    )
    p.add_argument("--seed", type=int, default=2027, help="semilla (misma semilla, misma demo)")
    p.add_argument(
        "--console-port",
        type=port_arg,
        default=8080,
        help="puerto de la consola web (por omisión 8080; 0 = cualquiera libre)",
    )
    p.add_argument("--no-console", action="store_true", help="no servir la consola web")
    p.add_argument("--keep", action="store_true", help="seguir sirviendo la consola al terminar")
    p.set_defaults(func=_cmd_demo)

    p = subparsers.add_parser(
        "ingest-file", help="pasar una captura AMI en bruto por el mismo proceso que en vivo"
    )
    p.add_argument("capture", metavar="CAPTURE.ami", help="la captura (bytes tal como llegaron)")
    p.add_argument(
        "--pbx",
        default=os.environ.get("CENTRALITA_PBX_ID", "pbx1"),
        help="central de la captura (por omisión: $CENTRALITA_PBX_ID o pbx1,"
        " como import-queue-log)",
    )
    p.add_argument(
        "--routing",
        metavar="FILE",
        type=existing_file("el archivo de enrutamiento"),
        help="asignar los números marcados a servicios con este enrutamiento",
    )
    add_db_option(p)
    p.set_defaults(func=_cmd_ingest_file)

    p = subparsers.add_parser("calls", help="listar los registros de llamadas")
    add_db_option(p)
    p.add_argument(
        "--month", metavar="AAAA-MM", type=month_arg, help="mes calendario (hora de Bolivia)"
    )
    p.add_argument("--pbx", help="solo esta central (pbx_id)")
    p.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="formato de salida"
    )
    p.add_argument("--out", metavar="FILE", help="escribir en FILE en vez de la salida estándar")
    p.set_defaults(func=_cmd_calls)

    p = subparsers.add_parser(
        "rebuild", help="recalcular los registros de llamadas desde el registro de eventos"
    )
    add_db_option(p)
    p.add_argument("--pbx", help="solo esta central (pbx_id)")
    p.add_argument(
        "--routing",
        metavar="FILE",
        type=existing_file("el archivo de enrutamiento"),
        help="asignar los números marcados a servicios con este enrutamiento",
    )
    p.set_defaults(func=_cmd_rebuild)

    p = subparsers.add_parser(
        "db-migrate", help="crear o actualizar el esquema de la base de datos"
    )
    add_db_option(p)
    p.set_defaults(func=_cmd_migrate)


def _service_resolver(routing_path: str | None) -> Any:
    from centralita.ami_listener.tracker import default_service

    if not routing_path:
        return default_service
    from centralita.routing import RoutingConfigError
    from centralita.routing_glue import resolver_from_routing

    try:
        return resolver_from_routing(routing_path)
    except RoutingConfigError as exc:
        from centralita.routing.commands import routing_error_line

        raise UsageError(f"--routing: {routing_error_line(exc)}") from exc


async def _open(url: str) -> Any:
    from centralita.db import open_engine

    return await open_engine(url)


def _cmd_migrate(args: argparse.Namespace) -> int:
    async def main() -> int:
        engine = await _open(db_url_from(args))
        await engine.dispose()
        print("esquema al día")
        return 0

    return asyncio.run(main())


def _cmd_ingest_file(args: argparse.Namespace) -> int:
    from centralita.ami_listener.ingest import ingest_capture

    path = Path(args.capture)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: la captura no existe; indique otro archivo") from exc
    except OSError as exc:
        raise UsageError(f"{path}: no se puede leer la captura ({exc.strerror})") from exc
    refusal = wrong_kind(path, data[:4096], "ami")
    if refusal:
        raise UsageError(refusal)
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

    check_out_path(args.out)

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
    from centralita.ami_listener.ingest import rebuild
    from centralita.healing import heal_after_rebuild

    resolver = _service_resolver(args.routing)

    async def main() -> int:
        engine = await _open(db_url_from(args))
        try:
            written = await rebuild(engine, args.pbx, service_for=resolver)
            # Healing from the stored queue_log, as the live daemon did (same records).
            healed = await heal_after_rebuild(engine, list(written), resolver)
        finally:
            await engine.dispose()
        for pbx, count in written.items():
            h = healed[pbx]
            print(
                f"{pbx}: {count} llamadas recalculadas; desde queue_log: {h.inserted}"
                f" completadas, {h.corrected} corregidas"
            )
        return 0

    return asyncio.run(main())


def _cmd_run(args: argparse.Namespace) -> int:
    from centralita.daemon import run_daemon
    from centralita.settings import load_settings

    settings = load_settings(args.config, db_url=args.db)
    return asyncio.run(run_daemon(settings))


def _cmd_demo(args: argparse.Namespace) -> int:
    from centralita.demo import main

    if args.capture and args.capture != "bundled" and not Path(args.capture).is_file():
        raise UsageError(f"--capture: {args.capture} no existe; indique otra captura o «bundled»")

    return main(args)


def _write_text(path: Path, text: str) -> None:
    path.write_text(text if text.endswith("\n") else text + "\n", "utf-8")
