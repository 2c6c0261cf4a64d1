"""Call controls of the agent console: pause with a reason, transfers (AMI actions).

What an agent (or a supervisor, for an agent) can do on the PBX from the console, each
through the one AMI action it needs and only when ``[console] call_controls`` is on (the
generated manager_custom.conf then grants the AMI user write=call and write=agent):

- **pause / unpause** with a reason from the configured list: ``QueuePause`` (class
  ``agent``) with ``Interface``, ``Paused`` and ``Reason`` and no ``Queue`` (every queue
  of the agent, as a phone's pause key does). The resulting QueueMemberPause (12+) /
  QueueMemberPaused (11) events reach the tracker, the wallboard and this module's own
  view of who is paused (an effect sink);
- **transfer to another service's queue** (102 and 4522222 tell callers to "llamar al
  101"): ``Redirect`` (class ``call``) of the caller's channel to the generated
  ``[centralita-transfer]`` context, extension = the target queue. Same channel, same
  Uniqueid: the tracker keeps one call (counted under its first service) and the agent
  of the target queue gets the pop;
- **transfer to an internal extension** of the employee directory (procedure F,
  4251000 "Deriva mediante la Central al interno"): ``Redirect`` of the caller's channel
  to ``<interno>`` in routing.toml's ``pbx.outbound_context`` (a blind transfer);
- the employee directory's search, for the transfer box.

The caller's channel comes from the pop (``channel``), which the tracker takes from the
caller's queue join. Every action is logged with who asked for it (never a number).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from centralita.ami_listener.exceptions import AmiConnectionError
from centralita.ami_listener.protocol import AmiMessage
from centralita.ami_listener.tracker import Effect, MemberUpdated
from centralita.console.employees import search_employees
from centralita.console.users import User, UserDirectory
from centralita.screenpop.bus import LocalBus
from centralita.screenpop.model import agent_id

log = structlog.get_logger(__name__)

DISABLED = (
    "los controles de llamada están desactivados: active [console] call_controls en "
    "centralita.toml y genere manager_custom.conf con «centralita conf generate "
    "--call-controls»"
)
NO_PBX = "sin conexión con la central (AMI); intente de nuevo en unos segundos"
_INTERNO = re.compile(r"^\d{2,8}$")

Handler = Callable[[Request], Awaitable[Response]]
Api = Callable[[Callable[[Request, User], Awaitable[Response]]], Handler]


class ActionSender(Protocol):
    """The AMI client (or a deferred one): send an action, get its response."""

    async def send(self, fields: dict[str, str], timeout_s: float = 10.0) -> AmiMessage:
        """Send; AmiConnectionError when not connected or no answer in time."""
        ...


@dataclass(frozen=True, slots=True)
class TransferTarget:
    """A service whose queue a call can be transferred to."""

    key: str
    name: str
    queue: str


@dataclass
class CallControls:
    """The controls' configuration and the agents' pause states (an effect sink)."""

    enabled: bool = False
    pause_reasons: tuple[str, ...] = ()
    sender: ActionSender | None = None
    transfer_context: str = "centralita-transfer"
    outbound_context: str = "from-internal"
    targets: Callable[[], Sequence[TransferTarget]] = tuple
    # interface -> queue -> pause reason ("" = not paused), from the member events
    _paused: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def handle(self, effect: Effect) -> None:
        """Keep each member's pause state (MemberUpdated effects); ignore the rest."""
        if not isinstance(effect, MemberUpdated):
            return
        queues = self._paused.setdefault(effect.interface, {})
        if effect.removed:
            queues.pop(effect.queue, None)
        else:
            queues[effect.queue] = effect.pause_reason if effect.paused else None

    def pause_state(self, interface: str) -> dict[str, Any]:
        """Whether the agent is paused in any queue, and the reason Asterisk reported."""
        queues = self._paused.get(interface, {})
        reasons = [r for r in queues.values() if r is not None]
        return {"paused": bool(reasons), "reason": next((r for r in reasons if r), "")}


