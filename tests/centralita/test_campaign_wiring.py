"""The daemon's campaign wiring: the dialer's hours are routing.toml's, as reloaded.

The dialers are judged at given instants (``may_call(moment)``), never by the wall clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import make_engine
from centralita.campaigns.hosting import CampaignRotation
from centralita.campaigns.sinks import CampaignSink
from centralita.daemon import Daemon
from centralita.routing import RoutingHolder
from centralita.settings import SettingsError, parse_settings
from centralita.wiring import _campaign
from tests.campaigns.conftest import lp, routing_text, write
from tests.campaigns.test_routing_hours import AFTERNOONS, MORNINGS, without_campaign

WEDNESDAY_10 = lp(2026, 3, 4, 10, 0)
WEDNESDAY_15 = lp(2026, 3, 4, 15, 0)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """Never connected to: the dialers are only asked about their hours."""
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    yield eng
    await eng.dispose()


def wire(
    engine: AsyncEngine, holder: RoutingHolder, campaign: str
) -> tuple[list[Any], dict[str, Any]]:
    settings = parse_settings(f"[campaign]\nenabled = true\n{campaign}", "c.toml", env={})
    extra: dict[str, Any] = {"publisher": object(), "after_listener": [], "coroutines": []}
    sinks = _campaign(Daemon(settings), holder, engine, extra)
    return sinks, extra


def close(extra: dict[str, Any]) -> None:
    for coroutine in extra["coroutines"]:
        coroutine.close()


async def test_a_routing_reload_changes_the_hours_of_the_daemons_dialer(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    path = write(tmp_path / "routing.toml", routing_text(MORNINGS))
    holder = RoutingHolder(path)
    sinks, extra = wire(engine, holder, 'month = "2026-03"\n')
    try:
        (sink,) = sinks
        assert isinstance(sink, CampaignSink)
        dialer = sink.dialer
        assert dialer.may_call(WEDNESDAY_10)
        assert not dialer.may_call(WEDNESDAY_15)
        write(path, routing_text(AFTERNOONS))
        assert holder.reload()
        assert not dialer.may_call(WEDNESDAY_10)
        assert dialer.may_call(WEDNESDAY_15)
        write(path, routing_text(AFTERNOONS, {"2026-03-04": "Feriado nuevo"}))
        assert holder.reload()
        assert not dialer.may_call(WEDNESDAY_15)  # a holiday without a `holiday` window
    finally:
        close(extra)


async def test_the_rotation_gets_routings_hours_too(tmp_path: Path, engine: AsyncEngine) -> None:
    path = write(tmp_path / "routing.toml", routing_text(MORNINGS))
    holder = RoutingHolder(path)
    sinks, extra = wire(engine, holder, "")
    try:
        (rotation,) = sinks
        assert isinstance(rotation, CampaignRotation)
        assert rotation.calling_hours is not None
        assert rotation.calling_hours().allows(WEDNESDAY_10)
        write(path, routing_text(AFTERNOONS))
        assert holder.reload()
        assert not rotation.calling_hours().allows(WEDNESDAY_10)
        assert rotation.calling_hours().allows(WEDNESDAY_15)
    finally:
        close(extra)


async def test_the_daemon_refuses_to_start_without_hours_or_with_the_former_file(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    bare = RoutingHolder(write(tmp_path / "bare.toml", without_campaign()))
    with pytest.raises(SettingsError) as caught:
        wire(engine, bare, "")
    assert str(caught.value).startswith("[campaign]: ")
    assert "el servicio «prepago» no tiene [service.campaign] windows" in str(caught.value)

    old = write(tmp_path / "campaign.toml", "days_off = [2026-02-16]\n[retry]\nmax_attempts = 2\n")
    holder = RoutingHolder(write(tmp_path / "routing.toml", routing_text()))
    with pytest.raises(SettingsError) as caught:
        wire(engine, holder, f'settings_file = "{old}"\n')
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"[campaign] settings_file: {old}: days_off ya no se configura")
    assert "routing.toml ([service.campaign] windows" in message
    assert caught.value.exit_code == 2


def test_the_campaign_report_refuses_the_former_file_in_one_line(tmp_path: Path) -> None:
    """With the dialer off, the supervisor's campaign report still reads the file's
    [window]: a former file is the same one-line startup error, not an unexpected fault."""
    from centralita.wiring import _campaign_rule

    old = write(tmp_path / "campaign.toml", '[hours]\nmon = { from = "08:00", until = "12:00" }\n')
    settings = parse_settings(f'[campaign]\nenabled = false\nsettings_file = "{old}"\n')
    with pytest.raises(SettingsError) as caught:
        _campaign_rule(settings)
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 2
    assert message.startswith(f"[campaign] settings_file: {old}: ")
    assert "routing.toml" in message
    ok = write(tmp_path / "ok.toml", "[window]\nstart_day = 20\n")
    good = parse_settings(f'[campaign]\nsettings_file = "{ok}"\n')
    assert _campaign_rule(good).start_day == 20
