"""Command-line sub-commands of metrics (registered by centralita.cli).

``report`` (the monthly ATT indicator: table, json, csv, xlsx, pdf), ``supervisor``
(floor reports for a day or a month), ``import-queue-log`` and ``reconcile``. Every
parser sets ``func(args) -> int``; the database URL comes from ``--db`` or
``CENTRALITA_DB_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from metrics.exceptions import ExportError, MetricsError
from metrics.service_level import SERVICE_NAMES, CountingRules

DB_ENV = "CENTRALITA_DB_URL"
FORMATS = ("table", "json", "csv", "xlsx", "pdf")


def software_version() -> str:
    """The installed centralita version."""
    try:
        return importlib_metadata.version("centralita")
    except importlib_metadata.PackageNotFoundError:
        return "desconocida"


def service_names(routing_path: str | None = None) -> dict[str, str]:
    """Service display names from the routing file when available, else the built-in map."""
    names = dict(SERVICE_NAMES)
    try:
        import routing

        path = routing_path or routing.default_routing_path()
        table = routing.load_routing(path)
        names.update({service.key: service.name for service in table.services})
    except Exception:
        return names
    return names


def _db_url(args: argparse.Namespace) -> str:
    url = args.db or os.environ.get(DB_ENV, "")
    if not url:
        raise MetricsError(f"falta la base de datos: use --db URL o la variable {DB_ENV}")
    return str(url)


def _run(
    args: argparse.Namespace, body: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
) -> int:
    try:
        return asyncio.run(body(args))
    except MetricsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help=f"URL de la base de datos (o ${DB_ENV})")
    parser.add_argument("--pbx", default=None, help="solo esta central (pbx_id)")


def _add_rules(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reglas de conteo")
    group.add_argument("--threshold", type=int, default=20, help="umbral en s (inclusive)")
    group.add_argument("--target", type=float, default=80.0, help="meta en %%")
    group.add_argument(
        "--wait-basis",
        choices=("asterisk", "exact"),
        default="asterisk",
        help="espera en segundos enteros de Asterisk (defecto) o exacta en ms",
    )
    group.add_argument(
        "--short-abandon",
        type=int,
        default=0,
        metavar="S",
        help="excluir abandonos con espera menor a S segundos (0 = no excluir)",
    )
    group.add_argument(
        "--no-timeouts", action="store_true", help="no contar los tiempos de espera agotados"
    )
    group.add_argument(
        "--no-exit-with-key", action="store_true", help="no contar las salidas con tecla"
    )
    group.add_argument(
        "--no-exit-empty", action="store_true", help="no contar las salidas por cola vacía"
    )
    group.add_argument(
        "--count-ivr-hangups",
        action="store_true",
        help="contar las colgadas en el IVR antes de la cola",
    )


def rules_from_args(args: argparse.Namespace) -> CountingRules:
    """The counting rules selected on the command line."""
    return CountingRules(
        threshold_s=args.threshold,
        target_percent=args.target,
        wait_basis=args.wait_basis,
        short_abandon_s=args.short_abandon,
        count_timeouts=not args.no_timeouts,
        count_exit_with_key=not args.no_exit_with_key,
        count_exit_empty=not args.no_exit_empty,
        count_ivr_hangups=args.count_ivr_hangups,
    )


def _emit(text: str, out: str | None) -> None:
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


async def _report(args: argparse.Namespace) -> int:
    from ami_listener.store import make_engine
    from metrics.periods import Period
    from metrics.queries import ReportRequest, iter_detail, monthly_report

    period = Period.month(args.month, args.tz)
    request = ReportRequest(period, rules_from_args(args), args.by, args.source, args.pbx)
    if args.format in ("xlsx", "pdf") and not args.out:
        raise ExportError(f"--format {args.format} necesita --out ARCHIVO")
    engine = make_engine(_db_url(args))
    try:
        report = await monthly_report(
            engine, request, names=service_names(args.routing), software_version=software_version()
        )
        if args.format == "table":
            from metrics.export_text import render_table

            _emit(render_table(report), args.out)
        elif args.format == "json":
            from metrics.export_text import render_json

            _emit(render_json(report), args.out)
        elif args.format == "csv":
            from metrics.export_csv import render_csv

            _emit(render_csv(report), args.out)
        elif args.format == "xlsx":
            from metrics.export_xlsx import write_xlsx

            async with engine.connect() as conn:
                await write_xlsx(report, args.out, iter_detail(conn, request))
        else:
            from metrics.export_pdf import write_pdf

            write_pdf(report, args.out)
    except OSError as exc:
        raise ExportError(f"no se puede escribir {args.out}: {exc}") from exc
    finally:
        await engine.dispose()
    if args.out:
        print(f"reporte {period.label} escrito en {args.out}", file=sys.stderr)
    return 0


async def _import(args: argparse.Namespace) -> int:
    from ami_listener.store import make_engine
    from metrics.queue_log_import import import_queue_log, read_queue_log

    text = read_queue_log(args.file)
    engine = make_engine(_db_url(args))
    try:
        result = await import_queue_log(
            text,
            engine,
            pbx_id=args.pbx or os.environ.get("CENTRALITA_PBX_ID", "pbx1"),
            source=str(args.file),
        )
    finally:
        await engine.dispose()
    for bad in result.malformed:
        print(
            f"{args.file}:{bad.line_no}: línea inválida ({bad.reason}), omitida: {bad.raw!r}",
            file=sys.stderr,
        )
    print(
        f"queue_log importado: {result.lines} líneas ({result.lines_stored} nuevas), "
        f"{result.calls} llamadas, {result.queue_entries} estadías en cola, "
        f"{len(result.malformed)} líneas inválidas, {result.unfinished} estadías sin final"
    )
    for verb, count in sorted(result.unknown_verbs.items()):
        print(f"  evento desconocido {verb}: {count} líneas (ignoradas)")
    return 0


async def _reconcile(args: argparse.Namespace) -> int:
    import json

    from ami_listener.store import make_engine
    from metrics.periods import Period
    from metrics.reconcile import reconcile, render_text

    period = Period.month(args.month, args.tz)
    engine = make_engine(_db_url(args))
    try:
        result = await reconcile(
            engine,
            period,
            rules=rules_from_args(args),
            pbx_id=args.pbx,
            tolerance_s=args.tolerance,
        )
    finally:
        await engine.dispose()
    if args.format == "json":
        doc = {
            "period": period.label,
            "ami_calls": result.ami_calls,
            "queue_log_calls": result.queue_log_calls,
            "matched": result.matched,
            "identical": result.identical,
            "by_kind": result.by_kind,
            "differences": [
                {
                    "uniqueid": d.uniqueid,
                    "kind": d.kind,
                    "ami": d.ami,
                    "queue_log": d.queue_log,
                    "entered_at_ms": d.entered_at_ms,
                }
                for d in result.differences
            ],
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(render_text(result, period.tz))
    return 0 if result.clean else 1


async def _supervisor(args: argparse.Namespace) -> int:
    from ami_listener.store import make_engine
    from metrics.periods import Period
    from metrics.supervisor import render_supervisor_json, render_supervisor_text, supervisor_report

    if bool(args.month) == bool(args.day):
        raise MetricsError("indique --month AAAA-MM o --day AAAA-MM-DD")
    period = Period.month(args.month, args.tz) if args.month else Period.day(args.day, args.tz)
    engine = make_engine(_db_url(args))
    try:
        report = await supervisor_report(
            engine,
            period,
            rules_from_args(args),
            by=args.by,
            source=args.source,
            pbx_id=args.pbx,
            names=service_names(args.routing),
            software_version=software_version(),
        )
    finally:
        await engine.dispose()
    text = (
        render_supervisor_json(report) if args.format == "json" else render_supervisor_text(report)
    )
    _emit(text, args.out)
    return 0


def _bind(
    body: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return _run(args, body)

    return run


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``report``, ``supervisor``, ``import-queue-log`` and ``reconcile``."""
    report = subparsers.add_parser(
        "report",
        help="indicador ATT mensual (tabla, json, csv, xlsx, pdf)",
        description="Reporte mensual del indicador ATT: atendidas dentro de 20 s / "
        "registradas × 100, por servicio (o por cola).",
    )
    report.add_argument("--month", required=True, help="mes AAAA-MM (hora de Bolivia)")
    _add_db(report)
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument("--out", help="archivo de salida (obligatorio para xlsx y pdf)")
    report.add_argument("--by", choices=("service", "queue"), default="service")
    report.add_argument(
        "--source",
        choices=("ami", "queue_log"),
        default="ami",
        help="registros AMI (defecto) o queue_log importado",
    )
    report.add_argument("--tz", default="America/La_Paz")
    report.add_argument("--routing", help="routing.toml para los nombres de servicio")
    _add_rules(report)
    report.set_defaults(func=_bind(_report))

    sup = subparsers.add_parser(
        "supervisor", help="reportes de supervisión (espera, abandonos, agentes, horas pico)"
    )
    sup.add_argument("--month", help="mes AAAA-MM")
    sup.add_argument("--day", help="día AAAA-MM-DD")
    _add_db(sup)
    sup.add_argument("--format", choices=("table", "json"), default="table")
    sup.add_argument("--out")
    sup.add_argument("--by", choices=("service", "queue"), default="service")
    sup.add_argument("--source", choices=("ami", "queue_log"), default="ami")
    sup.add_argument("--tz", default="America/La_Paz")
    sup.add_argument("--routing")
    _add_rules(sup)
    sup.set_defaults(func=_bind(_supervisor))

    imp = subparsers.add_parser(
        "import-queue-log", help="importar un queue_log de Asterisk (aparte de los registros AMI)"
    )
    imp.add_argument("file", type=Path)
    _add_db(imp)
    imp.set_defaults(func=_bind(_import))

    rec = subparsers.add_parser(
        "reconcile", help="conciliar llamada por llamada AMI contra queue_log"
    )
    rec.add_argument("--month", required=True)
    _add_db(rec)
    rec.add_argument("--tolerance", type=int, default=1, help="tolerancia de espera en s")
    rec.add_argument("--format", choices=("text", "json"), default="text")
    rec.add_argument("--tz", default="America/La_Paz")
    _add_rules(rec)
    rec.set_defaults(func=_bind(_reconcile))
