"""Console users: a TOML file with one ``[[user]]`` per agent or supervisor.

    [[user]]
    name = "ana"
    role = "agent"                       # or "supervisor"
    interface = "Local/agent1@lab-agents"  # the queue member interface (agents)
    password = "scrypt$16384$8$1$<salt b64>$<hash b64>"

Passwords are stored as stdlib ``hashlib.scrypt`` hashes; ``centralita console users add``
writes entries. An agent's pops are those of ``agent_id(interface)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tomllib
from pathlib import Path
from typing import Literal

import msgspec

from centralita.console.exceptions import AuthenticationError, UsersFileError
from centralita.screenpop.model import agent_id

Role = Literal["agent", "supervisor"]
SCRYPT_N, SCRYPT_R, SCRYPT_P = 16384, 8, 1


class User(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One console user."""

    name: str
    role: Role = "agent"
    interface: str = ""
    password: str

    @property
    def agent(self) -> str:
        """The topic agent id of this user's pops (empty for a supervisor without one)."""
        return agent_id(self.interface) if self.interface else ""


class _File(msgspec.Struct, forbid_unknown_fields=True):
    user: list[User] = msgspec.field(default_factory=list)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """An scrypt hash string (``scrypt$N$r$p$salt$hash``)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


class UserDirectory:
    """The users of the console, by name.

    Read from ``source`` (the users file), the directory reloads it when it changes
    (``refresh``): a new password or a removed user applies to the running daemon, and the
    sessions signed in with the old password are refused.
    """

    def __init__(self, users: list[User], *, source: Path | None = None) -> None:
        self._by_name = {u.name: u for u in users}
        self._dummy = hash_password(secrets.token_hex(8))
        self.source = source
        self._stamp = _stamp(source) if source is not None else None
        self.reload_error = ""

    def refresh(self) -> bool:
        """Reload the users file when it changed since it was read; True when reloaded.

        A file that no longer reads keeps the users of the last good read (the error is
        in ``reload_error``).
        """
        if self.source is None:
            return False
        stamp = _stamp(self.source)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            fresh = load_users(self.source)
        except UsersFileError as exc:
            self.reload_error = str(exc)
            return False
        self.reload_error = ""
        self._by_name = fresh._by_name
        return True

    def password_tag(self, name: str) -> str | None:
        """The tag of the user's current password hash (None: no such user)."""
        from centralita.console.sessions import password_tag

        user = self._by_name.get(name)
        return password_tag(user.password) if user is not None else None

    def __len__(self) -> int:
        return len(self._by_name)

    def all(self) -> list[User]:
        """Every user, in file order."""
        return list(self._by_name.values())

    def get(self, name: str) -> User | None:
        """The user with this name."""
        return self._by_name.get(name)

    def authenticate(self, name: str, password: str) -> User:
        """The user, when the password matches; AuthenticationError otherwise."""
        user = self._by_name.get(name)
        ok = verify_password(password, user.password if user else self._dummy)
        if user is None or not ok:
            raise AuthenticationError("usuario o contraseña incorrectos")
        return user


def load_users(path: Path) -> UserDirectory:
    """Read the users file (a missing file is an empty directory)."""
    if not path.exists():
        return UserDirectory([], source=path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        parsed = msgspec.convert(raw, _File)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise UsersFileError(f"{path}: {exc}") from exc
    names = [u.name for u in parsed.user]
    if len(set(names)) != len(names):
        raise UsersFileError(f"{path}: un nombre de usuario aparece dos veces")
    for u in parsed.user:
        if u.role == "agent" and not u.interface:
            raise UsersFileError(f"{path}: el agente {u.name!r} no tiene interfaz (interface)")
    return UserDirectory(parsed.user, source=path)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a changed file: inode, size, modification time (None: no file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def save_user(path: Path, user: User) -> None:
    """Add or replace one user in the file (written atomically, mode 0600)."""
    existing = load_users(path)
    users = [u for u in existing.all() if u.name != user.name] + [user]
    lines = []
    for u in users:
        lines += [
            "[[user]]",
            f"name = {_toml_str(u.name)}",
            f"role = {_toml_str(u.role)}",
            f"interface = {_toml_str(u.interface)}",
            f"password = {_toml_str(u.password)}",
            "",
        ]
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines))
    tmp.replace(path)
