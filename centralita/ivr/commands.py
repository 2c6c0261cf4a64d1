"""`centralita customers import FILE.csv --db URL` and `centralita ivr serve|prompts`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from centralita.metrics.commands import add_db_option


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `customers import`, `ivr serve` and `ivr prompts`."""
    customers = subparsers.add_parser("customers", help="el directorio de clientes del IVR")
    sub = customers.add_subparsers(dest="customers_command", metavar="ACCIÓN", required=True)
    imp = sub.add_parser(
        "import",
        help="cargar un CSV de clientes (todas las líneas válidas, o no se importa nada)",
        description="Columnas: contract, name, segment (obligatorias); phone, ci, services, "
        "address, notes (opcionales). Las filas de un contrato existente se reemplazan.",
    )
    imp.add_argument("file", type=Path, help="CSV UTF-8 con fila de encabezado")
    add_db_option(imp)
    imp.add_argument("--replace", action="store_true", help="vaciar la tabla antes")
    imp.set_defaults(func=_import)

    ivr = subparsers.add_parser("ivr", help="el servidor FastAGI del IVR")
    isub = ivr.add_subparsers(dest="ivr_command", metavar="ACCIÓN", required=True)
    serve = isub.add_parser("serve", help="servir FastAGI hasta SIGTERM/SIGINT")
    serve.add_argument("--routing", required=True, type=Path, help="routing.toml")
    directory = serve.add_mutually_exclusive_group()  # the customers table, or a CRM
    add_db_option(directory)
    directory.add_argument(
        "--crm-url", help="URL base del CRM (GET /customers?phone=...) en vez de la base"
    )
    serve.add_argument(
        "--host", help="dirección de escucha (por omisión: [ivr] agi_host de routing.toml)"
    )
    serve.add_argument("--port", type=int, help="puerto de escucha (por omisión: [ivr] agi_port)")
    serve.add_argument("--flows", type=Path, help="flows.toml (por omisión: el incluido)")
    serve.add_argument(
        "--grace", type=float, default=10.0, help="plazo para terminar al parar, en segundos"
    )
    serve.set_defaults(func=_serve)
    prompts = isub.add_parser("prompts", help="listar las grabaciones a hacer, con sus textos")
    prompts.add_argument("--flows", type=Path, help="flows.toml (por omisión: el incluido)")
    prompts.set_defaults(func=_prompts)
    _register_prompt_actions(prompts)


def _register_prompt_actions(prompts: argparse.ArgumentParser) -> None:
    """`ivr prompts synthesize` and `ivr prompts check` (plain `ivr prompts` lists)."""
    from centralita.ivr.sounds import DEFAULT_SPEED_WPM, DEFAULT_VOICE

    psub = prompts.add_subparsers(dest="prompts_command", metavar="ACCIÓN")
    # --flows again on each action; SUPPRESS keeps a value given before the action.
    flows_help = "flows.toml (por omisión: el incluido)"
    synth = psub.add_parser(
        "synthesize",
        help="decir cada grabación en español (espeak-ng + sox): .sln, .ulaw, .gsm a 8 kHz",
        description="Necesita los paquetes de Debian espeak-ng y sox. Copie los archivos a "
        "/var/lib/asterisk/sounds/es/ de la PBX. Los dígitos y números los dice la PBX con "
        "sus propios sonidos en español (paquete asterisk-core-sounds-es-gsm).",
    )
    synth.add_argument("--out", required=True, type=Path, help="directorio de los archivos")
    synth.add_argument("--voice", default=DEFAULT_VOICE, help="voz de espeak-ng (es, es-419)")
    synth.add_argument(
        "--speed", type=int, default=DEFAULT_SPEED_WPM, help="palabras por minuto (80 a 300)"
    )
    synth.add_argument("--flows", type=Path, default=argparse.SUPPRESS, help=flows_help)
    synth.set_defaults(func=_synthesize)
    check = psub.add_parser(
        "check",
        help="listar las grabaciones sin archivo de sonido en el directorio de la PBX",
        description="Sale con 1 si a alguna grabación le falta un archivo reproducible "
        "(cualquier formato que lea Asterisk) y con 0 si todas lo tienen.",
    )
    check.add_argument(
        "--sounds-dir", required=True, type=Path, help="p. ej. /var/lib/asterisk/sounds/es"
    )
    check.add_argument("--flows", type=Path, default=argparse.SUPPRESS, help=flows_help)
    check.set_defaults(func=_check_sounds)


