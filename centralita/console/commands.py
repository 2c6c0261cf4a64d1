"""Command-line sub-commands of the console: ``console users add|list``."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_USERS_FILE = "console-users.toml"
PASSWORD_ENV = "CENTRALITA_CONSOLE_PASSWORD"  # noqa: S105 - the NAME of the variable
DB_ENV = "CENTRALITA_DB_URL"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``console users add`` and ``console users list``."""
    console = subparsers.add_parser("console", help="consola de agentes: usuarios")
    sub = console.add_subparsers(dest="console_command", metavar="ACCIÓN", required=True)
    users = sub.add_parser("users", help="usuarios de la consola (agentes, supervisores)")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACCIÓN", required=True)

    add = users_sub.add_parser(
        "add", help=f"agregar o reemplazar un usuario (contraseña de ${PASSWORD_ENV} o la entrada)"
    )
    add.add_argument("name", help="nombre de usuario")
    add.add_argument("--role", choices=("agent", "supervisor"), default="agent", help="rol (agent)")
    add.add_argument(
        "--interface", default="", help="interfaz de miembro de cola (agentes), p. ej. SIP/2001"
    )
    add.add_argument("--file", default=DEFAULT_USERS_FILE, help="archivo de usuarios (TOML)")
    add.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="base de datos del servicio, para cerrar las sesiones abiertas del usuario al"
        " cambiar su contraseña (por omisión $CENTRALITA_DB_URL; sin ella, el servicio las"
        " rechaza al leer el archivo)",
    )
    add.set_defaults(func=_cmd_add)

    lst = users_sub.add_parser("list", help="listar los usuarios (nunca sus hashes)")
    lst.add_argument("--file", default=DEFAULT_USERS_FILE, help="archivo de usuarios (TOML)")
    lst.set_defaults(func=_cmd_list)


def _read_password() -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Contraseña: ")
    if first != getpass.getpass("Repita la contraseña: "):
        raise ValueError("las contraseñas no coinciden")
    return first


def _cmd_add(args: argparse.Namespace) -> int:
    from centralita.console.exceptions import ConsoleError
    from centralita.console.users import User, hash_password, load_users, save_user

    if args.role == "agent" and not args.interface:
        print("un agente necesita --interface (p. ej. SIP/2001)", file=sys.stderr)
        return 2
    try:
        password = _read_password()
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if len(password) < 8:
        print("la contraseña necesita al menos 8 caracteres", file=sys.stderr)
        return 2
    user = User(
        name=args.name,
        role=args.role,
        interface=args.interface,
        password=hash_password(password),
    )
    try:
        before = load_users(Path(args.file)).get(user.name)
        save_user(Path(args.file), user)
    except ConsoleError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{user.name}: {user.role}" + (f", fichas de {user.agent}" if user.agent else ""))
    if before is not None:
        _end_sessions(user.name, args.db or os.environ.get(DB_ENV, ""))
    return 0


def _end_sessions(name: str, db_url: str) -> None:
    """A replaced user (new password, role or interface): their open sessions end.

    The service refuses them anyway once it reads the file (the password changed); with
    the database named, they are also marked revoked at once.
    """
    import asyncio

    from centralita.ami_listener.store import make_engine
    from centralita.console.sessions import SessionSigner, SessionStore

    if not db_url:
        print(f"{name}: el servicio cierra sus sesiones abiertas al leer el archivo")
        return

    async def revoke() -> int:
        engine = make_engine(db_url)
        try:
            return await SessionStore(engine, SessionSigner()).revoke_user(name)
        finally:
            await engine.dispose()

    try:
        ended = asyncio.run(revoke())
    except Exception as exc:  # any driver error: one line, the password is changed anyway
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(
            f"aviso: no se pudieron cerrar las sesiones de {name} en la base de datos"
            f" ({reason}); el servicio las rechaza al leer el archivo",
            file=sys.stderr,
        )
        return
    print(f"{name}: {ended} sesión(es) abierta(s) cerrada(s)")


def _cmd_list(args: argparse.Namespace) -> int:
    from centralita.console.exceptions import ConsoleError
    from centralita.console.users import load_users

    try:
        users = load_users(Path(args.file))
    except ConsoleError as exc:
        print(exc, file=sys.stderr)
        return 1
    for user in users.all():
        print(f"{user.name}\t{user.role}\t{user.interface}\t{user.agent}")
    return 0
