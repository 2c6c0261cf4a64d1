"""The IVR flow of one call, on top of a `CallChannel` (an AGI session or a fake).

Every path ends in a queue. The order of work makes that hold even when the session dies
half-way: the first routing decision (service, queue, priority; no customer yet) is set
on the channel before the caller hears anything; identification can only improve it.

    route without segment ─► SET CC_* ─► ANSWER, greeting
        ─► identify? menu (1 phone, 2 contract, 3 CI) ─► digits, validated, retried
            ├ invalid after max_attempts ─────────────────► result invalid_input
            └ lookup (deadline) ─► None ──────────────────► result not_found
                                ├► down / slow ───────────► result directory_down
                                └► customer ─► route with segment, SET CC_* ─► ok
        ─► EXEC UserEvent(CentralitaIvr, ...) ─► close: the dialplan runs Queue(${CC_QUEUE})

An unexpected error in a step gives result `error` with the last queue set; a transport
error (hangup, timeout, closed socket) ends the session, the channel keeps what was set.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from ivr.directory import Customer, CustomerDirectory
from ivr.events import (
    HEADER_CUSTOMER,
    HEADER_INPUT,
    HEADER_PRIORITY,
    HEADER_QUEUE,
    HEADER_RESULT,
    HEADER_SEGMENT,
    HEADER_SERVICE,
    HEADER_UNIQUEID,
    VAR_CUSTOMER,
    VAR_PRIORITY,
    VAR_QUEUE,
    VAR_SERVICE,
    InputKind,
    IvrResult,
    user_event_body,
)
from ivr.exceptions import AgiError, DirectoryUnavailableError
from ivr.flow_config import MAX_DIGITS, Flow, IvrConfig

log = structlog.get_logger(__name__)

_VALID = {
    InputKind.PHONE: re.compile(r"^[2-7]\d{6,7}$"),
    InputKind.CONTRACT: re.compile(r"^\d{1,12}$"),
    InputKind.CI: re.compile(r"^\d{4,12}$"),
}


class CallChannel(Protocol):
    """What a flow needs from the call (implemented by `ivr.agi.AgiSession`)."""

    async def answer(self) -> None: ...
    async def stream_file(self, prompt: str, *, max_duration_s: float = ...) -> None: ...
    async def get_data(
        self, prompt: str, *, timeout_ms: int, max_digits: int, max_prompt_s: float = ...
    ) -> tuple[str, bool]: ...
    async def set_variable(self, name: str, value: str) -> None: ...
    async def exec_app(self, app: str, args: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Route:
    """Where the call goes: routing's decision reduced to what the channel needs."""

    service: str
    queue: str
    priority: int
    flow: str | None = None


class Router(Protocol):
    """Routing as the flows see it (`ivr.routing_adapter.RoutingRouter` wraps `routing`)."""

    def route(self, dialed: str, segment: str | None) -> Route:
        """Decide service, queue and priority for `dialed` now, for a customer segment."""
        ...


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the AGI header block says about the call."""

    dialed: str
    uniqueid: str
    caller: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the flow ended; `reported` is False when the UserEvent could not be sent."""

    route: Route
    result: IvrResult
    input: InputKind = InputKind.NONE
    customer: Customer | None = None
    reported: bool = False


def mask(number: str) -> str:
    """Mask a phone number for logs: all but the last 3 digits."""
    return "*" * max(len(number) - 3, 0) + number[-3:] if len(number) > 3 else "*" * len(number)


class IvrFlow:
    """Runs the flow of one call; stateless between calls, share one per server."""

    def __init__(self, config: IvrConfig, router: Router, directory: CustomerDirectory) -> None:
        self.config = config
        self.router = router
        self.directory = directory

    def first_route(self, call: CallInfo) -> tuple[Route, bool]:
        """Routing without a customer; on a routing error the fallback queue and False."""
        try:
            return self.router.route(call.dialed, None), True
        except Exception as exc:
            log.error("ivr_routing_failed", dialed=call.dialed, error=repr(exc))
            fallback = Route(
                service=call.dialed,
                queue=self.config.fallback_queue(call.dialed),
                priority=self.config.default_priority,
            )
            return fallback, False

    async def run(self, channel: CallChannel, call: CallInfo) -> Outcome:
        """The whole flow; transport errors (AgiError) propagate, anything else is `error`."""
        route, routed = self.first_route(call)
        outcome = Outcome(route=route, result=IvrResult.OK if routed else IvrResult.ERROR)
        with structlog.contextvars.bound_contextvars(service=route.service):
            await self._set_route(channel, route, None)
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
                priority=outcome.route.priority,
                result=outcome.result.value,
                input=outcome.input.value,
                segment=outcome.customer.segment if outcome.customer else None,
                caller=mask(call.caller),
            )
        return outcome

    async def _dialog(self, channel: CallChannel, call: CallInfo, outcome: Outcome) -> Outcome:
        flow = self.config.flow_for(outcome.route.flow, outcome.route.service, call.dialed)
        await channel.answer()
        await channel.stream_file(flow.greeting)
        if not flow.identify or outcome.result is IvrResult.ERROR:
            return outcome
        kind, value = await self._identify(channel, flow)
        if kind is None:
            await channel.stream_file(self.config.messages.invalid)
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
        route = self._route_for(call, outcome.route, customer)
        await self._set_route(channel, route, customer)
        await channel.stream_file(self.config.messages.transfer)
        return replace(outcome, route=route, customer=customer)

    def _route_for(self, call: CallInfo, first: Route, customer: Customer) -> Route:
        try:
            return self.router.route(call.dialed, customer.segment)
        except Exception as exc:
            log.error("ivr_routing_failed", segment=customer.segment, error=repr(exc))
            return first

    async def _identify(self, channel: CallChannel, flow: Flow) -> tuple[InputKind | None, str]:
        kinds = flow.identify
        kind: InputKind | None = kinds[0]
        if len(kinds) > 1:
            choice = await self._ask(
                channel, self.config.questions.menu.prompt, 1, f"^[1-{len(kinds)}]$"
            )
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
        await channel.set_variable(VAR_SERVICE, route.service)
        await channel.set_variable(VAR_QUEUE, route.queue)
        await channel.set_variable(VAR_PRIORITY, str(route.priority))
        await channel.set_variable(VAR_CUSTOMER, customer.contract if customer else "")

    async def _report(self, channel: CallChannel, call: CallInfo, outcome: Outcome) -> Outcome:
        customer = outcome.customer
        body = user_event_body(
            {
                HEADER_SERVICE: outcome.route.service,
                HEADER_QUEUE: outcome.route.queue,
                HEADER_PRIORITY: str(outcome.route.priority),
                HEADER_CUSTOMER: customer.contract if customer else "",
                HEADER_SEGMENT: customer.segment if customer else "",
                HEADER_INPUT: outcome.input.value,
                HEADER_RESULT: outcome.result.value,
                HEADER_UNIQUEID: call.uniqueid,
            }
        )
        await channel.exec_app("UserEvent", body)
        return replace(outcome, reported=True)
