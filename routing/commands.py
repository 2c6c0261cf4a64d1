"""`centralita routing check FILE` and `centralita routing resolve FILE --dialed N --at ISO`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `routing check` and `routing resolve`."""
    routing = subparsers.add_parser("routing", help="check a routing file or try a call on it")
    sub = routing.add_subparsers(dest="routing_command", metavar="ACTION", required=True)

    check = sub.add_parser("check", help="validate a routing file (exit 1 with the reasons)")
    check.add_argument("file", help="routing.toml to check")
    check.set_defaults(func=_check)

    res = sub.add_parser("resolve", help="print where a call would go, and why")
    res.add_argument("file", help="routing.toml")
    res.add_argument("--dialed", required=True, help="dialed number, e.g. 4639999")
    res.add_argument(
        "--at",
        required=True,
        help="call time, ISO 8601; without an offset it is local time of the file's timezone",
    )
    res.add_argument("--segment", help="customer segment, e.g. corporativo")
    res.add_argument("--topic", help="caller's menu choice, e.g. damage (default: show all)")
    res.add_argument("--json", action="store_true", help="print the decision as JSON")
    res.set_defaults(func=_resolve)


def _out(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")


def _load(path: str) -> Any:
    from routing.exceptions import RoutingConfigError
    from routing.loader import load_routing

    try:
        return load_routing(path)
    except RoutingConfigError as exc:
        _out(f"{path}: invalid routing ({len(exc.errors)} errors)", err=True)
        for error in exc.errors:
            _out(f"  {error}", err=True)
        return None


def _check(args: argparse.Namespace) -> int:
    table = _load(args.file)
    if table is None:
        return 1
    numbers = sum(len(s.numbers) for s in table.services)
    _out(
        f"{args.file}: ok ({len(table.services)} services, {numbers} numbers, "
        f"{len(table.queues)} queues, {len(table.holidays)} holidays)"
    )
    return 0


def _resolve(args: argparse.Namespace) -> int:
    import msgspec

    from routing.exceptions import UnknownNumberError
    from routing.resolve import Decision, resolve

    table = _load(args.file)
    if table is None:
        return 1
    try:
        when = dt.datetime.fromisoformat(args.at)
    except ValueError:
        _out(f"--at: not an ISO 8601 date-time: {args.at!r}", err=True)
        return 2
    if when.tzinfo is None:
        when = when.replace(tzinfo=table.timezone)
    try:
        decision: Decision = resolve(table, args.dialed, when, args.segment, topic=args.topic)
    except UnknownNumberError as exc:
        _out(f"{args.file}: {exc}", err=True)
        return 1
    except ValueError as exc:
        _out(f"{args.file}: {exc}", err=True)
        return 2
    if args.json:
        _out(msgspec.json.format(msgspec.json.encode(decision)).decode())
        return 0
    _print_decision(decision, indent="")
    for topic, other in decision.by_topic.items():
        _out(f'\nif the caller chooses "{topic}":')
        _print_decision(other, indent="  ")
    return 0


def _print_decision(d: Any, indent: str) -> None:
    if d.destination_kind == "queue":
        target = f"queue {d.queue} (priority {d.priority}, maximum wait {d.max_wait_s} s)"
    elif d.destination_kind == "number":
        target = f"transfer to {d.number}" + (f" ({d.number_label})" if d.number_label else "")
    else:
        target = "announcement, then hang up"
    lines = [
        f"service:      {d.service_key} ({d.service_name})"
        + (", measured by ATT" if d.measured else ""),
        f"destination:  {target}",
    ]
    if d.announcement is not None:
        lines.append(f"announcement: {d.announcement.name} ({d.announcement.sound})")
    if d.overflow is not None:
        lines.append(f"overflow:     {_describe_overflow(d.overflow)}")
    lines += [
        f"script:       {d.script_id}",
        f"ivr flow:     {d.ivr_flow or '(none: routing only)'}",
        f"rule:         {d.rule or '(none)'}",
        "why:",
        *(f"  - {reason}" for reason in d.reasons),
    ]
    for line in lines:
        _out(indent + line)


def _describe_overflow(dest: Any) -> str:
    from routing.model import ToAnnouncement, ToNumber, ToQueue

    match dest:
        case ToQueue(queue=queue):
            return f"queue {queue}"
        case ToNumber(number=number):
            return f"transfer to {number}"
        case ToAnnouncement(announcement=name):
            return f"announcement {name}"
    return str(dest)
