"""The dialer's settings file: defaults, the shipped example, path-named errors."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from campaigns.dialer import DialerSettings
from campaigns.exceptions import CampaignConfigError
from campaigns.settings import example_path, load_settings, parse_settings
from tests.campaigns.test_commands import run


def test_an_empty_file_and_the_example_are_the_built_in_defaults() -> None:
    defaults = DialerSettings()
    for settings in (parse_settings(""), load_settings(example_path())):
        assert settings.hours.hours == defaults.hours.hours
        assert settings.retry == defaults.retry
        assert settings.queues == defaults.queues
        assert (settings.channel, settings.context, settings.exten) == (
            defaults.channel,
            defaults.context,
            defaults.exten,
        )
    assert load_settings(example_path()).hours.days_off == {date(2026, 2, 16), date(2026, 2, 17)}


def test_every_setting_is_read() -> None:
    settings = parse_settings(
        """
days_off = [2025-03-03]
[hours]
mon = { from = "09:00", until = "18:00" }
sat = { from = "10:00", until = "12:30" }
[retry]
max_attempts = 5
[retry.spacing_s]
busy = 600
[queues]
internet = "qinternet"
[originate]
channel = "SIP/troncal/{phone}"
exten = "{queue}"
caller_id = "4251000"
ring_timeout_s = 25
"""
    )
    assert settings.hours.hours == {0: (time(9), time(18)), 5: (time(10), time(12, 30))}
    assert settings.hours.days_off == {date(2025, 3, 3)}
    assert settings.retry.max_attempts == 5
    assert settings.retry.spacing("busy").total_seconds() == 600
    assert settings.retry.spacing("no_answer").total_seconds() == 7200
    assert settings.queues == {"tv_cable": "qprepago", "internet": "qinternet"}
    assert (settings.channel, settings.exten, settings.caller_id) == (
        "SIP/troncal/{phone}",
        "{queue}",
        "4251000",
    )
    assert settings.ring_timeout_s == 25


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[retry.spacing_s]\nno_anwser = 60\n",
            "$.retry.spacing_s: Object contains unknown field `no_anwser`",
        ),
        ("[retry]\nmax_attempts = 'tres'\n", "$.retry.max_attempts: Expected `int`, got `str`"),
        ("[retry]\nmax_attempts = 0\n", "$.retry: max_attempts debe estar entre 1 y 20"),
        (
            '[hours]\nmon = { from = "8h30", until = "19:00" }\n',
            "$.hours.mon: hora '8h30' invalida",
        ),
        (
            '[hours]\nmon = { from = "19:00", until = "08:30" }\n',
            "$.hours.mon: 'from' (19:00) debe ser anterior",
        ),
        (
            '[hours]\nlunes = { from = "08:00", until = "12:00" }\n',
            "$.hours: Object contains unknown field `lunes`",
        ),
        ("days_off = ['3 de marzo']\n", "$.days_off[0]: Invalid RFC3339 encoded date"),
        ('[queues]\ntv_cable = " "\n', "$.queues: tv_cable: la cola no puede estar vacia"),
        ('[originate]\nchannel = "Local/x@y"\n', "$.originate: channel debe contener {phone}"),
        ('[originate]\nexten = "{cola}"\n', "$.originate: exten: solo admite {phone} y {queue}"),
        ("[originate]\npoll_s = 0\n", "$.originate: poll_s: debe ser mayor que cero"),
        ("[retry\n", "campaign.toml: toml:"),
    ],
)
def test_errors_name_the_file_and_the_path(text: str, message: str) -> None:
    with pytest.raises(CampaignConfigError) as caught:
        parse_settings(text, "campaign.toml")
    assert str(caught.value).startswith("campaign.toml: ")
    assert message in str(caught.value)


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "ok.toml"
    good.write_text(example_path().read_text(encoding="utf-8"), encoding="utf-8")
    assert run("campaign", "check-config", str(good)) == 0
    assert "correcto" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[retry]\nmax_attempts = 'x'\n", encoding="utf-8")
    assert run("campaign", "check-config", str(bad)) == 1
    assert f"{bad}: $.retry.max_attempts" in capsys.readouterr().err
    assert run("campaign", "check-config", str(tmp_path / "none.toml")) == 1
    assert "no se puede leer" in capsys.readouterr().err
