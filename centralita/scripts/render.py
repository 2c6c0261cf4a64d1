"""A script as readable Spanish text (for `centralita scripts show` and printouts)."""

from __future__ import annotations

from centralita.scripts.model import Script, Step

_ACTORS = {"agente": "AGENTE CENTRO DE LLAMADAS", "supervisora": "SUPERVISORA CENTRO DE LLAMADAS"}
_DAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")


def render(script: Script) -> str:
    """The whole script, step by step, then its outcomes."""
    measured = "medido por la ATT" if script.measured_by_att else "no medido"
    lines = [
        f"{script.section}) {script.title}",
        f"Servicio {script.id}: {script.service} ({measured})",
        f"Procedimiento {script.source}, guion versión {script.version}",
    ]
    actor: str | None = None
    for step in script.steps:
        if step.actor != actor:
            actor = step.actor
            lines += ["", _ACTORS[actor], ""]
        lines += _step(script, step)
    lines += ["", "RESULTADOS"]
    for outcome in script.outcomes:
        extra = ""
        if outcome.procedure is not None:
            extra += f"; continúa con procedimiento {outcome.procedure}"
        if outcome.continues_at is not None:
            step = script.step(outcome.continues_at)
            extra += f"; sigue {step.actor} en paso {step.label}"
        lines.append(f"  [{outcome.code}] {outcome.label}{extra}")
    return "\n".join(lines) + "\n"


def _step(script: Script, step: Step) -> list[str]:
    lines = [f"{step.label}. {step.text}"]
    lines += [f"   {sub.ref}. {sub.text}" for sub in step.substeps]
    lines += [f"   Pregunta: {question}" for question in step.questions]
    for system in step.systems:
        detail = f" ({system.detail})" if system.detail else ""
        lines.append(f"   Sistema: {system.name}{detail}")
    lines += [f"   Deriva: {handoff.text}" for handoff in step.handoffs]
    if step.email is not None:
        lines.append(f"   Correo a {step.email.to}: {step.email.subject}")
    if step.next is not None:
        lines.append(f"   → continúa con paso {script.step(step.next).label}")
    if step.outcome is not None:
        lines.append(f"   → concluye: [{step.outcome}]")
    for branch in step.branches:
        if branch.goto is not None:
            target = f"paso {script.step(branch.goto).label}"
        else:
            target = f"concluye: [{branch.outcome}]"
        window = ""
        if branch.window is not None:
            w = branch.window
            window = (
                f" [{_DAYS[w.start_day - 1]} {w.start_time} a {_DAYS[w.end_day - 1]} {w.end_time}]"
            )
        lines.append(f"   • {branch.condition}{window} → {target}")
    if step.note:
        lines.append(f"   Nota: {step.note}")
    lines += [f"   Nota: {branch.note}" for branch in step.branches if branch.note]
    return lines
