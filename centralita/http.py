"""The daemon's HTTP side: /health, /metrics (Prometheus text format), and the console."""

from __future__ import annotations

import errno
import socket
import time
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from centralita.ivr import prompt_health
from centralita.settings import StartupError

if TYPE_CHECKING:
    from centralita.daemon import Daemon, DaemonParts


def bind_http(host: str, port: int) -> socket.socket:
    """The [http] listening socket, bound and listening before anything else starts.

    uvicorn binds only once its task runs, when the listener already ingests; a port in
    use then ended the daemon mid-run (and systemd restarted it, in a loop). Bound here,
    at start, the error is one clear line and nothing has been read from the AMI.

    Raises:
        StartupError: the address is taken, not of this machine, or not allowed.
    """
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"[http] host {host!r} no es una dirección válida ({exc})") from exc
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            msg = (
                f"la dirección HTTP {where} ya está en uso (¿otro centralita u otro servicio"
                " escucha ahí?): detenga ese proceso o cambie port/host en [http]"
            )
        elif exc.errno == errno.EACCES:
            msg = f"sin permiso para escuchar en {where}: use un puerto mayor que 1023 en [http]"
        elif exc.errno == errno.EADDRNOTAVAIL:
            msg = f"{host} no es una dirección de esta máquina: corrija host en [http]"
        else:
            msg = f"no se puede escuchar en {where} ({exc.strerror or exc}): revise [http]"
        raise StartupError(msg) from exc
    sock.setblocking(False)
    return sock


def _metric(
    lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[str, float]]
) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        lines.append(f"{name}{labels} {value}")


def _label_value(text: str) -> str:
    """A Prometheus label value: backslash, double quote and line feed escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def ivr_prompt_metrics(pbx: str) -> list[str]:
    """centralita_ivr_prompt_missing_total: plays of a sound file the PBX lacks, per file."""
    lines: list[str] = []
    samples: list[tuple[str, float]] = [
        (f'{{pbx="{pbx}",file="{_label_value(name)}"}}', count)
        for name, count in sorted(prompt_health.MISSING_PROMPTS.counts().items())
    ]
    _metric(
        lines,
        "centralita_ivr_prompt_missing_total",
        "counter",
        "IVR prompts the PBX could not play (sound file missing)",
        samples,
    )
    return lines


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
    _metric(
        lines,
        "centralita_store_rows_rejected_total",
        "counter",
        "rows the database refused, kept in write_rejects",
        [(lbl, writer.rows_rejected)],
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
    lines += ivr_prompt_metrics(pbx)
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

    from starlette.middleware import Middleware

    from centralita.console.security import SecurityHeaders

    routes: list[Any] = [Route("/health", health), Route("/metrics", metrics)]
    console_app = parts.extra.get("console_app")
    if console_app is not None:
        routes.append(Mount("/", app=console_app))
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
