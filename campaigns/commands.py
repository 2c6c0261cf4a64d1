"""`centralita campaign ...`: the supervisor's commands for the prepaid campaign.

    campaign import FILE.csv [--month AAAA-MM]     the month's list (all or nothing)
    campaign dnc import FILE.csv                   do-not-call numbers / contracts
    campaign payments import FILE.csv              payments made (for the report)
    campaign report --month AAAA-MM [--format table|xlsx] [--out FILE]
    campaign pause|resume --month AAAA-MM          the dialer notices within seconds
    campaign result ATTEMPT CODE --agent A         an agent's result for an answered call
    campaign run --month AAAA-MM --ami-host H [--ami-port P] [--config FILE.toml]
                                                   the dialer alone against one PBX
    campaign check-config FILE.toml                validate a settings file (exit 1 + why)

The database URL comes from ``--db`` or ``$CENTRALITA_DB_URL``; the AMI secret of
``campaign run`` from ``$CENTRALITA_AMI_SECRET``.
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

from campaigns.exceptions import CampaignError, CsvRowsError
from campaigns.model import DISPOSITIONS, SERVICE_LABELS

DEFAULT_DB_URL = "sqlite+aiosqlite:///centralita.db"


def db_url_from(args: argparse.Namespace) -> str:
    """`--db`, else `CENTRALITA_DB_URL`, else a SQLite file in the working directory."""
    return str(getattr(args, "db", None) or os.environ.get("CENTRALITA_DB_URL") or DEFAULT_DB_URL)


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy URL (o $CENTRALITA_DB_URL)")


def _add_month(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--month", metavar="AAAA-MM", required=required, help="mes de vencimiento")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `campaign` and its sub-commands."""
    campaign = subparsers.add_parser("campaign", help="campaña de recordatorio a clientes prepago")
    sub = campaign.add_subparsers(dest="campaign_command", metavar="ACCION", required=True)

    p = sub.add_parser("import", help="importar la lista de clientes del mes (CSV)")
    p.add_argument("file", metavar="FILE.csv", type=Path)
    _add_month(p, required=False)
    _add_db(p)
    p.set_defaults(func=_cmd_import)

    dnc = sub.add_parser("dnc", help="lista de no llamar")
    dnc_sub = dnc.add_subparsers(dest="dnc_command", metavar="ACCION", required=True)
    p = dnc_sub.add_parser("import", help="importar numeros o contratos que no se llaman (CSV)")
    p.add_argument("file", metavar="FILE.csv", type=Path)
    _add_db(p)
    p.set_defaults(func=_cmd_dnc_import)

    pay = sub.add_parser("payments", help="pagos realizados")
    pay_sub = pay.add_subparsers(dest="payments_command", metavar="ACCION", required=True)
    p = pay_sub.add_parser("import", help="importar pagos (CSV)")
    p.add_argument("file", metavar="FILE.csv", type=Path)
    _add_db(p)
    p.set_defaults(func=_cmd_payments_import)

    p = sub.add_parser("report", help="efectividad de la campaña por servicio y por agente")
    _add_month(p)
    p.add_argument("--format", choices=("table", "xlsx"), default="table")
    p.add_argument("--out", metavar="FILE", type=Path, help="archivo de salida")
    _add_db(p)
    p.set_defaults(func=_cmd_report)

    for name, paused in (("pause", True), ("resume", False)):
        p = sub.add_parser(name, help="pausar la campaña" if paused else "reanudar la campaña")
        _add_month(p)
        _add_db(p)
        p.set_defaults(func=_cmd_pause if paused else _cmd_resume)

    p = sub.add_parser("run", help="marcar la campaña contra una central (AMI), sin el demonio")
    _add_month(p)
    p.add_argument("--ami-host", required=True, metavar="HOST")
    p.add_argument("--ami-port", type=int, default=5038, metavar="PUERTO")
    p.add_argument("--ami-user", default="centralita", metavar="USUARIO")
    p.add_argument("--config", type=Path, metavar="FILE.toml", help="horarios, reintentos, colas")
    p.add_argument("--pbx-id", metavar="ID", help="central (o $CENTRALITA_PBX_ID; pbx1)")
    _add_db(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("check-config", help="validar un archivo de configuración de campaña")
    p.add_argument("file", metavar="FILE.toml", type=Path)
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("result", help="registrar el resultado de una llamada contestada")
    p.add_argument("attempt", type=int, metavar="INTENTO")
    p.add_argument("code", choices=tuple(DISPOSITIONS), metavar="RESULTADO")
    p.add_argument("--agent", required=True)
    p.add_argument("--note", default="")
    _add_db(p)
    p.set_defaults(func=_cmd_result)


def _run(args: argparse.Namespace, work: Callable[[Any], Awaitable[int]]) -> int:
    """Open the database, run `work(engine)`, print campaign errors in Spanish."""
    from ami_listener.store import make_engine

    async def main() -> int:
        engine = make_engine(db_url_from(args))
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except CsvRowsError as exc:
        print(
            f"{args.file}: {len(exc.errors)} linea(s) con error, no se importo nada",
            file=sys.stderr,
        )
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    except CampaignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _now_ms() -> int:
    return round(time.time() * 1000)


def _cmd_import(args: argparse.Namespace) -> int:
    from campaigns.importer import import_customer_list

    async def work(engine: Any) -> int:
        done = await import_customer_list(engine, args.file, month=args.month, now_ms=_now_ms())
        print(f"campaña {done.month}: {done.customers} clientes importados")
        for service, count in sorted(done.by_service.items()):
            print(f"  {SERVICE_LABELS[service]}: {count}")
        if done.on_dnc:
            print(f"  {done.on_dnc} en la lista de no llamar (no se llamaran)")
        return 0

    return _run(args, work)


def _cmd_dnc_import(args: argparse.Namespace) -> int:
    from campaigns.importer import import_dnc

    async def work(engine: Any) -> int:
        added, known = await import_dnc(engine, args.file, now_ms=_now_ms())
        print(f"no llamar: {added} agregados, {known} ya estaban en la lista")
        return 0

    return _run(args, work)


def _cmd_payments_import(args: argparse.Namespace) -> int:
    from campaigns.importer import import_payments

    async def work(engine: Any) -> int:
        added, known = await import_payments(engine, args.file, now_ms=_now_ms())
        print(f"pagos: {added} importados, {known} ya importados antes")
        return 0

    return _run(args, work)


def _cmd_report(args: argparse.Namespace) -> int:
    from campaigns.report import build_report, render_table, write_xlsx
    from campaigns.schema import create_schema
    from campaigns.store import load_state

    if args.format == "xlsx" and args.out is None:
        print("error: --format xlsx requiere --out ARCHIVO.xlsx", file=sys.stderr)
        return 2

    async def work(engine: Any) -> int:
        await create_schema(engine)
        report = build_report(await load_state(engine, args.month))
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
    from campaigns.schema import create_schema
    from campaigns.store import set_status

    async def work(engine: Any) -> int:
        await create_schema(engine)
        await set_status(engine, args.month, status)
        print(f"campaña {args.month}: {'pausada' if status == 'paused' else 'activa'}")
        return 0

    return _run(args, work)


def _cmd_pause(args: argparse.Namespace) -> int:
    return _set_status(args, "paused")


def _cmd_resume(args: argparse.Namespace) -> int:
    return _set_status(args, "active")


def _cmd_result(args: argparse.Namespace) -> int:
    from campaigns.schema import create_schema
    from campaigns.store import add_disposition

    async def work(engine: Any) -> int:
        await create_schema(engine)
        await add_disposition(
            engine,
            args.attempt,
            args.code,
            agent=args.agent,
            at=datetime.now(UTC),
            note=args.note,
        )
        print(f"intento {args.attempt}: {DISPOSITIONS[args.code]}")
        return 0

    return _run(args, work)


AMI_SECRET_ENV = "CENTRALITA_AMI_SECRET"  # noqa: S105 - the NAME of the variable


def _settings_from(args: argparse.Namespace) -> Any:
    from campaigns.dialer import DialerSettings
    from campaigns.settings import load_settings

    return DialerSettings() if args.config is None else load_settings(args.config)


def _cmd_check_config(args: argparse.Namespace) -> int:
    from campaigns.settings import load_settings

    try:
        load_settings(args.file)
    except CampaignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.file}: correcto")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ami_listener.service import AmiSettings
    from campaigns.runner import run_campaign

    secret = os.environ.get(AMI_SECRET_ENV)
    if secret is None:
        print(f"error: falta la clave AMI en ${AMI_SECRET_ENV}", file=sys.stderr)
        return 2
    try:
        settings = _settings_from(args)
    except CampaignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
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
        )

    return _run(args, work)
