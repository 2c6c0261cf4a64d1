"""The IVR flow data (`flows.toml`): questions, prompts and their Spanish texts, per service.

Decoded straight into frozen structs with unknown fields forbidden; every prompt a flow
uses must have its text in `[prompts]`, so the sound files to record are listed in one place.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Final

import msgspec

from centralita.ivr.events import InputKind
from centralita.ivr.exceptions import FlowConfigError

MAX_DIGITS: Final = {InputKind.PHONE: 8, InputKind.CONTRACT: 12, InputKind.CI: 12}
"""GET DATA's maxdigits per identifier."""


class Question(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One DTMF question."""

    prompt: str


class Questions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The identification menu and one question per identifier."""

    menu: Question
    phone: Question
    contract: Question
    ci: Question

    def for_kind(self, kind: InputKind) -> Question:
        """The question asking for `kind`."""
        return {
            InputKind.PHONE: self.phone,
            InputKind.CONTRACT: self.contract,
            InputKind.CI: self.ci,
        }[kind]


class Messages(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Announcements played on each path to the queue."""

    invalid: str
    gave_up: str
    not_found: str
    unavailable: str
    transfer: str


class Flow(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One IVR flow named by routing: a topic menu and/or customer identification."""

    identify: tuple[InputKind, ...] = ()
    topics: tuple[str, ...] = ()
    menu: str | None = None


class ServiceIvr(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Per-service IVR details: its greeting, and identifiers other than the flow's."""

    greeting: str | None = None
    identify: tuple[InputKind, ...] | None = None


class IvrConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything `flows.toml` holds."""

    questions: Questions
    messages: Messages
    prompts: dict[str, str]
    flow: dict[str, Flow]
    service: dict[str, ServiceIvr] = msgspec.field(default_factory=dict)
    fallback_queues: dict[str, str] = msgspec.field(default_factory=dict)
    digit_timeout_ms: int = 5000
    max_attempts: int = 3
    lookup_timeout_s: float = 2.0
    default_queue: str = "q101"
    default_priority: int = 0
    default_greeting: str | None = None

    def greeting(self, service: str) -> str | None:
        """The service's greeting prompt, else the default one (None: no greeting)."""
        own = self.service.get(service)
        if own is not None and own.greeting is not None:
            return own.greeting
        return self.default_greeting

    def identify(self, flow: Flow, service: str) -> tuple[InputKind, ...]:
        """The identifiers to offer: the service's own list, else the flow's."""
        own = self.service.get(service)
        if own is not None and own.identify is not None and flow.identify:
            return own.identify
        return flow.identify

    def fallback_queue(self, service: str | None) -> str:
        """The service's own queue when routing cannot decide, else the global default."""
        return self.fallback_queues.get(service or "", self.default_queue)


def _check_kinds(where: str, kinds: tuple[InputKind, ...]) -> None:
    if InputKind.NONE in kinds or len(set(kinds)) != len(kinds):
        raise FlowConfigError(f"flows: {where}.identify has 'none' or a repeat")


def _check(config: IvrConfig) -> IvrConfig:
    if config.max_attempts < 1 or config.digit_timeout_ms < 500:
        raise FlowConfigError("flows: max_attempts >= 1 and digit_timeout_ms >= 500")
    used = [config.questions.menu.prompt]
    used += [config.questions.for_kind(kind).prompt for kind in MAX_DIGITS]
    used += [config.messages.invalid, config.messages.gave_up, config.messages.not_found]
    used += [config.messages.unavailable, config.messages.transfer]
    if config.default_greeting is not None:
        used.append(config.default_greeting)
    for name, flow in config.flow.items():
        _check_kinds(f"$.flow.{name}", flow.identify)
        if bool(flow.topics) != (flow.menu is not None) or len(flow.topics) > 9:
            raise FlowConfigError(f"flows: $.flow.{name}: topics (1-9) and menu go together")
        if flow.menu is not None:
            used.append(flow.menu)
    for key, service in config.service.items():
        _check_kinds(f"$.service.{key}", service.identify or ())
        if service.greeting is not None:
            used.append(service.greeting)
    missing = sorted({prompt for prompt in used if prompt not in config.prompts})
    if missing:
        raise FlowConfigError(f"flows: prompts without text in [prompts]: {', '.join(missing)}")
    return config


def parse_config(text: str, source: str = "flows.toml") -> IvrConfig:
    """Decode and validate flow data."""
    try:
        raw = tomllib.loads(text)
        config = msgspec.convert(raw, IvrConfig)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise FlowConfigError(f"{source}: {exc}") from exc
    return _check(config)


def load_config(path: Path | None = None) -> IvrConfig:
    """Load `path`, or the packaged `centralita/ivr/flows.toml`."""
    if path is None:
        text = resources.files("centralita.ivr").joinpath("flows.toml").read_text(encoding="utf-8")
        return parse_config(text)
    return parse_config(path.read_text(encoding="utf-8"), str(path))