async def _open_db(args: argparse.Namespace, url: str) -> Any:
    """The database at the schema's newest revision (``args.open_db``, from the CLI)."""
    open_db: Callable[[str], Awaitable[Any]] = args.open_db
    return await open_db(url)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _import(args: argparse.Namespace) -> int:
    import asyncio

    from centralita.ivr.customer_import import import_customers
    from centralita.ivr.exceptions import CsvRowsError, CustomerImportError

    if not args.file.is_file():
        _err(f"{args.file}: el archivo no existe; indique otro")
        return 2

    async def run() -> int:
        engine = await _open_db(args, args.db)
        try:
            summary = await import_customers(engine, args.file, replace_all=args.replace)
        except CsvRowsError as exc:
            bad = len(exc.errors)
            _err(f"{args.file}: {bad} línea{'s' if bad > 1 else ''} con error, no se importó nada")
            for error in exc.errors:
                _err(f"  {args.file}:{error.line}: {error.reason}")
            return 1
        except CustomerImportError as exc:
            _err(f"{args.file}: {exc}")
            return 1
        finally:
            await engine.dispose()
        imported = summary.rows
        sys.stdout.write(
            f"{args.file}: {imported} cliente{'' if imported == 1 else 's'} "
            f"importado{'' if imported == 1 else 's'}\n"
        )
        return 0

    return asyncio.run(run())


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from centralita.ivr.app import serve_until
    from centralita.ivr.directory import CustomerDirectory, SqlCustomerDirectory
    from centralita.ivr.directory_http import HttpCustomerDirectory
    from centralita.ivr.exceptions import FlowConfigError
    from centralita.ivr.flow_config import load_config
    from centralita.routing import RoutingConfigError, RoutingHolder
    from centralita.routing.commands import routing_error_line

    try:
        holder = RoutingHolder(args.routing)
        config = load_config(args.flows)
    except RoutingConfigError as exc:
        _err(f"--routing: {routing_error_line(exc)}")
        return 2
    except (FlowConfigError, OSError) as exc:
        _err(str(exc))
        return 1
    host = args.host or holder.table.ivr.agi_host
    port = holder.table.ivr.agi_port if args.port is None else args.port

    async def run() -> int:
        directory: CustomerDirectory = (
            HttpCustomerDirectory(args.crm_url)
            if args.crm_url
            else SqlCustomerDirectory(await _open_db(args, args.db), owns_engine=True)
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
    from centralita.ivr.exceptions import FlowConfigError
    from centralita.ivr.flow_config import load_config

    try:
        config = load_config(args.flows)
    except (FlowConfigError, OSError) as exc:
        _err(str(exc))
        return 1
    for name, text in sorted(config.prompts.items()):
        sys.stdout.write(f"{name}\t{text}\n")
    return 0


def _synthesize(args: argparse.Namespace) -> int:
    from centralita.ivr.exceptions import FlowConfigError, SoundToolError, SoundToolMissingError
    from centralita.ivr.flow_config import load_config
    from centralita.ivr.sounds import CORE_SOUNDS_PACKAGE, FORMATS, find_tools, synthesize

    if not 80 <= args.speed <= 300:
        _err(f"--speed {args.speed}: use entre 80 y 300 palabras por minuto")
        return 2
    if args.out.exists() and not args.out.is_dir():
        _err(f"{args.out} no es un directorio: indique en --out un directorio")
        return 2
    try:
        config = load_config(args.flows)
    except (FlowConfigError, OSError) as exc:
        _err(str(exc))
        return 1
    try:
        tools = find_tools()
    except SoundToolMissingError as exc:
        _err(str(exc))
        return 2
    try:
        written = synthesize(config, args.out, tools, voice=args.voice, speed_wpm=args.speed)
    except SoundToolError as exc:
        _err(f"no se pudieron generar las grabaciones: {exc}")
        return 1
    except OSError as exc:
        _err(f"{args.out}: no se puede escribir ({exc.strerror or exc})")
        return 1
    sys.stdout.write(
        f"{len(config.prompts)} grabaciones ({', '.join(FORMATS)}; {len(written)} archivos) "
        f"en {args.out}\n"
        "Cópielas a /var/lib/asterisk/sounds/es/ de la PBX. Los dígitos y números los dice "
        f"la PBX con sus sonidos en español: instale allí {CORE_SOUNDS_PACKAGE}.\n"
    )
    return 0


def _check_sounds(args: argparse.Namespace) -> int:
    from centralita.ivr.exceptions import FlowConfigError
    from centralita.ivr.flow_config import load_config
    from centralita.ivr.sounds import missing

    if not args.sounds_dir.is_dir():
        _err(f"{args.sounds_dir}: no existe ese directorio; indique en --sounds-dir el de la PBX")
        return 2
    try:
        config = load_config(args.flows)
    except (FlowConfigError, OSError) as exc:
        _err(str(exc))
        return 1
    lacking = missing(config, args.sounds_dir)
    total = len(config.prompts)
    if not lacking:
        sys.stdout.write(f"las {total} grabaciones del IVR están en {args.sounds_dir}\n")
        return 0
    sys.stdout.write(f"faltan {len(lacking)} de {total} grabaciones en {args.sounds_dir}:\n")
    for name in lacking:
        sys.stdout.write(f"{name}\t{config.prompts[name]}\n")
    sys.stdout.write("genérelas con: centralita ivr prompts synthesize --out DIR, y cópielas ahí\n")
    return 1
