"""Fakes for the IVR tests: a router, directories that are down or hang, customers."""

from __future__ import annotations

import asyncio

from ivr.directory import Customer
from ivr.events import InputKind
from ivr.exceptions import DirectoryUnavailableError
from ivr.flows import Route

CUSTOMERS = [
    Customer(
        contract="100234", name="José Peña", segment="residencial", phone="4412345", ci="3456789"
    ),
    Customer(
        contract="200999", name="Ñusta Quispe SRL", segment="vip", phone="71234567", ci="5551234"
    ),
]

PRIORITY = {"vip": 10, "corporativo": 8, "empresa": 5, "residencial": 1}


class FakeRouter:
    """Service = dialed number, queue = q<dialed>, priority by segment."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.calls: list[tuple[str, str | None]] = []

    def route(self, dialed: str, segment: str | None) -> Route:
        self.calls.append((dialed, segment))
        if self.broken:
            raise RuntimeError("routing table is broken")
        return Route(service=dialed, queue=f"q{dialed}", priority=PRIORITY.get(segment or "", 0))


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
