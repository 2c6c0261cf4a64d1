"""The supervisor's web beside the wallboard: reports to download, the recorded
interactions (search and CSV export) and the handover inbox. Supervisor role only.

- ``/supervision/informes``: the month's regulator report, the very bytes
  ``centralita report --month AAAA-MM --format xlsx|pdf|csv`` writes (same queries, same
  exporters, the rules of routing.toml), and the supervision report of a month or a day.
- ``/supervision/interacciones``: what agents recorded, by date range (La Paz), agent,
  service, outcome and caller; exported as CSV with every text cell formula-safe.
- ``/supervision/traspasos``: the cases the procedure passes to a supervisor
  (`centralita.console.handovers`): take one, close it with the outcome and a note.

:func:`supervisor_routes` gives the routes; ``create_app`` adds them with its own ``api``
wrapper (session, role-free authentication, the X-Centralita header on POSTs).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import html
import io
import re
import shutil
import string
import tempfile
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Final

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from centralita.ami_listener.schema import calls
from centralita.console.exceptions import InteractionError
from centralita.console.handovers import STATES, HandoverStore
from centralita.console.schema import interactions
from centralita.console.users import User, UserDirectory
from centralita.metrics.cellsafe import protect_row
from centralita.metrics.exceptions import MetricsError

HERE = Path(__file__).parent
TZ: Final = zoneinfo.ZoneInfo("America/La_Paz")
SEARCH_LIMIT: Final = 500
EXPORT_LIMIT: Final = 100_000
REPORT_FORMATS: Final = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
}
CSV_COLUMNS: Final = (
    ("fecha", "Fecha y hora (La Paz)"),
    ("agente", "Agente"),
    ("usuario", "Usuario"),
    ("servicio", "Servicio"),
    ("guion", "Guion"),
    ("resultado", "Resultado"),
    ("resultado_texto", "Resultado (texto)"),
    ("llamante", "Número que llamó"),
    ("nombre_llamante", "Nombre que llamó"),
    ("nota", "Nota"),
    ("llamada", "Identificador de la llamada"),
    ("central", "Central"),
)

Handler = Callable[[Request], Awaitable[Response]]
Api = Callable[[Callable[[Request, User], Awaitable[Response]]], Handler]


class SearchError(ValueError):
    """A search parameter the supervisor must fix (Spanish message)."""


def _template(name: str) -> string.Template:
    return string.Template((HERE / "templates" / name).read_text(encoding="utf-8"))


def _forbidden() -> JSONResponse:
    return JSONResponse({"error": "requiere rol de supervisión"}, 403)


def _day(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SearchError(f"{what}: fecha inválida {text!r}; use AAAA-MM-DD") from None


def search_filters(params: Mapping[str, str], today: dt.date) -> dict[str, Any]:
    """The search's filters from the query string (``desde``, ``hasta``: La Paz days,
    inclusive, default today; ``agente``, ``servicio``, ``resultado``, ``llamante``)."""
    since = _day(params.get("desde") or today.isoformat(), "desde")
    until = _day(params.get("hasta") or since.isoformat(), "hasta")
    if until < since:
        raise SearchError("«hasta» es anterior a «desde»; corrija el rango de fechas")
    if (until - since).days > 366:
        raise SearchError("el rango de fechas supera un año; acórtelo")
    return {
        "since": since,
        "until": until,
        "agent": (params.get("agente") or "").strip(),
        "service": (params.get("servicio") or "").strip(),
        "outcome": (params.get("resultado") or "").strip(),
        "caller": "".join(ch for ch in params.get("llamante") or "" if ch.isalnum()),
    }


async def search_interactions(
    engine: AsyncEngine, filters: Mapping[str, Any], limit: int = SEARCH_LIMIT
) -> list[dict[str, Any]]:
    """Recorded interactions matching ``filters`` (see :func:`search_filters`), newest
    first, with the caller's number and name from the call's record when stored."""
    start = dt.datetime.combine(filters["since"], dt.time(), TZ)
    end = dt.datetime.combine(filters["until"] + dt.timedelta(days=1), dt.time(), TZ)
    i, c = interactions.c, calls.c
    joined = interactions.outerjoin(
        calls, sa.and_(c.pbx_id == i.pbx_id, c.uniqueid == i.call_uniqueid)
    )
    query = (
        sa.select(
            i.id,
            i.pbx_id,
            i.call_uniqueid,
            i.agent,
            i.user_name,
            i.service,
            i.script_id,
            i.outcome_code,
            i.outcome_label,
            i.note,
            i.recorded_at_ms,
            c.caller_num,
            c.caller_name,
        )
        .select_from(joined)
        .where(
            i.recorded_at_ms >= int(start.timestamp() * 1000),
            i.recorded_at_ms < int(end.timestamp() * 1000),
        )
        .order_by(i.recorded_at_ms.desc(), i.id.desc())
        .limit(limit)
    )
    if filters["agent"]:
        query = query.where(sa.or_(i.agent == filters["agent"], i.user_name == filters["agent"]))
    if filters["service"]:
        query = query.where(i.service == filters["service"])
    if filters["outcome"]:
        query = query.where(i.outcome_code == filters["outcome"])
    if filters["caller"]:
        query = query.where(c.caller_num.contains(filters["caller"], autoescape=True))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    out = []
    for r in rows:
        when = dt.datetime.fromtimestamp(r["recorded_at_ms"] / 1000, TZ)
        out.append(
            {
                "id": r["id"],
                "pbx": r["pbx_id"],
                "call_id": r["call_uniqueid"],
                "agent": r["agent"],
                "user": r["user_name"],
                "service": r["service"],
                "script_id": r["script_id"],
                "outcome_code": r["outcome_code"],
                "outcome_label": r["outcome_label"],
                "note": r["note"],
                "recorded_at": when.isoformat(timespec="seconds"),
                "caller_num": r["caller_num"] or "",
                "caller_name": r["caller_name"] or "",
            }
        )
    return out


def interactions_csv(rows: list[dict[str, Any]]) -> str:
    """The CSV export (UTF-8 with BOM for spreadsheets; every text cell formula-safe)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([label for _key, label in CSV_COLUMNS])
    for r in rows:
        when = dt.datetime.fromisoformat(r["recorded_at"]).strftime("%Y-%m-%d %H:%M:%S")
        values = [
            when,
            r["agent"],
            r["user"],
            r["service"],
            r["script_id"],
            r["outcome_code"],
            r["outcome_label"],
            r["caller_num"],
            r["caller_name"],
            r["note"],
            r["call_id"],
            r["pbx"],
        ]
        writer.writerow(protect_row(values))
    return buf.getvalue()


