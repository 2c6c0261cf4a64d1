"""Command-line sub-commands of metrics (registered by centralita.cli).

``report`` (the monthly ATT indicator: table, json, csv, xlsx, pdf), ``supervisor``
(floor reports for a day or a month), ``import-queue-log`` and ``reconcile``. Every
parser sets ``func(args) -> int``.

This module also holds the command-line conventions every part shares (parts may not
import the app layer): ``month_arg``, ``whole_number``, the one ``--db`` option
(``add_db_option``: ``--db``, else ``$CENTRALITA_DB_URL``, else ``DEFAULT_DB_URL``, read by
``database_url``) and ``file_kind``, which tells an AMI capture, a queue_log, a CSV and
a TOML file apart by their first lines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Callable, Coroutine
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from centralita.metrics.exceptions import ExportError, MetricsError
from centralita.metrics.service_level import CountingRules

DB_ENV = "CENTRALITA_DB_URL"
DEFAULT_DB_URL = "sqlite+aiosqlite:///centralita.db"
DB_HELP = f"URL SQLAlchemy (por omisión: ${DB_ENV} o {DEFAULT_DB_URL})"
DB_HELP_WITH_CONFIG = (
    f"URL SQLAlchemy (por omisión: ${DB_ENV}, el [database] url de --config o {DEFAULT_DB_URL})"
)
FORMATS = ("table", "json", "csv", "xlsx", "pdf")


def add_db_option(parser: Any, *, config: bool = False) -> None:
    """Add the one ``--db URL`` option of every command that touches the database.

    Its value is None when not given: ``database_url`` (or, for the commands that read a
    settings file, ``config=True``, the settings) supplies the default at run time.
    ``parser`` is an ``ArgumentParser`` or one of its groups.
    """
    parser.add_argument(
        "--db", metavar="URL", default=None, help=DB_HELP_WITH_CONFIG if config else DB_HELP
    )


def database_url(given: str | None) -> str:
    """``--db`` when given, else ``$CENTRALITA_DB_URL``, else ``DEFAULT_DB_URL``."""
    return given or os.environ.get(DB_ENV) or DEFAULT_DB_URL


_AMI_FIRST = re.compile(r"^(Asterisk Call Manager/|[A-Za-z][A-Za-z0-9_-]*: )")
_QUEUE_LOG_LINE = re.compile(r"^\d{9,11}(\.\d+)?\|[^|]*\|[^|]*\|[^|]*\|[A-Z_]+(\||$)")
_TOML_LINE = re.compile(r"^(\[\[?[A-Za-z0-9_.\" -]+\]\]?|[A-Za-z0-9_\"-]+(\.[A-Za-z0-9_\"-]+)* *=)")
FILE_KINDS = {
    "ami": "una captura AMI",
    "queue_log": "un queue_log de Asterisk",
    "csv": "un CSV",
    "toml": "un archivo TOML",
}
"""What each kind ``file_kind`` tells is called in the messages."""


def file_kind(head: bytes | str) -> str | None:
    """The kind of file (a key of ``FILE_KINDS``) its first lines show, or None.

    An AMI capture starts with the ``Asterisk Call Manager/`` banner or ``Key: value``
    lines; a queue_log line is ``epoch|callid|queue|agent|EVENT|...``; a TOML file has
    ``[table]`` and ``key = value`` lines; a CSV comma- or semicolon-separated fields.
    Blank and ``#`` comment lines are skipped; of the next ten lines, the kind most of
    them show wins (the first line breaks a tie), so a capture cut mid-frame is still
    a capture.
    """
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    votes: dict[str, int] = {}
    seen = 0
    for raw in text.splitlines()[:200]:
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        seen += 1
        if seen > 10:
            break
        kind = _line_kind(line)
        if kind is not None:
            votes[kind] = votes.get(kind, 0) + 1
    if not votes:
        return None
    return max(votes, key=lambda k: votes[k])  # dicts keep order: the first kind on a tie


def _line_kind(line: str) -> str | None:
    if _QUEUE_LOG_LINE.match(line):
        return "queue_log"
    if _AMI_FIRST.match(line):
        return "ami"
    if _TOML_LINE.match(line):
        return "toml"
    if "," in line or ";" in line:
        return "csv"
    return None


def read_head(path: str | Path, size: int = 4096) -> bytes:
    """The first ``size`` bytes of a file (empty when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def wrong_kind(path: str | Path, head: bytes | str, wanted: str) -> str | None:
    """The one Spanish line refusing a file of another kind than ``wanted``, or None.

    The line names the file, what it looks like and the command that takes it.
    """
    kind = file_kind(head)
    if kind is None or kind == wanted:
        return None
    takes = {
        "ami": f"cárguela con `centralita ingest-file {path}`",
        "queue_log": f"impórtelo con `centralita import-queue-log {path}`",
        "csv": "los CSV se importan con `customers import`, `campaign import` o "
        "`campaign dnc|payments import`",
        "toml": "indique el archivo que corresponde",
    }[kind]
    return f"{path}: parece {FILE_KINDS[kind]}, no {FILE_KINDS[wanted]}; {takes}"


def software_version() -> str:
    """The installed centralita version."""
    try:
        return importlib_metadata.version("centralita")
    except importlib_metadata.PackageNotFoundError:
        return "desconocida"


def service_names(routing_path: str | None = None) -> dict[str, str]:
    """Service display names from routing.toml (``--routing``, ``$CENTRALITA_ROUTING`` or
    the shipped file), over the built-in map for keys the file does not name."""
    from centralita.metrics.service_config import load_service_config

    return load_service_config(routing_path).names


def month_arg(text: str) -> str:
    """An argparse ``type=``: a calendar month ``AAAA-MM``, refused in Spanish otherwise."""
    from centralita.metrics.exceptions import PeriodError
    from centralita.metrics.periods import Period

    try:
        Period.month(text)
    except PeriodError as exc:
        raise argparse.ArgumentTypeError(
            f"mes inválido «{text}»: use AAAA-MM, p. ej. 2026-11"
        ) from exc
    return text


def whole_number(
    minimum: int, maximum: int | None = None, *, refusal: str = ""
) -> Callable[[str], int]:
    """An argparse ``type=``: a whole number from ``minimum`` (to ``maximum``); anything
    else is refused with ``refusal`` (default: «use un número entero, N o más»)."""
    said = refusal or f"no vale: use un número entero, {minimum} o más"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"«{text}» {said}")
        return value

    return parse


