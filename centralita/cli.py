"""The `centralita` command: one sub-command family per package.

Each package that offers commands has a `commands.py` module with
`register(subparsers) -> None`; every parser it adds sets `func`, a callable that
takes the parsed `argparse.Namespace` and returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

from centralita import __version__

COMMAND_MODULES: tuple[str, ...] = (
    "centralita.commands",
    "centralita.doctor",
    "routing.commands",
    "asterisk_conf.commands",
    "ivr.commands",
    "metrics.commands",
    "scripts.commands",
    "simulator.commands",
    "console.commands",
    "campaigns.commands",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from every package's `register`."""
    parser = argparse.ArgumentParser(
        prog="centralita",
        description="Call-center telephony on Asterisk: ingest, IVR, routing, reports.",
    )
    parser.add_argument("--version", action="version", version=f"centralita {__version__}")
    parser.add_argument("--debug", action="store_true", help="debug logs (unmasked numbers)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `centralita` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from centralita.logs import configure_logging

    configure_logging(debug=bool(args.debug))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return cast(Callable[[argparse.Namespace], int], func)(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
