"""Walk a script as a guided decision tree: start, see the options, follow one.

A `Walk` is immutable: `choose` returns a new walk, so the console can keep one per
call (or rebuild it from the trail of choices) without shared state.

    walk = start(load_script("101"))
    while not walk.finished:
        options = walk.options()            # (Option(index=0, label="Continuar"...),)
        walk = walk.choose(options[0].index)
    walk.outcome                            # Outcome(code="dano_generado", ...)
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from centralita.scripts.exceptions import WalkError
from centralita.scripts.model import Outcome, Script, Step

CONTINUE_LABEL = "Continuar"


class Option(msgspec.Struct, frozen=True, kw_only=True):
    """One choice the agent has at a step."""

    index: int
    label: str
    goto: int | None = None
    outcome: str | None = None


class Move(msgspec.Struct, frozen=True, array_like=True):
    """One choice made: at step `step`, option `option` (what the interaction stores)."""

    step: int
    option: int


def options_at(step: Step) -> tuple[Option, ...]:
    """The options at a step: its branches, or one "Continuar" option."""
    if step.branches:
        return tuple(
            Option(index=index, label=branch.condition, goto=branch.goto, outcome=branch.outcome)
            for index, branch in enumerate(step.branches)
        )
    return (Option(index=0, label=CONTINUE_LABEL, goto=step.next, outcome=step.outcome),)


def suggest(step: Step, when: datetime) -> Option | None:
    """The option whose time window holds `when` (the center's local time), if any.

    This is how the 4639999 Friday-noon rule picks its branch from the clock.
    """
    for option, branch in zip(options_at(step), step.branches, strict=False):
        window = branch.window
        if window is not None and window.contains(when.isoweekday(), when.hour, when.minute):
            return option
    return None


class Walk(msgspec.Struct, frozen=True, kw_only=True):
    """Where a walk of a script stands: at a step, or finished on an outcome."""

    script: Script
    at: int | None
    outcome: Outcome | None = None
    trail: tuple[Move, ...] = ()

    @property
    def finished(self) -> bool:
        """True once an outcome is reached."""
        return self.outcome is not None

    @property
    def step(self) -> Step:
        """The current step; WalkError when the walk is finished."""
        if self.at is None:
            raise WalkError(f"guion {self.script.id}: el recorrido ya terminó")
        return self.script.step(self.at)

    def options(self) -> tuple[Option, ...]:
        """The choices at the current step (none once finished)."""
        if self.at is None:
            return ()
        return options_at(self.step)

    def choose(self, index: int) -> Walk:
        """Follow option `index` of the current step to the next step or an outcome."""
        options = self.options()
        if not 0 <= index < len(options):
            where = "el recorrido ya terminó" if self.at is None else f"el paso {self.at}"
            raise WalkError(f"guion {self.script.id}: no hay opción {index} en {where}")
        option = options[index]
        trail = (*self.trail, Move(self.step.number, index))
        if option.outcome is not None:
            return Walk(
                script=self.script,
                at=None,
                outcome=self.script.outcome(option.outcome),
                trail=trail,
            )
        assert option.goto is not None  # the validator guarantees one of the two
        return Walk(script=self.script, at=option.goto, trail=trail)

    def path(self) -> tuple[int, ...]:
        """Step numbers visited so far, in order, the current one last."""
        visited = tuple(move.step for move in self.trail)
        return visited if self.at is None else (*visited, self.at)


def start(script: Script, at: int | None = None) -> Walk:
    """A walk at the script's start, or at step `at` (e.g. an outcome's `continues_at`)."""
    number = script.start if at is None else at
    if not script.has_step(number):
        raise WalkError(f"guion {script.id}: el paso {number} no existe")
    return Walk(script=script, at=number)


def replay(script: Script, trail: tuple[Move, ...] | list[Move], at: int | None = None) -> Walk:
    """Rebuild a walk from a stored trail; WalkError when it no longer fits the script."""
    walk = start(script, at if at is not None else (trail[0].step if trail else None))
    for move in trail:
        if walk.at != move.step:
            raise WalkError(
                f"guion {script.id}: el recorrido indica el paso {move.step}, "
                f"pero está en el paso {walk.at}"
            )
        walk = walk.choose(move.option)
    return walk