non_negative_int = whole_number(0)


def check_out_path(out: str | Path | None) -> None:
    """Refuse, before any work, an output file whose folder does not exist.

    Raises:
        ExportError: the folder is missing or is not a folder.
    """
    if not out:
        return
    folder = Path(out).parent
    if not folder.is_dir():
        raise ExportError(f"--out: la carpeta {folder} no existe; créela o indique otra ruta")


def check_routing(path: str | None) -> None:
    """Refuse a ``--routing`` file that is missing or invalid (never silently ignored).

    Raises:
        MetricsError: the file is missing, unreadable or invalid.
    """
    if not path:
        return
    from centralita import routing

    if not Path(path).is_file():
        raise MetricsError(f"--routing: {path} no existe; indique otro archivo")
    try:
        routing.load_routing(path)
    except routing.RoutingConfigError as exc:
        from centralita.routing.commands import routing_error_line

        raise MetricsError(f"--routing: {routing_error_line(exc)}") from exc


async def _open_db(args: argparse.Namespace) -> Any:
    """The database at the schema's newest revision (``args.open_db``, from the CLI)."""
    open_db: Callable[[str], Coroutine[Any, Any, Any]] = args.open_db
    return await open_db(database_url(args.db))


def _run(
    args: argparse.Namespace, body: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
) -> int:
    try:
        return asyncio.run(body(args))
    except MetricsError as exc:
        print(f"centralita: {exc}", file=sys.stderr)
        return 2