async def facets(engine: AsyncEngine) -> dict[str, list[str]]:
    """The agents, services and outcomes seen in the interactions (the filters' lists)."""
    i = interactions.c
    out: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        for key, column in (("agents", i.agent), ("services", i.service)):
            found = await conn.execute(sa.select(column).distinct().order_by(column))
            out[key] = [v for v in found.scalars().all() if v]
        pairs = await conn.execute(
            sa.select(i.outcome_code, sa.func.max(i.outcome_label))
            .group_by(i.outcome_code)
            .order_by(i.outcome_code)
        )
        out["outcomes"] = [f"{code}\t{label}" for code, label in pairs.all()]
    return out


async def write_month_report(
    engine: AsyncEngine, month: str, fmt: str, path: Path, routing_path: str | None = None
) -> str:
    """Write the month's regulator report as ``centralita report --month M --format F``
    writes it (same defaults: by service, AMI records, La Paz, routing.toml's rules);
    returns the period's label."""
    from centralita.metrics.commands import service_names, software_version
    from centralita.metrics.periods import Period
    from centralita.metrics.queries import ReportRequest, iter_detail, monthly_report
    from centralita.metrics.service_config import load_service_config

    period = Period.month(month, "America/La_Paz")
    rules = load_service_config(routing_path).rules(
        wait_basis="asterisk",
        short_abandon_s=0,
        count_timeouts=True,
        count_exit_with_key=True,
        count_exit_empty=True,
        count_ivr_hangups=False,
        count_ivr_derived=True,
        count_cut=True,
    )
    request = ReportRequest(period, rules, "service", "ami", None)
    report = await monthly_report(
        engine, request, names=service_names(routing_path), software_version=software_version()
    )
    if fmt == "xlsx":
        from centralita.metrics.export_xlsx import write_xlsx

        async with engine.connect() as conn:
            await write_xlsx(report, path, iter_detail(conn, request))
    elif fmt == "pdf":
        from centralita.metrics.export_pdf import write_pdf

        await asyncio.to_thread(write_pdf, report, path)
    else:
        from centralita.metrics.export_csv import render_csv

        await asyncio.to_thread(path.write_text, render_csv(report), encoding="utf-8")
    return period.label


