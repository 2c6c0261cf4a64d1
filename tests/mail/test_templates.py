"""E-mail steps in the scripts' data: the model, the validator's refusals, the rendering."""

from __future__ import annotations

import pytest

from centralita.scripts import ScriptDecodeError, ScriptInvalidError, load_all, load_script, parse
from centralita.scripts.email import EMAIL_FIELDS, render

BASE = """
id = "4639999"
version = 1
service = "Telefonía Pública"
title = "4639999 TELEFONÍA PÚBLICA"
section = "J"
measured_by_att = true

[[steps]]
number = 1
text = "Envía correo"
outcome = "fin"

[steps.email]
to = {to}
subject = {subject}
body = {body}

[[outcomes]]
code = "fin"
label = "Fin"
"""


def script_text(
    *, to: str = '"encargado"', subject: str = '"Daño $llamante"', body: str = '"$nota"'
) -> str:
    return BASE.format(to=to, subject=subject, body=body)


def test_a_valid_email_step_is_accepted_and_rendered() -> None:
    text = script_text(body='"Cliente: ${cliente} ($contrato), costo $$5\\nNota: $nota"')
    script = parse(text, "x.toml")
    action = script.step(1).email
    assert action is not None and action.to == "encargado"
    subject, body = render(action, {"llamante": "70111222", "cliente": "Ana", "nota": "sin tono"})
    assert subject == "Daño 70111222"
    assert body == "Cliente: Ana (), costo $5\nNota: sin tono"


def test_an_unknown_field_is_refused_with_its_place_and_reason() -> None:
    with pytest.raises(ScriptInvalidError) as caught:
        parse(script_text(body='"Hola $nombre, ${clave}"'), "x.toml")
    problems = caught.value.problems
    assert problems[0].startswith(
        "x.toml: $.steps[0].email.body: campo desconocido $nombre; use uno"
    )
    assert problems[1].startswith("x.toml: $.steps[0].email.body: campo desconocido $clave")
    assert all("llamante" in p for p in problems)  # the allowed fields are named


def test_a_dollar_that_starts_no_field_is_refused() -> None:
    with pytest.raises(ScriptInvalidError) as caught:
        parse(script_text(subject='"Pago de $ 50"'), "x.toml")
    assert caught.value.problems == (
        "x.toml: $.steps[0].email.subject: el «$» del carácter 9 no inicia ningún campo; "
        "escriba $$ para un signo de dólar o ${nombre} para un campo",
    )


def test_attribute_or_index_access_is_not_a_field() -> None:
    # string.Template names are plain identifiers: "$nota.__class__" is the field nota
    # followed by text, never an attribute lookup.
    script = parse(script_text(body='"$nota.__class__ {0} {nota}"'), "x.toml")
    action = script.step(1).email
    assert action is not None
    assert render(action, {"nota": "n"})[1] == "n.__class__ {0} {nota}"


@pytest.mark.parametrize("to", ['"Jefatura Sector"', '"a@b"', '""'])
def test_a_bad_recipient_is_refused(to: str) -> None:
    with pytest.raises(ScriptDecodeError) as caught:
        parse(script_text(to=to), "x.toml")
    assert caught.value.path == "$.steps[0].email.to"


def test_line_breaks_in_a_field_never_reach_the_subject() -> None:
    script = parse(script_text(subject='"Cliente $cliente"'), "x.toml")
    action = script.step(1).email
    assert action is not None
    subject, _ = render(action, {"cliente": "Ana\r\nBcc: x@example.com"})
    assert subject == "Cliente Ana Bcc: x@example.com"


def test_shipped_email_steps_name_configured_recipients_never_addresses() -> None:
    found = {
        (script.id, step.number, step.email.to)
        for script in load_all().values()
        for step in script.steps
        if step.email is not None
    }
    assert found == {
        ("103", 15, "jefatura_sector"),
        ("4639999", 7, "encargado_telefonia_publica"),
    }


def test_shipped_templates_use_the_call_fields() -> None:
    action = load_script("4639999").step(7).email
    assert action is not None
    fields = {name: f"<{name}>" for name in EMAIL_FIELDS}
    subject, body = render(action, fields)
    assert "<llamante>" in subject
    for name in ("llamante", "cliente", "contrato", "nota", "fecha", "hora", "servicio"):
        assert f"<{name}>" in body
