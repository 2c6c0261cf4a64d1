"""`centralita routing check FILE` and `centralita routing resolve FILE --dialed N --at ISO`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `routing check` and `routing resolve`."""
    routing = subparsers.add_parser(
        "routing", help="revisar un archivo de enrutamiento o probar una llamada en él"
    )
    sub = routing.add_subparsers(dest="routing_command", metavar="ACCIÓN", required=True)

    check = sub.add_parser(
        "check", help="validar un archivo de enrutamiento (sale con 1 y los motivos)"
    )
    check.add_argument("file", help="routing.toml a revisar")
    check.set_defaults(func=_check)

    res = sub.add_parser("resolve", help="mostrar adónde iría una llamada, y por qué")
    res.add_argument("file", help="routing.toml")
    res.add_argument("--dialed", required=True, help="número marcado, p. ej. 4639999")
    res.add_argument(
        "--at",
        required=True,
        help="hora de la llamada, ISO 8601; sin desfase es la hora local de la zona del archivo",
    )
    res.add_argument("--segment", help="segmento del cliente, p. ej. corporativo")
    res.add_argument(
        "--topic",
        help="opción del menú que elige quien llama, p. ej. damage (por omisión: todas)",
    )
    res.add_argument("--json", action="store_true", help="mostrar la decisión en JSON")
    res.set_defaults(func=_resolve)


def routing_problem_lines(exc: Any) -> list[str]:
    """One Spanish line per problem of a ``RoutingConfigError``: file, place, reason."""
    from centralita.routing.loader import FILE_PLACE

    lines = []
    for error in exc.errors or [f"{FILE_PLACE}: sin detalle"]:
        place, _, reason = str(error).partition(": ")
        if place == FILE_PLACE:
            lines.append(f"{exc.source}: {reason}")
        else:
            lines.append(f"{exc.source}: enrutamiento inválido en {place}: {reason}")
    return lines


def routing_error_line(exc: Any) -> str:
    """The one Spanish line for a routing file that cannot be used (`routing check`, the
    daemon, `conf generate`, `--routing` of the reports): the first problem with its file,
    place and reason, and how many more `centralita routing check` lists."""
    lines = routing_problem_lines(exc)
    more = len(lines) - 1
    if more:
        return (
            f"{lines[0]} (y {more} problema{'s' if more > 1 else ''} más:"
            f" `centralita routing check {exc.source}` los lista)"
        )
    return lines[0]


def _out(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")


def _load(path: str, *, every_problem: bool = False) -> Any:
    """The routing table, or None once its problems are said (all, or the one line)."""
    from centralita.routing.exceptions import RoutingConfigError
    from centralita.routing.loader import load_routing

    try:
        return load_routing(path)
    except RoutingConfigError as exc:
        for line in routing_problem_lines(exc) if every_problem else [routing_error_line(exc)]:
            _out(line, err=True)
        return None


def _missing(path: str) -> bool:
    """Say so (one line) when the routing file does not exist."""
    if Path(path).is_file():
        return False
    _out(f"{path}: el archivo de enrutamiento no existe; indique otro", err=True)
    return True


def _check(args: argparse.Namespace) -> int:
    if _missing(args.file):
        return 2
    table = _load(args.file, every_problem=True)
    if table is None:
        return 1
    numbers = sum(len(s.numbers) for s in table.services)
    _out(
        f"{args.file}: correcto ({len(table.services)} servicios, {numbers} números, "
        f"{len(table.queues)} colas, {len(table.holidays)} feriados)"
    )
    _print_examples(args.file)
    return 0


def _print_examples(path: str) -> None:
    """The lines marked EXAMPLE: what the procedure does not say, to confirm."""
    from pathlib import Path

    from centralita.routing.examples import example_lines

    found = example_lines(Path(path).read_text(encoding="utf-8"))
    if not found:
        return
    _out(
        f"{len(found)} valores de EJEMPLO (no son del procedimiento; confírmelos con el "
        "centro antes de usarlos):"
    )
    for line in found:
        state = "en uso" if line.active else "comentado, sin efecto"
        _out(f"  línea {line.number} ({state}): {line.text}")


def _resolve(args: argparse.Namespace) -> int:
    import msgspec

    from centralita.routing.exceptions import UnknownNumberError
    from centralita.routing.resolve import Decision, resolve

    if _missing(args.file):
        return 2
    table = _load(args.file)
    if table is None:
        return 1
    try:
        when = dt.datetime.fromisoformat(args.at)
    except ValueError:
        _out(
            f"--at: «{args.at}» no es una fecha y hora ISO 8601; use p. ej. 2026-12-04T15:00",
            err=True,
        )
        return 2
    if when.tzinfo is None:
        when = when.replace(tzinfo=table.timezone)
    try:
        decision: Decision = resolve(table, args.dialed, when, args.segment, topic=args.topic)
    except UnknownNumberError as exc:
        _out(f"{args.file}: ningún servicio atiende el número marcado «{exc.dialed}»", err=True)
        return 1
    except ValueError as exc:
        _out(f"{args.file}: {exc}", err=True)
        return 2
    if args.json:
        _out(msgspec.json.format(msgspec.json.encode(decision)).decode())
        return 0
    _print_decision(decision, indent="")
    for topic, other in decision.by_topic.items():
        _out(f"\nsi quien llama elige «{topic}»:")
        _print_decision(other, indent="  ")
    return 0


def _print_decision(d: Any, indent: str) -> None:
    if d.destination_kind == "queue":
        wait = "sin espera máxima" if d.max_wait_s is None else f"espera máxima {d.max_wait_s} s"
        target = f"cola {d.queue} (prioridad {d.priority}, {wait})"
    elif d.destination_kind == "number":
        target = f"transferir a {d.number}" + (f" ({d.number_label})" if d.number_label else "")
    else:
        target = "anuncio, luego cortar"
    lines = [
        f"servicio:     {d.service_key} ({d.service_name})"
        + (", medido por la ATT" if d.measured else ""),
        f"destino:      {target}",
    ]
    if d.announcement is not None:
        lines.append(f"anuncio:      {d.announcement.name} ({d.announcement.sound})")
    if d.overflow is not None:
        lines.append(f"desborde:     {_describe_overflow(d.overflow)}")
    lines += [
        f"guion:        {d.script_id}",
        f"flujo IVR:    {d.ivr_flow or '(ninguno: solo enrutamiento)'}",
        f"regla:        {d.rule or '(ninguna)'}",
        "por qué:",
        *(f"  - {reason}" for reason in d.reasons),
    ]
    for line in lines:
        _out(indent + line)


def _describe_overflow(dest: Any) -> str:
    from centralita.routing.model import ToAnnouncement, ToNumber, ToQueue

    match dest:
        case ToQueue(queue=queue):
            return f"cola {queue}"
        case ToNumber(number=number):
            return f"transferir a {number}"
        case ToAnnouncement(announcement=name):
            return f"anuncio {name}"
    return str(dest)
