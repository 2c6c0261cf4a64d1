"""The pieces of the console's security: sign-in limiter, session key, doctor's finding,
session store expiry (virtual clock), the origin rule."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import make_engine
from centralita.console.schema import metadata as console_metadata
from centralita.console.security import (
    KEY_FILE_NAME,
    LoginLimiter,
    same_origin,
    session_key,
)
from centralita.console.sessions import SessionSigner, SessionStore
from centralita.doctor import check_session_key
from centralita.settings import parse_settings


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_limiter_locks_after_ten_and_doubles_the_wait() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    for _ in range(9):
        limiter.failed("ana", "10.0.0.5")
        assert limiter.retry_after("ana", "10.0.0.5") == 0
    limiter.failed("ana", "10.0.0.5")
    assert limiter.retry_after("ana", "10.0.0.5") == 60
    assert limiter.retry_after("ana", "10.0.0.9") == 60  # the user, from any address
    assert limiter.retry_after("beto", "10.0.0.5") == 0  # the address is below its limit
    limiter.succeeded("ana")  # never called while locked by the console; clears the user
    assert limiter.retry_after("ana", "10.0.0.9") == 0

    for _ in range(10):
        limiter.failed("carla", "10.0.0.7")
    clock.now += 61
    assert limiter.retry_after("carla", "10.0.0.7") == 0
    limiter.failed("carla", "10.0.0.7")  # one more wrong password after the lockout
    assert limiter.retry_after("carla", "10.0.0.7") == 120
    clock.now += 121
    limiter.failed("carla", "10.0.0.7")
    assert limiter.retry_after("carla", "10.0.0.7") == 240


def test_limiter_forgets_after_a_quiet_window_and_limits_addresses() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    for _ in range(9):
        limiter.failed("ana", "10.0.0.5")
    clock.now += 901
    limiter.failed("ana", "10.0.0.5")
    assert limiter.retry_after("ana", "10.0.0.5") == 0  # the old nine are forgotten

    for i in range(30):  # one address guessing many names
        limiter.failed(f"user{i}", "192.0.2.1")
    assert limiter.retry_after("someone-else", "192.0.2.1") == 60
    assert limiter.retry_after("someone-else", "192.0.2.2") == 0


def test_same_origin_rule() -> None:
    host = {"host": "pbx.example:8080"}
    assert same_origin({**host, "origin": "http://pbx.example:8080"}) is True
    assert same_origin({**host, "origin": "https://pbx.example:8080"}) is True
    assert same_origin({**host, "origin": "http://pbx.example"}) is False
    assert same_origin({**host, "origin": "http://evil.example"}) is False
    assert same_origin({**host, "origin": "null"}) is False
    assert same_origin({**host, "referer": "http://pbx.example:8080/consola"}) is True
    assert same_origin({**host, "referer": "http://pbx.example:8080.evil.example/"}) is False
    assert same_origin({**host, "origin": "http://evil.example", "referer": host["host"]}) is False
    assert same_origin(host) is None  # no browser page sent it


def test_session_key_is_generated_once_mode_0600_and_kept(tmp_path: Path) -> None:
    first = session_key(None, "env:CENTRALITA_SESSION_KEY", tmp_path)
    assert first.source == "generated"
    assert first.key is not None and len(first.key) >= 48
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = session_key(None, "env:CENTRALITA_SESSION_KEY", tmp_path)
    assert again.key == first.key  # a restart signs with the same key
    given = session_key(b"configured", "file:/etc/centralita/key", tmp_path)
    assert (given.key, given.source, given.detail) == (b"configured", "file", "/etc/centralita/key")


def test_session_key_that_cannot_be_kept_is_random_and_said(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "state"
    not_a_directory.write_text("")  # nothing can be created under it, even by root
    found = session_key(None, "env:X", not_a_directory)
    assert found.source == "random"
    assert found.key is None
    assert "no se puede" in found.detail


def test_doctor_says_which_session_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    monkeypatch.delenv("CENTRALITA_SESSION_KEY", raising=False)
    plain = parse_settings("", "t.toml", env={})
    [found] = check_session_key(plain)
    assert found.status == "ok"
    assert "se creará al arrancar" in found.message
    assert not (tmp_path / KEY_FILE_NAME).exists()  # the doctor never makes it

    session_key(None, "env:X", tmp_path)
    [found] = check_session_key(plain)
    assert (found.status, found.message) == (
        "ok",
        f"clave generada: {tmp_path / KEY_FILE_NAME}",
    )

    monkeypatch.setenv("CENTRALITA_SESSION_KEY", "k" * 40)
    [found] = check_session_key(plain)
    assert (found.status, found.message) == ("ok", "clave de la variable $CENTRALITA_SESSION_KEY")
    monkeypatch.delenv("CENTRALITA_SESSION_KEY")

    key_file = tmp_path / "key"
    key_file.write_text("k" * 40)
    key_file.chmod(0o644)
    by_file = parse_settings(f'[http]\nsession_key_file = "{key_file}"\n', "t.toml", env={})
    [found] = check_session_key(by_file)
    assert found.status == "warn"
    assert f"chmod 600 {key_file}" in found.message

    not_a_directory = tmp_path / "state"
    not_a_directory.write_text("")
    monkeypatch.setenv("STATE_DIRECTORY", str(not_a_directory))
    [found] = check_session_key(plain)
    assert found.status == "warn"
    assert "cada reinicio cierra todas las consolas" in found.message


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    async with eng.begin() as conn:
        await conn.run_sync(console_metadata.create_all)
    yield eng
    await eng.dispose()


async def test_store_expires_refuses_revoked_and_touches(engine: AsyncEngine) -> None:
    clock = Clock(1_800_000_000.0)
    store = SessionStore(engine, SessionSigner(b"k" * 32, max_age_s=3600), clock=clock)
    tags = {"ana": "t1", "beto": "t2"}
    token = await store.create("ana", "t1", "10.0.0.5")
    other = await store.create("beto", "t2")
    assert (await store.check(token, tags.get)).user == "ana"
    clock.now += 3599
    assert (await store.check(token, tags.get)).user == "ana"
    clock.now += 1
    assert (await store.check(token, tags.get)).reason == "expirada"

    assert (await store.check(other, tags.get)).reason == "expirada"
    fresh = await store.create("beto", "t2")
    assert await store.revoke_user("beto") == 1
    assert (await store.check(fresh, tags.get)).reason == "clave"
    assert await store.revoke(fresh) is False  # already ended

    gone = await store.create("ana", "t1")
    nobody: dict[str, str] = {}
    assert (await store.check(gone, nobody.get)).reason == "revocada"  # user removed from the file
    changed = await store.create("ana", "t1")
    assert (await store.check(changed, {"ana": "t9"}.get)).reason == "clave"
    other_key = SessionStore(engine, SessionSigner(b"x" * 32), clock=clock)
    live = await store.create("ana", "t1")
    assert (await other_key.check(live, tags.get)).reason == "sin_sesion"