async def supervision_text(
    engine: AsyncEngine,
    *,
    month: str = "",
    day: str = "",
    fmt: str = "texto",
    routing_path: str | None = None,
) -> str:
    """``centralita supervisor --month|--day ... --format table|json``'s text."""
    from centralita.metrics.commands import service_names, software_version
    from centralita.metrics.periods import Period
    from centralita.metrics.service_config import load_service_config
    from centralita.metrics.supervisor import (
        render_supervisor_json,
        render_supervisor_text,
        supervisor_report,
    )

    period = Period.month(month, "America/La_Paz") if month else Period.day(day, "America/La_Paz")
    rules = load_service_config(routing_path).rules(wait_basis="asterisk", short_abandon_s=0)
    report = await supervisor_report(
        engine,
        period,
        rules,
        by="service",
        source="ami",
        pbx_id=None,
        names=service_names(routing_path),
        software_version=software_version(),
    )
    return render_supervisor_json(report) if fmt == "json" else render_supervisor_text(report)


def supervisor_routes(
    api: Api,
    current: Callable[[Request], User | None],
    *,
    engine: AsyncEngine,
    pbx_id: str,
    users: UserDirectory,
    routing_path: str | None = None,
    clock: Callable[[], float] | None = None,
    campaign_rule: Any = None,
) -> list[Route]:
    """The supervisor's pages and API (see the module's docstring)."""
    inbox = HandoverStore(engine)
    pages = {
        n: _template(f"{n}.html") for n in ("sup_interactions", "sup_handovers", "sup_reports")
    }
    denied = _template("denied.html")

    def today() -> dt.date:
        now = clock() if clock is not None else dt.datetime.now(dt.UTC).timestamp()
        return dt.datetime.fromtimestamp(now, TZ).date()

    def page_of(name: str) -> Handler:
        async def show(request: Request) -> Response:
            user = current(request)
            if user is None:
                return RedirectResponse("/ingresar", 303)
            if user.role != "supervisor":
                body = denied.safe_substitute(user=html.escape(user.name))
                return HTMLResponse(body, 403)
            values = {
                "user": html.escape(user.name),
                "pbx": html.escape(pbx_id),
                "today": today().isoformat(),
                "month": today().strftime("%Y-%m"),
            }
            return HTMLResponse(pages[name].safe_substitute(values))

        return show

    def supervisor_only(
        handler: Callable[[Request, User], Awaitable[Response]],
    ) -> Handler:
        async def checked(request: Request, user: User) -> Response:
            if user.role != "supervisor":
                return _forbidden()
            return await handler(request, user)

        return api(checked)

    async def search(request: Request, _user: User) -> Response:
        try:
            filters = search_filters(request.query_params, today())
        except SearchError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        rows = await search_interactions(engine, filters, SEARCH_LIMIT + 1)
        return JSONResponse(
            {"rows": rows[:SEARCH_LIMIT], "more": len(rows) > SEARCH_LIMIT, "limit": SEARCH_LIMIT}
        )

    async def export(request: Request, _user: User) -> Response:
        try:
            filters = search_filters(request.query_params, today())
        except SearchError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        rows = await search_interactions(engine, filters, EXPORT_LIMIT)
        name = f"interacciones-{filters['since']}-a-{filters['until']}.csv"
        return Response(
            interactions_csv(rows).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def facet_list(_request: Request, _user: User) -> Response:
        return JSONResponse(await facets(engine))

    async def month_report(request: Request, _user: User) -> Response:
        month = request.query_params.get("mes") or today().strftime("%Y-%m")
        fmt = request.query_params.get("formato") or "xlsx"
        if fmt not in REPORT_FORMATS:
            return JSONResponse({"error": f"formato {fmt!r} desconocido: xlsx, pdf o csv"}, 400)
        folder = Path(tempfile.mkdtemp(prefix="centralita-informe-"))
        path = folder / f"indicador-ATT-{month}.{fmt}"
        try:
            await write_month_report(engine, month, fmt, path, routing_path)
        except MetricsError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return JSONResponse({"error": str(exc)}, 400)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return FileResponse(
            path,
            media_type=REPORT_FORMATS[fmt],
            filename=path.name,
            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
        )

    async def campaign_report(request: Request, _user: User) -> Response:
        """Procedure K, the supervisor's part (Supervisora 4): the month's campaign,
        managed customers and effectiveness, as `centralita campaign report` makes it."""
        from centralita.campaigns.exceptions import CampaignNotFoundError
        from centralita.campaigns.report import build_report, render_table, write_xlsx
        from centralita.campaigns.store import load_state
        from centralita.routing.campaign import DEFAULT_WINDOW_RULE

        month = request.query_params.get("mes") or today().strftime("%Y-%m")
        fmt = request.query_params.get("formato") or "texto"
        if fmt not in ("texto", "xlsx"):
            return JSONResponse({"error": f"formato {fmt!r} desconocido: texto o xlsx"}, 400)
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            return JSONResponse({"error": f"mes inválido «{month}»: use AAAA-MM"}, 400)
        rule = campaign_rule or DEFAULT_WINDOW_RULE
        try:
            report = build_report(await load_state(engine, month, rule=rule), rule)
        except CampaignNotFoundError:
            return JSONResponse({"error": f"no hay campaña prepago para {month}"}, 404)
        if fmt == "texto":
            return PlainTextResponse(render_table(report))
        folder = Path(tempfile.mkdtemp(prefix="centralita-campana-"))
        path = folder / f"campana-prepago-{month}.xlsx"
        try:
            await asyncio.to_thread(write_xlsx, report, path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return FileResponse(
            path,
            media_type=REPORT_FORMATS["xlsx"],
            filename=path.name,
            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
        )

    async def supervision_report(request: Request, _user: User) -> Response:
        month = request.query_params.get("mes") or ""
        day = request.query_params.get("dia") or ""
        fmt = request.query_params.get("formato") or "texto"
        if bool(month) == bool(day):
            return JSONResponse({"error": "indique el mes (AAAA-MM) o el día (AAAA-MM-DD)"}, 400)
        if fmt not in ("texto", "json"):
            return JSONResponse({"error": f"formato {fmt!r} desconocido: texto o json"}, 400)
        try:
            text = await supervision_text(
                engine, month=month, day=day, fmt=fmt, routing_path=routing_path
            )
        except MetricsError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        ext, media = ("json", "application/json") if fmt == "json" else ("txt", "text/plain")
        name = f"supervision-{month or day}.{ext}"
        return Response(
            text.encode("utf-8"),
            media_type=f"{media}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def handover_list(request: Request, _user: User) -> Response:
        state = request.query_params.get("estado", "pending")
        if state not in (*STATES, "pending", ""):
            return JSONResponse({"error": f"estado {state!r} desconocido"}, 400)
        supervisors = [u.name for u in users.all() if u.role == "supervisor"]
        return JSONResponse({"items": await inbox.list(state), "supervisors": supervisors})

    async def _body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        return msgspec.json.decode(raw, type=dict[str, Any])

    async def handover_assign(request: Request, user: User) -> Response:
        try:
            handover_id = int(request.path_params["handover_id"])
            body = await _body(request)
        except (ValueError, msgspec.DecodeError) as exc:
            return JSONResponse({"error": f"solicitud inválida: {exc}"}, 400)
        to = str(body.get("supervisor") or user.name)
        target = users.get(to)
        if target is None or target.role != "supervisor":
            return JSONResponse({"error": f"{to!r} no es un usuario de supervisión"}, 422)
        try:
            item = await inbox.assign(handover_id, to)
        except InteractionError as exc:
            return JSONResponse({"error": str(exc)}, 409)
        return JSONResponse(item)

    async def handover_close(request: Request, user: User) -> Response:
        try:
            handover_id = int(request.path_params["handover_id"])
            body = await _body(request)
        except (ValueError, msgspec.DecodeError) as exc:
            return JSONResponse({"error": f"solicitud inválida: {exc}"}, 400)
        try:
            item = await inbox.close(
                handover_id,
                user.name,
                str(body.get("resultado") or ""),
                str(body.get("nota") or ""),
            )
        except InteractionError as exc:
            status = 404 if "inexistente" in str(exc) else 409 if "cerrado" in str(exc) else 422
            return JSONResponse({"error": str(exc)}, status)
        return JSONResponse(item)

    return [
        Route("/supervision/interacciones", page_of("sup_interactions")),
        Route("/supervision/traspasos", page_of("sup_handovers")),
        Route("/supervision/informes", page_of("sup_reports")),
        Route("/api/supervision/interacciones", supervisor_only(search)),
        Route("/api/supervision/interacciones.csv", supervisor_only(export)),
        Route("/api/supervision/opciones", supervisor_only(facet_list)),
        Route("/api/supervision/informe", supervisor_only(month_report)),
        Route("/api/supervision/reporte", supervisor_only(supervision_report)),
        Route("/api/supervision/campana", supervisor_only(campaign_report)),
        Route("/api/supervision/traspasos", supervisor_only(handover_list)),
        Route(
            "/api/supervision/traspasos/{handover_id}/asignar",
            supervisor_only(handover_assign),
            methods=["POST"],
        ),
        Route(
            "/api/supervision/traspasos/{handover_id}/cerrar",
            supervisor_only(handover_close),
            methods=["POST"],
        ),
    ]
