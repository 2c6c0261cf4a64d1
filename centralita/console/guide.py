"""The telephone guides in the agent console: 104 (Guiatel) and 4200224 (Guía Comercial).

Procedure D (104): the agent looks the requested subscriber up in Sistema Guiatel; a
number "en reserva" is not given (the agent tells the caller that there is no record).
Procedure E (4200224): the agent looks the business or professional up in the Guía
Comercial. ``GET /api/guia?tipo=telefonica|comercial&q=TEXTO`` searches through the
daemon's `GuideSearch` (`centralita.ivr.directory`): the CRM (`[directory] crm_url`,
`GET /guia`), or without one the local `customers` table for "telefonica" only.

Answers (JSON): 200 ``{"tipo", "guia", "fuente", "resultados": [...]}``, each result
``{"name", "number", "address", "locality", "category", "reservado"}`` where a reserved
entry has ``number: null`` (the number never leaves the server); 400 for a wrong
``tipo`` or a query shorter than 2 characters; 429 (``Retry-After``) past
``RATE_LIMIT`` searches of one user in ``RATE_WINDOW_S``; 501 ``estado: no_configurada``
for the commercial guide without a CRM; 503 ``estado: no_disponible`` when the source
is down, slow or answers garbage. Every answer is for a signed-in console user (401
otherwise). The query is logged masked (`mask_query`), never as typed.

The page shows the search box when the call in the form is of a service listed in
``SERVICE_GUIDES`` (a fixed mapping: these two services are the procedure's guides; a
per-service setting in routing.toml would be more machinery than the two numbers need).
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from centralita.console.users import User
from centralita.ivr.directory import GUIDE_NAMES, GUIDES, GuideEntry, GuideKind, GuideSearch
from centralita.ivr.exceptions import DirectoryUnavailableError, GuideNotConfiguredError

log = structlog.get_logger(__name__)

SERVICE_GUIDES: Final[dict[str, GuideKind]] = {"104": "telefonica", "4200224": "comercial"}
"""Service key -> the guide its agents search (the agent page gets it as ``data-guides``)."""

MIN_QUERY: Final = 2
MAX_QUERY: Final = 100
RESULTS: Final = 20
RATE_LIMIT: Final = 30
RATE_WINDOW_S: Final = 60.0
"""30 searches a minute per user: far above an agent's pace (one or two per call),
low enough that nobody copies the guide out through the console."""

UNAVAILABLE: Final = "directorio no disponible: intente de nuevo en unos segundos"
NOT_CONFIGURED: Final = (
    "la Guía Comercial no está configurada en este centro: configure [directory] crm_url "
    "en centralita.toml (el CRM que responde GET /guia)"
)
SOURCES: Final = {"crm": "CRM", "clientes": "directorio local de clientes"}

Handler = Callable[[Request], Awaitable[Response]]
Api = Callable[[Callable[[Request, User], Awaitable[Response]]], Handler]

_DIGIT_RUN = re.compile(r"\d+")
_WORD = re.compile(r"[^\W\d_]+")


def mask_query(text: str) -> str:
    """A query for the logs: each word reduced to its first letter, each run of digits
    masked but its last 3 (a number typed is a caller's or a subscriber's number)."""

    def digits(match: re.Match[str]) -> str:
        run = match.group(0)
        return "*" * len(run) if len(run) <= 3 else "*" * (len(run) - 3) + run[-3:]

    def word(match: re.Match[str]) -> str:
        found = match.group(0)
        return found[0] + "*" * (len(found) - 1)

    return _WORD.sub(word, _DIGIT_RUN.sub(digits, text))


class RateLimit:
    """At most ``limit`` events per key in any ``window_s`` (a sliding window)."""

    def __init__(
        self,
        limit: int = RATE_LIMIT,
        window_s: float = RATE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def wait_s(self, key: str) -> float:
        """0 and the event counted when allowed; else the seconds until one is."""
        now = self._clock()
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self._window_s:
            seen.popleft()
        if len(seen) >= self._limit:
            return seen[0] + self._window_s - now
        seen.append(now)
        return 0.0


def _entry_json(entry: GuideEntry) -> dict[str, object]:
    return {
        "name": entry.name,
        "number": None if entry.reserved else entry.number,
        "address": entry.address,
        "locality": entry.locality,
        "category": entry.category,
        "reservado": entry.reserved,
    }


def guide_routes(api: Api, guide: GuideSearch, *, limit: RateLimit | None = None) -> list[Route]:
    """``/api/guia``, wrapped in the console's ``api`` (a signed-in user)."""
    rate = limit or RateLimit()

    async def search(request: Request, user: User) -> Response:
        kind = request.query_params.get("tipo", "")
        if kind not in GUIDES:
            return JSONResponse(
                {"error": f"tipo de guía desconocido: «{kind[:20]}»; use telefonica o comercial"},
                400,
            )
        text = " ".join(request.query_params.get("q", "").split())[:MAX_QUERY]
        if len(text) < MIN_QUERY:
            return JSONResponse(
                {"error": f"escriba al menos {MIN_QUERY} caracteres para buscar"}, 400
            )
        wait = rate.wait_s(user.name)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            log.warning("guide_search_limited", user=user.name, tipo=kind)
            return JSONResponse(
                {"error": f"demasiadas búsquedas seguidas: espere {seconds} s"},
                429,
                headers={"Retry-After": str(seconds)},
            )
        guide_kind: GuideKind = "comercial" if kind == "comercial" else "telefonica"
        name = GUIDE_NAMES[kind]
        try:
            found = await guide.search(guide_kind, text, RESULTS)
        except GuideNotConfiguredError:
            log.info("guide_not_configured", user=user.name, tipo=kind)
            return JSONResponse(
                {"estado": "no_configurada", "tipo": kind, "error": NOT_CONFIGURED}, 501
            )
        except DirectoryUnavailableError as exc:
            log.warning("guide_unavailable", user=user.name, tipo=kind, reason=str(exc))
            return JSONResponse(
                {"estado": "no_disponible", "tipo": kind, "error": f"{name}: {UNAVAILABLE}"},
                503,
            )
        log.info(
            "guide_search",
            user=user.name,
            tipo=kind,
            consulta=mask_query(text),
            results=len(found),
            reserved=sum(1 for e in found if e.reserved),
        )
        return JSONResponse(
            {
                "estado": "ok",
                "tipo": kind,
                "guia": name,
                "fuente": SOURCES.get(guide.source, guide.source),
                "resultados": [_entry_json(e) for e in found],
            }
        )

    return [Route("/api/guia", api(search))]
