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


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``console users add`` and ``console users list``."""
    console = subparsers.add_parser("console", help="agent console: users")
    sub = console.add_subparsers(dest="console_command", metavar="COMMAND", required=True)
    users = sub.add_parser("users", help="console users (agents, supervisors)")
    users_sub = users.add_subparsers(dest="users_command", metavar="COMMAND", required=True)

    add = users_sub.add_parser("add", help="add or replace a user (password from env/stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=("agent", "supervisor"), default="agent")
    add.add_argument("--interface", default="", help="queue member interface (agents)")
    add.add_argument("--file", default=DEFAULT_USERS_FILE, help="users file (TOML)")
    add.set_defaults(func=_cmd_add)

    lst = users_sub.add_parser("list", help="list users (never their hashes)")
    lst.add_argument("--file", default=DEFAULT_USERS_FILE, help="users file (TOML)")
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
    from console.exceptions import ConsoleError
    from console.users import User, hash_password, save_user

    if args.role == "agent" and not args.interface:
        print("an agent needs --interface (e.g. SIP/2001)", file=sys.stderr)
        return 2
    try:
        password = _read_password()
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if len(password) < 8:
        print("the password needs at least 8 characters", file=sys.stderr)
        return 2
    user = User(
        name=args.name,
        role=args.role,
        interface=args.interface,
        password=hash_password(password),
    )
    try:
        save_user(Path(args.file), user)
    except ConsoleError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{user.name}: {user.role}" + (f", pops of {user.agent}" if user.agent else ""))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from console.exceptions import ConsoleError
    from console.users import load_users

    try:
        users = load_users(Path(args.file))
    except ConsoleError as exc:
        print(exc, file=sys.stderr)
        return 1
    for user in users.all():
        print(f"{user.name}\t{user.role}\t{user.interface}\t{user.agent}")
    return 0
