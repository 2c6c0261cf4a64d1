"""Console sessions through the real daemon (``centralita run``'s wiring, real HTTP).

Without ``CENTRALITA_SESSION_KEY`` or a key file, the daemon makes a key in its state
directory: a console signed in before a restart is still signed in after it. In Chromium,
the sign-in page works under the Content-Security-Policy (no violation reported), and a
console whose session ends (signed out elsewhere) lands on the sign-in page with the
reason in Spanish. Security headers are on the daemon's own /health too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from centralita.console import security
from centralita.console.security import KEY_FILE_NAME, NOTICES
from centralita.console.sessions import COOKIE
from centralita.daemon import Daemon
from centralita.demo import free_port
from centralita.settings import parse_settings
from centralita.simulator.capture_server import CaptureServer
from tests.console.conftest import launch_chromium, sign_in
from tests.console.test_daemon_e2e import (
    CALL_ID,
    PASSWORD,
    SECRET,
    capture_until_answer,
    wait_http,
    write_users,
)


@dataclass
class Up:
    daemon: Daemon
    base: str


@contextlib.asynccontextmanager
async def daemon_up(tmp_path: Path, db_url: str) -> AsyncIterator[Up]:
    """One run of the daemon on its own HTTP port; the users file and state dir are kept."""
    data, _ = capture_until_answer(CALL_ID)
    server = CaptureServer(data, secret=SECRET)
    ami_port = await server.start()
    http_port = free_port()
    text = (
        f'pbx_id = "sec-{uuid.uuid4().hex[:8]}"\n'
        f'[ami]\nport = {ami_port}\nsecret_file = "{tmp_path / "ami.secret"}"\n'
        f'[database]\nurl = "{db_url}"\n'
        "[ivr]\nenabled = false\n"
        f'[http]\nport = {http_port}\nusers_file = "{tmp_path / "users.toml"}"\n'
    )
    daemon = Daemon(parse_settings(text, "sec.toml", env={}))
    await daemon.build()
    runner = asyncio.create_task(daemon.run())
    base = f"http://127.0.0.1:{http_port}"
    try:
        await wait_http(base)
        yield Up(daemon, base)
    finally:
        daemon.stop()
        await asyncio.wait_for(runner, 30)
        await server.close()


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory, no configured key, users and AMI secret written once."""
    folder = tmp_path / "state"
    folder.mkdir()
    monkeypatch.setenv("STATE_DIRECTORY", str(folder))
    monkeypatch.delenv("CENTRALITA_SESSION_KEY", raising=False)
    (tmp_path / "ami.secret").write_text(SECRET + "\n")
    write_users(tmp_path / "users.toml")
    return folder


async def test_session_survives_a_daemon_restart_without_a_configured_key(
    state: Path, tmp_path: Path, db_url: str
) -> None:
    async with daemon_up(tmp_path, db_url) as first, httpx.AsyncClient(base_url=first.base) as c:
        reply = await c.post(
            "/ingresar", data={"usuario": "ana", "clave": PASSWORD}, headers={"Origin": first.base}
        )
        assert reply.status_code == 303, reply.text
        cookie = c.cookies[COOKIE]
        assert (await c.get("/api/yo")).json()["name"] == "ana"
        health = await c.get("/health")
        assert health.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in health.headers["content-security-policy"]
    key_file = state / KEY_FILE_NAME
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_bytes()

    async with (
        daemon_up(tmp_path, db_url) as second,
        httpx.AsyncClient(base_url=second.base, cookies={COOKIE: cookie}) as c,
    ):
        me = await c.get("/api/yo")
        assert me.status_code == 200, me.text
        assert me.json()["name"] == "ana"
    assert key_file.read_bytes() == key  # kept, not regenerated


@pytest.mark.browser
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_console_that_loses_its_session_goes_to_sign_in_with_the_reason(
    chromium: str, state: Path, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import async_playwright, expect

    monkeypatch.setattr(security, "STREAM_RECHECK_S", 0.3)
    async with daemon_up(tmp_path, db_url) as d, async_playwright() as pw:
        browser = await launch_chromium(pw, chromium)
        violations: list[str] = []
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        await page.goto(f"{d.base}/ingresar")
        await page.fill("input[name=usuario]", "ana")
        await page.fill("input[name=clave]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{d.base}/consola")
        await page.wait_for_selector("#link.on")  # the event stream is open

        # The same session ended elsewhere (the cookie copied to another client, signed out).
        cookies = await page.context.cookies()
        [cookie] = [c["value"] for c in cookies if c["name"] == COOKIE]
        async with httpx.AsyncClient(base_url=d.base, cookies={COOKIE: cookie}) as other:
            out = await other.post("/salir", headers={"Origin": d.base})
            assert out.status_code == 303
        started = time.monotonic()
        await page.wait_for_url(f"{d.base}/ingresar?motivo=salida", timeout=15_000)
        assert time.monotonic() - started < 15
        await expect(page.locator(".notice")).to_have_text(NOTICES["salida"])

        # Signing out from the page itself shows its own line, and signing in works again.
        await page.fill("input[name=usuario]", "ana")
        await page.fill("input[name=clave]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{d.base}/consola")
        await page.click("form[action='/salir'] button")
        await page.wait_for_url(f"{d.base}/ingresar?motivo=cerrada")
        await expect(page.locator(".notice")).to_have_text(NOTICES["cerrada"])
        sup = await sign_in(browser, d.base, "sofia", PASSWORD, "/muro", 1024, 700)
        await expect(sup.locator("#queues")).to_be_visible()
        await browser.close()
    assert violations == []
