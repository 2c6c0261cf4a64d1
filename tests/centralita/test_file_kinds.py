"""A file of the wrong kind is refused by its first lines, in one Spanish line that names
the file, what it looks like and the command that takes it (exit 2), before any work:
a queue_log given to `ingest-file` or an AMI capture given to `import-queue-log` used to
exit 0 after thousands of warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from centralita.cli import main
from centralita.metrics.commands import file_kind
from centralita.routing import default_routing_path
from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]


def refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("{")]
    assert code == 2, err
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in FIXTURES.iterdir() if p.suffix == ".ami" or "queue_log" in p.name),
)
def test_every_bundled_capture_and_queue_log_is_told_apart(name: str) -> None:
    head = (FIXTURES / name).read_bytes()[:4096]
    assert file_kind(head) == ("ami" if name.endswith(".ami") else "queue_log")


def test_other_kinds() -> None:
    assert file_kind(default_routing_path().read_bytes()) == "toml"
    assert file_kind((ROOT / "deploy" / "centralita.example.toml").read_bytes()) == "toml"
    assert file_kind(b"\xef\xbb\xbfcontrato,nombre,segmento\r\nC1,Ana,residencial\r\n") == "csv"
    assert file_kind(b"contrato;telefono\n1;70000000\n") == "csv"
    assert file_kind(b"Event: Newchannel\r\nPrivilege: call,all\r\n") == "ami"
    # A capture cut in the middle of a frame is still a capture.
    assert file_kind(b"ll,all\r\nEvent: Hangup\r\nChannel: SIP/1\r\nUniqueid: 1.2\r\n") == "ami"
    assert file_kind(b"1795925650|NONE|NONE|NONE|QUEUESTART|\n") == "queue_log"
    assert file_kind(b"") is None
    assert file_kind(b"hola\n") is None


def test_a_queue_log_given_to_ingest_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    queue_log = FIXTURES / "GIT-master-f0c1c1a7b7-queue_log"
    db = tmp_path / "c.db"
    line = refusal(capsys, "ingest-file", str(queue_log), "--db", f"sqlite+aiosqlite:///{db}")
    assert line.startswith(f"centralita: {queue_log}: parece un queue_log de Asterisk")
    assert "no una captura AMI" in line
    assert f"centralita import-queue-log {queue_log}" in line
    assert not db.exists()  # refused before the database was opened


def test_an_ami_capture_given_to_import_queue_log(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    capture = FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"
    db = tmp_path / "c.db"
    line = refusal(capsys, "import-queue-log", str(capture), "--db", f"sqlite+aiosqlite:///{db}")
    assert line.startswith(f"centralita: {capture}: parece una captura AMI")
    assert "no un queue_log de Asterisk" in line
    assert f"centralita ingest-file {capture}" in line
    assert not db.exists()


def test_the_right_kinds_are_still_taken(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    capture = FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"
    queue_log = FIXTURES / "GIT-master-f0c1c1a7b7-queue_log"
    assert main(["ingest-file", str(capture), "--db", db]) == 0
    assert main(["import-queue-log", str(queue_log), "--db", db]) == 0
    out = capsys.readouterr().out
    assert ": 0 eventos" not in out and "eventos," in out  # the capture was read
    assert " 0 líneas inválidas" in out and "(0 nuevas)" not in out  # and the queue_log


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "clientes.csv"
    path.write_text("contrato,telefono\nC1,70000000\n", "utf-8")
    return path


def test_a_csv_given_as_the_daemon_config(capsys: pytest.CaptureFixture[str], csv: Path) -> None:
    line = refusal(capsys, "run", "--config", str(csv))
    assert f"--config: {csv}: parece un CSV, no un archivo TOML" in line


def test_a_csv_given_as_a_campaign_config(capsys: pytest.CaptureFixture[str], csv: Path) -> None:
    assert f"{csv}: parece un CSV" in refusal(capsys, "campaign", "check-config", str(csv))


def test_a_toml_file_given_as_a_campaign_list(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    routing = default_routing_path()
    db = tmp_path / "c.db"
    line = refusal(capsys, "campaign", "import", str(routing), "--db", f"sqlite+aiosqlite:///{db}")
    assert f"{routing}: parece un archivo TOML, no un CSV" in line
    assert not db.exists()
