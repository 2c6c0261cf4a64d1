"""Fakes for the IVR tests: a router, directories that are down or hang, customers."""

from __future__ import annotations

import asyncio
import datetime as dt

from centralita.ivr.directory import Customer
from centralita.ivr.events import InputKind
from centralita.ivr.exceptions import DirectoryUnavailableError
from centralita.ivr.flows import Route, Router

CUSTOMERS = [
    Customer(
        contract="100234", name="José Peña", segment="residencial", phone="4412345", ci="3456789"
    ),
    Customer(
        contract="200999",
        name="Ñusta Quispe SRL",
        segment="corporativo",
        phone="71234567",
        ci="5551234",
    ),
]


class RecordingRouter:
    """Wraps a router and records every question it was asked; `broken` makes it raise."""

    def __init__(self, inner: Router | None = None, *, broken: bool = False) -> None:
        self.inner = inner
        self.broken = broken
        self.calls: list[tuple[str, str | None, str | None]] = []

    def route(
        self, dialed: str, when: dt.datetime, *, segment: str | None, topic: str | None
    ) -> Route:
        self.calls.append((dialed, segment, topic))
        if self.broken or self.inner is None:
            raise RuntimeError("routing table is broken")
        return self.inner.route(dialed, when, segment=segment, topic=topic)


class DownDirectory:
    """A directory that is down."""

    async def lookup(self, kind: InputKind, value: str) -> Customer | None:
        raise DirectoryUnavailableError("connection refused")

    async def close(self) -> None:
        return None


class HangingDirectory:
    """A directory that never answers."""

    async def lookup(self, kind: InputKind, value: str) -> Customer | None:
        await asyncio.Event().wait()
        return None

    async def close(self) -> None:
        return None
