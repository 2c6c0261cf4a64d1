"""The console's guard: sessions, sign-in limits, origin checks and security headers.

``ConsoleGuard`` is built once per console app. Its ASGI middleware, on every request:

* refuses a state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` (or, when
  the browser sent none, ``Referer``) is another site, sign-in and sign-out included
  (403). Browsers send ``Origin`` on every cross-site POST; a request with neither header
  comes from no browser page (curl, a script) and cannot carry a victim's cookie against
  their will. The API's POSTs also need ``X-Centralita: 1`` (``app.api``);
* resolves the session cookie against the session store once, for ``current`` and the
  API's 401 (whose ``motivo`` tells the page why, so it can send the agent to the sign-in
  page with the reason);
* adds the security headers to every response (CSP without inline code, frame-ancestors
  'none', nosniff, Referrer-Policy, X-Frame-Options);
* ends an open event stream whose session is revoked or expires.

Sign-in attempts are limited per user name and per client address (``LoginLimiter``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from centralita.console.exceptions import AuthenticationError
from centralita.console.sessions import (
    COOKIE,
    EXPIRED,
    LOGGED_OUT,
    NONE,
    PASSWORD_CHANGED,
    REVOKED,
    SessionCheck,
    SessionSigner,
    SessionStore,
    password_tag,
)
from centralita.console.users import User, UserDirectory

log = structlog.get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "centralita.session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
STREAM_RECHECK_S = 15.0

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"media-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)

NOTICES = {
    NONE: "Ingrese con su usuario y contraseña.",
    EXPIRED: "Su sesión expiró. Ingrese de nuevo para seguir trabajando.",
    LOGGED_OUT: "Su sesión se cerró. Ingrese de nuevo para seguir trabajando.",
    PASSWORD_CHANGED: "Su contraseña cambió y la sesión se cerró. Ingrese con la nueva.",
    REVOKED: "Su sesión fue cerrada por la administración. Ingrese de nuevo.",
    "cerrada": "Sesión cerrada. Hasta pronto.",
}
"""What the sign-in page says for each ``?motivo=`` (anything else: nothing)."""


# --------------------------------------------------------------------------- headers


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _with_headers(send))


def _with_headers(send: Send) -> Send:
    names = {name for name, _ in SECURITY_HEADERS}

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
            message["headers"] = kept + list(SECURITY_HEADERS)
        await send(message)

    return sending


# --------------------------------------------------------------------------- origin


def same_origin(headers: dict[str, str]) -> bool | None:
    """Whether the request's Origin (else Referer) names this host; None when neither.

    Compared with the ``Host`` header (host and port): behind a reverse proxy that keeps
    ``Host``, the browser's origin still matches.
    """
    host = headers.get("host", "").lower()
    origin = headers.get("origin")
    if origin is None:
        referer = headers.get("referer")
        if not referer:
            return None
        origin = referer
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host


# --------------------------------------------------------------------------- sign-in limit


@dataclass
class _Strikes:
    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


@dataclass
class LoginLimiter:
    """Wrong passwords per user name and per client address, with a growing lockout.

    After ``limit`` wrong passwords (within ``window_s`` of each other) the key is locked
    for ``lock_s``; each further wrong password after a lockout locks again for twice as
    long (up to ``max_lock_s``). While locked every attempt is refused with 429, the right
    password too. A right password clears the user's count (not the address's: one good
    account must not open the way to guessing others). Addresses get a higher limit, since
    a call center's agents often share one address.
    """

    limit: int = 10
    address_limit: int = 30
    window_s: float = 900.0
    lock_s: float = 60.0
    max_lock_s: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, _Strikes] = field(default_factory=dict)

    def _get(self, key: str) -> _Strikes:
        strikes = self._keys.get(key)
        now = self.clock()
        if strikes is not None and now - strikes.last_failure > max(
            self.window_s, strikes.locked_until - strikes.last_failure
        ):
            del self._keys[key]  # quiet long enough: forgotten
            strikes = None
        return strikes or _Strikes()

    def retry_after(self, user: str, address: str) -> float:
        """Seconds until these may try again (0: they may now)."""
        now = self.clock()
        waits = [self._get(k).locked_until - now for k in (f"u:{user}", f"a:{address}")]
        return max(0.0, *waits)

    def failed(self, user: str, address: str) -> None:
        """Count a wrong password for this user name and address."""
        now = self.clock()
        for key, limit in ((f"u:{user}", self.limit), (f"a:{address}", self.address_limit)):
            strikes = self._get(key)
            strikes.failures += 1
            strikes.last_failure = now
            if strikes.failures >= limit:
                over = strikes.failures - limit
                strikes.locked_until = now + min(self.lock_s * 2**over, self.max_lock_s)
            self._keys[key] = strikes
        if len(self._keys) > 100_000:  # a flood of names: forget the oldest half
            for key in sorted(self._keys, key=lambda k: self._keys[k].last_failure)[:50_000]:
                del self._keys[key]

    def succeeded(self, user: str) -> None:
        """The user signed in: their count starts again."""
        self._keys.pop(f"u:{user}", None)


# --------------------------------------------------------------------------- session key

KEY_FILE_NAME = "console-session.key"


@dataclass(frozen=True)
class SessionKey:
    """The key that signs console sessions and where it came from.

    ``source``: ``env`` (the environment variable), ``file`` (http.session_key_file),
    ``generated`` (the file the daemon made in its state directory), ``random`` (none
    could be kept: sessions end with every restart). ``detail`` names the variable or file,
    or says why none could be kept; it never holds the key.
    """

    key: bytes | None
    source: str
    detail: str


def state_directory() -> Path:
    """The daemon's state directory: systemd's ``$STATE_DIRECTORY`` (its first entry),
    else the working directory (the unit's WorkingDirectory is the state directory)."""
    given = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(given) if given else Path.cwd()


def session_key(
    configured: bytes | None,
    configured_source: str,
    state_dir: Path,
    *,
    create: bool = True,
) -> SessionKey:
    """The session key: the configured one, else the state directory's key file (made,
    mode 0600, when missing and ``create``), else a random one (``source`` ``random``).

    ``configured_source`` is ``env:NAME`` or ``file:PATH`` for the configured key.
    """
    if configured:
        kind, _, where = configured_source.partition(":")
        return SessionKey(configured, kind or "env", where)
    path = state_dir / KEY_FILE_NAME
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        return SessionKey(None, "random", f"{path} no se puede leer ({_why(exc)})")
    if text:
        return SessionKey(text.encode(), "generated", str(path))
    if not create:
        if state_dir.is_dir() and os.access(state_dir, os.W_OK):
            return SessionKey(None, "generated", f"{path} (se creará al arrancar)")
        return SessionKey(None, "random", f"{state_dir} no admite escritura")
    fresh = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(fresh + "\n")
    except FileExistsError:  # another process made it meanwhile: use theirs
        return session_key(None, "", state_dir, create=False)
    except OSError as exc:
        return SessionKey(None, "random", f"no se puede crear {path} ({_why(exc)})")
    return SessionKey(fresh.encode(), "generated", str(path))


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


# --------------------------------------------------------------------------- the guard


class ConsoleGuard:
    """Sessions, sign-in and sign-out, limits and checks of one console app."""

    def __init__(
        self,
        engine: AsyncEngine,
        users: UserDirectory,
        key: bytes | None,
        *,
        secure_cookies: bool = False,
        limiter: LoginLimiter | None = None,
    ) -> None:
        self.users = users
        self.sessions = SessionStore(engine, SessionSigner(key))
        self.limiter = limiter or LoginLimiter()
        self.secure_cookies = secure_cookies

    # -- per request

    @staticmethod
    def check_of(request: Request) -> SessionCheck:
        """The session check the middleware made for this request."""
        found = request.scope.get(SCOPE_KEY)
        return found if isinstance(found, SessionCheck) else SessionCheck(None, NONE)

    def user(self, request: Request) -> User | None:
        """The signed-in user of this request."""
        name = self.check_of(request).user
        return self.users.get(name) if name else None

    def unauthenticated(self, request: Request) -> JSONResponse:
        """The API's 401, with the reason the page shows on the sign-in page."""
        reason = self.check_of(request).reason or NONE
        return JSONResponse({"error": "no autenticado", "motivo": reason}, status_code=401)

    @staticmethod
    def notice(reason: str) -> str:
        """The sign-in page's line for ``?motivo=``."""
        return NOTICES.get(reason, "")

    async def _check(self, token: str) -> SessionCheck:
        if not token:
            return SessionCheck(None, NONE)
        self.users.refresh()
        return await self.sessions.check(token, self.users.password_tag)

    # -- sign-in, sign-out

    async def login(self, request: Request, refused: Callable[[int, str], Response]) -> Response:
        """POST /ingresar: check the limit, the password, open a session."""
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        name = form.get("usuario", [""])[0].strip()[:80]
        password = form.get("clave", [""])[0]
        address = request.client.host if request.client else ""
        wait = self.limiter.retry_after(name, address)
        if wait > 0:
            log.warning("console_login_throttled", user=name, retry_after_s=round(wait))
            minutes = max(1, int(wait + 59) // 60)
            response = refused(
                429,
                f"demasiados intentos fallidos: espere {minutes} minuto(s) y vuelva a intentar",
            )
            response.headers["Retry-After"] = str(int(wait + 0.999))
            return response
        self.users.refresh()
        try:
            user = await asyncio.to_thread(self.users.authenticate, name, password)
        except AuthenticationError as exc:
            self.limiter.failed(name, address)
            log.info("console_login_rejected", user=name)
            return refused(401, str(exc))
        self.limiter.succeeded(name)
        token = await self.sessions.create(user.name, password_tag(user.password), address)
        log.info("console_login_accepted", user=user.name, role=user.role)
        response = RedirectResponse("/", 303)
        response.set_cookie(
            COOKIE,
            token,
            max_age=self.sessions.max_age_s,
            httponly=True,
            samesite="strict",
            secure=self.secure_cookies,
        )
        return response

    async def logout(self, request: Request) -> Response:
        """POST /salir: revoke the session (a copy of the cookie stops working)."""
        token = request.cookies.get(COOKIE, "")
        if await self.sessions.revoke(token, LOGGED_OUT):
            log.info("console_logout", user=self.check_of(request).user)
        response = RedirectResponse("/ingresar?motivo=cerrada", 303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=self.secure_cookies)
        return response

    # -- middleware

    def middleware(self) -> list[Middleware]:
        """The console app's middleware (outermost first)."""
        return [Middleware(SecurityHeaders), Middleware(_GuardMiddleware, guard=self)]


class _GuardMiddleware:
    def __init__(self, app: ASGIApp, guard: ConsoleGuard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if scope["method"] in UNSAFE_METHODS:
            verdict = same_origin(dict(request.headers.items()))
            if verdict is False:
                log.warning("console_cross_site_refused", path=scope["path"])
                refusal = PlainTextResponse("solicitud de otro sitio rechazada", status_code=403)
                await refusal(scope, receive, send)
                return
        token = request.cookies.get(COOKIE, "")
        check = await self.guard._check(token)
        scope[SCOPE_KEY] = check
        if check.user is None or scope["method"] != "GET" or not _is_stream(scope):
            await self.app(scope, receive, send)
            return
        await self._stream(scope, receive, send, token)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, token: str) -> None:
        """An event stream ends when its session stops being live (logout, expiry)."""
        ended = asyncio.Event()

        async def watch() -> None:
            for delay in stream_recheck_delays():
                await asyncio.sleep(delay)
                with contextlib.suppress(Exception):  # a database hiccup does not end it
                    if (await self.guard._check(token)).user is None:
                        ended.set()
                        return

        async def receiving() -> Message:
            real = asyncio.ensure_future(receive())
            stop = asyncio.ensure_future(ended.wait())
            done, _ = await asyncio.wait({real, stop}, return_when=asyncio.FIRST_COMPLETED)
            if real in done:
                stop.cancel()
                return real.result()
            real.cancel()
            return {"type": "http.disconnect"}

        state = {"started": False, "finished": False}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state["finished"] = True
            await send(message)

        watcher = asyncio.create_task(watch())
        app = asyncio.ensure_future(self.app(scope, receiving, sending))
        stopper = asyncio.ensure_future(ended.wait())
        try:
            await asyncio.wait({app, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not app.done():
                app.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await app
            elif not app.cancelled():
                app.result()
            if state["started"] and not state["finished"]:  # the stream ends cleanly
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            stopper.cancel()
            watcher.cancel()


def stream_recheck_delays() -> Iterator[float]:
    """Seconds before each session check of an open event stream: the first a random part
    of ``STREAM_RECHECK_S`` (half of it to all of it), then ``STREAM_RECHECK_S``.

    Streams opened together (every page reconnecting after a restart) would otherwise
    check in step: about 1 ms of the loop each, with 220 streams a 150-350 ms stall at
    their first check and bursts every 15 s after, which a pop arriving then waited out
    (bench/RESULTS.md, "screenpop in the browser").
    """
    yield STREAM_RECHECK_S * random.uniform(0.5, 1.0)  # spreads timers: no secret
    while True:
        yield STREAM_RECHECK_S


def _is_stream(scope: Scope) -> bool:
    return str(scope["path"]).endswith("/stream")
