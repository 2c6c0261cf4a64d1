"""A console wired like the daemon does it: embedded publisher, live state, users."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from centralita.ami_listener.pipeline import Pipeline
from centralita.ami_listener.tracker import CallTracker
from centralita.console.app import create_app
from centralita.console.live import LiveState
from centralita.console.users import User, UserDirectory, hash_password
from centralita.routing import default_routing_path, load_routing
from centralita.screenpop.publisher import ScreenPopPublisher
from centralita.screenpop.resolvers import service_resolver
from tests.console.ami_calls import Call, messages

PASSWORD = "clave-segura-1"
_HASH = hash_password(PASSWORD)
USERS = UserDirectory(
    [
        User(name="ana", role="agent", interface="Local/agent1@lab-agents", password=_HASH),
        User(name="beto", role="agent", interface="Local/agent2@lab-agents", password=_HASH),
        User(name="sofia", role="supervisor", password=_HASH),
    ]
)


@dataclass
class Console:
    app: Starlette
    publisher: ScreenPopPublisher
    live: LiveState
    pipeline: Pipeline

    def play(self, data: bytes) -> None:
        for msg in messages(data):
            self.pipeline.feed(msg, None)

    async def answer(self, call: Call) -> None:
        """Play a call up to the answer and let the publisher deliver the pop."""
        self.play(call.ivr_frame() + call.join() + call.connect())
        for _ in range(100):
            if self.publisher.bus.pop_for_call(call.uniqueid) is not None:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("pop not delivered")


@contextlib.asynccontextmanager
async def console(
    engine: AsyncEngine,
    *,
    pbx: str = "lab",
    host: str | None = None,
    port: int = 1883,
    wrapup_s: int | None = None,
    controls: Any = None,
    guide: Any = None,
) -> AsyncIterator[Console]:
    """The console app with its publisher and work-item follower running (``wrapup_s``:
    every queue's after-call seconds instead of routing.toml's)."""
    routing = load_routing(default_routing_path())
    publisher = ScreenPopPublisher(pbx, host, port, services=service_resolver(routing))
    live = LiveState(
        pbx,
        measured=[s.key for s in routing.measured_services()],
        service_names={s.key: s.name for s in routing.services},
    )
    pipeline = Pipeline(CallTracker(pbx), sinks=[publisher, live], log_events=False)
    app = create_app(
        pbx,
        engine,
        publisher,
        live,
        USERS,
        wrapup_s=lambda q: routing.queue(q).wrapup_s if wrapup_s is None else wrapup_s,
        controls=controls,
        guide=guide,
    )
    task = asyncio.create_task(publisher.run())
    following = asyncio.create_task(app.state.work_items.follow())
    try:
        yield Console(app, publisher, live, pipeline)
    finally:
        for t in (following, task):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t


@contextlib.asynccontextmanager
async def signed_in(c: Console, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the console app, signed in as ``name``."""
    transport = httpx.ASGITransport(app=c.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        r = await client.post("/ingresar", data={"usuario": name, "clave": PASSWORD})
        assert r.status_code == 303, r.text
        yield client
