"""End to end in a real browser: a call is answered, the pop reaches the agent's MQTT topic
on the real Mosquitto and the console (headless Debian Chromium), the agent walks a branch
of the script and records the outcome, which is then in the database. Screenshots of the
console and the wallboard go to ``artifacts/``."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
import uvicorn

from centralita.ami_listener.store import create_schema, make_engine
from centralita.console.schema import interactions
from centralita.console.schema import metadata as console_metadata
from centralita.screenpop.model import ScreenPop
from tests.brokers import free_port
from tests.console.ami_calls import Call
from tests.console.conftest import collect, launch_chromium, sign_in, walk_101_to_outcome
from tests.console.helpers import PASSWORD, console

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
IVR_OK = {
    "service": "101",
    "queue": "q101",
    "priority": "5",
    "customer": "",
    "segment": "",
    "input": "none",
    "result": "not_found",
}

pytestmark = [pytest.mark.browser, pytest.mark.mqtt]


@contextlib.asynccontextmanager
async def serve(app: object, port: int) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_pop_walk_and_record_in_the_browser(
    chromium: str, mqtt_broker: tuple[str, int], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    host, port = mqtt_broker
    ARTIFACTS.mkdir(exist_ok=True)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}")
    await create_schema(engine)
    async with engine.begin() as conn:  # the interactions table (migrations make it in production)
        await conn.run_sync(console_metadata.create_all)
    pbx = f"e2e{os.getpid()}"
    call = Call("1795950000.7", "101", "70123456", agent=1, ivr=IVR_OK)
    other = Call("1795950000.8", "104", "70999888", agent=2, t0=1_795_950_001.0)
    try:
        async with (
            console(engine, pbx=pbx, host=host, port=port) as c,
            serve(c.app, free_port()) as base,
            collect(host, port, f"centralita/{pbx}/agents/+/screenpop") as got,
            async_playwright() as pw,
        ):
            browser = await launch_chromium(pw, chromium)
            page = await sign_in(browser, base, "ana", PASSWORD, "/consola", 390, 844)
            await page.wait_for_selector("#link.on")

            c.play(other.join() + other.connect())  # another agent's call: not shown
            c.play(call.ivr_frame() + call.join() + call.connect())
            [mqtt_pop] = await got.wait_for("/agents/agent1/screenpop")
            await page.wait_for_selector("#call:not([hidden])")
            assert await page.text_content("#caller") == "70123456"
            assert "Reclamos Técnicos" in (await page.text_content("#service") or "")
            assert await page.text_content("#ivr") == "Cliente no encontrado"
            await page.screenshot(path=str(ARTIFACTS / "console-pop.png"), full_page=True)

            await walk_101_to_outcome(page, "Sin tono desde ayer")
            await page.screenshot(path=str(ARTIFACTS / "console-outcome.png"), full_page=True)
            await page.click("#save")
            await page.wait_for_selector("#saved:not([hidden])")

            sup = await sign_in(browser, base, "sofia", PASSWORD, "/muro", 1024, 700)
            await sup.wait_for_selector("#queues tbody tr")
            await sup.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)
            await browser.close()
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(interactions))).mappings().all()
    finally:
        await engine.dispose()
    pop = msgspec.json.decode(mqtt_pop.payload, type=ScreenPop)
    assert (pop.agent, pop.service, pop.caller_num, pop.script_id) == (
        "agent1",
        "101",
        "70123456",
        "101",
    )
    assert mqtt_pop.qos == 1
    assert len(rows) == 1
    assert rows[0]["call_uniqueid"] == call.uniqueid
    assert rows[0]["outcome_code"] == "dano_generado"
    assert msgspec.json.decode(rows[0]["trail"]) == [[1, 0], [2, 0], [3, 0], [4, 0], [5, 1], [7, 0]]
    assert rows[0]["note"] == "Sin tono desde ayer"
    for name in ("console-pop.png", "console-outcome.png", "wallboard.png"):
        assert (ARTIFACTS / name).stat().st_size > 1000
