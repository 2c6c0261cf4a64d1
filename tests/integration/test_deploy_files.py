"""The shipped example config documents every setting with its default, and the systemd
unit keeps the operational promises of docs/deployment.md."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from centralita.settings import Settings, parse_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "centralita.example.toml"
UNIT = ROOT / "deploy" / "centralita.service"


def test_example_config_is_valid_and_equals_the_defaults() -> None:
    settings = parse_settings(EXAMPLE.read_text("utf-8"), str(EXAMPLE), env={})
    assert settings == Settings()


def test_example_config_names_every_setting() -> None:
    text = EXAMPLE.read_text("utf-8")
    sections = set(re.findall(r"^\[(\w+)\]$", text, re.M))
    for field in msgspec.structs.fields(Settings):
        default = (
            field.default_factory() if field.default_factory is not msgspec.NODEFAULT else None
        )
        if isinstance(default, msgspec.Struct):
            assert field.name in sections, field.name
            for sub in msgspec.structs.fields(type(default)):
                assert re.search(rf"^{sub.name} = ", text, re.M), f"{field.name}.{sub.name}"
        else:
            assert re.search(rf"^{field.name} = ", text, re.M), field.name
    assert "secret =" not in text and "password =" not in text


def test_systemd_unit() -> None:
    unit = UNIT.read_text("utf-8")
    for line in (
        "Restart=on-failure",
        "EnvironmentFile=/etc/centralita/%i.env",
        "StandardOutput=journal",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ):
        assert line in unit.splitlines(), line
    assert "centralita run --config /etc/centralita/%i.toml" in unit
