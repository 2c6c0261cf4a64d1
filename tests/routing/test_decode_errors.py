"""msgspec's and tomllib's English messages become Spanish reasons; the path is kept."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import pytest

from centralita.routing import decode_errors
from centralita.routing.exceptions import RoutingConfigError
from centralita.routing.loader import load_routing, parse_routing


class _Inner(msgspec.Struct, forbid_unknown_fields=True):
    code: str


class _Sample(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1
    share: float = 0.0
    day: Literal["mon", "tue"] = "mon"
    when: dt.date | None = None
    items: list[str] = []
    pair: tuple[int, int] = (0, 0)
    label: Annotated[str, msgspec.Meta(min_length=2)] = "ok"
    inner: _Inner | None = None


def _message(raw: object) -> str:
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert(raw, _Sample)
    return str(info.value)


@pytest.mark.parametrize(
    ("raw", "path", "reason"),
    [
        ({"name": 3}, "$.name", "se esperaba texto, llegó un número"),
        ({"port": "x"}, "$.port", "se esperaba un número entero, llegó un texto"),
        ({"port": 1.5}, "$.port", "se esperaba un número entero, llegó un número con decimales"),
        ({"port": 0}, "$.port", "se esperaba un número entero mayor o igual que 1"),
        ({"port": 70000}, "$.port", "se esperaba un número entero menor o igual que 65535"),
        ({"share": True}, "$.share", "se esperaba un número, llegó un valor lógico (true/false)"),
        ({"day": "friday"}, "$.day", "valor no admitido «friday»"),
        ({"when": 3}, "$.when", "se esperaba una fecha (AAAA-MM-DD), llegó un número"),
        ({"items": "a"}, "$.items", "se esperaba una lista, llegó un texto"),
        ({"items": [{}]}, "$.items[0]", "se esperaba texto, llegó una tabla"),
        ({"pair": [1]}, "$.pair", "se esperaba una lista de 2 elementos, tiene 1"),
        ({"label": "a"}, "$.label", "se esperaba texto de al menos 2 caracteres"),
        ({"inner": {}}, "$.inner", "falta el campo obligatorio «code»"),
        (
            {"inner": {"code": "a", "cod": "b"}},
            "$.inner",
            "campo desconocido «cod» (revise cómo está escrito)",
        ),
        ([], "", "se esperaba una tabla, llegó una lista"),
    ],
)
def test_msgspec_messages_become_spanish(raw: object, path: str, reason: str) -> None:
    assert decode_errors.split(_message(raw)) == (path, reason)


def test_an_unknown_message_keeps_msgspec_words_inside_a_spanish_sentence() -> None:
    assert decode_errors.reason("Something new") == "valor no válido (Something new)"


def test_toml_syntax_error_says_where() -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as info:
        tomllib.loads("a = 1\nb = = 2\n")
    assert decode_errors.toml_reason(info.value) == (
        "no es TOML válido en la línea 2, columna 5 (Invalid value); corríjalo"
    )


def test_routing_type_error_keeps_the_file_path() -> None:
    with pytest.raises(RoutingConfigError) as info:
        parse_routing('version = 1\n[[service]]\nkey = 101\nname = "x"\n', "routing.toml")
    assert info.value.errors == ["service[0].key: se esperaba texto, llegó un número"]


def test_routing_top_level_problem_names_the_file() -> None:
    with pytest.raises(RoutingConfigError) as info:
        parse_routing("", "routing.toml")
    assert info.value.errors == ["(archivo): falta el campo obligatorio «version»"]


def test_unreadable_routing_file(tmp_path: Path) -> None:
    latin1 = tmp_path / "routing.toml"
    latin1.write_bytes("# Telefonía\n".encode("latin-1"))
    with pytest.raises(RoutingConfigError) as info:
        load_routing(latin1)
    assert info.value.errors == ["(archivo): no se puede leer (no es texto UTF-8: byte 10)"]
    with pytest.raises(RoutingConfigError) as info:
        load_routing(tmp_path)
    assert info.value.errors == ["(archivo): no se puede leer (es un directorio)"]
