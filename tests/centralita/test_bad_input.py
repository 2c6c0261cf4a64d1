"""User mistakes in the CLI are one Spanish line and a non-zero exit, never a traceback
(issue 14, item 2): missing or malformed config and routing files, an output path in a
folder that does not exist, a month that is not a month, out-of-range numbers, a broken
pipe. Argparse's own refusals (usage line plus one error line, exit 2) are accepted."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from centralita.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's refusal
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def message(err: str) -> str:
    """The one line that says what is wrong (argparse's usage lines and JSON logs aside)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(("{", "uso:", " "))]
    assert len(lines) == 1, err
    return lines[0]


def refused(capsys: pytest.CaptureFixture[str], *argv: str, says: str, code: int = 2) -> str:
    got, err = run(capsys, *argv)
    line = message(err)
    assert got == code, err
    assert says in line, line
    return line


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"


@pytest.fixture
def broken_toml(tmp_path: Path) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text("[pbx\nid = 'x'\n", "utf-8")
    return path


# 1. the daemon's config file


def test_run_with_a_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    line = refused(capsys, "run", "--config", str(missing), says=str(missing))
    assert "no existe" in line


def test_run_with_a_malformed_config_file(
    capsys: pytest.CaptureFixture[str], broken_toml: Path
) -> None:
    line = refused(capsys, "run", "--config", str(broken_toml), says=str(broken_toml))
    assert "no es TOML válido" in line


@pytest.mark.parametrize("which", ["missing", "broken"])
def test_doctor_reports_a_bad_config_file_as_a_failed_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, broken_toml: Path, which: str
) -> None:
    """doctor is a checklist: the bad file is its failed «ajustes» line, on stdout."""
    path = tmp_path / "missing.toml" if which == "missing" else broken_toml
    code = main(["doctor", "--config", str(path)])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err + captured.out
    failed = [ln for ln in captured.out.splitlines() if "[FALLA] ajustes" in ln]
    assert len(failed) == 1 and str(path) in failed[0], captured.out
    assert ("no existe" if which == "missing" else "no es TOML válido") in failed[0]


# 2. the routing file


def test_routing_check_of_a_missing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.toml"
    line = refused(capsys, "routing", "check", str(missing), says=str(missing))
    assert "no existe" in line


def test_routing_check_of_a_malformed_file(
    capsys: pytest.CaptureFixture[str], broken_toml: Path
) -> None:
    got, err = run(capsys, "routing", "check", str(broken_toml))
    assert got != 0 and "Traceback" not in err
    assert str(broken_toml) in err


def test_report_with_a_missing_routing_file_is_not_ignored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db: str
) -> None:
    missing = tmp_path / "missing.toml"
    line = refused(
        capsys,
        "report",
        "--db",
        db,
        "--month",
        "2026-03",
        "--routing",
        str(missing),
        says=str(missing),
    )
    assert "no existe" in line


def test_conf_generate_with_a_missing_routing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "missing.toml"
    out = tmp_path / "out"
    line = refused(
        capsys, "conf", "generate", "--routing", str(source), "--out", str(out), says=str(source)
    )
    assert "no existe" in line
    assert not out.exists()


def test_conf_generate_with_a_malformed_routing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, broken_toml: Path
) -> None:
    """The same one line (file, place, reason) as `routing check`, exit 2."""
    out = tmp_path / "out"
    line = refused(
        capsys,
        "conf",
        "generate",
        "--routing",
        str(broken_toml),
        "--out",
        str(out),
        says=f"{broken_toml}: no es TOML válido",
    )
    assert "No se generó nada" in line
    assert not out.exists()
    got, err = run(capsys, "routing", "check", str(broken_toml))
    assert got == 1
    assert message(err) in line  # routing check says the very same


def test_conf_generate_with_an_invalid_routing_names_the_place(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "routing.toml"
    bad.write_text("[[service]]\nkey = 1\n", "utf-8")
    out = tmp_path / "out"
    line = refused(
        capsys,
        "conf",
        "generate",
        "--routing",
        str(bad),
        "--out",
        str(out),
        says=f"{bad}: enrutamiento inválido en service[0].key: ",
    )
    assert not out.exists()
    got, err = run(capsys, "routing", "check", str(bad))
    assert got == 1 and message(err) in line


@pytest.mark.parametrize("command", ["rebuild", "ingest-file"])
def test_core_commands_with_a_missing_routing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db: str, command: str
) -> None:
    missing = tmp_path / "missing.toml"
    capture = FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"
    argv = [command, "--db", db, "--routing", str(missing)]
    if command == "ingest-file":
        argv.insert(1, str(capture))
    refused(capsys, *argv, says=str(missing))


@pytest.fixture
def invalid_routing(tmp_path: Path) -> Path:
    path = tmp_path / "routing.toml"
    path.write_text("[[service]]\nkey = 1\n", "utf-8")
    return path


def routing_check_line(capsys: pytest.CaptureFixture[str], path: Path) -> str:
    got, err = run(capsys, "routing", "check", str(path))
    assert got == 1
    return message(err)


