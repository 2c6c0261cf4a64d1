"""The indicator from the real captures equals the tables of their README, via AMI and via
queue_log (per queue: received / answered / answered <= 20 s / SL%)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from centralita.metrics.periods import Period
from centralita.metrics.queries import ReportRequest, monthly_report
from centralita.metrics.service_level import CountingRules, GroupBy, Report
from tests.metrics.conftest import load_capture

NOV = Period.month("2026-11")

# queue: (received, answered, answered <= 20 s), from ami-captures/README.md
README_QUEUES: dict[str, dict[str, tuple[int, int, int]]] = {
    "GIT-master-f0c1c1a7b7": {
        "q101": (24, 19, 17),
        "q102": (21, 19, 18),
        "q103": (5, 5, 5),
        "q104": (8, 7, 6),
        "q4200224": (3, 3, 3),
        "q4251000": (4, 2, 2),
        "q4522222": (2, 2, 2),
        "q4639999": (4, 2, 1),
        "q800130001": (2, 2, 1),
        "q800131313": (7, 6, 5),
        "ALL": (80, 67, 60),
    },
    "GIT-16-113871b5f5": {
        "q101": (14, 13, 6),
        "q102": (10, 10, 9),
        "q103": (3, 3, 3),
        "q104": (3, 3, 1),
        "q4251000": (2, 1, 0),
        "q4639999": (4, 3, 1),
        "q800130001": (1, 1, 1),
        "q800131313": (3, 2, 2),
        "ALL": (40, 36, 23),
    },
    "GIT-11-f3cdc37300": {
        "q101": (15, 14, 12),
        "q102": (10, 9, 8),
        "q103": (3, 3, 3),
        "q104": (9, 5, 3),
        "q4200224": (8, 7, 1),
        "q4522222": (3, 3, 2),
        "q4639999": (7, 4, 2),
        "q800130001": (3, 3, 3),
        "q800131313": (2, 2, 2),
        "ALL": (60, 50, 36),
    },
    "edge-GIT-master-f0c1c1a7b7": {
        "q101": (14, 7, 6),
        "q101b": (5, 5, 2),
        "q102": (16, 9, 6),
        "q103": (12, 6, 3),
        "q104": (9, 8, 8),
        "q4200224": (5, 4, 4),
        "q4251000": (9, 3, 3),
        "q800131313": (9, 7, 7),
        "ALL": (79, 49, 39),
    },
}
README_SL_ALL = {
    "GIT-master-f0c1c1a7b7": 75.0,
    "GIT-16-113871b5f5": 57.5,
    "GIT-11-f3cdc37300": 60.0,
    "edge-GIT-master-f0c1c1a7b7": 49.4,
}
# Per caller (service = dialed number): the README's "one record per caller" figures.
README_CALLS_ALL = {
    "GIT-master-f0c1c1a7b7": (80, 67, 60, 75.0),
    "GIT-16-113871b5f5": (40, 36, 23, 57.5),
    "GIT-11-f3cdc37300": (60, 50, 36, 60.0),
    "edge-GIT-master-f0c1c1a7b7": (66, 41, 31, 47.0),
}


async def _report(engine: AsyncEngine, source: str, by: GroupBy) -> Report:
    request = ReportRequest(NOV, CountingRules(), by, source)  # type: ignore[arg-type]
    return await monthly_report(engine, request)


def _table(report: Report) -> dict[str, tuple[int, int, int]]:
    out = {}
    for line in [*report.lines, report.total]:
        ind = line.indicator
        if ind.received:
            out[line.key] = (ind.received, line.counts.answered, line.counts.answered_within)
    return out


@pytest.mark.parametrize("capture", list(README_QUEUES))
@pytest.mark.parametrize("source", ["ami", "queue_log"])
async def test_per_queue_table_matches_readme(engine: AsyncEngine, capture: str, source: str):
    await load_capture(engine, capture, ami=source == "ami", ql=source == "queue_log")
    report = await _report(engine, source, "queue")
    assert _table(report) == README_QUEUES[capture]
    sl = report.total.indicator.sl_percent
    assert sl is not None
    assert round(sl, 1) == README_SL_ALL[capture]
    for key, (received, _, within) in README_QUEUES[capture].items():
        line = report.line(key)
        assert line.indicator.sl_percent == pytest.approx(within * 100 / received)


@pytest.mark.parametrize("capture", list(README_CALLS_ALL))
@pytest.mark.parametrize("source", ["ami", "queue_log"])
async def test_per_service_counts_callers_once(engine: AsyncEngine, capture: str, source: str):
    await load_capture(engine, capture, ami=source == "ami", ql=source == "queue_log")
    report = await _report(engine, source, "service")
    received, answered, within, sl = README_CALLS_ALL[capture]
    total = report.total
    assert (total.indicator.received, total.counts.answered, total.counts.answered_within) == (
        received,
        answered,
        within,
    )
    assert total.indicator.sl_percent is not None
    assert round(total.indicator.sl_percent, 1) == sl
    assert [line.key for line in report.measured_lines] == ["101", "104", "800131313", "4639999"]


async def test_master_per_service_equals_per_queue(engine: AsyncEngine):
    await load_capture(engine, "GIT-master-f0c1c1a7b7")
    for source in ("ami", "queue_log"):
        report = await _report(engine, source, "service")
        table = {k: v for k, v in _table(report).items() if k != "ALL"}
        expected = {
            k[1:]: v for k, v in README_QUEUES["GIT-master-f0c1c1a7b7"].items() if k != "ALL"
        }
        assert table == expected
        assert report.line("101").indicator.meets is False
        assert report.line("102").indicator.meets is True
        assert not report.line("102").measured


async def test_edge_outcomes_per_caller(engine: AsyncEngine):
    await load_capture(engine, "edge-GIT-master-f0c1c1a7b7")
    for source in ("ami", "queue_log"):
        counts = (await _report(engine, source, "service")).total.counts
        assert (counts.abandoned, counts.timeout, counts.exit_empty, counts.exit_with_key) == (
            8,
            5,
            6,
            6,
        )
        assert counts.other == 0


async def test_reports_on_both_databases(any_engine: AsyncEngine):
    await load_capture(any_engine, "GIT-master-f0c1c1a7b7")
    for source in ("ami", "queue_log"):
        groupings: tuple[GroupBy, ...] = ("service", "queue")
        for by in groupings:
            report = await _report(any_engine, source, by)
            assert report.total.indicator.received == 80
            assert report.total.counts.answered_within == 60
            day = report.daily["ALL"]
            assert sum(c.entered for c in day.values()) == 80
