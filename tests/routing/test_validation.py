"""Validation: every problem is reported with the path it is about, all at once."""

from __future__ import annotations

import pytest

from centralita.routing import RoutingConfigError, parse_routing
from tests.routing.conftest import BASE, SECOND


def errors_of(text: str) -> list[str]:
    with pytest.raises(RoutingConfigError) as info:
        parse_routing(text, "routing.toml")
    return info.value.errors


def rule(body: str) -> str:
    return BASE + "\n[[service.rule]]\n" + body


def test_base_is_valid() -> None:
    table = parse_routing(BASE + SECOND, "routing.toml")
    assert [s.key for s in table.services] == ["101", "104"]


def test_unknown_queue_names_the_path() -> None:
    text = BASE + SECOND.replace('queue = "q104"', 'queue = "q99"')
    assert "service[1].queue: cola desconocida «q99»" in errors_of(text)


def test_type_error_names_the_path() -> None:
    text = BASE.replace('script = "101"', 'script = "101"\nmeasured = "yes"')
    assert errors_of(text) == ["service[0].measured: se esperaba true o false, llegó un texto"]


def test_unknown_field_is_an_error() -> None:
    text = BASE.replace('script = "101"', 'script = "101"\nqeue = "q101"')
    assert errors_of(text) == ["service[0]: campo desconocido «qeue» (revise cómo está escrito)"]


def test_toml_syntax_error() -> None:
    [message] = errors_of("version = = 1")
    assert message == (
        "(archivo): no es TOML válido en la línea 1, columna 11 (Invalid value); corríjalo"
    )


def test_duplicate_numbers() -> None:
    text = BASE + SECOND.replace('numbers = ["104"]', 'numbers = ["104", "101"]')
    assert errors_of(text) == [
        "service[1].numbers[1]: número repetido «101» "
        "(ya está en service[0].numbers[0], servicio «101»)"
    ]


def test_duplicate_service_key_and_queue() -> None:
    text = BASE + SECOND.replace('key = "104"', 'key = "101"') + '\n[[queue]]\nname = "q101"\n'
    errors = errors_of(text)
    assert "service[1].key: clave de servicio repetida «101» (también en service[0])" in errors
    assert "queue[2].name: cola repetida «q101»" in errors


def test_queue_shared_by_two_services_and_unused_queue() -> None:
    text = BASE + SECOND.replace('queue = "q104"', 'queue = "q101"')
    errors = errors_of(text)
    assert any(
        e.startswith("queue[0]: la cola «q101» la usan los servicios «101», «104»; ")
        for e in errors
    )
    assert "queue[1]: ningún servicio usa la cola «q104»" in errors


def test_overlapping_rules() -> None:
    text = rule(
        'name = "a"\nwindows = [{ days = ["fri"], from = "12:00" }]\n'
        'destination = { kind = "announcement", announcement = "cerrado" }\n'
        '[[service.rule]]\nname = "b"\nwindows = [{ days = ["fri", "sat"], until = "13:00" }]\n'
        'destination = { kind = "announcement", announcement = "cerrado" }\n'
    )
    assert errors_of(text) == [
        "service[0].rule[1].windows: se superpone con la regla «a» "
        "(fri 00:00-13:00 y fri 12:00-24:00)"
    ]


def test_unreachable_rule() -> None:
    text = rule(
        'name = "fin-de-semana"\nwindows = [{ days = ["sat", "sun"] }]\n'
        'destination = { kind = "announcement", announcement = "cerrado" }\n'
        '[[service.rule]]\nname = "domingo"\nwindows = [{ days = ["sun"], from = "10:00" }]\n'
        'announcement = "cerrado"\n'
    )
    assert errors_of(text) == [
        "service[0].rule[1]: inalcanzable: cada franja de la regla «domingo» ya está cubierta "
        "por «fin-de-semana»"
    ]


def test_rules_of_other_scopes_may_overlap() -> None:
    text = BASE.replace('script = "101"', 'script = "101"\ntopics = ["damage"]') + (
        '[[service.rule]]\nname = "general"\nwindows = [{ days = ["sat"] }]\n'
        'announcement = "cerrado"\n'
        '[[service.rule]]\nname = "damage"\ntopic = "damage"\nwindows = [{ days = ["sat"] }]\n'
        'destination = { kind = "number", number = "2150" }\n'
        '[[service.rule]]\nname = "feriado"\nwindows = [{ days = ["holiday"] }]\n'
        'announcement = "cerrado"\n'
    )
    parse_routing(text, "routing.toml")


def test_overlapping_windows_inside_one_rule() -> None:
    text = rule(
        'name = "a"\nwindows = [{ days = ["mon"], until = "10:00" }, '
        '{ days = ["mon"], from = "09:00", until = "11:00" }]\nannouncement = "cerrado"\n'
    )
    assert errors_of(text) == [
        "service[0].rule[0].windows[1]: franjas superpuestas (mon 09:00-11:00 y mon 00:00-10:00)"
    ]


