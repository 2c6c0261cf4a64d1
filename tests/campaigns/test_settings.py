"""The dialer's settings file: defaults, the shipped example, path-named errors, and the
refusal of a file that still has the calling hours (now routing.toml's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.campaigns.dialer import DialerSettings
from centralita.campaigns.exceptions import CampaignConfigError
from centralita.campaigns.settings import example_path, load_settings, parse_settings
from tests.campaigns.test_commands import run


def test_an_empty_file_and_the_example_are_the_built_in_defaults() -> None:
    defaults = DialerSettings()
    for settings in (parse_settings(""), load_settings(example_path())):
        assert settings.service == defaults.service == "prepago"
        assert settings.window == defaults.window
        assert settings.retry == defaults.retry
        assert settings.queues == defaults.queues
        assert (settings.channel, settings.context, settings.exten) == (
            defaults.channel,
            defaults.context,
            defaults.exten,
        )


def test_every_setting_is_read() -> None:
    settings = parse_settings(
        """
service = "recordatorio"
[window]
start_day = 20
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
    assert settings.service == "recordatorio"
    assert settings.window.start_day == 20
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
        ('service = " "\n', "$: service: el servicio no puede estar vacío"),
        ("[horas]\nmon = 1\n", "$: Object contains unknown field `horas`"),
        ('[queues]\ntv_cable = " "\n', "$.queues: tv_cable: la cola no puede estar vacía"),
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


OLD_FILE = """# a campaign.toml of before: the hours were here
days_off = [2026-02-16, 2026-02-17]
[hours]
mon = { from = "08:30", until = "19:00" }
[retry]
max_attempts = 3
"""


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (OLD_FILE, "[hours] y days_off"),
        ('[hours]\nmon = { from = "08:30", until = "19:00" }\n', "[hours]"),
        ("days_off = [2026-02-16]\n", "days_off"),
    ],
)
def test_a_file_with_the_former_hours_is_refused_pointing_at_routing(
    tmp_path: Path, text: str, named: str
) -> None:
    old = tmp_path / "campaign.toml"
    old.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignConfigError) as caught:
        load_settings(old)
    message = str(caught.value)
    assert "\n" not in message
    verb = "configuran" if " y " in named else "configura"
    assert message.startswith(f"{old}: {named} ya no se {verb} aquí: ")
    assert "el horario de llamadas y los feriados de la campaña están ahora en routing.toml" in (
        message
    )
    assert "[service.campaign] windows" in message
    assert "[[holiday]]" in message


def test_check_config_refuses_the_former_hours_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "campaign.toml"
    old.write_text(OLD_FILE, encoding="utf-8")
    assert run("campaign", "check-config", str(old)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"centralita: {old}: [hours] y days_off ya no se configuran aquí")
    assert "routing.toml ([service.campaign] windows" in lines[0]
    assert "[[holiday]]" in lines[0]
