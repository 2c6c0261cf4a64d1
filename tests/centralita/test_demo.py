"""`centralita demo` can be trusted: its figures depend on the seed alone (not on the
pace, not on the date it runs), its final table is `centralita report` on its database,
its calls are dated now, Ctrl-C ends it with a summary and exit 130, bad options are one
Spanish line, and it writes only into its folder.

The demo runs as a subprocess (it owns signals, logging and a writer process), with a few
calls; ``--speed 0`` plays the PBX without pauses.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
import sqlalchemy as sa

from centralita.cli import main
from centralita.demo import DAY_MARGIN_S, demo_start
from centralita.simulator.config import lab_config
from centralita.simulator.model import Engine

CALLS = 20
SEED = 5
LA_PAZ = ZoneInfo("America/La_Paz")


def demo(cwd: Path, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTRALITA_")}
    env["TMPDIR"] = str(cwd.parent / "tmp")  # where a default --dir lands
    Path(env["TMPDIR"]).mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "centralita.cli", "demo", "--calls", str(CALLS), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def table(output: str) -> str:
    """The final table as printed, without its generation time."""
    start = output.index("Indicador ATT")
    end = output.index("el mismo informe:")
    lines = output[start:end].strip().splitlines()
    return "\n".join(line for line in lines if not line.startswith("Generado:"))


def figures(output: str) -> list[str]:
    """The table's rows of figures (service, names, counts, %)."""
    return [line for line in table(output).splitlines() if re.search(r"\s\d+\s+\d+\s+\d+", line)]


def folder(output: str) -> Path:
    found = re.search(r"^  carpeta\s+(\S+)$", output, re.M)
    assert found is not None, output
    return Path(found.group(1))


def stored_entered_at(db: Path) -> list[float]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT entered_at_ms FROM calls")).scalars().all()
    finally:
        engine.dispose()
    return [int(ms) / 1000 for ms in rows]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float, float]:
    """A demo from an empty working directory, no --dir, console on: (cwd, stdout, the
    time before it, the time after it)."""
    cwd = tmp_path_factory.mktemp("demo") / "cwd"
    cwd.mkdir()
    before = time.time()
    done = demo(cwd, "--seed", str(SEED), "--speed", "0", "--console-port", "0")
    after = time.time()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return cwd, done.stdout, before, after


def test_nothing_is_written_to_the_working_directory(
    first_run: tuple[Path, str, float, float],
) -> None:
    cwd, output, _, _ = first_run
    assert list(cwd.iterdir()) == []
    where = folder(output)
    assert where.parent == cwd.parent / "tmp"  # a fresh temporary folder, named
    assert (where / "centralita-demo.db").is_file()
    assert (where / "console-users.toml").is_file()


def test_the_final_table_is_the_report_of_the_stored_calls(
    first_run: tuple[Path, str, float, float], capsys: pytest.CaptureFixture[str]
) -> None:
    _, output, _, _ = first_run
    found = re.search(r"el mismo informe: centralita report --month (\S+) --db (\S+)", output)
    assert found is not None, output
    month, url = found.groups()
    capsys.readouterr()
    assert main(["report", "--month", month, "--db", url, "--format", "table"]) == 0
    report = capsys.readouterr().out
    assert table(output) == "\n".join(
        line for line in report.strip().splitlines() if not line.startswith("Generado:")
    )
    assert re.search(rf"^\S+\s+Todos los servicios\s+{CALLS}\s", table(output), re.M)


def test_the_calls_are_dated_now_within_one_local_day(
    first_run: tuple[Path, str, float, float],
) -> None:
    _, output, before, after = first_run
    entered = stored_entered_at(folder(output) / "centralita-demo.db")
    assert len(entered) == CALLS
    days = {dt.datetime.fromtimestamp(t, LA_PAZ).date() for t in entered}
    assert len(days) == 1
    # From now on, unless the run would cross local midnight: then earlier the same day.
    start_day = dt.datetime.fromtimestamp(before, LA_PAZ).date()
    end_day = dt.datetime.fromtimestamp(after, LA_PAZ).date()
    assert days <= {start_day, end_day}
    assert min(entered) >= before - 86_400


