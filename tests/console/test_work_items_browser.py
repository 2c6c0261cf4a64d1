"""Work items in headless Chromium (issue #12): the next call arriving mid-walk keeps the
walk and the note, and the agent records both; a double click stores one row; a reload
shows the pending item and its call as ended; no horizontal scroll at 390 px; keys 1-9."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from centralita.ami_listener.store import create_schema, make_engine
from centralita.console.schema import interactions
from centralita.console.schema import metadata as console_metadata
from tests.brokers import free_port
from tests.console.ami_calls import Call
from tests.console.conftest import launch_chromium, sign_in, walk_101_to_outcome
from tests.console.helpers import PASSWORD, console
from tests.console.test_browser import serve

pytestmark = [pytest.mark.browser]

FIRST = Call("1795980000.1", "101", "70123456", agent=1)
NEXT = Call("1795980000.2", "104", "70777888", agent=1, t0=1_795_980_100.0)


async def stored(engine: Any) -> list[Any]:
    async with engine.connect() as conn:
        query = sa.select(interactions).order_by(interactions.c.id)
        return list((await conn.execute(query)).mappings())


async def no_horizontal_scroll(page: Any) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    inner = await page.evaluate("window.innerWidth")
    assert width <= inner, f"page {width} px wide in a {inner} px window"


async def test_next_call_waits_reload_keeps_the_work_and_one_row_per_call(
    chromium: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'work.db'}")
    await create_schema(engine)  # the calls table: a reload reads the calls' ends there
    async with engine.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
    try:
        async with (
            console(engine, wrapup_s=3600) as c,
            serve(c.app, free_port()) as base,
            async_playwright() as pw,
        ):
            browser = await launch_chromium(pw, chromium)
            page = await sign_in(browser, base, "ana", PASSWORD, "/consola", 390, 844)
            await page.wait_for_selector("#link.on")
            await c.answer(FIRST)
            await expect(page.locator("#caller")).to_have_text("70123456")
            await expect(page.locator("#call-state")).to_have_text("En llamada")
            assert "Llamada nueva" in await page.title()
            # Keyboard: "1" takes the first option, focus follows to the next step.
            await page.wait_for_selector("#options button")
            await page.locator("body").click()
            await page.keyboard.press("1")
            await expect(page.locator("#step")).to_contain_text("Paso 2")
            focused = await page.evaluate("document.activeElement.parentElement.id")
            assert focused == "options"
            await page.keyboard.press("1")
            await expect(page.locator("#step")).to_contain_text("Paso 3")
            await page.fill("#note", "Nota a medio camino")
            await no_horizontal_scroll(page)

            # The next call arrives mid-walk: it waits, the form keeps the walk and note.
            await c.answer(NEXT)
            await expect(page.locator("#pending")).to_be_visible()
            await expect(page.locator("#pending-list")).to_contain_text("70777888")
            assert await page.text_content("#caller") == "70123456"
            assert await page.input_value("#note") == "Nota a medio camino"
            await expect(page.locator("#step")).to_contain_text("Paso 3")
            await page.screenshot(path=str(tmp_path / "siguiente.png"), full_page=True)

            # The first call ends: shown as ended, with the after-call time.
            c.play(FIRST.end())
            await expect(page.locator("#call-state")).to_have_text("Terminada")
            await page.wait_for_timeout(600)  # the draft is saved (debounced PUT)

            # Reload: the pending item comes back with its walk, note and end.
            await page.reload()
            await expect(page.locator("#caller")).to_have_text("70123456")
            await expect(page.locator("#call-state")).to_have_text("Terminada")
            await expect(page.locator("#step")).to_contain_text("Paso 3")
            assert await page.input_value("#note") == "Nota a medio camino"
            await expect(page.locator("#pending-list")).to_contain_text("70777888")
            await no_horizontal_scroll(page)

            # Finish the first walk from step 3 and double-click the button: one row.
            for _ in range(2):  # steps 3 and 4 continue; step 5 branches
                await page.click("#options button >> nth=0")
            await page.wait_for_selector("#options button >> nth=1")
            await page.click("#options button >> nth=1")
            await page.wait_for_selector("text=Genera un daño")
            await page.click("#options button >> nth=0")
            await page.wait_for_selector("#outcome:not([hidden])")
            await page.dblclick("#save")
            await expect(page.locator("#saved")).to_contain_text("Interacción registrada")
            # The next call is now in the form; record it with a generic outcome (Enter).
            await expect(page.locator("#caller")).to_have_text("70777888")
            await expect(page.locator("#pending")).to_be_hidden()
            await page.click("[data-generic=colgo]")
            await page.fill("#note", "Cortó al saludar")
            await page.keyboard.press("Enter")
            await expect(page.locator("#saved")).to_contain_text("Colgó")

            # 1366x768: two columns, no horizontal scroll either.
            await page.set_viewport_size({"width": 1366, "height": 768})
            await no_horizontal_scroll(page)
            await browser.close()
        rows = await stored(engine)
    finally:
        await engine.dispose()
    assert [(r["call_uniqueid"], r["outcome_code"], r["note"]) for r in rows] == [
        (FIRST.uniqueid, "dano_generado", "Nota a medio camino"),
        (NEXT.uniqueid, "colgo", "Cortó al saludar"),
    ]
    assert msgspec.json.decode(rows[0]["trail"]) == [[1, 0], [2, 0], [3, 0], [4, 0], [5, 1], [7, 0]]


async def test_reload_after_the_call_ended_while_away(chromium: str, tmp_path: Path) -> None:
    """The call ends while no page is open: after sign-in it shows as ended, not live."""
    from playwright.async_api import async_playwright, expect

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'away.db'}")
    await create_schema(engine)
    async with engine.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
    try:
        async with (
            console(engine) as c,
            serve(c.app, free_port()) as base,
            async_playwright() as pw,
        ):
            await c.answer(FIRST)
            c.play(FIRST.end())
            browser = await launch_chromium(pw, chromium)
            page = await sign_in(browser, base, "ana", PASSWORD, "/consola", 1366, 768)
            await expect(page.locator("#caller")).to_have_text("70123456")
            await expect(page.locator("#call-state")).to_have_text("Terminada")
            await walk_101_to_outcome(page, "Tarde")
            await page.click("#save")
            await expect(page.locator("#saved")).to_contain_text("Interacción registrada")
            await page.reload()
            await expect(page.locator("#idle")).to_be_visible()
            await browser.close()
        assert len(await stored(engine)) == 1
    finally:
        await engine.dispose()
