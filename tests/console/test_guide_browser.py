"""Procedure D in a real browser (headless Debian Chromium, 390 px wide): an agent on a
104 call searches Guiatel from the keyboard through the CRM (a real HTTP server on
127.0.0.1) and sees a number, and a reserved one as "Número en reserva: no se informa"
without its number."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from centralita.ami_listener.store import create_schema, make_engine
from centralita.console.schema import metadata as console_metadata
from centralita.ivr.directory_http import HttpCustomerDirectory
from tests.brokers import free_port
from tests.console.ami_calls import Call
from tests.console.conftest import launch_chromium, sign_in
from tests.console.helpers import PASSWORD, console
from tests.console.test_browser import serve
from tests.ivr.guide_server import guide_crm

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = [pytest.mark.browser]


async def test_agent_on_a_104_call_searches_guiatel(chromium: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'guide.db'}")
    await create_schema(engine)
    async with engine.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
    call = Call("1795960000.4", "104", "70555666", agent=1)
    try:
        async with guide_crm() as crm:
            directory = HttpCustomerDirectory(crm.base, timeout_s=2.0)
            async with (
                console(engine, pbx=f"guide{os.getpid()}", guide=directory) as c,
                serve(c.app, free_port()) as base,
                async_playwright() as pw,
            ):
                browser = await launch_chromium(pw, chromium)
                page = await sign_in(browser, base, "ana", PASSWORD, "/consola", 390, 844)
                await page.wait_for_selector("#link.on")
                assert await page.is_hidden("#guide")

                await c.answer(call)
                await page.wait_for_selector("#guide:not([hidden])")
                assert await page.text_content("#guide-label") == "Buscar en Guiatel"
                await page.focus("#guide-q")
                await page.keyboard.type("quispe")
                await page.keyboard.press("Enter")  # Enter searches
                await page.wait_for_selector("#guide-results li >> nth=1")

                items = page.locator("#guide-results li")
                found = await items.nth(0).inner_text()
                reserved = await items.nth(1).inner_text()
                state = await page.text_content("#guide-state") or ""
                body = await page.inner_text("body")
                scroll = await page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                await page.screenshot(path=str(ARTIFACTS / "console-guide.png"), full_page=True)
                await browser.close()
            await directory.close()
    finally:
        await engine.dispose()
    assert crm.requests == [{"tipo": "telefonica", "q": "quispe", "limite": "20"}]
    assert "María Elena Quispe Rojas" in found and "4412345" in found
    assert "Juan Quispe Mamani" in reserved
    assert "Número en reserva: no se informa" in reserved
    assert "4498765" not in body  # the reserved number is nowhere on the page
    assert "2 resultados en Guiatel (CRM)" in state
    assert scroll <= 0  # no horizontal scroll at 390 px
    assert (ARTIFACTS / "console-guide.png").stat().st_size > 1000


async def test_agent_on_a_4200224_call_searches_the_guia_comercial(
    chromium: str, tmp_path: Path
) -> None:
    """Procedure E: on a 4200224 call the box offers the Guía Comercial (the page learns
    which service searches which guide from the server), and the heading travels with
    the entry."""
    from playwright.async_api import async_playwright

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'guide.db'}")
    await create_schema(engine)
    async with engine.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
    call = Call("1795960100.4", "4200224", "70555667", agent=1)
    try:
        async with guide_crm() as crm:
            directory = HttpCustomerDirectory(crm.base, timeout_s=2.0)
            async with (
                console(engine, pbx=f"guidec{os.getpid()}", guide=directory) as c,
                serve(c.app, free_port()) as base,
                async_playwright() as pw,
            ):
                browser = await launch_chromium(pw, chromium)
                page = await sign_in(browser, base, "ana", PASSWORD, "/consola", 1366, 768)
                await page.wait_for_selector("#link.on")
                await c.answer(call)
                await page.wait_for_selector("#guide:not([hidden])")
                label = await page.text_content("#guide-label")
                await page.focus("#guide-q")
                await page.keyboard.type("ferreteria")
                await page.keyboard.press("Enter")
                await page.wait_for_selector("#guide-results li")
                found = await page.locator("#guide-results li").nth(0).inner_text()
                await browser.close()
            await directory.close()
    finally:
        await engine.dispose()
    assert label == "Buscar en Guía Comercial"
    assert crm.requests == [{"tipo": "comercial", "q": "ferreteria", "limite": "20"}]
    assert "Ferretería El Puente" in found and "4223344" in found
    assert "Ferreterías" in found
