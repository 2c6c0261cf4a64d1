"""The daemon's HTTP side: /health, /metrics (Prometheus text format), and the console."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

if TYPE_CHECKING:
    from centralita.daemon import Daemon, DaemonParts


def _metric(
    lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[str, float]]
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        lines.append(f"{name}{labels} {value}")


def render_metrics(daemon: Daemon, parts: DaemonParts) -> str:
    """Prometheus exposition of the daemon's counters and live state."""
    pbx = daemon.settings.pbx_id
    lbl = f'{{pbx="{pbx}"}}'
    listener = parts.listener
    stats = listener.pipeline.stats
    client = listener.client.stats
    writer = listener.writer_stats
    lines: list[str] = []
    _metric(
        lines,
        "centralita_ami_events_total",
        "counter",
        "AMI events received",
        [(lbl, stats.events)],
    )
    _metric(
        lines,
        "centralita_ami_frames_rejected_total",
        "counter",
        "malformed AMI frames",
        [(lbl, stats.malformed)],
    )
    _metric(
        lines,
        "centralita_ami_events_rejected_total",
        "counter",
        "events that failed to decode",
        [(lbl, stats.rejected)],
    )
    _metric(
        lines,
        "centralita_calls_finished_total",
        "counter",
        "queue calls finished",
        [(lbl, stats.calls_finished)],
    )
    _metric(
        lines,
        "centralita_ami_reconnects_total",
        "counter",
        "AMI connections after the first",
        [(lbl, max(0, client.connects - 1))],
    )
    _metric(
        lines,
        "centralita_ami_ping_timeouts_total",
        "counter",
        "AMI pings unanswered",
        [(lbl, client.ping_timeouts)],
    )
    _metric(
        lines,
        "centralita_ami_connected",
        "gauge",
        "1 when logged in",
        [(lbl, 1 if listener.client.logged_in.is_set() else 0)],
    )
    _metric(
        lines,
        "centralita_ingest_lag_messages",
        "gauge",
        "messages waiting for the consumer",
        [(lbl, listener.lag)],
    )
    _metric(
        lines,
        "centralita_store_buffered_rows",
        "gauge",
        "rows waiting for the database",
        [(lbl, listener.buffered)],
    )
    _metric(
        lines,
        "centralita_store_write_failures_total",
        "counter",
        "failed batch writes",
        [(lbl, writer.failures)],
    )
    _metric(
        lines,
        "centralita_store_rows_dropped_total",
        "counter",
        "log rows dropped in a long DB outage",
        [(lbl, writer.events_dropped)],
    )
    waiting = parts.tracker.waiting()
    _metric(
        lines,
        "centralita_calls_waiting",
        "gauge",
        "callers waiting per queue",
        [(f'{{pbx="{pbx}",queue="{q}"}}', len(c)) for q, c in sorted(waiting.items())],
    )
    pops = parts.extra.get("publisher_stats")
    if pops is not None:
        for name, value in pops().items():
            _metric(
                lines, f"centralita_screenpop_{name}", "gauge", f"screen-pop {name}", [(lbl, value)]
            )
    today = parts.extra.get("today_service_level")
    if today is not None:
        samples = [(f'{{pbx="{pbx}",service="{svc}"}}', pct) for svc, pct in today().items()]
        _metric(
            lines,
            "centralita_service_level_today_percent",
            "gauge",
            "% answered within 20 s today",
            samples,
        )
    _metric(
        lines,
        "centralita_uptime_seconds",
        "gauge",
        "seconds since start",
        [(lbl, round(time.time() - parts.started_at, 1))],
    )
    return "\n".join(lines) + "\n"


def create_http_app(daemon: Daemon, parts: DaemonParts) -> Starlette:
    """/health, /metrics and, when the console package provides it, the console at /."""

    async def health(_request: Request) -> JSONResponse:
        listener = parts.listener
        ok = listener.client.logged_in.is_set() and not listener.db_failing
        body: dict[str, Any] = {
            "status": "ok" if ok else "degraded",
            "pbx_id": daemon.settings.pbx_id,
            "ami_connected": listener.client.logged_in.is_set(),
            "database_ok": not listener.db_failing,
            "lag_messages": listener.lag,
            "buffered_rows": listener.buffered,
            "open_calls": len(parts.tracker.calls),
        }
        if "console_users_error" in parts.extra:
            body["console_users_error"] = parts.extra["console_users_error"]
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(_request: Request) -> PlainTextResponse:
        return PlainTextResponse(
            render_metrics(daemon, parts), media_type="text/plain; version=0.0.4"
        )

    routes: list[Any] = [Route("/health", health), Route("/metrics", metrics)]
    console_app = parts.extra.get("console_app")
    if console_app is not None:
        routes.append(Mount("/", app=console_app))
    return Starlette(routes=routes)
