"""msgspec's validation messages as Spanish reasons, the path kept apart.

msgspec says `Expected `str`, got `int` - at `$.service[3].queue``; an admin reads
`service[3].queue: se esperaba texto, llegó un número`. `split(message)` returns the
path (`$.service[3].queue`, or "" at the top level) and the Spanish reason; a message
this module does not know keeps msgspec's text inside a Spanish sentence, so nothing is
lost. Used by every TOML file decoded with msgspec (routing, scripts); `toml_reason`
does the same for tomllib's syntax errors, `read_reason` for a file that cannot be read.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable

_AT = re.compile(r"^(?P<msg>.*) - at `(?P<path>\$[^`]*)`$", re.DOTALL)
_TOML_AT = re.compile(
    r"(?P<msg>.*) \((?:at line (?P<line>\d+), column (?P<column>\d+)|at end of document)\)",
    re.DOTALL,
)

# What was expected ("se esperaba ...").
_EXPECTED = {
    "str": "texto",
    "int": "un número entero",
    "float": "un número",
    "bool": "true o false",
    "array": "una lista",
    "object": "una tabla",
    "date": "una fecha (AAAA-MM-DD)",
    "datetime": "una fecha y hora",
    "time": "una hora",
    "null": "nada",
}
# What came instead ("llegó ...").
_GOT = {
    "str": "un texto",
    "int": "un número",
    "float": "un número con decimales",
    "bool": "un valor lógico (true/false)",
    "array": "una lista",
    "object": "una tabla",
    "date": "una fecha",
    "datetime": "una fecha y hora",
    "time": "una hora",
    "null": "nada",
}
_UNIT = {"str": "caracteres", "array": "elementos", "object": "claves", "bytes": "bytes"}
_COMPARE = {
    ">=": "mayor o igual que",
    "<=": "menor o igual que",
    ">": "mayor que",
    "<": "menor que",
}
_LENGTH = {">=": "al menos", "<=": "como mucho"}
_OS_REASONS = {
    errno.ENOENT: "no existe",
    errno.EACCES: "sin permiso de lectura",
    errno.EISDIR: "es un directorio",
}
_INVALID_TEXT = {
    "date": "fecha no válida (se espera AAAA-MM-DD)",
    "datetime": "fecha y hora no válida (se espera AAAA-MM-DDTHH:MM:SS)",
    "time": "hora no válida (se espera HH:MM:SS)",
}


def split(message: str) -> tuple[str, str]:
    """`(path, Spanish reason)` of one msgspec validation message; path "" at the top."""
    match = _AT.match(message)
    if match is None:
        return "", reason(message)
    return match["path"], reason(match["msg"])


def reason(message: str) -> str:
    """The Spanish reason for msgspec's message (without its ` - at `$...`` part)."""
    for pattern, render in _RULES:
        match = pattern.fullmatch(message)
        if match is not None:
            return render(match)
    return f"valor no válido ({message})"


def read_reason(exc: OSError | UnicodeDecodeError) -> str:
    """Spanish reason for a file that cannot be read as UTF-8 text."""
    if isinstance(exc, UnicodeDecodeError):
        return f"no se puede leer (no es texto UTF-8: byte {exc.start + 1})"
    why = _OS_REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
    return f"no se puede leer ({why})"


def toml_reason(exc: Exception) -> str:
    """Spanish reason for a `tomllib.TOMLDecodeError`: where, and tomllib's own words."""
    text = str(exc)
    match = _TOML_AT.fullmatch(text)
    if match is None:
        return f"no es TOML válido ({text}); corríjalo"
    if match["line"] is None:
        where = "al final del archivo"
    else:
        where = f"en la línea {match['line']}, columna {match['column']}"
    return f"no es TOML válido {where} ({match['msg']}); corríjalo"


def _expected(types: str) -> str:
    names = [name.strip() for name in types.split("|")]
    if len(names) > 1:  # TOML has no null: an optional value is just absent
        names = [name for name in names if name != "null"] or names
    return " o ".join(_EXPECTED.get(name, f"`{name}`") for name in names)