def _add_db(parser: argparse.ArgumentParser) -> None:
    add_db_option(parser)
    parser.add_argument("--pbx", default=None, help="solo esta central (pbx_id)")


def _add_grouping(parser: argparse.ArgumentParser) -> None:
    """``--by`` and ``--source``, the same for the regulator's and the supervisor's report."""
    parser.add_argument(
        "--by", choices=("service", "queue"), default="service", help="por servicio o por cola"
    )
    parser.add_argument(
        "--source",
        choices=("ami", "queue_log"),
        default="ami",
        help="registros AMI (defecto) o queue_log importado",
    )


def _add_rules(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reglas de conteo")
    group.add_argument(
        "--threshold",
        type=int,
        default=None,
        help="umbral en s (inclusive); defecto: [indicator] de routing.toml (20)",
    )
    group.add_argument(
        "--target",
        type=float,
        default=None,
        help="meta en %%; defecto: [indicator] de routing.toml (80)",
    )
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
    group.add_argument(
        "--no-ivr-derived",
        action="store_true",
        help="no contar las llamadas que el IVR desvió fuera de la cola (a un interno o "
        "un anuncio; se muestran igual en su propia columna)",
    )
    group.add_argument(
        "--no-cut",
        action="store_true",
        help="no contar las llamadas cortadas por caída o reinicio de la central "
        "(se muestran igual en su propia columna)",
    )


def rules_from_args(args: argparse.Namespace) -> CountingRules:
    """The counting rules selected on the command line, on top of routing.toml's
    (``--routing``, ``$CENTRALITA_ROUTING`` or the shipped file): the measured services,
    the threshold and the target, which ``--threshold`` / ``--target`` may override."""
    from centralita.metrics.service_config import load_service_config

    config = load_service_config(getattr(args, "routing", None))
    return config.rules(
        threshold_s=args.threshold,
        target_percent=args.target,
        wait_basis=args.wait_basis,
        short_abandon_s=args.short_abandon,
        count_timeouts=not args.no_timeouts,
        count_exit_with_key=not args.no_exit_with_key,
        count_exit_empty=not args.no_exit_empty,
        count_ivr_hangups=args.count_ivr_hangups,
        count_ivr_derived=not args.no_ivr_derived,
        count_cut=not args.no_cut,
    )


def _emit(text: str, out: str | None) -> None:
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


async def _report(args: argparse.Namespace) -> int:
    from centralita.metrics.periods import Period
    from centralita.metrics.queries import ReportRequest, iter_detail, monthly_report

    if args.format in ("xlsx", "pdf") and not args.out:
        raise ExportError(f"--format {args.format} necesita --out ARCHIVO")
    check_out_path(args.out)
    check_routing(args.routing)
    period = Period.month(args.month, args.tz)
    request = ReportRequest(period, rules_from_args(args), args.by, args.source, args.pbx)
    engine = await _open_db(args)
    try:
        report = await monthly_report(
            engine, request, names=service_names(args.routing), software_version=software_version()
        )
        if args.format == "table":
            from centralita.metrics.export_text import render_table

            _emit(render_table(report), args.out)
        elif args.format == "json":
            from centralita.metrics.export_text import render_json

            _emit(render_json(report), args.out)
        elif args.format == "csv":
            from centralita.metrics.export_csv import render_csv

            _emit(render_csv(report), args.out)
        elif args.format == "xlsx":
            from centralita.metrics.export_xlsx import write_xlsx

            async with engine.connect() as conn:
                await write_xlsx(report, args.out, iter_detail(conn, request))
        else:
            from centralita.metrics.export_pdf import write_pdf

            write_pdf(report, args.out)
    except OSError as exc:
        raise ExportError(f"no se puede escribir {args.out}: {exc}") from exc
    finally:
        await engine.dispose()
    if args.out:
        print(f"reporte {period.label} escrito en {args.out}", file=sys.stderr)
    return 0


async def _import(args: argparse.Namespace) -> int:
    from centralita.metrics.queue_log_import import import_queue_log, read_queue_log

    text = read_queue_log(args.file)
    refusal = wrong_kind(args.file, text[:4096], "queue_log")
    if refusal:
        raise MetricsError(refusal)
    engine = await _open_db(args)
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

    from centralita.metrics.periods import Period
    from centralita.metrics.reconcile import reconcile, render_text

    period = Period.month(args.month, args.tz)
    engine = await _open_db(args)
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
            "provenance": result.provenance,
            "differences": [
                {
                    "uniqueid": d.uniqueid,
                    "kind": d.kind,
                    "ami": d.ami,
                    "queue_log": d.queue_log,
                    "entered_at_ms": d.entered_at_ms,
                    "provenance": d.provenance,
                }
                for d in result.differences
            ],
            "estimated": [{"uniqueid": v.uniqueid, "marks": v.marks} for v in result.estimated],
        }
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(render_text(result, period.tz))
    return 0 if result.clean else 1


