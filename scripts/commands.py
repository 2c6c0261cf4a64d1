"""`centralita scripts check [DIR]`, `scripts show ID`, `scripts schema`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from scripts.exceptions import ScriptError
from scripts.model import SERVICE_IDS


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the `scripts` sub-command family."""
    parser = subparsers.add_parser("scripts", help="agent scripts: check, show, schema")
    family = parser.add_subparsers(dest="scripts_command", metavar="SUBCOMMAND", required=True)

    check = family.add_parser("check", help="validate every script file of a directory")
    check.add_argument("dir", nargs="?", type=Path, help="directory (default: packaged scripts)")
    check.set_defaults(func=_check)

    show = family.add_parser("show", help="print a script, readable, in Spanish")
    show.add_argument("id", choices=SERVICE_IDS, metavar="ID", help="service key, e.g. 101")
    show.add_argument("--dir", type=Path, help="read the script from this directory")
    show.set_defaults(func=_show)

    schema = family.add_parser("schema", help="print the JSON schema of a script file")
    schema.set_defaults(func=_schema)


def _check(args: argparse.Namespace) -> int:
    from scripts.loader import PACKAGED_DIR_NAME, check_dir, data_files

    directory: Path | None = args.dir
    if directory is None:
        messages = check_dir(data_files(), PACKAGED_DIR_NAME)
    else:
        messages = check_dir(directory)
    for message in messages:
        sys.stderr.write(f"{message}\n")
    if messages:
        sys.stderr.write(f"{len(messages)} problem(s)\n")
        return 1
    sys.stdout.write(f"ok: {len(SERVICE_IDS)} scripts\n")
    return 0


def _show(args: argparse.Namespace) -> int:
    from scripts.loader import load_file, load_script
    from scripts.render import render

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

    from scripts.model import script_schema

    sys.stdout.write(msgspec.json.format(msgspec.json.encode(script_schema())).decode() + "\n")
    return 0
