"""The in-process bus: every published message handed to listeners in the same process.

The console subscribes here (with or without a broker); with no broker configured it is
the only way pops reach the agents.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import msgspec


@dataclass(frozen=True)
class Delivery:
    """One message as the in-process bus hands it out (``body`` is the MQTT payload)."""

    kind: Literal["screenpop", "call", "interaction"]
    topic: str
    body: bytes
    agent: str = ""
    call_id: str = ""


class LocalBus:
    """In-process fan-out of published messages (the console listens here).

    Each listener has a bounded queue; a slow listener loses its oldest messages, never
    slows the publisher. The last pops per agent are kept for a console that (re)loads.
    """

    def __init__(self, recent_per_agent: int = 20, listener_queue: int = 256) -> None:
        self._listeners: set[asyncio.Queue[Delivery]] = set()
        self._recent: dict[str, deque[Delivery]] = {}
        self._recent_per_agent = recent_per_agent
        self._listener_queue = listener_queue

    def deliver(self, item: Delivery) -> None:
        """Hand a message to every listener (never blocks)."""
        if item.kind == "screenpop":
            ring = self._recent.setdefault(item.agent, deque(maxlen=self._recent_per_agent))
            ring.append(item)
        for queue in self._listeners:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(item)

    def recent_pops(self, agent: str | None = None) -> list[Delivery]:
        """Recent pops of one agent (``None``: every agent), oldest first."""
        if agent is not None:
            return list(self._recent.get(agent, ()))
        return [d for ring in self._recent.values() for d in ring]

    def pop_for_call(self, call_id: str, agent: str | None = None) -> Delivery | None:
        """The most recent pop of a call, if still kept (``agent``: that agent's).

        A call transferred to another queue has a pop per agent who answered it; the
        most recent one (``created_at``; on a tie the later delivery) is the agent who
        has the call now.
        """
        found: Delivery | None = None
        found_at = ""
        for name, ring in self._recent.items():
            if agent is not None and name != agent:
                continue
            for item in ring:
                if item.call_id != call_id:
                    continue
                at = str(msgspec.json.decode(item.body, type=dict[str, Any]).get("created_at", ""))
                if found is None or at >= found_at:
                    found, found_at = item, at
        return found

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[Delivery]]:
        """A queue receiving every message from now on, while the context lasts."""
        queue: asyncio.Queue[Delivery] = asyncio.Queue(self._listener_queue)
        self._listeners.add(queue)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)
