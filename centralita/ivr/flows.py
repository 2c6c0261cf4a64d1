"""The IVR flow of one call, on top of a `CallChannel` (an AGI session or a fake).

Every path ends in a routing destination, a queue unless a time rule says otherwise.
The order of work makes that hold even when the session dies half-way: the first routing
decision (no topic, no customer) is set on the channel before the caller hears anything;
the dialog can only refine it.

    route ─► SET CC_* ─► no flow (routing's ivr_flow is none)? ───────────► report
        └► ANSWER, greeting
           ─► topics? menu ─► invalid after max_attempts ────► result invalid_input
                          └► route for the topic, SET CC_*
           ─► identify (and the destination is a queue)? menu (1 phone, 2 contract, 3 CI)
              ─► digits, validated, retried ─► invalid ──────► result invalid_input
              ─► lookup (deadline) ─► None ──────────────────► result not_found
                                   ├► down / slow ───────────► result directory_down
                                   └► customer ─► route with segment, SET CC_* ─► ok
        ─► report: EXEC UserEvent(CentralitaIvr, ...); close: the dialplan takes over

An unexpected error in a step gives result `error` with the last route set; a transport
error (hangup, timeout, closed socket) ends the session, the channel keeps what was set.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from centralita.ivr import events
from centralita.ivr.directory import Customer, CustomerDirectory
from centralita.ivr.events import InputKind, IvrResult, user_event_body
from centralita.ivr.exceptions import AgiError, DirectoryUnavailableError
from centralita.ivr.flow_config import MAX_DIGITS, Flow, IvrConfig

log = structlog.get_logger(__name__)

_VALID = {
    InputKind.PHONE: re.compile(r"^[2-7]\d{6,7}$"),
    InputKind.CONTRACT: re.compile(r"^\d{1,12}$"),
    InputKind.CI: re.compile(r"^\d{4,12}$"),
}


class CallChannel(Protocol):
    """What a flow needs from the call (implemented by `ivr.agi.AgiSession`).

    A prompt the PBX lacks is not an error here: `stream_file` returns without playing it
    and `get_data` still collects the digits (the session counts the missing file).
    """

    async def answer(self) -> None: ...
    async def stream_file(self, prompt: str, *, max_duration_s: float = ...) -> None: ...
    async def get_data(
        self, prompt: str, *, timeout_ms: int, max_digits: int, max_prompt_s: float = ...
    ) -> tuple[str, bool]: ...
    async def set_variable(self, name: str, value: str) -> None: ...
    async def exec_app(self, app: str, args: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Route:
    """Routing's decision reduced to what the channel and the report need."""

    service: str
    queue: str
    priority: int
    variables: Mapping[str, str]
    """The CC_* channel variables carrying the decision (CC_CUSTOMER excepted)."""
    destination: str = "queue"
    flow: str | None = None


class Router(Protocol):
    """Routing as the flows see it (`ivr.routing_adapter.RoutingRouter` wraps `routing`)."""

    def route(
        self, dialed: str, when: dt.datetime, *, segment: str | None, topic: str | None
    ) -> Route:
        """Decide the destination of a call to `dialed` at `when`."""
        ...


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the AGI header block says about the call, and when it reached the IVR."""

    dialed: str
    uniqueid: str
    started: dt.datetime
    caller: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the flow ended; `reported` is False until the UserEvent was sent."""

    route: Route
    result: IvrResult
    input: InputKind = InputKind.NONE
    topic: str | None = None
    customer: Customer | None = None
    reported: bool = False


def mask(number: str) -> str:
    """Mask a phone number for logs: all but the last 3 digits."""
    return "*" * max(len(number) - 3, 0) + number[-3:] if len(number) > 3 else "*" * len(number)


