"""The daemon's [mail] section: recipients by name, the password from the environment or
a file (never shown), mistakes as one Spanish line."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.mail.sender import unconfigured_recipients
from centralita.settings import SettingsError, parse_settings

MAIL = """
[mail]
host = "smtp.example.com"
port = 587
starttls = true
username = "centralita"
from_address = "centro.llamadas@example.com"

[mail.recipients]
jefatura_sector = "jefatura.sector@example.com"
encargado_telefonia_publica = "telefonia.publica@example.com"
"""


def test_mail_settings_with_the_password_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CENTRALITA_SMTP_PASSWORD", "secreto-smtp")
    config = parse_settings(MAIL).mail_config()
    assert (config.host, config.port, config.starttls, config.username) == (
        "smtp.example.com",
        587,
        True,
        "centralita",
    )
    assert config.password == "secreto-smtp"
    assert "secreto-smtp" not in repr(config)
    assert config.tls_context is not None
    assert config.address_of("jefatura_sector") == "jefatura.sector@example.com"
    assert config.address_of("otro@example.com") == "otro@example.com"
    assert config.address_of("desconocido") is None


def test_the_password_file_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENTRALITA_SMTP_PASSWORD", "del-entorno")
    secret = tmp_path / "smtp.secret"
    secret.write_text("del-archivo\n", encoding="utf-8")
    text = MAIL.replace(
        'username = "centralita"', f'username = "centralita"\npassword_file = "{secret}"'
    )
    assert parse_settings(text).mail_config().password == "del-archivo"


def test_mail_is_off_by_default() -> None:
    assert parse_settings("").mail.host == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("jefatura.sector@example.com", "jefatura"),
            "mail.recipients.jefatura_sector: «jefatura»",
        ),
        (("centro.llamadas@example.com", ""), "mail.from_address: «» no es una dirección"),
        (("starttls = true", "starttls = true\ntls = true"), "starttls y tls no van juntos"),
        (("port = 587", "port = 0"), "mail.port: 0 no es un puerto"),
    ],
)
def test_a_wrong_setting_is_one_spanish_line(
    change: tuple[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CENTRALITA_SMTP_PASSWORD", raising=False)
    with pytest.raises(SettingsError) as caught:
        parse_settings(MAIL.replace(*change)).mail_config()
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="unknown field"):
        parse_settings('[mail]\nhots = "x"\n')


def test_the_sender_names_the_scripts_recipients_missing_from_the_config() -> None:
    config = parse_settings(MAIL.replace('jefatura_sector = "jefatura.sector@example.com"', ""))
    assert unconfigured_recipients(config.mail_config()) == ["jefatura_sector"]
    assert unconfigured_recipients(parse_settings(MAIL).mail_config()) == []
