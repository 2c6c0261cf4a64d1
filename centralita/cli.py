"""The `centralita` command: one sub-command family per package.

Each package that offers commands has a `commands.py` module with
`register(subparsers) -> None`; every parser it adds sets `func`, a callable that
takes the parsed `argparse.Namespace` and returns the process exit code.

Every command that uses the database takes the one ``--db`` option
(`centralita.metrics.commands.add_db_option`: ``--db``, else ``$CENTRALITA_DB_URL``, else
``sqlite+aiosqlite:///centralita.db``) and opens it with ``await args.open_db(args.db)``:
an engine whose schema is already at Alembic head (`centralita.db.open_engine`), the one
schema path. Library packages get it this way because they may not import `centralita`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from centralita import __version__

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

COMMAND_MODULES: tuple[str, ...] = (
    "centralita.commands",
    "centralita.doctor",
    "centralita.routing.commands",
    "centralita.asterisk_conf.commands",
    "centralita.ivr.commands",
    "centralita.metrics.commands",
    "centralita.scripts.commands",
    "centralita.simulator.commands",
    "centralita.console.commands",
    "centralita.console.employees_commands",
    "centralita.campaigns.commands",
)


# argparse's own words (usage line, headings, refusals), in Spanish: argparse looks each
# one up through its module-level gettext alias `_` when it needs it.
_ARGPARSE_ES = {
    "usage: ": "uso: ",
    "positional arguments": "argumentos",
    "options": "opciones",
    "show this help message and exit": "mostrar esta ayuda y salir",
    "%(prog)s: error: %(message)s\n": "%(prog)s: error: %(message)s\n",
    "argument %(argument_name)s: %(message)s": "argumento %(argument_name)s: %(message)s",
    "unknown parser %(parser_name)r (choices: %(choices)s)": (
        "acción desconocida %(parser_name)r (elija entre: %(choices)s)"
    ),
    "unrecognized arguments: %s": "argumentos no reconocidos: %s",
    "not allowed with argument %s": "no se admite junto con %s",
    "ignored explicit argument %r": "argumento explícito de más: %r",
    "the following arguments are required: %s": "faltan estos argumentos: %s",
    "one of the arguments %s is required": "falta uno de los argumentos %s",
    "expected one argument": "falta su valor",
    "expected at most one argument": "admite a lo sumo un valor",
    "expected at least one argument": "necesita al menos un valor",
    "ambiguous option: %(option)s could match %(matches)s": (
        "opción ambigua: %(option)s puede ser %(matches)s"
    ),
    "unexpected option string: %s": "opción inesperada: %s",
    "invalid %(type)s value: %(value)r": "valor %(type)s inválido: %(value)r",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "valor inválido: %(value)r (elija entre %(choices)s)"
    ),
    "can't open '%(filename)s': %(error)s": "no se puede abrir '%(filename)s': %(error)s",
}


def _argparse_in_spanish() -> None:
    """Have argparse say its own words in Spanish (unknown ones pass through)."""
    setattr(argparse, "_", lambda message: _ARGPARSE_ES.get(message, message))  # noqa: B010


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from every package's `register`."""
    _argparse_in_spanish()
    parser = argparse.ArgumentParser(
        prog="centralita",
        description="Telefonía del centro de llamadas sobre Asterisk: eventos AMI, IVR,"
        " enrutamiento, reportes.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"centralita {__version__}",
        help="mostrar la versión y salir",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="registros de depuración (números sin enmascarar) y traza completa de los errores",
    )
    parser.set_defaults(open_db=open_db)
    subparsers = parser.add_subparsers(dest="command", metavar="ORDEN")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


async def open_db(url: str | None) -> AsyncEngine:
    """The database at `url` (None: ``$CENTRALITA_DB_URL``, else the default file),
    migrated to head (imported lazily: Alembic is slow to load)."""
    from centralita.db import open_engine
    from centralita.metrics.commands import database_url

    return await open_engine(database_url(url))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `centralita` console script.

    Errors are for people: a user's mistake is one line (exit 2), Ctrl-C stops with one
    line (exit 130), and anything unexpected is one line too; `--debug` shows tracebacks.
    """
    debug = "--debug" in (sys.argv[1:] if argv is None else list(argv))
    try:
        return _main(argv)
    except KeyboardInterrupt:
        if debug:
            raise
        sys.stderr.write("centralita: interrumpido (Ctrl-C)\n")
        return 130


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from centralita.logs import configure_logging

    configure_logging(debug=bool(args.debug))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return cast(Callable[[argparse.Namespace], int], func)(args)
    except BrokenPipeError:
        # The reader went away (`centralita calls | head -1`): stop quietly, as Unix tools
        # do; stdout is pointed at /dev/null so the interpreter's last flush cannot fail.
        _silence_stdout()
        return 1
    except Exception as exc:
        from centralita.routing import RoutingConfigError
        from centralita.settings import StartupError

        if args.debug:
            raise
        if isinstance(exc, RoutingConfigError):  # the daemon's routing file (run, doctor)
            from centralita.routing.commands import routing_error_line

            sys.stderr.write(f"centralita: {routing_error_line(exc)}\n")
            return 2
        if isinstance(exc, StartupError):
            # One line, no traceback: the message says what is wrong and what to do.
            sys.stderr.write(f"centralita: {exc}\n")
            return int(getattr(exc, "exit_code", 1))
        # A fault of ours, not the user's: still one line, with how to see the detail.
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        sys.stderr.write(
            f"centralita: error inesperado ({type(exc).__name__}"
            + (f": {detail}" if detail else "")
            + "); repita la orden con --debug para ver el detalle y, si sigue, infórmelo\n"
        )
        return 1


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (tests' capture)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