async def _supervisor(args: argparse.Namespace) -> int:
    from centralita.metrics.periods import Period
    from centralita.metrics.supervisor import (
        render_supervisor_json,
        render_supervisor_text,
        supervisor_report,
    )

    if bool(args.month) == bool(args.day):
        raise MetricsError("indique --month AAAA-MM o --day AAAA-MM-DD")
    check_out_path(args.out)
    check_routing(args.routing)
    period = Period.month(args.month, args.tz) if args.month else Period.day(args.day, args.tz)
    engine = await _open_db(args)
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
    report.add_argument(
        "--month",
        required=True,
        type=month_arg,
        metavar="AAAA-MM",
        help="mes (hora de Bolivia)",
    )
    _add_db(report)
    report.add_argument("--format", choices=FORMATS, default="table", help="formato de salida")
    report.add_argument("--out", help="archivo de salida (obligatorio para xlsx y pdf)")
    _add_grouping(report)
    report.add_argument("--tz", default="America/La_Paz", help="zona horaria del mes")
    report.add_argument("--routing", help="routing.toml para los nombres de servicio")
    _add_rules(report)
    report.set_defaults(func=_bind(_report))

    sup = subparsers.add_parser(
        "supervisor", help="reportes de supervisión (espera, abandonos, agentes, horas pico)"
    )
    sup.add_argument("--month", type=month_arg, metavar="AAAA-MM", help="mes")
    sup.add_argument("--day", metavar="AAAA-MM-DD", help="día")
    _add_db(sup)
    sup.add_argument(
        "--format", choices=("table", "json"), default="table", help="formato de salida"
    )
    sup.add_argument("--out", help="archivo de salida")
    _add_grouping(sup)
    sup.add_argument("--tz", default="America/La_Paz", help="zona horaria del período")
    sup.add_argument("--routing", help="routing.toml para los nombres de servicio")
    _add_rules(sup)
    sup.set_defaults(func=_bind(_supervisor))

    imp = subparsers.add_parser(
        "import-queue-log", help="importar un queue_log de Asterisk (aparte de los registros AMI)"
    )
    imp.add_argument("file", type=Path, help="el archivo queue_log de Asterisk")
    _add_db(imp)
    imp.set_defaults(func=_bind(_import))

    rec = subparsers.add_parser(
        "reconcile", help="conciliar llamada por llamada AMI contra queue_log"
    )
    rec.add_argument("--month", required=True, type=month_arg, metavar="AAAA-MM", help="mes")
    _add_db(rec)
    rec.add_argument(
        "--tolerance", type=non_negative_int, default=1, help="tolerancia de espera en s"
    )
    rec.add_argument("--format", choices=("text", "json"), default="text", help="formato de salida")
    rec.add_argument("--tz", default="America/La_Paz", help="zona horaria del mes")
    _add_rules(rec)
    rec.set_defaults(func=_bind(_reconcile))