def test_malformed_and_empty_windows() -> None:
    text = rule(
        'name = "a"\nwindows = [{ days = ["mon"], from = "25:00" }, '
        '{ days = ["tue"], from = "22:00", until = "06:00" }, { days = [] }]\n'
        'announcement = "cerrado"\n'
    )
    errors = errors_of(text)
    assert "service[0].rule[0].windows[0].from: no es una hora HH:MM «25:00»" in errors
    assert any(
        e.startswith("service[0].rule[0].windows[1]: franja vacía 22:00-06:00") for e in errors
    )
    assert "service[0].rule[0].windows[2].days: necesita al menos un día" in errors


def test_bad_day_name() -> None:
    text = rule('name = "a"\nwindows = [{ days = ["friday"] }]\nannouncement = "cerrado"\n')
    [message] = errors_of(text)
    assert message == "service[0].rule[0].windows[0].days[0]: valor no admitido «friday»"


def test_holiday_window_without_holidays_is_unreachable() -> None:
    text = rule('name = "a"\nwindows = [{ days = ["holiday"] }]\nannouncement = "cerrado"\n')
    text = text.replace('[[holiday]]\ndate = 2026-08-06\nname = "Independencia"\n', "")
    assert errors_of(text) == [
        "service[0].rule[0]: inalcanzable: la regla «a» tiene una franja holiday "
        "pero el archivo no declara ningún [[holiday]]"
    ]


def test_rule_references_and_no_effect() -> None:
    text = rule(
        'name = "a"\ntopic = "damage"\nwindows = [{ days = ["mon"] }]\n'
        'destination = { kind = "queue", queue = "q7" }\nannouncement = "nope"\n'
        '[[service.rule]]\nname = "b"\nwindows = [{ days = ["tue"] }]\n'
    )
    errors = errors_of(text)
    assert "service[0].rule[0].destination.queue: cola desconocida «q7»" in errors
    assert "service[0].rule[0].announcement: anuncio desconocido «nope»" in errors
    assert any(e.startswith("service[0].rule[0].topic: tema desconocido «damage»") for e in errors)
    assert (
        "service[0].rule[1]: no cambia nada (indique destination, announcement o ivr_flow)"
        in errors
    )


def test_priority_segment_must_be_declared() -> None:
    text = BASE + "[service.priority]\nby_segment = { vip = 3, corporativo = 2 }\n"
    assert errors_of(text) == ["service[0].priority.by_segment: segmento desconocido «vip»"]


def test_many_errors_reported_together() -> None:
    text = BASE.replace("timezone", "tz").replace(
        "version = 1", 'version = 1\ntimezone = "Mars/Base"'
    ) + SECOND.replace('queue = "q104"', 'queue = "q99"').replace(
        'numbers = ["104"]', 'numbers = ["1-4"]'
    )
    errors = errors_of(text)
    assert "timezone: zona horaria desconocida «Mars/Base»" in errors
    assert "service[1].queue: cola desconocida «q99»" in errors
    assert "service[1].numbers[0]: no es un número marcable «1-4»" in errors


def test_outbound_service_needs_caller_id_and_inbound_needs_numbers() -> None:
    text = (
        BASE
        + SECOND.replace('numbers = ["104"]', 'direction = "outbound"')
        + ('[[service]]\nkey = "x"\nname = "X"\nqueue = "q104"\nscript = "x"\n')
    )
    errors = errors_of(text)
    assert (
        "service[1].caller_id: un servicio saliente necesita el número que presenta "
        "como llamante (caller id)" in errors
    )
    assert "service[2].numbers: un servicio entrante necesita al menos un número" in errors


def test_ami_permit_must_be_an_address_and_not_everyone() -> None:
    assert errors_of(BASE + '[pbx]\nami_permit = "0.0.0.0/0.0.0.0"\n') == [
        "pbx.ami_permit: no debe permitir todas las direcciones"
    ]
    assert errors_of(BASE + '[pbx]\nami_permit = "daemon"\n') == [
        "pbx.ami_permit: no es una dirección/máscara «daemon»"
    ]


def test_announcement_destination_with_extra_announcement() -> None:
    text = rule(
        'name = "a"\nwindows = [{ days = ["mon"] }]\n'
        'destination = { kind = "announcement", announcement = "cerrado" }\n'
        'announcement = "cerrado"\n'
    )
    assert errors_of(text) == ["service[0].rule[0].announcement: el destino ya es un anuncio"]


def test_every_problem_of_the_shipped_file_style_is_path_named() -> None:
    text = rule(
        'name = "a"\ntopic = "x"\nwindows = [{ days = ["mon"] }]\nannouncement = "cerrado"\n'
    )
    assert errors_of(text) == [
        "service[0].rule[0].topic: tema desconocido «x» (temas del servicio: ninguno)"
    ]
