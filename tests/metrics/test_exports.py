"""The regulator exports from the master capture: JSON, table, CSV round trip, XLSX read
back with openpyxl, PDF rendered to PNG with pdftoppm; and the supervisor report."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.ami_listener.store import make_engine
from centralita.cli import main
from centralita.metrics.export_csv import read_summary_csv, render_csv
from centralita.metrics.export_pdf import TARGET_COLOR
from centralita.metrics.export_rows import summary_records
from centralita.metrics.periods import Period
from centralita.metrics.queries import ReportRequest, monthly_report
from centralita.metrics.service_level import CountingRules, Report
from tests.metrics.conftest import load_capture

MASTER = "GIT-master-f0c1c1a7b7"


async def _report(url: str, rules: CountingRules) -> Report:
    engine = make_engine(url)
    try:
        return await monthly_report(engine, ReportRequest(Period.month("2026-11"), rules))
    finally:
        await engine.dispose()


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().out


def test_json_has_every_key_and_the_total(master_db: str, capsys):
    code, out = run_cli(
        ["report", "--month", "2026-11", "--db", master_db, "--format", "json"], capsys
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["period"] == "2026-11"
    assert doc["rules"]["threshold_s"] == 20
    assert doc["provenance"]["measured"] == 80
    assert any(item["rule"] == "Fórmula" for item in doc["legend"])
    by_key = {obj["service"]: obj for obj in doc["lines"]}
    for obj in doc["lines"]:
        for key in (
            "service",
            "received",
            "answered",
            "answered_within",
            "abandoned",
            "sl_percent",
            "target_percent",
            "meets",
        ):
            assert key in obj
    assert by_key["TOTAL"]["sl_percent"] == 75.0
    assert (by_key["101"]["received"], by_key["101"]["answered_within"]) == (24, 17)
    assert by_key["101"]["meets"] is False
    assert by_key["101"]["measured"] is True
    assert by_key["102"]["measured"] is False
    code, out = run_cli(
        [
            "report",
            "--month",
            "2026-11",
            "--db",
            master_db,
            "--format",
            "json",
            "--by",
            "queue",
            "--source",
            "queue_log",
        ],
        capsys,
    )
    queue_doc = json.loads(out)
    assert queue_doc["provenance"] is None
    by_queue = {obj["service"]: obj for obj in queue_doc["lines"]}
    assert by_queue["q4639999"]["sl_percent"] == 25.0
    assert by_queue["TOTAL"]["received"] == 80


def test_table_in_the_terminal(master_db: str, capsys, monkeypatch):
    monkeypatch.setenv("CENTRALITA_DB_URL", master_db)
    code, out = run_cli(["report", "--month", "2026-11"], capsys)
    assert code == 0
    assert "noviembre de 2026" in out
    assert "Reclamos Técnicos" in out
    assert "no medido" in out
    total = next(line for line in out.splitlines() if line.startswith("TOTAL "))
    assert " 80 " in total
    assert "75.0" in total


def test_csv_round_trips(master_db: str, tmp_path: Path, capsys):
    out_file = tmp_path / "r.csv"
    code, _ = run_cli(
        [
            "report",
            "--month",
            "2026-11",
            "--db",
            master_db,
            "--format",
            "csv",
            "--out",
            str(out_file),
            "--short-abandon",
            "5",
        ],
        capsys,
    )
    assert code == 0
    meta, records = read_summary_csv(out_file.read_text(encoding="utf-8"))
    assert meta["periodo"] == "2026-11"
    assert meta["regla.short_abandon_s"] == "5"
    assert meta["version"]
    report = asyncio.run(_report(master_db, CountingRules(short_abandon_s=5)))
    expected = summary_records(report)
    assert records == expected
    again = read_summary_csv(render_csv(report))[1]
    assert again == records


def test_xlsx_holds_the_numbers(master_db: str, tmp_path: Path, capsys):
    out_file = tmp_path / "r.xlsx"
    code, _ = run_cli(
        [
            "report",
            "--month",
            "2026-11",
            "--db",
            master_db,
            "--format",
            "xlsx",
            "--out",
            str(out_file),
        ],
        capsys,
    )
    assert code == 0
    wb = load_workbook(out_file, read_only=True)
    assert wb.sheetnames == [
        "Resumen",
        "Servicio 101",
        "Servicio 104",
        "Servicio 800131313",
        "Servicio 4639999",
        "Por hora",
        "Detalle",
        "Leyenda",
    ]
    summary = [list(r) for r in wb["Resumen"].iter_rows(values_only=True)]
    flat = " ".join(str(v) for row in summary for v in row if v is not None)
    assert "2026-11" in flat
    assert "centralita" in flat
    assert "Generado" in flat
    header = next(r for r in summary if r and r[0] == "Servicio")
    assert header[3:6] == ["Recibidas", "Atendidas", "Atendidas <= 20 s"]
    rows = {r[0]: r for r in summary if r and r[0] in ("101", "104", "TOTAL", "4251000")}
    assert rows["101"][3:7] == [24, 19, 17, 5]
    assert header[11:13] == [
        "Cortadas por caída de la central",
        "Resultado desconocido (corte de la conexión AMI)",
    ]
    assert rows["101"][11:13] == [0, 0]
    assert rows["101"][16:19] == [70.8, 80.0, "NO"]
    assert rows["4251000"][2] == "no medido"
    assert rows["TOTAL"][3:6] == [80, 67, 60]
    assert rows["TOTAL"][16] == 75.0
    daily = [list(r) for r in wb["Servicio 101"].iter_rows(values_only=True)]
    # The run was 03:14-03:21 UTC on 29 Nov = 23:14-23:21 on 28 Nov in La Paz.
    day = next(r for r in daily if r and r[0] == "2026-11-28")
    assert day[1:4] == [24, 19, 17]
    assert sum(1 for r in daily if r and str(r[0]).startswith("2026-11-")) == 30
    detail = list(wb["Detalle"].iter_rows(values_only=True))
    assert len(detail) == 81
    assert detail[0][0] == "Uniqueid"
    assert {r[10] for r in detail[1:]} == {"sí", "no", "-"}
    legend = " ".join(str(v) for r in wb["Leyenda"].iter_rows(values_only=True) for v in r if v)
    for needle in (
        "Fórmula",
        "20 s inclusive",
        "abandonos cortos",
        "IVR",
        "Asterisk",
        "Cortadas por caída de la central en el período 0",
        "80 llamadas: 80 medidas",
    ):
        assert needle in legend
    wb.close()


def _red_pixels(png: Path) -> int:
    red = (int(TARGET_COLOR.red * 255), int(TARGET_COLOR.green * 255), int(TARGET_COLOR.blue * 255))
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        data = rgb.tobytes()
    return sum(
        1 for i in range(0, len(data), 3) if all(abs(data[i + k] - red[k]) < 40 for k in range(3))
    )


def test_pdf_renders_with_a_chart_per_measured_service(master_db: str, tmp_path: Path, capsys):
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    out_file = tmp_path / "r.pdf"
    code, _ = run_cli(
        [
            "report",
            "--month",
            "2026-11",
            "--db",
            master_db,
            "--format",
            "pdf",
            "--out",
            str(out_file),
        ],
        capsys,
    )
    assert code == 0
    assert out_file.read_bytes().startswith(b"%PDF")
    subprocess.run(
        [pdftoppm, "-png", "-r", "40", str(out_file), str(tmp_path / "page")], check=True
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 5
    with_chart = [p for p in pages if _red_pixels(p) > 150]
    assert len(with_chart) == 4
    assert _red_pixels(pages[0]) < 150  # the summary page has no chart


def test_missing_out_and_bad_month_are_errors(master_db: str, capsys):
    assert main(["report", "--month", "2026-11", "--db", master_db, "--format", "pdf"]) == 2
    with pytest.raises(SystemExit) as refused:  # argparse's refusal: usage + one line
        main(["report", "--month", "2026-99", "--db", master_db])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "--out" in err
    assert "mes inválido" in err


def test_supervisor_report(master_db: str, capsys):
    code, out = run_cli(
        ["supervisor", "--month", "2026-11", "--db", master_db, "--format", "json"], capsys
    )
    assert code == 0
    doc = json.loads(out)
    bands = doc["wait_bands"]["ALL"]
    assert sum(b["answered"] for b in bands.values()) == 67
    assert sum(b["not_answered"] for b in bands.values()) == 13
    # 60 answered within 20 s (asterisk basis) fall in the first two bands.
    assert bands["0-10 s"]["answered"] + bands["10-20 s"]["answered"] == 60
    assert sum(a["calls"] for a in doc["agents"]) == 67
    assert {a["agent"] for a in doc["agents"]} == {f"Agent {i}" for i in range(1, 7)}
    assert len(doc["callbacks"]) == 13
    assert all(cb["caller_num"] for cb in doc["callbacks"])
    assert doc["busiest_hours"][0]["hour"] == 23
    # the counting rules travel with it: the indicator's and the agents' own
    rules = {item["rule"]: item["value"] for item in doc["legend"]}
    assert "transferida cuenta para cada agente" in rules["Agentes"]
    assert len(rules) > 3
    code, out = run_cli(["supervisor", "--day", "2026-11-28", "--db", master_db], capsys)
    assert code == 0
    assert "devolver la llamada" in out
    assert "Agent 1" in out
    assert "Reglas de conteo" in out and "Agentes: cada tramo de cola atendido" in out


async def _load_ami_only(url: str, name: str) -> None:
    engine: AsyncEngine = make_engine(url)
    await load_capture(engine, name, ql=False)
    await engine.dispose()


def test_queue_log_import_and_reconcile_cli(tmp_path: Path, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'e.db'}"
    asyncio.run(_load_ami_only(url, "edge-GIT-master-f0c1c1a7b7"))
    from tests.metrics.conftest import FIXTURES

    log = tmp_path / "queue_log"
    text = (FIXTURES / "edge-GIT-master-f0c1c1a7b7-queue_log").read_text()
    log.write_text("garbage line\n" + text + "1795925999|x|q101|NONE|CONNECT|abc|1|2\n")
    code, out = run_cli(["import-queue-log", str(log), "--db", url, "--pbx", "lab"], capsys)
    assert code == 0
    assert "66 llamadas" in out
    assert "2 líneas inválidas" in out
    code, out = run_cli(["reconcile", "--month", "2026-11", "--db", url, "--pbx", "lab"], capsys)
    assert code == 0, out
    assert "Sin diferencias" in out
