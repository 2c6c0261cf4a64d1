"""Structural checks of a decoded script: every branch lands, every step is reachable.

`problems(script)` returns one line per problem, each starting with a path into the
file (`$.steps[3].branches[1].goto: unknown step 14`); an empty list means valid.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator

from centralita.scripts.email import action_problems
from centralita.scripts.model import MINUTES_PER_WEEK, Script, Step


def problems(script: Script) -> list[str]:
    """Every structural problem of `script`, as `path: message` lines."""
    found: list[str] = []
    found += _duplicates(script)
    found += _order(script)
    found += _targets(script)
    found += _windows(script)
    found += _emails(script)
    if not found:  # graph checks only make sense when every edge lands
        found += _reachability(script)
    return found


def _duplicates(script: Script) -> Iterator[str]:
    numbers = Counter(step.number for step in script.steps)
    for index, step in enumerate(script.steps):
        if numbers[step.number] > 1:
            yield f"$.steps[{index}].number: paso repetido {step.number}"
    codes = Counter(outcome.code for outcome in script.outcomes)
    for index, outcome in enumerate(script.outcomes):
        if codes[outcome.code] > 1:
            yield f"$.outcomes[{index}].code: resultado repetido «{outcome.code}»"
    if not script.steps:
        yield "$.steps: un guion necesita al menos un paso"


def _order(script: Script) -> Iterator[str]:
    for index, (before, after) in enumerate(zip(script.steps, script.steps[1:], strict=False)):
        if after.number < before.number:
            yield (
                f"$.steps[{index + 1}].number: el paso {after.number} está después del "
                f"paso {before.number}; ordene los pasos de menor a mayor"
            )


def _targets(script: Script) -> Iterator[str]:
    by_number = {step.number: step for step in script.steps}
    if script.start not in by_number:
        yield f"$.start: paso desconocido {script.start}"
    for index, step in enumerate(script.steps):
        at = f"$.steps[{index}]"
        endings = [step.next is not None, step.outcome is not None, bool(step.branches)]
        if sum(endings) != 1:
            yield f"{at}: un paso necesita exactamente uno de next, outcome, branches"
        if step.next is not None:
            yield from _goto(by_number, step, step.next, f"{at}.next")
        if step.outcome is not None and not script.has_outcome(step.outcome):
            yield f"{at}.outcome: resultado desconocido «{step.outcome}»"
        if len(step.branches) == 1:
            yield f"{at}.branches: una decisión necesita al menos dos ramas"
        for b_index, branch in enumerate(step.branches):
            b_at = f"{at}.branches[{b_index}]"
            if (branch.goto is None) == (branch.outcome is None):
                yield f"{b_at}: una rama necesita exactamente uno de goto, outcome"
            if branch.goto is not None:
                yield from _goto(by_number, step, branch.goto, f"{b_at}.goto")
            if branch.outcome is not None and not script.has_outcome(branch.outcome):
                yield f"{b_at}.outcome: resultado desconocido «{branch.outcome}»"
    for index, outcome in enumerate(script.outcomes):
        target = outcome.continues_at
        if target is not None and target not in by_number:
            yield f"$.outcomes[{index}].continues_at: paso desconocido {target}"


def _goto(by_number: dict[int, Step], step: Step, target: int, at: str) -> Iterator[str]:
    if target not in by_number:
        yield f"{at}: paso desconocido {target}"
    elif target == step.number:
        yield f"{at}: el paso {target} va a sí mismo"
    elif by_number[target].actor != step.actor:
        yield (
            f"{at}: el paso {target} es de {by_number[target].actor}, no de {step.actor}; "
            "para cambiar de actor, termine en un resultado con continues_at"
        )


def _windows(script: Script) -> Iterator[str]:
    """Time-window branches of one decision must cover the week exactly once."""
    for index, step in enumerate(script.steps):
        windows = [branch.window for branch in step.branches if branch.window is not None]
        if not windows:
            continue
        at = f"$.steps[{index}].branches"
        if len(windows) != len(step.branches):
            yield f"{at}: o todas las ramas de una decisión tienen window, o ninguna"
            continue
        cover = [0] * MINUTES_PER_WEEK
        for window in windows:
            start, end = window.bounds()
            if start == end:
                yield f"{at}: franja horaria vacía"
                continue
            minute = start
            while minute != end:
                cover[minute] += 1
                minute = (minute + 1) % MINUTES_PER_WEEK
        if any(count != 1 for count in cover):
            yield f"{at}: las franjas deben cubrir toda la semana exactamente una vez"


def _emails(script: Script) -> Iterator[str]:
    """An e-mail step's templates name only known fields."""
    for index, step in enumerate(script.steps):
        if step.email is not None:
            yield from action_problems(step.email, f"$.steps[{index}].email")


def _edges(step: Step) -> Iterator[tuple[int | None, str | None]]:
    """(step, outcome) targets leaving `step`."""
    yield step.next, step.outcome
    for branch in step.branches:
        yield branch.goto, branch.outcome


def _reachability(script: Script) -> Iterator[str]:
    by_number = {step.number: step for step in script.steps}
    resumes = {o.code: o.continues_at for o in script.outcomes if o.continues_at is not None}
    successors: dict[int, set[int]] = {number: set() for number in by_number}
    ends_here: set[int] = set()
    used_outcomes: set[str] = set()
    for step in script.steps:
        for goto, outcome in _edges(step):
            if goto is not None:
                successors[step.number].add(goto)
            if outcome is not None:
                ends_here.add(step.number)
                used_outcomes.add(outcome)
                if outcome in resumes:
                    successors[step.number].add(resumes[outcome])

    # Walks begin at `start` (the agent's part); a procedure whose first steps are
    # another role's (prepago: the supervisor's list, K 1-3) also begins there.
    roots = {script.start, script.steps[0].number} if script.steps else {script.start}
    seen = _closure(roots, successors)
    where = " o ".join(str(n) for n in sorted(roots))
    for index, step in enumerate(script.steps):
        if step.number not in seen:
            yield f"$.steps[{index}]: el paso {step.number} es inalcanzable desde el paso {where}"

    predecessors: dict[int, set[int]] = {number: set() for number in by_number}
    for number, targets in successors.items():
        for target in targets:
            predecessors[target].add(number)
    finishing = _closure(ends_here, predecessors)
    for index, step in enumerate(script.steps):
        if step.number in seen and step.number not in finishing:
            yield f"$.steps[{index}]: el paso {step.number} nunca llega a un resultado"

    for index, declared in enumerate(script.outcomes):
        if declared.code not in used_outcomes:
            yield f"$.outcomes[{index}]: el resultado «{declared.code}» nunca se alcanza"


def _closure(roots: set[int], edges: dict[int, set[int]]) -> set[int]:
    seen = set(roots)
    queue = deque(roots)
    while queue:
        for target in edges[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen
