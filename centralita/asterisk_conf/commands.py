"""`centralita conf generate [--routing FILE] --out DIR [--asterisk V] [--ami-permit IP/MASK]
[--campaign | --no-campaign] [--call-controls]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from centralita.asterisk_conf.options import SUPPORTED_VERSIONS


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `conf generate`."""
    conf = subparsers.add_parser("conf", help="generar los archivos de inclusión de Asterisk")
    sub = conf.add_subparsers(dest="conf_command", metavar="ACCIÓN", required=True)
    gen = sub.add_parser(
        "generate",
        help="escribir extensions_custom.conf, queues_custom.conf y manager_custom.conf",
    )
    gen.add_argument("--routing", help="routing.toml (por omisión: el ejemplo incluido)")
    gen.add_argument("--out", required=True, help="carpeta donde escribirlos")
    gen.add_argument(
        "--asterisk",
        choices=SUPPORTED_VERSIONS,
        help="versión mayor de Asterisk de destino (por omisión: [pbx] asterisk de routing.toml)",
    )
    gen.add_argument(
        "--ami-permit",
        metavar="IP/MASK",
        help="dirección desde la que el usuario AMI puede entrar (por omisión: [pbx] ami_permit)",
    )
    gen.add_argument(
        "--campaign",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="dar al usuario AMI write=originate para el marcador de la campaña prepago "
        "(por omisión: cuando routing.toml define un [service.campaign])",
    )
    gen.add_argument(
        "--call-controls",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="dar al usuario AMI write=call,agent (transferir y pausar desde la consola) y "
        "generar el contexto de transferencias; úselo cuando centralita.toml tiene "
        "[console] call_controls = true (por omisión: no)",
    )
    gen.set_defaults(func=_generate)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _generate(args: argparse.Namespace) -> int:
    from centralita.asterisk_conf.exceptions import AsteriskConfError, InvalidOptionError
    from centralita.asterisk_conf.generator import generate, write_files
    from centralita.asterisk_conf.options import GeneratorOptions
    from centralita.routing import RoutingConfigError, default_routing_path, load_routing
    from centralita.routing.commands import routing_error_line

    source = Path(args.routing) if args.routing else default_routing_path()
    if not source.is_file():
        _err(f"--routing: {source} no existe; indique otro archivo. No se generó nada")
        return 2
    try:
        table = load_routing(source)
    except RoutingConfigError as exc:
        _err(f"{routing_error_line(exc)}. No se generó nada")
        return 2
    options = GeneratorOptions(
        asterisk=args.asterisk,
        ami_permit=args.ami_permit,
        source_name=source.name,
        campaign=args.campaign,
        call_controls=args.call_controls,
    )
    out = Path(args.out)
    try:
        files = generate(table, options)
        written = write_files(out, files)
    except AsteriskConfError as exc:
        _err(f"conf generate: {exc}. No se generó nada")
        return 2 if isinstance(exc, InvalidOptionError) else 1
    for path in written:
        sys.stdout.write(f"escrito {path}\n")
    secret = out / table.pbx.ami_secret_include
    if not secret.exists():
        sys.stdout.write(
            f"nota: cree {secret} con una línea `secret = ...` (la CENTRALITA_AMI_SECRET del "
            "servicio), modo 0640; hasta entonces el usuario AMI no puede entrar\n"
        )
    return 0
