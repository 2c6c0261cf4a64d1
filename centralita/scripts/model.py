"""The agent-script model: a procedure of the seed as steps, branches and outcomes.

A script is a directed graph. Each step ends in exactly one of:

* `next`: the step that follows;
* `outcome`: a closing outcome code (the agent's part of the call ends there);
* `branches`: a decision, each branch going to a step (`goto`) or to an `outcome`.

An actor change (agent → supervisor) never happens inside a walk: the agent's part
ends in an outcome whose `continues_at` names the step where the other actor
resumes the procedure later (102 step 7 → supervisor step 8).

Agent-facing text is Spanish and lives in the TOML files under `centralita/scripts/data/`.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

SERVICE_IDS: Final[tuple[str, ...]] = (
    "101",
    "102",
    "103",
    "104",
    "4200224",
    "4251000",
    "4522222",
    "800131313",
    "800130001",
    "4639999",
    "prepago",
)
"""Script ids, exactly the service keys, in the order of the procedure (A to K)."""

SOURCE_DOCUMENT: Final = "GC-PRC-OPE-ASE-02"

Actor = Literal["agente", "supervisora"]
Section = Literal["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K"]
SystemName = Literal[
    "Smartflex",
    "GSI",
    "Guiatel",
    "Guía Comercial (ICONO)",
    "P_Empleados",
    "Boliviatel",
    "Logistic One (Btel2)",
    "MIO",
    "QBC",
]
HandoffTarget = Literal[
    "supervision",
    "gsi",
    "101",
    "centro_operaciones",
    "operador_zona",
    "nocc",
    "encargado_telefonia_publica",
    "encargado_venta_shopper",
    "jefatura_sector",
    "interno",
    "agentes",
]

OutcomeCode = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
StepNumber = Annotated[int, msgspec.Meta(ge=1)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
IsoWeekday = Annotated[int, msgspec.Meta(ge=1, le=7)]

MINUTES_PER_DAY: Final = 24 * 60
MINUTES_PER_WEEK: Final = 7 * MINUTES_PER_DAY


class _Frozen(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every script struct: immutable, unknown fields are errors.

    `kw_only` only applies to the fields a class defines, so each subclass repeats it
    (and `frozen`, which mypy does not see inherited).
    """


class Substep(_Frozen, frozen=True, kw_only=True):
    """A numbered sub-activity of a step, as the document words it ("1.1")."""

    ref: NonEmpty
    text: NonEmpty


class SystemRef(_Frozen, frozen=True, kw_only=True):
    """A system the agent consults at a step, with where to look in it."""

    name: SystemName
    detail: str | None = None


class Handoff(_Frozen, frozen=True, kw_only=True):
    """Someone the case is passed to at a step (supervision, GSI, the 101 line...)."""

    to: HandoffTarget
    text: NonEmpty


class WeeklyWindow(_Frozen, frozen=True, kw_only=True):
    """A half-open weekly time window [start, end) in the center's local time.

    Days are ISO weekdays (1 = lunes ... 7 = domingo); the window may wrap over the
    week's end (viernes 12:00 → lunes 00:00).
    """

    start_day: IsoWeekday
    start_time: ClockTime
    end_day: IsoWeekday
    end_time: ClockTime

    def bounds(self) -> tuple[int, int]:
        """Start and end as minutes since lunes 00:00."""
        return (
            _minute_of_week(self.start_day, self.start_time),
            _minute_of_week(self.end_day, self.end_time),
        )

    def contains(self, weekday: int, hour: int, minute: int) -> bool:
        """True when the local instant (ISO weekday, hour, minute) is in the window."""
        at = (weekday - 1) * MINUTES_PER_DAY + hour * 60 + minute
        start, end = self.bounds()
        if start < end:
            return start <= at < end
        return at >= start or at < end


def _minute_of_week(day: int, clock: str) -> int:
    hours, minutes = clock.split(":")
    return (day - 1) * MINUTES_PER_DAY + int(hours) * 60 + int(minutes)


RecipientName = r"[a-z][a-z0-9_]*"
"""A named recipient: its address comes from the daemon's ``[mail] recipients``."""
EmailAddress = r"[^@\s]+@[^@\s]+\.[^@\s]+"


class EmailAction(_Frozen, frozen=True, kw_only=True):
    """An e-mail the step sends when the recorded walk goes through it.

    ``to`` is a named recipient (``jefatura_sector``), whose real address lives in the
    daemon's configuration, or a literal address (kept out of the shipped scripts).
    ``subject`` and ``body`` are ``string.Template`` texts over the call's fields
    (`centralita.scripts.email.EMAIL_FIELDS`); an unknown field is a validation error.
    """

    to: Annotated[str, msgspec.Meta(pattern=rf"^({RecipientName}|{EmailAddress})$", max_length=254)]
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: NonEmpty


class Branch(_Frozen, frozen=True, kw_only=True):
    """One option of a decision: a condition leading to a step or to an outcome."""

    condition: NonEmpty
    goto: StepNumber | None = None
    outcome: OutcomeCode | None = None
    window: WeeklyWindow | None = None
    note: str | None = None


class Step(_Frozen, frozen=True, kw_only=True):
    """One numbered activity of the procedure."""

    number: StepNumber
    text: NonEmpty
    ref: str | None = None
    actor: Actor = "agente"
    substeps: tuple[Substep, ...] = ()
    questions: tuple[NonEmpty, ...] = ()
    systems: tuple[SystemRef, ...] = ()
    handoffs: tuple[Handoff, ...] = ()
    next: StepNumber | None = None
    outcome: OutcomeCode | None = None
    branches: tuple[Branch, ...] = ()
    email: EmailAction | None = None
    note: str | None = None

    @property
    def label(self) -> str:
        """The step's number as the document writes it."""
        return self.ref if self.ref is not None else str(self.number)


class Outcome(_Frozen, frozen=True, kw_only=True):
    """A closing outcome, recorded with the interaction."""

    code: OutcomeCode
    label: NonEmpty
    procedure: str | None = None
    continues_at: StepNumber | None = None


class Script(_Frozen, frozen=True, kw_only=True):
    """One service's agent script: a procedure (A to K) of the seed."""

    id: NonEmpty
    version: Annotated[int, msgspec.Meta(ge=1)]
    service: NonEmpty
    title: NonEmpty
    section: Section
    measured_by_att: bool
    source: str = SOURCE_DOCUMENT
    start: StepNumber = 1
    steps: tuple[Step, ...]
    outcomes: tuple[Outcome, ...]

    def step(self, number: int) -> Step:
        """The step with that number; KeyError when there is none."""
        for step in self.steps:
            if step.number == number:
                return step
        raise KeyError(number)

    def outcome(self, code: str) -> Outcome:
        """The outcome with that code; KeyError when there is none."""
        for outcome in self.outcomes:
            if outcome.code == code:
                return outcome
        raise KeyError(code)

    def has_step(self, number: int) -> bool:
        """True when a step has that number."""
        return any(step.number == number for step in self.steps)

    def has_outcome(self, code: str) -> bool:
        """True when an outcome has that code."""
        return any(outcome.code == code for outcome in self.outcomes)


def script_schema() -> dict[str, Any]:
    """JSON schema of a script file (after TOML decoding), for the docs."""
    return msgspec.json.schema(Script)