def test_run_with_a_malformed_routing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, invalid_routing: Path
) -> None:
    """The daemon's routing file: the same one line as `routing check`, exit 2."""
    config = tmp_path / "centralita.toml"
    config.write_text(
        f'[routing]\npath = "{invalid_routing}"\n[ivr]\nenabled = false\n[http]\nport = 0\n'
    )
    db = tmp_path / "d.db"
    line = refused(
        capsys,
        "run",
        "--config",
        str(config),
        "--db",
        f"sqlite+aiosqlite:///{db}",
        says=f"{invalid_routing}: enrutamiento inválido en service[0].key",
    )
    assert line == f"centralita: {routing_check_line(capsys, invalid_routing)}"


@pytest.mark.parametrize("command", ["report", "supervisor", "rebuild", "ingest-file"])
def test_a_malformed_routing_file_is_the_same_line_everywhere(
    capsys: pytest.CaptureFixture[str], db: str, invalid_routing: Path, command: str
) -> None:
    argv = [command, "--db", db, "--routing", str(invalid_routing)]
    if command in ("report", "supervisor"):
        argv += ["--month", "2026-03"]
    if command == "ingest-file":
        argv.insert(1, str(FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"))
    line = refused(capsys, *argv, says=f"--routing: {invalid_routing}: ")
    assert line.endswith(routing_check_line(capsys, invalid_routing))


# 3. output paths


def test_report_out_in_a_missing_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db: str
) -> None:
    out = tmp_path / "no" / "such" / "x.xlsx"
    refused(
        capsys,
        "report",
        "--db",
        db,
        "--month",
        "2026-03",
        "--format",
        "xlsx",
        "--out",
        str(out),
        says="no existe",
    )
    assert not out.exists()


def test_calls_out_in_a_missing_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db: str
) -> None:
    out = tmp_path / "no" / "such" / "calls.csv"
    refused(capsys, "calls", "--db", db, "--format", "csv", "--out", str(out), says="no existe")


@pytest.mark.parametrize(
    "command",
    [
        ["supervisor", "--month", "2026-03"],
        ["campaign", "report", "--month", "2026-03"],
        ["reconcile", "--month", "2026-03"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_other_outputs_in_a_missing_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db: str, command: list[str]
) -> None:
    out = tmp_path / "no" / "such" / "x.txt"
    if command[0] == "reconcile":  # no --out: its text goes to stdout, never refused
        assert main([*command, "--db", db]) == 0
        return
    refused(capsys, *command, "--db", db, "--out", str(out), says=f"{out.parent} no existe")
    assert not out.parent.exists()


def test_conf_generate_into_an_unwritable_place(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    got, err = run(capsys, "conf", "generate", "--out", str(blocker / "conf"))
    assert got != 0
    assert str(blocker) in message(err)


# 4. months


MONTH_COMMANDS = [
    ["report"],
    ["reconcile"],
    ["calls"],
    ["campaign", "report"],
    ["campaign", "import", "CSV"],
]


@pytest.mark.parametrize("month", ["2026-13", "abc"])
@pytest.mark.parametrize("command", MONTH_COMMANDS, ids=" ".join)
def test_a_month_that_is_not_a_month(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db: str, command: list[str], month: str
) -> None:
    csv = tmp_path / "list.csv"
    csv.write_text("contract,phone\n")
    argv = [str(csv) if a == "CSV" else a for a in command]
    line = refused(capsys, *argv, "--db", db, "--month", month, says=month)
    assert "AAAA-MM" in line


# 5. numbers and files out of range


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["reconcile", "--month", "2026-03", "--tolerance", "-1"], "--tolerance"),
        (["demo", "--calls", "-5"], "--calls"),
        (["demo", "--calls", "0"], "--calls"),
        (["demo", "--console-port", "99999"], "--console-port"),
        (["demo", "--console-port", "-1"], "--console-port"),
        (["simulator", "run", "--calls", "-1"], "--calls"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_a_number_out_of_range(
    capsys: pytest.CaptureFixture[str], db: str, argv: list[str], says: str
) -> None:
    if argv[0] == "reconcile":
        argv = [*argv, "--db", db]
    refused(capsys, *argv, says=says)


def test_demo_with_a_missing_capture(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.ami"
    line = refused(
        capsys, "demo", "--dir", str(tmp_path), "--capture", str(missing), says=str(missing)
    )
    assert "no existe" in line
    assert not (tmp_path / "demo.db").exists()


# 6. a broken pipe


def test_a_broken_pipe_is_quiet(tmp_path: Path) -> None:
    """`centralita calls --format csv | head -1` on a database with many calls."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    capture = FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cli = [sys.executable, "-m", "centralita.cli"]
    for pbx in ("a", "b", "c", "d", "e", "f"):  # ~110 kB of CSV: more than a pipe holds
        assert main(["ingest-file", str(capture), "--db", db, "--pbx", pbx]) == 0
    proc = subprocess.Popen(
        [*cli, "calls", "--db", db, "--format", "csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, as `head -1` does
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait()
    assert first
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code in (0, 1), (code, err)  # 0 when the whole output fitted in the pipe


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_broken_pipe_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The reader went away mid-output: exit 1 quietly, no traceback, no BrokenPipeError."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    assert (
        main(["ingest-file", str(FIXTURES / "GIT-master-f0c1c1a7b7-scenario.ami"), "--db", db]) == 0
    )
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["calls", "--db", db, "--format", "csv"]) == 1
    assert "Traceback" not in capsys.readouterr().err
