"""Two daemons, one per PBX, each with its pbx id, write into one PostgreSQL: the
indicator report across PBXs equals the sum of both ground truths, and the report of each
PBX equals its own truth."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import msgspec
import pytest

from centralita.ami_listener.service import ListenerService
from centralita.ami_listener.store import make_engine
from centralita.daemon import Daemon
from centralita.metrics.periods import Period, local_text
from centralita.metrics.queries import ReportRequest, monthly_report
from centralita.metrics.service_level import CountingRules, Counts, Report
from centralita.routing import default_routing_path, load_routing
from centralita.routing_glue import resolver_for
from centralita.settings import Settings, parse_settings
from centralita.simulator.config import lab_config
from centralita.simulator.runner import Simulator
from centralita.simulator.truth import Truth
from tests.integration.helpers import SECRET, fetch_rows, settle, truth_mismatches, until

RULES = CountingRules(wait_basis="exact")
CALLS = 300


def daemon_settings(pbx_id: str, ami_port: int, db_url: str, secret_file: Path) -> Settings:
    text = f"""
pbx_id = "{pbx_id}"
[ami]
port = {ami_port}
secret_file = "{secret_file}"
ping_interval_s = 30.0
[database]
url = "{db_url}"
[ivr]
enabled = false
[http]
enabled = false
"""
    return parse_settings(text, f"<{pbx_id}>", env={})


def logged_in(listener: ListenerService) -> bool:
    return listener.pipeline.stats.resyncs >= 1


@contextlib.asynccontextmanager
async def running_daemons(*settings: Settings) -> AsyncIterator[list[Daemon]]:
    """Build the daemons one after the other (each runs the migrations: in one process
    Alembic's global context cannot run twice at once), then run them side by side."""
    daemons = [Daemon(s) for s in settings]
    for daemon in daemons:
        await daemon.build()
    tasks = [asyncio.create_task(d.run()) for d in daemons]
    try:
        for daemon in daemons:
            await asyncio.wait_for(daemon.ready.wait(), 60)
            parts = daemon.parts
            assert parts is not None
            await until(partial(logged_in, parts.listener), what="the daemon's login")
        yield daemons
    finally:
        for daemon in daemons:
            daemon.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)


def expected_counts(truth: Truth) -> dict[str, Counts]:
    """The report's counts per service, computed from the truth alone."""
    service_of = resolver_for(load_routing(default_routing_path()))
    out: dict[str, Counts] = {}
    for call in truth.queue_calls():
        counts = out.setdefault(service_of(call.service, call.queues[0]), Counts())
        wait_s = call.wait_s
        assert wait_s is not None
        if call.answered_at is not None:
            counts.answered += 1
            counts.answered_within += round(wait_s * 1000) <= RULES.threshold_s * 1000
            counts.answered_wait_ms += round(wait_s * 1000)
        elif call.outcome == "abandoned":
            counts.abandoned += 1
        elif call.outcome == "timeout":
            counts.timeout += 1
        elif call.outcome == "exit-empty":
            counts.exit_empty += 1
        elif call.outcome == "exit-with-key":
            counts.exit_with_key += 1
        else:
            counts.other += 1
    return out


def summed(*parts: dict[str, Counts]) -> dict[str, Counts]:
    out: dict[str, Counts] = {}
    for part in parts:
        for key, counts in part.items():
            out.setdefault(key, Counts()).add(counts)
    return out


def report_counts(report: Report) -> dict[str, Counts]:
    """Counts per service line with calls (wait sums compared separately, to 1 ms)."""
    return {line.key: line.counts.copy() for line in report.lines if line.counts.entered}


def assert_counts_equal(got: dict[str, Counts], want: dict[str, Counts]) -> None:
    assert got.keys() == want.keys()
    for key, counts in want.items():
        have = got[key]
        assert abs(have.answered_wait_ms - counts.answered_wait_ms) <= counts.answered, key
        have.answered_wait_ms = counts.answered_wait_ms
        assert have == counts, key


@pytest.mark.postgres
async def test_two_daemons_one_postgres_cross_pbx_report(postgres_url: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text(SECRET + "\n", "utf-8")
    config_a = lab_config(calls=CALLS, dialect="12")
    # The second PBX is an Asterisk 11 with a busier afternoon, the same day.
    config_b = msgspec.structs.replace(
        lab_config(calls=CALLS, dialect="11", load=1.5), start_epoch=config_a.start_epoch + 600
    )
    async with (
        Simulator(config_a, seed=21, speed=None, secret=SECRET) as sim_a,
        Simulator(config_b, seed=22, speed=None, secret=SECRET) as sim_b,
    ):
        settings_a = daemon_settings("pbx-norte", sim_a.port, postgres_url, secret_file)
        settings_b = daemon_settings("pbx-sur", sim_b.port, postgres_url, secret_file)
        async with running_daemons(settings_a, settings_b) as daemons:
            truth_a, truth_b = await asyncio.gather(sim_a.run(), sim_b.run())
            for daemon in daemons:
                assert daemon.parts is not None
                await settle(daemon.parts.listener)
    engine = make_engine(postgres_url)
    try:
        assert truth_mismatches(truth_a, await fetch_rows(engine, "pbx-norte")) == []
        assert truth_mismatches(truth_b, await fetch_rows(engine, "pbx-sur")) == []
        first = min(c.entered_at or 0.0 for c in truth_a.queue_calls())
        period = Period.month(local_text(round(first * 1000))[:7])
        last = max(c.entered_at or 0.0 for t in (truth_a, truth_b) for c in t.queue_calls())
        assert period.contains(round(last * 1000))
        reports = {
            pbx: await monthly_report(engine, ReportRequest(period, RULES, pbx_id=pbx))
            for pbx in (None, "pbx-norte", "pbx-sur")
        }
    finally:
        await engine.dispose()
    want_a, want_b = expected_counts(truth_a), expected_counts(truth_b)
    assert_counts_equal(report_counts(reports["pbx-norte"]), want_a)
    assert_counts_equal(report_counts(reports["pbx-sur"]), want_b)
    assert_counts_equal(report_counts(reports[None]), summed(want_a, want_b))
    total = reports[None].total.counts
    assert total.entered == 2 * CALLS
