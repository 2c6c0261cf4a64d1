"""E-mail steps: the fields a template may use, their checks, and the rendering.

A step's ``email`` (`centralita.scripts.model.EmailAction`) has a subject and a body
written as `string.Template` texts (``$cliente``, ``${contrato}``, ``$$`` for a dollar
sign). Only the fields of `EMAIL_FIELDS` exist: the validator refuses any other name
(with its place in the file), and rendering substitutes from a dict holding exactly
those fields, so a template can never reach anything else of the program.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from typing import Final

from centralita.scripts.model import EmailAction, Script

EMAIL_FIELDS: Final[Mapping[str, str]] = {
    "llamante": "número del que llama",
    "cliente": "nombre del cliente",
    "contrato": "contrato del cliente",
    "nota": "nota del agente",
    "fecha": "fecha de la interacción (dd/mm/aaaa, hora de Bolivia)",
    "hora": "hora de la interacción (HH:MM, hora de Bolivia)",
    "servicio": "número del servicio (101, 4639999...)",
    "servicio_nombre": "nombre del servicio",
    "agente": "agente que registró la interacción",
    "resultado": "resultado registrado",
    "llamada": "identificador de la llamada (Uniqueid)",
}
"""Every field a subject or body may name, with what it holds (Spanish, for the docs)."""

_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x00-\x1f\x7f\u2028\u2029]+")


def template_problems(text: str, at: str) -> Iterator[str]:
    """Problems of one template text, as ``path: message`` lines."""
    template = string.Template(text)
    for match in template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if match.group("invalid") is not None:
            column = match.start()
            yield (
                f"{at}: el «$» del carácter {column + 1} no inicia ningún campo; "
                "escriba $$ para un signo de dólar o ${nombre} para un campo"
            )
        elif name is not None and name not in EMAIL_FIELDS:
            yield f"{at}: campo desconocido ${name}; use uno de {', '.join(EMAIL_FIELDS)}"


def action_problems(action: EmailAction, at: str) -> Iterator[str]:
    """Problems of a step's ``email`` (its subject and body templates)."""
    yield from template_problems(action.subject, f"{at}.subject")
    yield from template_problems(action.body, f"{at}.body")


def render(action: EmailAction, fields: Mapping[str, str]) -> tuple[str, str]:
    """The subject and body of `action` with `fields` substituted.

    Only names of `EMAIL_FIELDS` are looked up (missing ones are empty); line breaks and
    control characters in a value become one space in the subject (a header).
    """
    values = {name: str(fields.get(name, "")) for name in EMAIL_FIELDS}
    subject_values = {name: _LINE_BREAKS.sub(" ", value) for name, value in values.items()}
    subject = string.Template(action.subject).substitute(subject_values)
    body = string.Template(action.body).substitute(values)
    return _LINE_BREAKS.sub(" ", subject).strip(), body


def email_steps(
    script: Script, steps: tuple[int, ...] | list[int]
) -> list[tuple[int, EmailAction]]:
    """The e-mail actions of the visited `steps`, in order, each step once."""
    seen: set[int] = set()
    found: list[tuple[int, EmailAction]] = []
    for number in steps:
        if number in seen or not script.has_step(number):
            continue
        seen.add(number)
        action = script.step(number).email
        if action is not None:
            found.append((number, action))
    return found