def _got(name: str) -> str:
    return _GOT.get(name, f"`{name}`")


def _quoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return f"«{value}»"


def _count(kind: str, text: str) -> str:
    return f"{text} {_UNIT.get(kind, '')}".rstrip()


_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`"),
        lambda m: f"se esperaba {_expected(m['want'])}, llegó {_got(m['got'])}",
    ),
    (
        re.compile(r"Expected `(?P<want>[^`]+)`"),
        lambda m: f"se esperaba {_expected(m['want'])}",
    ),
    (
        re.compile(r"Object missing required field `(?P<field>[^`]+)`"),
        lambda m: f"falta el campo obligatorio «{m['field']}»",
    ),
    (
        re.compile(r"Object contains unknown field `(?P<field>[^`]+)`"),
        lambda m: f"campo desconocido «{m['field']}» (revise cómo está escrito)",
    ),
    (
        re.compile(r"Invalid (?:enum )?value (?P<value>.+)"),
        lambda m: f"valor no admitido {_quoted(m['value'])}",
    ),
    (
        re.compile(r"Invalid RFC3339 encoded (?P<kind>date|datetime|time)"),
        lambda m: _INVALID_TEXT[m["kind"]],
    ),
    (
        re.compile(r"Expected `(?P<want>[^`]+)` (?P<op>>=|<=|>|<) (?P<bound>\S+)"),
        lambda m: f"se esperaba {_expected(m['want'])} {_COMPARE[m['op']]} {m['bound']}",
    ),
    (
        re.compile(r"Expected `(?P<want>[^`]+)` of length (?P<op>>=|<=) (?P<n>\d+)"),
        lambda m: (
            f"se esperaba {_expected(m['want'])} de {_LENGTH[m['op']]} {_count(m['want'], m['n'])}"
        ),
    ),
    (
        re.compile(r"Expected `(?P<want>[^`]+)` of length (?P<n>\d+)(?:, got (?P<got>\d+))?"),
        lambda m: (
            f"se esperaba {_expected(m['want'])} de {_count(m['want'], m['n'])}"
            + (f", tiene {m['got']}" if m["got"] else "")
        ),
    ),
    (
        re.compile(
            r"Expected `(?P<want>[^`]+)` of length (?P<lo>\d+) to (?P<hi>\d+)"
            r"(?:, got (?P<got>\d+))?"
        ),
        lambda m: (
            f"se esperaba {_expected(m['want'])} de {m['lo']} a {_count(m['want'], m['hi'])}"
            + (f", tiene {m['got']}" if m["got"] else "")
        ),
    ),
    (
        re.compile(
            r"Expected `(?P<want>[^`]+)` of at (?P<side>least|most) length (?P<n>\d+)"
            r"(?:, got (?P<got>\d+))?"
        ),
        lambda m: (
            f"se esperaba {_expected(m['want'])} de "
            f"{'al menos' if m['side'] == 'least' else 'como mucho'} "
            f"{_count(m['want'], m['n'])}" + (f", tiene {m['got']}" if m["got"] else "")
        ),
    ),
    (
        re.compile(r"Expected `(?P<want>[^`]+)` matching regex (?P<regex>.+)"),
        lambda m: f"se esperaba {_expected(m['want'])} que cumpla la expresión {m['regex']}",
    ),
    (
        re.compile(r"Expected `(?P<want>[^`]+)` that's a multiple of (?P<n>\S+)"),
        lambda m: f"se esperaba {_expected(m['want'])} múltiplo de {m['n']}",
    ),
    (
        re.compile(r"Expected `(?P<want>[^`]+)` with (?P<no>no )?a? ?timezone component"),
        lambda m: (
            f"se esperaba {_expected(m['want'])} "
            + ("sin zona horaria" if m["no"] else "con zona horaria")
        ),
    ),
    (re.compile(r"Integer value out of range"), lambda m: "número entero fuera de rango"),
    (re.compile(r"Number out of range"), lambda m: "número fuera de rango"),
]
