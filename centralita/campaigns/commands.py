"""`centralita campaign ...`: the supervisor's commands for the prepaid campaign.

    campaign import FILE.csv [--month AAAA-MM]     the month's list (all or nothing)
    campaign dnc import FILE.csv                   do-not-call numbers / contracts
    campaign payments import FILE.csv              payments made (for the report)
    campaign report --month AAAA-MM [--format table|xlsx] [--out FILE]
    campaign pause|resume --month AAAA-MM          the dialer notices within seconds
    campaign result ATTEMPT CODE --agent A         an agent's result for an answered call
    campaign run --month AAAA-MM --ami-host H [--ami-port P] [--config FILE.toml]
                 [--routing routing.toml]          the dialer alone against one PBX, in
                                                   routing.toml's calling hours
    campaign check-config FILE.toml                validate a settings file (exit 1 + why)

The database URL comes from ``--db``, else ``$CENTRALITA_DB_URL``, else the default
file (``metrics.commands.add_db_option``); the AMI secret of ``campaign run`` from
``$CENTRALITA_AMI_SECRET``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from centralita.campaigns.exceptions import CampaignError, CsvRowsError
from centralita.campaigns.model import DISPOSITIONS, SERVICE_LABELS
from centralita.metrics.commands import add_db_option, month_arg, read_head, wrong_kind

_add_db = add_db_option


def _add_month(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--month",
        metavar="AAAA-MM",
        type=month_arg,
        required=required,
        help="mes de vencimiento",
    )


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `campaign` and its sub-commands."""
    campaign = subparsers.add_parser("campaign", help="campaña de recordatorio a clientes prepago")
    sub = campaign.add_subparsers(dest="campaign_command", metavar="ACCIÓN", required=True)

    p = sub.add_parser("import", help="importar la lista de clientes del mes (CSV)")
    p.add_argument("file", metavar="FILE.csv", type=Path, help="la lista (CSV UTF-8)")
    _add_month(p, required=False)
    _add_db(p)
    p.set_defaults(func=_cmd_import)

    dnc = sub.add_parser("dnc", help="lista de no llamar")
    dnc_sub = dnc.add_subparsers(dest="dnc_command", metavar="ACCIÓN", required=True)
    p = dnc_sub.add_parser(
        "import", help="importar números o contratos a los que no se llama (CSV)"
    )
    p.add_argument("file", metavar="FILE.csv", type=Path, help="números o contratos (CSV UTF-8)")
    _add_db(p)
    p.set_defaults(func=_cmd_dnc_import)

    pay = sub.add_parser("payments", help="pagos realizados")
    pay_sub = pay.add_subparsers(dest="payments_command", metavar="ACCIÓN", required=True)
    p = pay_sub.add_parser("import", help="importar pagos (CSV)")
    p.add_argument("file", metavar="FILE.csv", type=Path, help="los pagos (CSV UTF-8)")
    _add_db(p)
    p.set_defaults(func=_cmd_payments_import)

    p = sub.add_parser("report", help="efectividad de la campaña por servicio y por agente")
    _add_month(p)
    p.add_argument("--format", choices=("table", "xlsx"), default="table", help="formato de salida")
    p.add_argument("--out", metavar="FILE", type=Path, help="archivo de salida")
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE.toml",
        help="configuración de la campaña cuya ventana ([window]) se usa (por omisión: del 25)",
    )
    _add_db(p)
    p.set_defaults(func=_cmd_report)

    for name, paused in (("pause", True), ("resume", False)):
        p = sub.add_parser(name, help="pausar la campaña" if paused else "reanudar la campaña")
        _add_month(p)
        _add_db(p)
        p.set_defaults(func=_cmd_pause if paused else _cmd_resume)

    p = sub.add_parser("run", help="marcar la campaña contra una central (AMI), sin el demonio")
    _add_month(p)
    p.add_argument("--ami-host", required=True, metavar="HOST", help="dirección del AMI")
    p.add_argument("--ami-port", type=int, default=5038, metavar="PUERTO", help="puerto AMI (5038)")
    p.add_argument(
        "--ami-user", default="centralita", metavar="USUARIO", help="usuario AMI (centralita)"
    )
    p.add_argument(
        "--config", type=Path, metavar="FILE.toml", help="ventana, servicio, reintentos, colas"
    )
    p.add_argument(
        "--routing",
        type=Path,
        metavar="FILE.toml",
        help="routing.toml con el horario de llamadas ([service.campaign] windows del"
        " servicio) y los feriados ([[holiday]]) (por omisión: el incluido)",
    )
    p.add_argument("--pbx-id", metavar="ID", help="central (o $CENTRALITA_PBX_ID; pbx1)")
    _add_db(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("check-config", help="validar un archivo de configuración de campaña")
    p.add_argument("file", metavar="FILE.toml", type=Path, help="el archivo a validar")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("result", help="registrar el resultado de una llamada contestada")
    p.add_argument("attempt", type=int, metavar="INTENTO", help="número del intento")
    p.add_argument(
        "code",
        choices=tuple(DISPOSITIONS),
        metavar="RESULTADO",
        help=f"código del resultado: {', '.join(DISPOSITIONS)}",
    )
    p.add_argument("--agent", required=True, help="agente que atendió")
    p.add_argument("--note", default="", help="nota libre")
    _add_db(p)
    p.set_defaults(func=_cmd_result)


def _run(args: argparse.Namespace, work: Callable[[Any], Awaitable[int]]) -> int:
    """Open the database, run `work(engine)`, print campaign errors in Spanish.

    A file to import (``args.file``) that is plainly not a CSV is refused first.
    """
    if isinstance(getattr(args, "file", None), Path) and _wrong_kind(args.file, "csv"):
        return 2

    async def main() -> int:
        # The CLI's opener: the schema at its newest revision (Alembic) before any work.
        open_db: Callable[[str | None], Awaitable[Any]] = args.open_db
        engine = await open_db(args.db)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except CsvRowsError as exc:
        print(
            f"{args.file}: {len(exc.errors)} línea(s) con error, no se importó nada",
            file=sys.stderr,
        )
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    except CampaignError as exc:
        print(f"centralita: {exc}", file=sys.stderr)
        return 1


def _now_ms() -> int:
    return round(time.time() * 1000)


def _cmd_import(args: argparse.Namespace) -> int:
    from centralita.campaigns.importer import import_customer_list

    async def work(engine: Any) -> int:
        done = await import_customer_list(engine, args.file, month=args.month, now_ms=_now_ms())
        print(f"campaña {done.month}: {done.customers} clientes importados")
        for service, count in sorted(done.by_service.items()):
            print(f"  {SERVICE_LABELS[service]}: {count}")
        if done.on_dnc:
            print(f"  {done.on_dnc} en la lista de no llamar (no se llamarán)")
        return 0

    return _run(args, work)


def _cmd_dnc_import(args: argparse.Namespace) -> int:
    from centralita.campaigns.importer import import_dnc

    async def work(engine: Any) -> int:
        added, known = await import_dnc(engine, args.file, now_ms=_now_ms())
        print(f"no llamar: {added} agregados, {known} ya estaban en la lista")
        return 0

    return _run(args, work)


def _cmd_payments_import(args: argparse.Namespace) -> int:
    from centralita.campaigns.importer import import_payments

    async def work(engine: Any) -> int:
        added, known = await import_payments(engine, args.file, now_ms=_now_ms())
        print(f"pagos: {added} importados, {known} ya importados antes")
        return 0

    return _run(args, work)


def _cmd_report(args: argparse.Namespace) -> int:
    from centralita.campaigns.report import build_report, render_table, write_xlsx
    from centralita.campaigns.store import load_state

    if args.format == "xlsx" and args.out is None:
        print("centralita: --format xlsx requiere --out ARCHIVO.xlsx", file=sys.stderr)
        return 2
    if args.out is not None and not args.out.parent.is_dir():
        print(
            f"centralita: --out: la carpeta {args.out.parent} no existe;"
            " créela o indique otra ruta",
            file=sys.stderr,
        )
        return 2
    if args.config is not None and _wrong_kind(args.config, "toml"):
        return 2

    async def work(engine: Any) -> int:
        rule = _settings_from(args).window
        report = build_report(await load_state(engine, args.month, rule=rule), rule)
        if args.format == "xlsx":
            write_xlsx(report, args.out)
            print(f"reporte escrito en {args.out}")
        elif args.out is not None:
            args.out.write_text(render_table(report), encoding="utf-8")
        else:
            print(render_table(report), end="")
        return 0

    return _run(args, work)


def _set_status(args: argparse.Namespace, status: str) -> int:
    from centralita.campaigns.store import set_status

    async def work(engine: Any) -> int:
        await set_status(engine, args.month, status)
        print(f"campaña {args.month}: {'pausada' if status == 'paused' else 'activa'}")
        return 0

    return _run(args, work)


def _cmd_pause(args: argparse.Namespace) -> int:
    return _set_status(args, "paused")


def _cmd_resume(args: argparse.Namespace) -> int:
    return _set_status(args, "active")


def _cmd_result(args: argparse.Namespace) -> int:
    from centralita.campaigns.store import add_disposition

    async def work(engine: Any) -> int:
        stored = await add_disposition(
            engine,
            args.attempt,
            args.code,
            agent=args.agent,
            at=datetime.now(UTC),
            note=args.note,
        )
        again = "" if stored.created else " (ya estaba registrado)"
        print(f"intento {args.attempt}: {DISPOSITIONS[args.code]}{again}")
        return 0

    return _run(args, work)


AMI_SECRET_ENV = "CENTRALITA_AMI_SECRET"  # noqa: S105 - the NAME of the variable


def _wrong_kind(path: Path, wanted: str) -> bool:
    """Say so (one line) when ``path`` is plainly another kind of file than ``wanted``."""
    refusal = wrong_kind(path, read_head(path), wanted)
    if refusal:
        print(f"centralita: {refusal}", file=sys.stderr)
    return refusal is not None


def _settings_from(args: argparse.Namespace) -> Any:
    from centralita.campaigns.dialer import DialerSettings
    from centralita.campaigns.settings import load_settings

    return DialerSettings() if args.config is None else load_settings(args.config)


def _cmd_check_config(args: argparse.Namespace) -> int:
    from centralita.campaigns.settings import load_settings

    if _wrong_kind(args.file, "toml"):
        return 2
    try:
        load_settings(args.file)
    except CampaignError as exc:
        print(f"centralita: {exc}", file=sys.stderr)
        return 1
    print(f"{args.file}: correcto")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from centralita.ami_listener.service import AmiSettings
    from centralita.campaigns.runner import run_campaign

    secret = os.environ.get(AMI_SECRET_ENV)
    if secret is None:
        print(f"centralita: falta la clave AMI en ${AMI_SECRET_ENV}", file=sys.stderr)
        return 2
    if args.config is not None and _wrong_kind(args.config, "toml"):
        return 2
    try:
        settings = _settings_from(args)
    except CampaignError as exc:
        print(f"centralita: {exc}", file=sys.stderr)
        return 1
    from centralita.campaigns.window import calling_hours
    from centralita.routing import RoutingConfigError, default_routing_path, load_routing
    from centralita.routing.commands import routing_error_line

    try:
        table = load_routing(args.routing or default_routing_path())
    except RoutingConfigError as exc:
        print(f"centralita: --routing: {routing_error_line(exc)}", file=sys.stderr)
        return 2
    try:
        hours = calling_hours(table, settings.service)
    except CampaignError as exc:
        print(f"centralita: --routing: {exc}", file=sys.stderr)
        return 2
    ami = AmiSettings(host=args.ami_host, port=args.ami_port, username=args.ami_user, secret=secret)
    pbx_id = args.pbx_id or os.environ.get("CENTRALITA_PBX_ID") or "pbx1"

    async def work(engine: Any) -> int:
        return await run_campaign(
            engine,
            ami,
            args.month,
            settings,
            lambda: datetime.now(UTC),
            pbx_id=pbx_id,
            handle_signals=True,
            hours=hours,
        )

    return _run(args, work)
