"""`centralita customers import FILE.csv --db URL` and `centralita ivr serve|prompts`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `customers import`, `ivr serve` and `ivr prompts`."""
    customers = subparsers.add_parser("customers", help="the customer directory of the IVR")
    sub = customers.add_subparsers(dest="customers_command", metavar="ACTION", required=True)
    imp = sub.add_parser(
        "import",
        help="load a customers CSV (all lines valid, or nothing is imported)",
        description="Columns: contract, name, segment (required); phone, ci, services, "
        "address, notes (optional). Rows with an existing contract are replaced.",
    )
    imp.add_argument("file", type=Path, help="UTF-8 CSV with a header row")
    imp.add_argument("--db", required=True, help="database URL, e.g. sqlite+aiosqlite:///c.db")
    imp.add_argument("--replace", action="store_true", help="empty the table first")
    imp.set_defaults(func=_import)

    ivr = subparsers.add_parser("ivr", help="the FastAGI IVR server")
    isub = ivr.add_subparsers(dest="ivr_command", metavar="ACTION", required=True)
    serve = isub.add_parser("serve", help="run the FastAGI server until SIGTERM/SIGINT")
    serve.add_argument("--routing", required=True, type=Path, help="routing.toml")
    directory = serve.add_mutually_exclusive_group(required=True)
    directory.add_argument("--db", help="database URL holding the customers table")
    directory.add_argument("--crm-url", help="CRM base URL (GET /customers?phone=...)")
    serve.add_argument("--host", help="listen address (default: routing's [ivr] agi_host)")
    serve.add_argument("--port", type=int, help="listen port (default: [ivr] agi_port)")
    serve.add_argument("--flows", type=Path, help="flows.toml (default: the packaged one)")
    serve.add_argument("--grace", type=float, default=10.0, help="shutdown grace, seconds")
    serve.set_defaults(func=_serve)
    prompts = isub.add_parser("prompts", help="list the sound files to record, with texts")
    prompts.add_argument("--flows", type=Path, help="flows.toml (default: the packaged one)")
    prompts.set_defaults(func=_prompts)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _import(args: argparse.Namespace) -> int:
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    from ivr.customer_import import import_customers
    from ivr.exceptions import CsvRowsError, CustomerImportError

    if not args.file.is_file():
        _err(f"{args.file}: no such file")
        return 2

    async def run() -> int:
        engine = create_async_engine(args.db)
        try:
            summary = await import_customers(engine, args.file, replace_all=args.replace)
        except CsvRowsError as exc:
            _err(f"{args.file}: {len(exc.errors)} invalid line(s), nothing imported")
            for error in exc.errors:
                _err(f"  {args.file}:{error.line}: {error.reason}")
            return 1
        except CustomerImportError as exc:
            _err(f"{args.file}: {exc}")
            return 1
        finally:
            await engine.dispose()
        sys.stdout.write(f"{args.file}: {summary.rows} customer(s) imported\n")
        return 0

    return asyncio.run(run())


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from ivr.app import serve_until
    from ivr.directory import CustomerDirectory, SqlCustomerDirectory
    from ivr.directory_http import HttpCustomerDirectory
    from ivr.exceptions import FlowConfigError
    from ivr.flow_config import load_config
    from routing import RoutingConfigError, RoutingHolder

    try:
        holder = RoutingHolder(args.routing)
        config = load_config(args.flows)
    except (RoutingConfigError, FlowConfigError, OSError) as exc:
        _err(str(exc))
        return 1
    host = args.host or holder.table.ivr.agi_host
    port = holder.table.ivr.agi_port if args.port is None else args.port

    async def run() -> int:
        directory: CustomerDirectory = (
            HttpCustomerDirectory(args.crm_url)
            if args.crm_url
            else SqlCustomerDirectory.from_url(args.db)
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, holder.reload)
        await serve_until(stop, config, holder, directory, host=host, port=port, grace_s=args.grace)
        return 0

    return asyncio.run(run())


def _prompts(args: argparse.Namespace) -> int:
    from ivr.exceptions import FlowConfigError
    from ivr.flow_config import load_config

    try:
        config = load_config(args.flows)
    except (FlowConfigError, OSError) as exc:
        _err(str(exc))
        return 1
    for name, text in sorted(config.prompts.items()):
        sys.stdout.write(f"{name}\t{text}\n")
    return 0
