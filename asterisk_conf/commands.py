"""`centralita conf generate [--routing FILE] --out DIR [--asterisk V] [--ami-permit IP/MASK]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from asterisk_conf.options import SUPPORTED_VERSIONS


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `conf generate`."""
    conf = subparsers.add_parser("conf", help="generate Asterisk include files")
    sub = conf.add_subparsers(dest="conf_command", metavar="ACTION", required=True)
    gen = sub.add_parser(
        "generate",
        help="write extensions_custom.conf, queues_custom.conf, manager_custom.conf",
    )
    gen.add_argument("--routing", help="routing.toml (default: the shipped example)")
    gen.add_argument("--out", required=True, help="directory to write into")
    gen.add_argument(
        "--asterisk",
        choices=SUPPORTED_VERSIONS,
        help="target Asterisk major version (default: [pbx] asterisk of routing.toml)",
    )
    gen.add_argument(
        "--ami-permit",
        metavar="IP/MASK",
        help="address allowed to log in as the AMI user (default: [pbx] ami_permit)",
    )
    gen.set_defaults(func=_generate)


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _generate(args: argparse.Namespace) -> int:
    from asterisk_conf.exceptions import AsteriskConfError
    from asterisk_conf.generator import generate, write_files
    from asterisk_conf.options import GeneratorOptions
    from routing import RoutingConfigError, default_routing_path, load_routing

    source = Path(args.routing) if args.routing else default_routing_path()
    try:
        table = load_routing(source)
    except RoutingConfigError as exc:
        _err(f"{source}: invalid routing ({len(exc.errors)} errors); nothing generated")
        for error in exc.errors:
            _err(f"  {error}")
        return 1
    options = GeneratorOptions(
        asterisk=args.asterisk, ami_permit=args.ami_permit, source_name=source.name
    )
    out = Path(args.out)
    try:
        files = generate(table, options)
        written = write_files(out, files)
    except AsteriskConfError as exc:
        _err(f"conf generate: {exc}; nothing generated")
        return 1
    for path in written:
        sys.stdout.write(f"wrote {path}\n")
    secret = out / table.pbx.ami_secret_include
    if not secret.exists():
        sys.stdout.write(
            f"note: create {secret} with one line `secret = ...` (the daemon's "
            "CENTRALITA_AMI_SECRET), mode 0640; until then the AMI user cannot log in\n"
        )
    return 0
