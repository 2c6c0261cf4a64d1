"""`centralita conf generate`: writes the three files, or nothing when routing is broken."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.cli import main
from routing import default_routing_path

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
    assert "note: create" in capsys.readouterr().out


def test_broken_routing_generates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = default_routing_path().read_text(encoding="utf-8")
    broken = text.replace('queue = "q104"', 'queue = "q99"', 1)
    assert broken != text
    routing = tmp_path / "routing.toml"
    routing.write_text(broken, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["conf", "generate", "--routing", str(routing), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert 'service[3].queue: unknown queue "q99"' in err
    assert "nothing generated" in err
    assert not out.exists()


def test_bad_permit_generates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["conf", "generate", "--out", str(out), "--ami-permit", "0.0.0.0/0"]) == 1
    assert "must not permit every address" in capsys.readouterr().err
    assert not out.exists()
