"""Console sessions: a signed session id in the cookie, the session itself in the database.

The cookie holds ``<id>.<HMAC-SHA256(key, id)>``; the ``console_sessions`` table holds,
per session, the user, when it was created and last seen, when it expires and whether
(and why) it was revoked. The table stores the SHA-256 of the id, never the id itself: a
copy of the table does not open anyone's console. Logout revokes the session (a copied
cookie then gets 401), a password change revokes every session of the user (the CLI marks
the rows; the daemon also refuses a session whose user's password hash changed since the
sign-in), and an expired session is refused.

The signing key comes from the settings or the environment, else from a key file the
daemon generates in its state directory (``centralita.console.security.session_key``);
only when none can be kept is it random per process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, Index, String, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.console.schema import metadata

COOKIE = "centralita_session"
MAX_AGE_S = 12 * 3600
TOUCH_EVERY_MS = 60_000  # last_seen is written at most once a minute per session
KEEP_MS = 30 * 86_400_000  # a session's row is deleted 30 days after it expired

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id", String(64), primary_key=True, comment="SHA-256 hex of the cookie's session id"),
    Column("user_name", String(80), nullable=False),
    Column("address", String(64), nullable=False, default="", comment="client address"),
    Column("password_tag", String(16), nullable=False, comment="user's password hash, tagged"),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("last_seen_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    Column("revoked_at_ms", BigInteger, nullable=True),
    Column("revoked_reason", String(16), nullable=True, comment="salida, clave, admin"),
)
Index("ix_console_sessions_user", console_sessions.c.user_name)

# Why a session is refused; the login page explains each one (``?motivo=``).
NONE = "sin_sesion"
EXPIRED = "expirada"
LOGGED_OUT = "salida"
PASSWORD_CHANGED = "clave"  # noqa: S105 - a reason code, not a password
REVOKED = "revocada"
REASONS = (NONE, EXPIRED, LOGGED_OUT, PASSWORD_CHANGED, REVOKED)


def password_tag(stored_hash: str) -> str:
    """A short tag of a user's stored password hash: it changes when the password does."""
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionSigner:
    """Signs and checks values with the session key (HMAC-SHA256)."""

    def __init__(self, key: bytes | None = None, max_age_s: int = MAX_AGE_S) -> None:
        self._key = key or secrets.token_bytes(32)
        self.max_age_s = max_age_s

    def _sign(self, body: bytes) -> str:
        mac = hmac.new(self._key, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def sign(self, value: str) -> str:
        """``value.signature``."""
        return f"{value}.{self._sign(value.encode())}"

    def unsign(self, token: str) -> str | None:
        """The value of a correctly signed token; None otherwise."""
        value, _, mac = token.rpartition(".")
        if not value or not hmac.compare_digest(mac, self._sign(value.encode())):
            return None
        return value

    def issue(self, name: str, now: float | None = None) -> str:
        """A self-contained token for ``name`` valid for ``max_age_s`` (no server state)."""
        expiry = int((now if now is not None else time.time()) + self.max_age_s)
        body = base64.urlsafe_b64encode(f"{name}|{expiry}".encode()).decode().rstrip("=")
        return f"{body}.{self._sign(body.encode())}"

    def check(self, token: str, now: float | None = None) -> str | None:
        """The user name of a valid, unexpired ``issue`` token; None otherwise."""
        body = self.unsign(token)
        if body is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
            name, expiry = raw.rsplit("|", 1)
            if int(expiry) < (now if now is not None else time.time()):
                return None
        except ValueError:
            return None
        return name


@dataclass(frozen=True)
class SessionCheck:
    """The answer for one cookie: the user, or why there is none."""

    user: str | None
    reason: str = ""


class SessionStore:
    """Sessions in ``console_sessions`` (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: AsyncEngine,
        signer: SessionSigner,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.clock = clock

    @property
    def max_age_s(self) -> int:
        return self.signer.max_age_s

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def create(self, user: str, tag: str, address: str = "") -> str:
        """A new session for ``user``; returns the cookie value."""
        session_id = secrets.token_urlsafe(32)
        now = self._now_ms()
        async with self.engine.begin() as conn:
            await conn.execute(  # rows of sessions long over are not kept
                console_sessions.delete().where(console_sessions.c.expires_at_ms < now - KEEP_MS)
            )
            await conn.execute(
                console_sessions.insert().values(
                    id=_digest(session_id),
                    user_name=user,
                    address=address[:64],
                    password_tag=tag,
                    created_at_ms=now,
                    last_seen_at_ms=now,
                    expires_at_ms=now + self.max_age_s * 1000,
                    revoked_at_ms=None,
                    revoked_reason=None,
                )
            )
        return self.signer.sign(session_id)

    async def check(self, token: str, tag_of: Callable[[str], str | None]) -> SessionCheck:
        """The session's user when it is live; otherwise the reason it is not.

        ``tag_of(user)`` is the user's current password tag (None: no such user now).
        """
        session_id = self.signer.unsign(token) if token else None
        if session_id is None:
            return SessionCheck(None, NONE)
        key = _digest(session_id)
        async with self.engine.connect() as conn:
            query = sa.select(console_sessions).where(console_sessions.c.id == key)
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return SessionCheck(None, NONE)
        if row["revoked_at_ms"] is not None:
            return SessionCheck(None, str(row["revoked_reason"] or REVOKED))
        now = self._now_ms()
        if now >= row["expires_at_ms"]:
            return SessionCheck(None, EXPIRED)
        current = tag_of(row["user_name"])
        if current is None:
            await self._revoke_where(console_sessions.c.id == key, REVOKED)
            return SessionCheck(None, REVOKED)
        if current != row["password_tag"]:
            await self._revoke_where(console_sessions.c.id == key, PASSWORD_CHANGED)
            return SessionCheck(None, PASSWORD_CHANGED)
        if now - row["last_seen_at_ms"] >= TOUCH_EVERY_MS:
            async with self.engine.begin() as conn:
                await conn.execute(
                    console_sessions.update()
                    .where(console_sessions.c.id == key)
                    .values(last_seen_at_ms=now)
                )
        return SessionCheck(str(row["user_name"]))

    async def _revoke_where(self, condition: sa.ColumnElement[bool], reason: str) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                console_sessions.update()
                .where(condition, console_sessions.c.revoked_at_ms.is_(None))
                .values(revoked_at_ms=self._now_ms(), revoked_reason=reason)
            )
        return int(result.rowcount or 0)

    async def revoke(self, token: str, reason: str = LOGGED_OUT) -> bool:
        """End the cookie's session (logout); False when it was not a live session."""
        session_id = self.signer.unsign(token) if token else None
        if session_id is None:
            return False
        return await self._revoke_where(console_sessions.c.id == _digest(session_id), reason) > 0

    async def revoke_user(self, user: str, reason: str = PASSWORD_CHANGED) -> int:
        """End every live session of ``user``; how many there were."""
        live = console_sessions.c.expires_at_ms > self._now_ms()
        return await self._revoke_where(sa.and_(console_sessions.c.user_name == user, live), reason)
