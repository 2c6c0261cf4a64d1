"""Procedure D in a real browser (headless Debian Chromium, 390 px wide): an agent on a
104 call searches Guiatel from the keyboard through the CRM (a real HTTP server on
127.0.0.1) and sees a number, and a reserved one as "Número en reserva: no se informa"
without its number."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from centralita.ami_listener.store import create_schema, make_engine
from centralita.console.schema import metadata as console_metadata
from centralita.ivr.directory_http import HttpCustomerDirectory
from tests.brokers import free_port
from tests.console.ami_calls import Call
from tests.console.conftest import launch_chromium, sign_in
from tests.console.helpers import PASSWORD, console
from tests.console.test_browser import serve
from tests.ivr.guide_server import GuideCrm, guide_crm

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = [pytest.mark.browser]


@contextlib.asynccontextmanager
async def guide_page(
    chromium: str, tmp_path: Path, size: tuple[int, int]
) -> AsyncIterator[tuple[Any, Any, GuideCrm]]:
    """The console on a fresh database, its guides in the fake CRM, and ana's page in
    Chromium at ``size``, connected to her event stream."""
    from playwright.async_api import async_playwright

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'guide.db'}")
    await create_schema(engine)
    async with engine.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
    try:
        async with guide_crm() as crm:
            directory = HttpCustomerDirectory(crm.base, timeout_s=2.0)
            try:
                async with (
                    console(engine, pbx=f"guide{os.getpid()}", guide=directory) as c,
                    serve(c.app, free_port()) as base,
                    async_playwright() as pw,
                ):
                    browser = await launch_chromium(pw, chromium)
                    try:
                        page = await sign_in(browser, base, "ana", PASSWORD, "/consola", *size)
                        await page.wait_for_selector("#link.on")
                        yield c, page, crm
                    finally:
                        await browser.close()
            finally:
                await directory.close()
    finally:
        await engine.dispose()


async def test_agent_on_a_104_call_searches_guiatel(chromium: str, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    call = Call("1795960000.4", "104", "70555666", agent=1)
    async with guide_page(chromium, tmp_path, (390, 844)) as (c, page, crm):
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
    call = Call("1795960100.4", "4200224", "70555667", agent=1)
    async with guide_page(chromium, tmp_path, (1366, 768)) as (c, page, crm):
        await c.answer(call)
        await page.wait_for_selector("#guide:not([hidden])")
        label = await page.text_content("#guide-label")
        await page.focus("#guide-q")
        await page.keyboard.type("ferreteria")
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#guide-results li")
        found = await page.locator("#guide-results li").nth(0).inner_text()
    assert label == "Buscar en Guía Comercial"
    assert crm.requests == [{"tipo": "comercial", "q": "ferreteria", "limite": "20"}]
    assert "Ferretería El Puente" in found and "4223344" in found
    assert "Ferreterías" in found
