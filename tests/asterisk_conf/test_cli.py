"""`centralita conf generate`: writes the three files, or nothing when routing is broken."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.cli import main
from centralita.routing import default_routing_path

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("version", ["11", "18"])
def test_generate_writes_the_golden_files(tmp_path: Path, version: str) -> None:
    out = tmp_path / "asterisk"
    assert main(["conf", "generate", "--out", str(out), "--asterisk", version]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["extensions_custom.conf", "manager_custom.conf", "queues_custom.conf"]
    for name in names:
        golden = GOLDEN / f"asterisk{version}" / name
        assert (out / name).read_text(encoding="utf-8") == golden.read_text(encoding="utf-8")


def test_generate_with_routing_and_permit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routing = tmp_path / "routing.toml"
    routing.write_text(default_routing_path().read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "out"
    argv = ["conf", "generate", "--routing", str(routing), "--out", str(out)]
    assert main([*argv, "--ami-permit", "192.168.10.7/32"]) == 0
    manager = (out / "manager_custom.conf").read_text(encoding="utf-8")
    assert "permit=192.168.10.7/255.255.255.255" in manager
    assert "nota: cree" in capsys.readouterr().out


def test_broken_routing_generates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = default_routing_path().read_text(encoding="utf-8")
    broken = text.replace('queue = "q104"', 'queue = "q99"', 1)
    assert broken != text
    routing = tmp_path / "routing.toml"
    routing.write_text(broken, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["conf", "generate", "--routing", str(routing), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line: file, place, reason
    assert f"{routing}: enrutamiento inválido en service[3].queue: cola desconocida «q99»" in err
    assert "No se generó nada" in err
    assert not out.exists()


def test_bad_permit_generates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["conf", "generate", "--out", str(out), "--ami-permit", "0.0.0.0/0"]) == 2
    assert "must not permit every address" in capsys.readouterr().err
    assert not out.exists()


def test_generate_no_campaign_drops_originate(tmp_path: Path) -> None:
    out = tmp_path / "asterisk"
    assert main(["conf", "generate", "--out", str(out), "--no-campaign"]) == 0
    manager = (out / "manager_custom.conf").read_text(encoding="utf-8")
    assert "\nwrite=reporting\n" in manager
    assert "originate" not in manager


def test_generate_call_controls_grants_call_and_agent(tmp_path: Path) -> None:
    out = tmp_path / "asterisk"
    assert main(["conf", "generate", "--out", str(out), "--no-campaign", "--call-controls"]) == 0
    manager = (out / "manager_custom.conf").read_text(encoding="utf-8")
    assert "\nwrite=reporting,call,agent\n" in manager
    assert "[centralita-transfer]" in (out / "extensions_custom.conf").read_text("utf-8")
