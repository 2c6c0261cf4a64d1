"""Procedure K in the agent's page (headless Chromium): a campaign call shows the
campaign's result buttons; a click records the result against the call's attempt once, and
the campaign report counts it. A queue call without an attempt shows no such buttons."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.ami_listener.store import create_schema, make_engine
from centralita.campaigns import store
from centralita.campaigns.importer import import_customer_list
from centralita.campaigns.report import build_report, counts_as_dict
from centralita.console.schema import metadata as console_metadata
from tests.brokers import free_port
from tests.campaigns.conftest import create_campaign_tables, write
from tests.campaigns.test_console_result import LIST, MONTH, campaign_call
from tests.console.conftest import launch_chromium, sign_in
from tests.console.helpers import PASSWORD, console
from tests.console.test_browser import serve

pytestmark = [pytest.mark.browser]


async def test_campaign_result_from_the_agent_page(chromium: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
    await create_schema(engine)
    async with engine.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
    await create_campaign_tables(engine)
    await import_customer_list(engine, write(tmp_path / "l.csv", LIST), month=None, now_ms=0)
    try:
        async with (
            console(engine) as c,
            serve(c.app, free_port()) as base,
            async_playwright() as pw,
        ):
            browser = await launch_chromium(pw, chromium)
            page = await sign_in(browser, base, "ana", PASSWORD, "/consola", 1366, 768)
            await page.wait_for_selector("#link.on")
            attempt_id = await campaign_call(engine, c, "K1")
            await expect(page.locator("#campaign")).to_be_visible()
            button = page.locator("#campaign-options button", has_text="promete pagar")
            await button.dblclick()  # a double click: one result
            await expect(page.locator("#campaign-state")).to_have_text(
                "Resultado registrado: Informado, promete pagar"
            )
            assert await page.locator("#campaign-options button:disabled").count() == 4
            await browser.close()
        state = await store.load_state(engine, MONTH)
        (tried,) = state.attempts["K1"]
        assert (tried.attempt_id, tried.disposition) == (attempt_id, "promesa_pago")
        totals = counts_as_dict(build_report(state).total)
        assert (totals["promesas"], totals["contactados"], totals["gestionados"]) == (1, 1, 1)
    finally:
        await engine.dispose()