def test_the_figures_depend_on_the_seed_alone_not_on_the_pace(
    first_run: tuple[Path, str, float, float], tmp_path: Path
) -> None:
    _, unpaced, _, _ = first_run
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args = ["--seed", str(SEED), "--speed", "400", "--no-console", "--dir", str(tmp_path / "d")]
    paced = demo(cwd, *args)
    assert paced.returncode == 0, paced.stderr
    assert figures(paced.stdout) == figures(unpaced)
    assert len(figures(unpaced)) > 2
    other = demo(cwd, "--seed", str(SEED + 1), "--speed", "0", "--no-console", "--dir", str(cwd))
    assert other.returncode == 0, other.stderr
    assert figures(other.stdout) != figures(unpaced)  # the seed does change them


def test_the_figures_do_not_depend_on_the_start_time() -> None:
    """Same seed, two whole-second starts: every timestamp moves by the difference, to the
    microsecond; what happens to each call (and Asterisk's whole-second waits) does not."""
    runs = []
    for start in (1_795_922_040.0, 1_801_234_567.0):
        engine = Engine(msgspec.structs.replace(lab_config(calls=60), start_epoch=start), 3)
        events = engine.run()
        stamps = [round(float(v) - start, 6) for e in events for k, v in e if k == "Timestamp"]
        names = [e[0][1] for e in events]
        holds = [v for e in events for k, v in e if k in ("HoldTime", "TalkTime")]
        calls = [
            (c.service, c.outcome, c.queues, c.wait_s, c.agent_name) for c in engine.truth.calls
        ]
        runs.append((stamps, names, holds, calls))
    assert runs[0] == runs[1]
    assert len(runs[0][3]) == 60


def test_demo_start_keeps_the_calls_in_one_local_day() -> None:
    config = lab_config(calls=50)
    noon = dt.datetime(2026, 12, 3, 12, 0, 0, 400_000, tzinfo=LA_PAZ).timestamp()
    assert demo_start(config, 1, noon) == int(noon)  # now, a whole second
    late = dt.datetime(2026, 12, 31, 23, 50, tzinfo=LA_PAZ).timestamp()
    start = demo_start(config, 1, late)
    dry = Engine(msgspec.structs.replace(config, start_epoch=start), 1)
    dry.run()
    midnight = dt.datetime(2027, 1, 1, tzinfo=LA_PAZ).timestamp()
    assert start < late
    assert dry.now + DAY_MARGIN_S <= midnight  # every call in 2026-12-31, the month's report
    assert dt.datetime.fromtimestamp(start, LA_PAZ).date() == dt.date(2026, 12, 31)


def test_ctrl_c_stops_it_with_a_summary_and_130(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CENTRALITA_")}
    args = ["demo", "--calls", "300", "--speed", "2", "--no-console", "--dir", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "centralita.cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # running: the banner is out once the PBX is connected
        lines.append(line)
        if line.startswith("  IVR (FastAGI)"):
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    output = "".join(lines) + out
    assert proc.returncode == 130, (output, err)
    assert "Traceback" not in err, err
    assert "Indicador ATT" not in output  # never a partial table
    summary = output.strip().splitlines()[-1]
    found = re.search(r"interrumpida \((\d+) de 300 llamadas simuladas", summary)
    assert found is not None, summary
    assert int(found.group(1)) < 300
    assert "sin informe final" in summary


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--calls", "abc"], "--calls"),
        (["--calls", "1.5"], "--calls"),
        (["--speed", "-1"], "--speed"),
        (["--speed", "nada"], "--speed"),
        (["--speed", "inf"], "--speed"),
        (["--console-port", "http"], "--console-port"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_a_bad_option_is_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert says in line and f"«{argv[1]}»" in line


def test_a_dir_that_is_a_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "archivo"
    not_a_folder.write_text("x", "utf-8")
    assert main(["demo", "--dir", str(not_a_folder), "--no-console"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--dir" in err[0] and "no una carpeta" in err[0]