class _RefusedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def control_routes(
    api: Api,
    controls: CallControls,
    *,
    bus: LocalBus,
    users: UserDirectory,
    engine: AsyncEngine,
    may_see: Callable[[User, str], bool],
) -> list[Route]:
    """The controls' API, each handler wrapped in the console's ``api`` (session, roles,
    the X-Centralita header on POSTs)."""

    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status)

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            return msgspec.json.decode(await request.body(), type=dict[str, Any])
        except msgspec.DecodeError as exc:
            raise _RefusedError(400, f"solicitud inválida: {exc}") from exc

    def interface_for(user: User, wanted: str) -> str:
        """The interface to pause: the agent's own; a supervisor names the agent."""
        if not wanted or wanted == user.agent:
            if not user.interface:
                raise _RefusedError(422, "indique el agente a pausar")
            return user.interface
        if user.role != "supervisor":
            raise _RefusedError(403, "solo puede pausar su propia extensión")
        for other in users.all():
            if other.agent == wanted and other.interface:
                return other.interface
        raise _RefusedError(404, f"agente desconocido: {wanted}")

    async def action(fields: dict[str, str], what: str) -> AmiMessage:
        sender = controls.sender
        if sender is None:
            raise _RefusedError(503, NO_PBX)
        try:
            reply = await sender.send(fields)
        except AmiConnectionError as exc:
            raise _RefusedError(503, NO_PBX) from exc
        if reply.headers.get("Response") != "Success":
            said = reply.headers.get("Message", "") or "sin detalle"
            raise _RefusedError(409, f"la central rechazó {what}: {said}")
        return reply

    def the_call(user: User, body: Mapping[str, Any]) -> dict[str, Any]:
        call_id = str(body.get("call_id", ""))
        # the call's latest pop: after a transfer, the agent who has the call now
        item = bus.pop_for_call(call_id) if call_id else None
        if item is None or not may_see(user, item.agent):
            raise _RefusedError(404, "llamada desconocida para este agente o ya transferida")
        pop = msgspec.json.decode(item.body, type=dict[str, Any])
        if not pop.get("channel"):
            raise _RefusedError(409, "no se conoce el canal de la llamada: no se puede transferir")
        return pop

    def guarded(
        handler: Callable[[Request, User], Awaitable[Response]], *, switch: bool = True
    ) -> Handler:
        async def run(request: Request, user: User) -> Response:
            if switch and not controls.enabled:
                return refuse(403, DISABLED)
            try:
                return await handler(request, user)
            except _RefusedError as exc:
                return refuse(exc.status, exc.message)

        return api(run)

    # ------------------------------------------------------------------ handlers
    async def overview(request: Request, user: User) -> Response:
        wanted = request.query_params.get("agent") or user.agent
        state: dict[str, Any] = {"paused": False, "reason": ""}
        if wanted and may_see(user, wanted):
            iface = next(
                (u.interface for u in users.all() if u.agent == wanted and u.interface), ""
            )
            if iface:
                state = controls.pause_state(iface)
        return JSONResponse(
            {
                "enabled": controls.enabled,
                "pause_reasons": list(controls.pause_reasons),
                "services": [
                    {"key": t.key, "name": t.name, "queue": t.queue} for t in controls.targets()
                ],
                "agent": wanted,
                "pause": state,
            }
        )

    async def pause(request: Request, user: User) -> Response:
        body = await body_of(request)
        reason = str(body.get("reason", "")).strip()
        if reason not in controls.pause_reasons:
            allowed = ", ".join(controls.pause_reasons)
            return refuse(422, f"motivo de pausa desconocido: «{reason}»; elija uno de: {allowed}")
        iface = interface_for(user, str(body.get("agent", "")))
        fields = {"Action": "QueuePause", "Interface": iface, "Paused": "true", "Reason": reason}
        await action(fields, "la pausa")
        log.info("agent_paused", user=user.name, agent=agent_id(iface), reason=reason)
        return JSONResponse({"agent": agent_id(iface), "paused": True, "reason": reason})

    async def unpause(request: Request, user: User) -> Response:
        body = await body_of(request)
        iface = interface_for(user, str(body.get("agent", "")))
        await action(
            {"Action": "QueuePause", "Interface": iface, "Paused": "false"}, "la reanudación"
        )
        log.info("agent_unpaused", user=user.name, agent=agent_id(iface))
        return JSONResponse({"agent": agent_id(iface), "paused": False, "reason": ""})

    async def transfer(request: Request, user: User) -> Response:
        body = await body_of(request)
        pop = the_call(user, body)
        key = str(body.get("service", ""))
        target = next((t for t in controls.targets() if t.key == key), None)
        if target is None:
            return refuse(422, f"servicio de destino desconocido: «{key}»")
        if target.queue == pop.get("queue"):
            return refuse(422, f"la llamada ya está en la cola de {target.name}")
        fields = {
            "Action": "Redirect",
            "Channel": str(pop["channel"]),
            "Context": controls.transfer_context,
            "Exten": target.queue,
            "Priority": "1",
        }
        await action(fields, "la transferencia")
        log.info(
            "call_transferred",
            user=user.name,
            uniqueid=pop["call_id"],
            from_queue=pop.get("queue", ""),
            to_service=target.key,
        )
        return JSONResponse(
            {"call_id": pop["call_id"], "service": target.key, "queue": target.queue}
        )

    async def to_extension(request: Request, user: User) -> Response:
        body = await body_of(request)
        pop = the_call(user, body)
        interno = str(body.get("interno", "")).strip()
        if not _INTERNO.match(interno):
            return refuse(422, f"interno inválido: «{interno}» (solo dígitos, de 2 a 8)")
        found = [e for e in await search_employees(engine, interno) if e.extension == interno]
        if not found:
            return refuse(422, f"el interno {interno} no está en el directorio de empleados")
        fields = {
            "Action": "Redirect",
            "Channel": str(pop["channel"]),
            "Context": controls.outbound_context,
            "Exten": interno,
            "Priority": "1",
        }
        await action(fields, "la transferencia al interno")
        log.info("call_sent_to_extension", user=user.name, uniqueid=pop["call_id"], interno=interno)
        return JSONResponse({"call_id": pop["call_id"], "interno": interno, "name": found[0].name})

    async def employees(request: Request, _user: User) -> Response:
        text = request.query_params.get("q", "")[:100]
        found = await search_employees(engine, text, limit=20)
        return JSONResponse(
            [
                {
                    "name": e.name,
                    "area": e.area,
                    "position": e.position,
                    "extension": e.extension or "",
                }
                for e in found
            ]
        )

    return [
        Route("/api/controles", guarded(overview, switch=False)),
        Route("/api/controles/pausa", guarded(pause), methods=["POST"]),
        Route("/api/controles/reanudar", guarded(unpause), methods=["POST"]),
        Route("/api/controles/transferir", guarded(transfer), methods=["POST"]),
        Route("/api/controles/interno", guarded(to_extension), methods=["POST"]),
        Route("/api/controles/empleados", guarded(employees, switch=False)),
    ]
