"""Small accessors that make the procedure tests read like the document."""

from __future__ import annotations

from centralita.scripts import Script, Step


def step(script: Script, number: int) -> Step:
    """The step `number` of `script`."""
    return script.step(number)


def gotos(script: Script, number: int) -> list[int | None]:
    """Branch targets of a decision step, in document order (None for an outcome)."""
    return [branch.goto for branch in script.step(number).branches]


def conditions(script: Script, number: int) -> list[str]:
    """Branch conditions of a decision step, in document order."""
    return [branch.condition for branch in script.step(number).branches]


def ends_in(script: Script, number: int) -> str:
    """The outcome code a step ends in (steps that end, not decide)."""
    code = script.step(number).outcome
    assert code is not None, f"step {number} of {script.id} does not end"
    return code


def handoff_targets(script: Script, number: int) -> list[str]:
    """Who a step hands the case to."""
    return [handoff.to for handoff in script.step(number).handoffs]


def system_names(script: Script, number: int) -> list[str]:
    """Systems consulted at a step."""
    return [system.name for system in script.step(number).systems]