class IvrFlow:
    """Runs the flow of one call; stateless between calls, one per server."""

    def __init__(self, config: IvrConfig, router: Router, directory: CustomerDirectory) -> None:
        self.config = config
        self.router = router
        self.directory = directory

    def fallback_route(self, dialed: str) -> Route:
        """The service's own queue (or the global default) when routing cannot decide."""
        queue = self.config.fallback_queue(dialed)
        priority = self.config.default_priority
        variables = {
            events.VAR_SERVICE: dialed,
            events.VAR_QUEUE: queue,
            events.VAR_PRIORITY: str(priority),
            events.VAR_DEST_KIND: "queue",
        }
        return Route(service=dialed, queue=queue, priority=priority, variables=variables)

    def _route(
        self, call: CallInfo, *, segment: str | None = None, topic: str | None = None
    ) -> Route | None:
        try:
            return self.router.route(call.dialed, call.started, segment=segment, topic=topic)
        except Exception as exc:
            log.error("ivr_routing_failed", segment=segment, topic=topic, error=repr(exc))
            return None

    async def run(self, channel: CallChannel, call: CallInfo) -> Outcome:
        """The whole flow; transport errors (AgiError) propagate, anything else is `error`."""
        first = self._route(call)
        outcome = Outcome(
            route=first or self.fallback_route(call.dialed),
            result=IvrResult.OK if first else IvrResult.ERROR,
        )
        with structlog.contextvars.bound_contextvars(service=outcome.route.service):
            await self._set_route(channel, outcome.route, None)
            try:
                outcome = await self._dialog(channel, call, outcome)
            except (AgiError, asyncio.CancelledError):
                raise
            except Exception as exc:
                log.exception("ivr_flow_failed", error=repr(exc))
                outcome = replace(outcome, result=IvrResult.ERROR)
            outcome = await self._report(channel, call, outcome)
            log.info(
                "ivr_call_routed",
                queue=outcome.route.queue,
                destination=outcome.route.destination,
                priority=outcome.route.priority,
                result=outcome.result.value,
                input=outcome.input.value,
                topic=outcome.topic,
                segment=outcome.customer.segment if outcome.customer else None,
                caller=mask(call.caller),
            )
        return outcome

    def _flow(self, outcome: Outcome) -> Flow | None:
        name = outcome.route.flow
        if outcome.result is not IvrResult.OK or name is None:
            return None
        flow = self.config.flow.get(name)
        if flow is None:
            log.warning("ivr_flow_unknown", flow=name)
        return flow

    async def _dialog(self, channel: CallChannel, call: CallInfo, outcome: Outcome) -> Outcome:
        flow = self._flow(outcome)
        if flow is None:
            return outcome
        service = outcome.route.service
        await channel.answer()
        greeting = self.config.greeting(service)
        if greeting is not None:
            await channel.stream_file(greeting)
        if flow.topics and flow.menu is not None:
            choice = await self._ask(channel, flow.menu, 1, f"^[1-{len(flow.topics)}]$")
            if not choice:
                await channel.stream_file(self.config.messages.gave_up)
                return replace(outcome, result=IvrResult.INVALID_INPUT)
            topic = flow.topics[int(choice) - 1]
            route = self._route(call, topic=topic) or outcome.route
            await self._set_route(channel, route, None)
            outcome = replace(outcome, route=route, topic=topic)
        kinds = self.config.identify(flow, service)
        if kinds and outcome.route.destination == "queue":
            outcome = await self._identify_customer(channel, call, outcome, kinds)
        if outcome.result is IvrResult.OK and outcome.route.destination == "queue":
            await channel.stream_file(self.config.messages.transfer)
        return outcome

    async def _identify_customer(
        self,
        channel: CallChannel,
        call: CallInfo,
        outcome: Outcome,
        kinds: tuple[InputKind, ...],
    ) -> Outcome:
        kind, value = await self._identify(channel, kinds)
        if kind is None:
            await channel.stream_file(self.config.messages.gave_up)
            return replace(outcome, result=IvrResult.INVALID_INPUT)
        outcome = replace(outcome, input=kind)
        try:
            async with asyncio.timeout(self.config.lookup_timeout_s):
                customer = await self.directory.lookup(kind, value)
        except (DirectoryUnavailableError, TimeoutError) as exc:
            log.warning("ivr_directory_unavailable", input=kind.value, error=repr(exc))
            await channel.stream_file(self.config.messages.unavailable)
            return replace(outcome, result=IvrResult.DIRECTORY_DOWN)
        if customer is None:
            await channel.stream_file(self.config.messages.not_found)
            return replace(outcome, result=IvrResult.NOT_FOUND)
        route = self._route(call, segment=customer.segment, topic=outcome.topic) or outcome.route
        await self._set_route(channel, route, customer)
        return replace(outcome, route=route, customer=customer)

    async def _identify(
        self, channel: CallChannel, kinds: tuple[InputKind, ...]
    ) -> tuple[InputKind | None, str]:
        kind: InputKind | None = kinds[0]
        if len(kinds) > 1:
            menu = self.config.questions.menu.prompt
            choice = await self._ask(channel, menu, 1, f"^[1-{len(kinds)}]$")
            kind = kinds[int(choice) - 1] if choice else None
        if kind is None:
            return None, ""
        prompt = self.config.questions.for_kind(kind).prompt
        value = await self._ask(channel, prompt, MAX_DIGITS[kind], _VALID[kind].pattern)
        return (kind, value) if value else (None, "")

    async def _ask(self, channel: CallChannel, prompt: str, max_digits: int, pattern: str) -> str:
        """Ask up to max_attempts times; the valid digits, or '' when every attempt failed."""
        valid = re.compile(pattern)
        for attempt in range(1, self.config.max_attempts + 1):
            digits, _timed_out = await channel.get_data(
                prompt, timeout_ms=self.config.digit_timeout_ms, max_digits=max_digits
            )
            if valid.match(digits):
                return digits
            log.info("ivr_input_rejected", prompt=prompt, attempt=attempt, length=len(digits))
            if attempt < self.config.max_attempts:
                await channel.stream_file(self.config.messages.invalid)
        return ""

    async def _set_route(
        self, channel: CallChannel, route: Route, customer: Customer | None
    ) -> None:
        for name, value in route.variables.items():
            await channel.set_variable(name, value)
        await channel.set_variable(events.VAR_CUSTOMER, customer.contract if customer else "")

    async def _report(self, channel: CallChannel, call: CallInfo, outcome: Outcome) -> Outcome:
        customer = outcome.customer
        body = user_event_body(
            {
                events.HEADER_SERVICE: outcome.route.service,
                events.HEADER_QUEUE: outcome.route.queue,
                events.HEADER_PRIORITY: str(outcome.route.priority),
                events.HEADER_DESTINATION: outcome.route.destination,
                events.HEADER_TOPIC: outcome.topic or "",
                events.HEADER_CUSTOMER: customer.contract if customer else "",
                events.HEADER_SEGMENT: customer.segment if customer else "",
                events.HEADER_INPUT: outcome.input.value,
                events.HEADER_RESULT: outcome.result.value,
                events.HEADER_UNIQUEID: call.uniqueid,
            }
        )
        await channel.exec_app("UserEvent", body)
        return replace(outcome, reported=True)
