"""A CRM's guide (`GET /guia`, `GET /customers`) served by uvicorn on 127.0.0.1: a real
socket, real HTTP, so the adapter's client, timeouts and decoding are what production runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.brokers import free_port

GUIATEL: list[dict[str, Any]] = [
    {
        "name": "María Elena Quispe Rojas",
        "number": "4412345",
        "address": "Calle Jordán 456",
        "locality": "Cochabamba",
        "reservado": False,
        "crm_id": 17,  # extra fields are ignored
    },
    {
        "name": "Juan Quispe Mamani",
        "number": "4498765",  # in reserve: the CRM sends it anyway, centralita drops it
        "address": "Av. Heroínas 12",
        "locality": "Cochabamba",
        "reservado": True,
    },
    {"name": "Ñusta Peña", "number": "4400011", "address": None, "locality": None},
]
COMERCIAL: list[dict[str, Any]] = [
    {
        "name": "Ferretería El Puente",
        "number": "4223344",
        "address": "Av. Blanco Galindo km 4",
        "locality": "Quillacollo",
        "category": "Ferreterías",
        "reservado": False,
    },
]


def fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in plain if not unicodedata.combining(ch))


@dataclass
class GuideCrm:
    """What the fake CRM answers, and what it was asked."""

    base: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    body: bytes | None = None  # sent as is instead of the matches
    delay_s: float = 0.0

    def app(self) -> Starlette:
        async def guia(request: Request) -> Response:
            params = dict(request.query_params)
            self.requests.append(params)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.body is not None:
                return Response(self.body, self.status, media_type="application/json")
            if self.status != 200:
                return JSONResponse({"detail": "mantenimiento"}, self.status)
            book = GUIATEL if params.get("tipo") == "telefonica" else COMERCIAL
            words = fold(params.get("q", "")).split()
            found = [
                e
                for e in book
                if all(
                    w in fold(f"{e['name']} {e.get('category', '')} {e['number']}") for w in words
                )
            ]
            return JSONResponse(found)

        async def customers(request: Request) -> Response:
            if request.query_params.get("phone") == "4412345":
                return JSONResponse({"contract": "100871", "name": "María", "segment": "vip"})
            return JSONResponse({"detail": "no"}, 404)

        return Starlette(routes=[Route("/guia", guia), Route("/customers", customers)])


@contextlib.asynccontextmanager
async def guide_crm() -> AsyncIterator[GuideCrm]:
    """The fake CRM listening on a free port of 127.0.0.1 until the block ends."""
    crm = GuideCrm()
    port = free_port()
    config = uvicorn.Config(crm.app(), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the server failed to start: raise its error
        await asyncio.sleep(0.02)
    crm.base = f"http://127.0.0.1:{port}"
    try:
        yield crm
    finally:
        server.should_exit = True
        await task
