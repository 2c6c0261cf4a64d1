"""[directory]: validated settings, and the daemon's wiring — with `crm_url` the pops'
customer cards and the console's guides come from the CRM (a real HTTP server on
127.0.0.1), without it from the customers table."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.pipeline import Pipeline
from centralita.ami_listener.store import make_engine
from centralita.ami_listener.tracker import CallTracker
from centralita.ivr.directory import SqlCustomerDirectory
from centralita.ivr.directory_http import HttpCustomerDirectory
from centralita.routing import RoutingHolder, default_routing_path
from centralita.screenpop.model import ScreenPop
from centralita.settings import Settings, SettingsError, parse_settings
from centralita.wiring import make_sinks
from tests.console.ami_calls import Call, messages
from tests.ivr.guide_server import GuideCrm, guide_crm


def test_directory_settings() -> None:
    assert Settings().directory.crm_url == ""
    s = parse_settings('[directory]\ncrm_url = "https://crm.example/api"\ntimeout_s = 1.5', env={})
    assert (s.directory.crm_url, s.directory.timeout_s) == ("https://crm.example/api", 1.5)
    with pytest.raises(SettingsError, match="crm_url debe empezar con http"):
        parse_settings('[directory]\ncrm_url = "crm.example"', "x.toml", env={})
    with pytest.raises(SettingsError, match="timeout_s debe ser mayor que 0"):
        parse_settings("[directory]\ntimeout_s = 0", "x.toml", env={})
    with pytest.raises(SettingsError, match=r"^x\.toml: .*url"):
        parse_settings('[directory]\nurl = "http://crm"', "x.toml", env={})


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(sqlite_url)
    yield eng
    await eng.dispose()


def wired(text: str, engine: AsyncEngine) -> tuple[Any, dict[str, Any]]:
    daemon = SimpleNamespace(
        settings=parse_settings(text, env={}), stop_event=asyncio.Event(), pbx="lab"
    )
    extra: dict[str, Any] = {}
    sinks = make_sinks(daemon, RoutingHolder(default_routing_path()), engine, extra)  # type: ignore[arg-type]
    for coroutine in extra["coroutines"]:  # the daemon's publisher task: run here instead
        coroutine.close()
    return sinks, extra


@contextlib.asynccontextmanager
async def publishing(extra: dict[str, Any]) -> AsyncIterator[None]:
    task = asyncio.create_task(extra["publisher"].run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_with_crm_url_cards_and_guides_come_from_the_crm(engine: AsyncEngine) -> None:
    crm: GuideCrm
    async with guide_crm() as crm:
        sinks, extra = wired(f'pbx_id = "lab"\n[directory]\ncrm_url = "{crm.base}"\n', engine)
        guide = extra["guide"]
        assert isinstance(guide, HttpCustomerDirectory)
        [entry, _reserved] = await guide.search("telefonica", "quispe", 20)
        assert entry.number == "4412345"

        pipeline = Pipeline(CallTracker("lab"), sinks=sinks, log_events=False)
        call = Call("1795970000.1", "101", "4412345", agent=1)
        async with publishing(extra):
            for msg in messages(call.join() + call.connect()):
                pipeline.feed(msg, None)
            bus = extra["publisher"].bus
            for _ in range(500):
                if bus.pop_for_call(call.uniqueid) is not None:
                    break
                await asyncio.sleep(0.01)
        await guide.close()
    delivered = bus.pop_for_call(call.uniqueid)
    assert delivered is not None
    pop = msgspec.json.decode(delivered.body, type=ScreenPop)
    assert pop.customer is not None
    assert (pop.customer.contract, pop.customer.name) == ("100871", "María")


async def test_without_crm_url_the_customers_table(engine: AsyncEngine) -> None:
    _sinks, extra = wired('pbx_id = "lab"\n', engine)
    assert isinstance(extra["guide"], SqlCustomerDirectory)
