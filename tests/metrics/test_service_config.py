"""routing.toml is the one source of the measured services, names, threshold and target:
flipping `measured` changes the report, every export and the wallboard; the legend names
the file and its SHA-256."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from centralita.cli import main
from centralita.console.live import LiveState
from centralita.metrics.service_config import from_table, load_service_config
from centralita.metrics.service_level import MEASURED_SERVICES
from centralita.routing import default_routing_path, load_routing
from centralita.wiring import _indicator_of

MASTER = "GIT-master-f0c1c1a7b7"


def flipped_routing(tmp_path: Path, *, threshold: int = 20, target: int = 80) -> Path:
    """The shipped routing with 101 not measured and 102 measured."""
    text = default_routing_path().read_text(encoding="utf-8")
    blocks = text.split("[[service]]")
    for i, block in enumerate(blocks):
        if re.search(r'^key = "101"$', block, re.M):
            blocks[i] = block.replace("measured = true\n", "")
        elif re.search(r'^key = "102"$', block, re.M):
            blocks[i] = block.replace('queue = "q102"\n', 'queue = "q102"\nmeasured = true\n')
    text = "[[service]]".join(blocks)
    text = text.replace("threshold_s = 20\n", f"threshold_s = {threshold}\n")
    text = text.replace("target_percent = 80\n", f"target_percent = {target}\n")
    path = tmp_path / "flipped.toml"
    path.write_text(text, encoding="utf-8")
    return path


def report(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["report", "--month", "2026-11", *args]) == 0
    return capsys.readouterr().out


def test_the_builtin_default_is_the_shipped_files() -> None:
    # The pure default (no routing file) never drifts from the shipped routing.
    assert load_service_config().measured == MEASURED_SERVICES


def test_an_invalid_routing_is_the_shared_one_line(tmp_path: Path) -> None:
    from centralita.metrics.exceptions import MetricsError

    bad = tmp_path / "routing.toml"
    bad.write_text("version = 1\ntimezone = 5\n", encoding="utf-8")
    with pytest.raises(MetricsError) as info:
        load_service_config(bad)
    assert str(info.value) == (
        f"{bad}: enrutamiento inválido en timezone: se esperaba texto, llegó un número"
    )


def test_flipping_measured_changes_json_and_legend(
    master_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = json.loads(report(["--db", master_db, "--format", "json"], capsys))
    flipped_path = flipped_routing(tmp_path)
    flipped = json.loads(
        report(["--db", master_db, "--format", "json", "--routing", str(flipped_path)], capsys)
    )
    before = {line["service"]: line for line in shipped["lines"]}
    after = {line["service"]: line for line in flipped["lines"]}
    assert (before["101"]["measured"], before["102"]["measured"]) == (True, False)
    assert (after["101"]["measured"], after["102"]["measured"]) == (False, True)
    measured_keys = ("102", "104", "800131313", "4639999")
    assert after["MEDIDOS"]["received"] == sum(after[k]["received"] for k in measured_keys)
    assert after["MEDIDOS"]["received"] != before["MEDIDOS"]["received"]
    assert after["TOTAL"] == before["TOTAL"]  # every call is still counted in the total
    legend = {item["rule"]: item["value"] for item in flipped["legend"]}
    digest = hashlib.sha256(flipped_path.read_bytes()).hexdigest()
    assert digest in legend["Configuración"] and "flipped.toml" in legend["Configuración"]
    assert legend["Servicios medidos"].startswith("102, 104, 800131313, 4639999")
    shipped_legend = {item["rule"]: item["value"] for item in shipped["legend"]}
    shipped_digest = hashlib.sha256(default_routing_path().read_bytes()).hexdigest()
    assert shipped_digest in shipped_legend["Configuración"]


def test_threshold_and_target_come_from_routing_and_the_cli_overrides(
    master_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = flipped_routing(tmp_path, threshold=5, target=60)
    doc = json.loads(
        report(["--db", master_db, "--format", "json", "--routing", str(path)], capsys)
    )
    assert (doc["rules"]["threshold_s"], doc["rules"]["target_percent"]) == (5, 60)
    doc = json.loads(
        report(
            ["--db", master_db, "--format", "json", "--routing", str(path), "--threshold", "20"],
            capsys,
        )
    )
    assert (doc["rules"]["threshold_s"], doc["rules"]["target_percent"]) == (20, 60)


def test_flipping_measured_changes_csv_and_xlsx(
    master_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = flipped_routing(tmp_path)
    text = report(["--db", master_db, "--format", "csv", "--routing", str(path)], capsys)
    body = [line for line in text.splitlines() if not line.startswith("#")]
    rows = {row["service"]: row for row in csv.DictReader(io.StringIO("\n".join(body)))}
    assert rows["102"]["measured"] == "true" and rows["101"]["measured"] == "false"
    assert "MEDIDOS" in rows and "TOTAL" in rows
    assert "SHA-256" in text and "flipped.toml" in text
    out = tmp_path / "r.xlsx"
    assert (
        main(
            [
                "report",
                "--month",
                "2026-11",
                "--db",
                master_db,
                "--format",
                "xlsx",
                "--out",
                str(out),
                "--routing",
                str(path),
            ]
        )
        == 0
    )
    sheets = load_workbook(out, read_only=True).sheetnames
    assert "Servicio 102" in sheets and "Servicio 101" not in sheets


def test_wallboard_follows_the_routing_in_force(tmp_path: Path) -> None:
    shipped = load_routing(default_routing_path())
    flipped = load_routing(flipped_routing(tmp_path, threshold=10, target=90))
    current = [shipped]
    live = LiveState("lab", indicator=lambda: _indicator_of(current[0]))
    assert "101" in live.measured and "102" not in live.measured
    assert (live.threshold_s, live.target_pct) == (20, 80)
    current[0] = flipped  # what a reload of routing.toml does
    assert "102" in live.measured and "101" not in live.measured
    assert (live.threshold_s, live.target_pct) == (10, 90)
    services = [row["service"] for row in live.snapshot()["service_level"]]
    assert "102" in services and "101" not in services
    assert from_table(flipped).measured == tuple(live.measured)
