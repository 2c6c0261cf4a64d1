"""The supervisor in Chromium: downloads the month's XLSX (equal to ``centralita report``)
and reads the wallboard at 390 px without horizontal overflow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from centralita.cli import main as cli_main
from centralita.db import open_engine
from tests.brokers import free_port
from tests.console.ami_calls import Call
from tests.console.conftest import launch_chromium, sign_in
from tests.console.helpers import PASSWORD, console
from tests.console.test_browser import serve
from tests.console.test_supervisor_web import cells, load_master_capture

pytestmark = [pytest.mark.browser]
MEMBER_IN_USE = (
    b"Event: QueueMemberStatus\r\nPrivilege: agent,all\r\nTimestamp: 1795970000.000000\r\n"
    b"Queue: q101\r\nMemberName: Agent 1\r\nInterface: Local/agent1@lab-agents\r\n"
    b"StateInterface: Local/agent1@lab-agents\r\nMembership: dynamic\r\nPenalty: 0\r\n"
    b"CallsTaken: 0\r\nLastCall: 0\r\nLastPause: 0\r\nInCall: 0\r\nStatus: 2\r\n"
    b"Paused: 0\r\nPausedReason: \r\nRinginuse: 0\r\nWrapuptime: 0\r\n\r\n"
)


async def test_supervisor_downloads_the_month_xlsx_and_reads_the_wallboard_at_390(
    chromium: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    url = f"sqlite+aiosqlite:///{tmp_path / 'sup.db'}"
    engine = await open_engine(url)
    try:
        await load_master_capture(engine)
        cli_out = tmp_path / "cli.xlsx"
        argv = [
            "report",
            "--month",
            "2026-11",
            "--db",
            url,
            "--format",
            "xlsx",
            "--out",
            str(cli_out),
        ]
        assert await asyncio.to_thread(cli_main, argv) == 0
        async with (
            console(engine) as c,
            serve(c.app, free_port()) as base,
            async_playwright() as pw,
        ):
            c.play(MEMBER_IN_USE)  # what 12+ send for a member on a call: InCall 0
            await c.answer(Call("1795970000.1", "101", "70111222", agent=1))
            browser = await launch_chromium(pw, chromium)
            page = await sign_in(browser, base, "sofia", PASSWORD, "/muro", 390, 844)
            await page.wait_for_selector("#agents tbody tr.agent")
            state = await page.text_content("#agents tbody tr.agent td.state")
            busy = await page.text_content("#n-on_call")
            overflow = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            await page.goto(f"{base}/supervision/informes")
            await page.fill("#mes", "2026-11")
            async with page.expect_download() as info:
                await page.click("#att-xlsx")
            download = await info.value
            web = tmp_path / download.suggested_filename
            await download.save_as(web)
            await browser.close()
    finally:
        await engine.dispose()
    assert state == "en llamada"
    assert busy == "1"
    assert overflow <= 0
    assert web.name == "indicador-ATT-2026-11.xlsx"
    assert cells(web) == cells(cli_out)
