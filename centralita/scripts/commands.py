"""`centralita scripts check [DIR]`, `scripts show ID`, `scripts schema`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from centralita.scripts.exceptions import ScriptError
from centralita.scripts.model import SERVICE_IDS


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `scripts` sub-command family."""
    parser = subparsers.add_parser(
        "scripts", help="guiones de los agentes: revisar, mostrar, esquema"
    )
    family = parser.add_subparsers(dest="scripts_command", metavar="ACCIÓN", required=True)

    check = family.add_parser("check", help="validar cada guion de una carpeta")
    check.add_argument(
        "dir", nargs="?", type=Path, help="carpeta (por omisión: los guiones incluidos)"
    )
    check.set_defaults(func=_check)

    show = family.add_parser("show", help="mostrar un guion, legible")
    show.add_argument(
        "id", choices=SERVICE_IDS, metavar="ID", help="clave del servicio, p. ej. 101"
    )
    show.add_argument("--dir", type=Path, help="leer el guion de esta carpeta")
    show.set_defaults(func=_show)

    schema = family.add_parser("schema", help="mostrar el esquema JSON de un guion")
    schema.set_defaults(func=_schema)


def _check(args: argparse.Namespace) -> int:
    from centralita.scripts.loader import PACKAGED_DIR_NAME, check_dir, data_files

    directory: Path | None = args.dir
    if directory is None:
        messages = check_dir(data_files(), PACKAGED_DIR_NAME)
    else:
        messages = check_dir(directory)
    for message in messages:
        sys.stderr.write(f"{message}\n")
    if messages:
        sys.stderr.write(f"{len(messages)} problema(s)\n")
        return 1
    sys.stdout.write(f"correcto: {len(SERVICE_IDS)} guiones\n")
    return 0


def _show(args: argparse.Namespace) -> int:
    from centralita.scripts.loader import load_file, load_script
    from centralita.scripts.render import render

    try:
        if args.dir is None:
            script = load_script(args.id)
        else:
            script = load_file(args.dir / f"{args.id}.toml")
    except ScriptError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    sys.stdout.write(render(script))
    return 0


def _schema(args: argparse.Namespace) -> int:
    del args
    import msgspec

    from centralita.scripts.model import script_schema

    sys.stdout.write(msgspec.json.format(msgspec.json.encode(script_schema())).decode() + "\n")
    return 0
