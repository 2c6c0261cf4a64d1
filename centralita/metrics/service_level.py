"""The ATT indicator: counting rules, per-group counts and the monthly report (pure).

``SL% = answered within the threshold / registered calls × 100`` (procedure, section III).
Registered calls = answered + the not-answered calls the rules count. Every choice is a
field of :class:`CountingRules` and is printed in each export's legend
(:func:`legend_lines`); nothing is decided silently. No I/O here: the database layer
(``metrics.queries``) hands over :class:`Bucket` rows (counts per group and hour) and this
module folds them into months, days and hours.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Final, Literal, Protocol

from centralita.metrics.exceptions import RulesError
from centralita.metrics.periods import Period

WaitBasis = Literal["asterisk", "exact"]
GroupBy = Literal["service", "queue"]

MEASURED_SERVICES: Final[tuple[str, ...]] = ("101", "104", "800131313", "4639999")
"""Services the regulator measures per the procedure: only the default of
:class:`CountingRules` where no routing file is given (pure tests). Every command, the
wallboard and the exports take ``measured`` from routing.toml (``metrics.service_config``);
a test keeps this tuple equal to the shipped routing file's."""

SERVICE_NAMES: Final[dict[str, str]] = {
    "101": "Reclamos Técnicos",
    "102": "Información Facturación",
    "103": "Información Instalaciones",
    "104": "Información de Números Telefónicos",
    "4200224": "Guía Comercial",
    "4251000": "Central Telefónica COMTECO R.L.",
    "4522222": "Información TV Paga y Go On TV",
    "800131313": "Boliviatel",
    "800130001": "MIO y Venta Shopper",
    "4639999": "Telefonía Pública",
    "prepago": "Clientes Prepago (recordatorio de vencimiento)",
}
"""Built-in Spanish names, used when no routing file is available."""

ALL_KEY: Final = "ALL"
TOTAL_LABEL: Final = "TOTAL"
"""The total row's name in every export (JSON, CSV, table, XLSX, PDF); ``ALL`` is only
the internal key."""


def display_key(key: str) -> str:
    """A line's key as every export prints it (the total is ``TOTAL``)."""
    return TOTAL_LABEL if key == ALL_KEY else key


# Outcome values of the call records (ami_listener.records.OUTCOMES).
ABANDONED: Final = "abandoned"
TIMEOUT: Final = "timeout"
EXIT_EMPTY: Final = "exit-empty"
EXIT_WITH_KEY: Final = "exit-with-key"
CUT: Final = "cut"
"""The caller was waiting when the PBX crashed or restarted (the channel vanished)."""
UNKNOWN: Final = "unknown"
"""The caller left the queue while the AMI connection was down and nothing said how."""

CUT_LABEL: Final = "Cortadas por caída de la central"
UNKNOWN_LABEL: Final = "Resultado desconocido (corte de la conexión AMI)"
DERIVED_LABEL: Final = "Desviadas por el IVR fuera de la cola"


@dataclass(frozen=True, kw_only=True)
class CountingRules:
    """Every counting choice of the indicator, with the procedure's defaults.

    Attributes:
        threshold_s: answered within the threshold means wait <= threshold (inclusive).
        target_percent: the regulator's floor.
        wait_basis: ``"asterisk"`` counts the wait in whole seconds as Asterisk does
            (queue_log CONNECT holdtime; comparable with Asternic-style tools);
            ``"exact"`` uses the millisecond wait from the AMI timestamps.
        short_abandon_s: abandons with a wait strictly below this many seconds are left
            out of the denominator; 0 (default) keeps every abandon, as the formula says.
        count_timeouts: queue timeouts count as registered, not answered calls.
        count_exit_with_key: callers who left the queue by pressing a key count.
        count_exit_empty: callers put out of an empty queue count.
        count_ivr_hangups: callers who hung up in the IVR before reaching a queue count
            (the procedure's literal reading); default off, shown on their own line.
        count_ivr_derived: calls of a service that the IVR sent anywhere but a queue (an
            extension, an announcement, a voicemail) count as registered, not answered
            calls (default: the caller called the service and no agent of it answered);
            off, they are left out. Either way they are shown on their own line.
        count_cut: callers who were waiting when the PBX crashed or restarted (outcome
            ``cut``) count as registered, not answered calls (the formula's literal
            reading, default); off, they are left out of the denominator. Either way they
            are shown on their own line.
        measured: the services the regulator measures (routing.toml's ``measured``), in
            the order the reports list them.
        config_source: which configuration set ``measured``, the threshold and the
            target (the routing file and its SHA-256), printed in every legend; empty:
            the built-in defaults.

    Calls whose outcome is ``unknown`` (they left the queue while the AMI connection was
    down) always count as registered and not answered within the threshold: the
    conservative reading, until healing from queue_log replaces the outcome. A call whose
    wait is unknown (NULL) is never put within the threshold, nor excluded as a short
    abandon, by a guessed wait.
    """

    threshold_s: int = 20
    target_percent: float = 80.0
    wait_basis: WaitBasis = "asterisk"
    short_abandon_s: int = 0
    count_timeouts: bool = True
    count_exit_with_key: bool = True
    count_exit_empty: bool = True
    count_ivr_hangups: bool = False
    count_ivr_derived: bool = True
    count_cut: bool = True
    measured: tuple[str, ...] = MEASURED_SERVICES
    config_source: str = ""

    def __post_init__(self) -> None:
        if self.threshold_s < 0:
            raise RulesError("el umbral no puede ser negativo")
        if not 0 <= self.target_percent <= 100:
            raise RulesError("la meta debe estar entre 0 y 100 %")
        if self.short_abandon_s < 0:
            raise RulesError("el umbral de abandono corto no puede ser negativo")
        if self.wait_basis not in ("asterisk", "exact"):
            raise RulesError(f"base de espera desconocida: {self.wait_basis!r}")

    def with_changes(self, **changes: object) -> CountingRules:
        """A copy with some rules changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """The rules as plain values (JSON, CSV metadata)."""
        return {
            f.name: list(value) if isinstance(value := getattr(self, f.name), tuple) else value
            for f in fields(self)
        }


def _yes(flag: bool) -> str:
    return "sí" if flag else "no"


def legend_lines(rules: CountingRules) -> list[tuple[str, str]]:
    """The formula and every counting rule in force, as (rule, value) in Spanish."""
    basis = (
        "segundos enteros como los cuenta Asterisk (tiempo de espera de CONNECT en "
        "queue_log; comparable con Asternic)"
        if rules.wait_basis == "asterisk"
        else "milisegundos, desde las marcas de tiempo de AMI"
    )
    short = (
        f"sí: se excluyen los abandonos con espera menor a {rules.short_abandon_s} s"
        if rules.short_abandon_s > 0
        else "no: se cuentan todos los abandonos"
    )
    return [
        (
            "Fórmula",
            f"% = llamadas atendidas dentro de {rules.threshold_s} s / total de llamadas "
            "registradas × 100",
        ),
        (
            "Llamadas registradas",
            "atendidas + abandonadas + las demás no atendidas que cuentan según estas reglas",
        ),
        (
            "Umbral",
            f"{rules.threshold_s} s inclusive (una espera de exactamente "
            f"{rules.threshold_s} s cuenta como dentro)",
        ),
        ("Meta", f"{rules.target_percent:g} %"),
        ("Base del tiempo de espera", basis),
        (
            "Inicio de la espera",
            "desde el ingreso a la primera cola; si la llamada pasa a otra cola (desborde) "
            "sigue siendo una sola llamada y su espera se suma",
        ),
        ("Exclusión de abandonos cortos", short),
        ("Tiempo de espera agotado cuenta como no atendida", _yes(rules.count_timeouts)),
        ("Salida con tecla cuenta como no atendida", _yes(rules.count_exit_with_key)),
        ("Salida por cola vacía cuenta como no atendida", _yes(rules.count_exit_empty)),
        (
            "Colgadas en el IVR antes de la cola cuentan",
            _yes(rules.count_ivr_hangups) + " (siempre se muestran en su propia línea)",
        ),
        (
            f"{DERIVED_LABEL} cuentan como no atendidas",
            _yes(rules.count_ivr_derived)
            + " (llamadas de un servicio que el IVR envió a un interno, un anuncio o un "
            "buzón en vez de a la cola; siempre se muestran en su propia columna, nunca se "
            "descartan en silencio)",
        ),
        (
            f"{CUT_LABEL} cuentan como no atendidas",
            _yes(rules.count_cut)
            + " (llamantes que esperaban en cola cuando la central se cayó o se reinició; "
            "siempre se muestran en su propia columna)",
        ),
        (
            UNKNOWN_LABEL,
            "cuentan siempre en el total de registradas como no atendidas dentro del "
            "umbral (criterio conservador), salvo que queue_log las haya sanado con el "
            "resultado real; siempre se muestran en su propia columna",
        ),
        (
            "Espera desconocida",
            "la espera que no se pudo conocer nunca se reemplaza por un valor supuesto: "
            "una llamada atendida con espera desconocida no cuenta como atendida dentro del "
            "umbral (ni entra en el tiempo medio de respuesta), y un abandono con espera "
            "desconocida nunca se excluye como abandono corto",
        ),
        (
            "Período",
            "mes calendario en hora de Bolivia (America/La_Paz); la llamada pertenece al mes "
            "en que ingresó a la cola",
        ),
        (
            "Servicios medidos",
            (", ".join(rules.measured) or "ninguno") + "; los demás se informan como «no medidos»",
        ),
        (
            "Configuración",
            rules.config_source
            or "valores integrados (procedimiento), sin archivo de enrutamiento",
        ),
    ]


RESYNC_TEXT: Final = (
    "tras cada reconexión con la central (AMI) centralita pide el estado de las colas y "
    "de los canales y rehace las llamadas en curso con el reloj de la central; lo que no "
    "pudo observar queda marcado como estimado o desconocido, nunca se supone"
)
HEALING_TEXT: Final = (
    "el queue_log de Asterisk, el registro propio de la central, completa las llamadas "
    "que AMI no vio (por ejemplo, iniciadas y terminadas durante un corte) y reemplaza "
    "los valores marcados por los de la central; una llamada nunca se cuenta dos veces "
    "(misma Uniqueid)"
)


class ProvenanceCounts(Protocol):
    """How a period's records were made (``metrics.heal.Provenance`` has this shape)."""

    @property
    def measured(self) -> int:
        """Every value observed in AMI events."""

    @property
    def estimated(self) -> int:
        """Some value still estimated or unknown (resync after an outage)."""

    @property
    def healed(self) -> int:
        """Estimated values all replaced by queue_log's."""

    @property
    def queue_log(self) -> int:
        """Filled from queue_log (the AMI path never saw the call)."""


def data_legend_lines(
    rules: CountingRules,
    totals: Counts,
    *,
    source: str = "ami",
    provenance: ProvenanceCounts | None = None,
) -> list[tuple[str, str]]:
    """The legend lines that depend on the period's data: cut and unknown calls, and
    how the records were made (resync, healing from queue_log)."""
    cut_rule = (
        "cuentan como no atendidas en el total de registradas"
        if rules.count_cut
        else "no cuentan en el total de registradas (figuran en «No contadas»)"
    )
    lines = [
        (f"{CUT_LABEL} en el período", f"{totals.cut}: {cut_rule}"),
        (
            f"{UNKNOWN_LABEL} en el período",
            f"{totals.unknown}: cuentan como no atendidas dentro del umbral",
        ),
    ]
    if totals.answered_wait_unknown:
        lines.append(
            (
                "Atendidas con espera desconocida en el período",
                f"{totals.answered_wait_unknown}: no entran en el tiempo medio de respuesta",
            )
        )
    if source != "ami":
        lines.append(
            (
                "Procedencia de los registros",
                "queue_log importado tal cual (sin resincronización ni sanado)",
            )
        )
        return lines
    if provenance is not None:
        total = (
            provenance.measured + provenance.estimated + provenance.healed + provenance.queue_log
        )
        lines.append(
            (
                "Procedencia de los registros",
                f"{total} llamadas: {provenance.measured} medidas en los eventos AMI, "
                f"{provenance.queue_log} completadas desde queue_log (sanado), "
                f"{provenance.healed} corregidas desde queue_log tras una resincronización, "
                f"{provenance.estimated} con valores resincronizados estimados o "
                "desconocidos",
            )
        )
    lines += [("Resincronización", RESYNC_TEXT), ("Sanado desde queue_log", HEALING_TEXT)]
    return lines


def report_legend(report: Report) -> list[tuple[str, str]]:
    """Everything a report's legend says: the rules in force and the period's data."""
    return legend_lines(report.rules) + data_legend_lines(
        report.rules, report.total.counts, source=report.source, provenance=report.provenance
    )


@dataclass(kw_only=True)
class Counts:
    """Raw counts of one group (service or queue) in one bucket; additive."""

    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    abandoned_short: int = 0
    timeout: int = 0
    exit_empty: int = 0
    exit_with_key: int = 0
    cut: int = 0
    unknown: int = 0
    other: int = 0
    ivr_hangups: int = 0
    ivr_derived: int = 0
    """Calls the IVR sent outside the queues (an extension, an announcement)."""
    answered_wait_ms: int = 0
    answered_wait_unknown: int = 0
    """Answered calls whose exact wait is unknown (NULL): left out of the ASA."""

    def add(self, other: Counts) -> None:
        """Add another group's counts into this one."""
        for name, value in zip(COUNT_FIELDS, other.values(), strict=True):
            setattr(self, name, getattr(self, name) + value)

    def values(self) -> tuple[int, ...]:
        """The counts in :data:`COUNT_FIELDS` order."""
        values: tuple[int, ...] = _count_values(self)
        return values

    @classmethod
    def from_values(cls, values: Sequence[int]) -> Counts:
        """Counts from values in :data:`COUNT_FIELDS` order."""
        return cls(**dict(zip(COUNT_FIELDS, values, strict=True)))

    def copy(self) -> Counts:
        """An independent copy."""
        return replace(self)

    @property
    def entered(self) -> int:
        """Every call that reached a queue, whatever the rules."""
        return (
            self.answered
            + self.abandoned
            + self.timeout
            + self.exit_empty
            + self.exit_with_key
            + self.cut
            + self.unknown
            + self.other
        )


COUNT_FIELDS: Final[tuple[str, ...]] = tuple(f.name for f in fields(Counts))
"""The fields of :class:`Counts`, in the order of :meth:`Counts.values`."""
_count_values = operator.attrgetter(*COUNT_FIELDS)


@dataclass(frozen=True)
class Indicator:
    """The indicator of one group under a set of rules (derived from :class:`Counts`)."""

    counts: Counts
    rules: CountingRules

    @property
    def short_excluded(self) -> int:
        """Abandons left out by the short-abandon rule."""
        return self.counts.abandoned_short if self.rules.short_abandon_s > 0 else 0

    @property
    def abandoned_counted(self) -> int:
        """Abandons in the denominator."""
        return self.counts.abandoned - self.short_excluded

    @property
    def not_answered(self) -> int:
        """Registered calls that were not answered."""
        c, r = self.counts, self.rules
        return (
            self.abandoned_counted
            + c.other
            + c.unknown
            + (c.cut if r.count_cut else 0)
            + (c.timeout if r.count_timeouts else 0)
            + (c.exit_empty if r.count_exit_empty else 0)
            + (c.exit_with_key if r.count_exit_with_key else 0)
            + (c.ivr_hangups if r.count_ivr_hangups else 0)
            + (c.ivr_derived if r.count_ivr_derived else 0)
        )

    @property
    def not_counted(self) -> int:
        """Calls that reached the PBX but are outside the denominator by a rule."""
        c, r = self.counts, self.rules
        return (
            self.short_excluded
            + (0 if r.count_timeouts else c.timeout)
            + (0 if r.count_exit_empty else c.exit_empty)
            + (0 if r.count_exit_with_key else c.exit_with_key)
            + (0 if r.count_ivr_hangups else c.ivr_hangups)
            + (0 if r.count_ivr_derived else c.ivr_derived)
            + (0 if r.count_cut else c.cut)
        )

    @property
    def received(self) -> int:
        """Registered calls: the denominator."""
        return self.counts.answered + self.not_answered

    @property
    def sl_percent(self) -> float | None:
        """Answered within the threshold / registered × 100, or None without calls."""
        if self.received == 0:
            return None
        return self.counts.answered_within * 100.0 / self.received

    @property
    def meets(self) -> bool | None:
        """True when the target is reached; None without calls."""
        sl = self.sl_percent
        return None if sl is None else sl >= self.rules.target_percent

    @property
    def asa_s(self) -> float | None:
        """Average speed of answer (exact wait of the answered calls whose wait is
        known), seconds."""
        known = self.counts.answered - self.counts.answered_wait_unknown
        if known <= 0:
            return None
        return self.counts.answered_wait_ms / known / 1000.0

    @property
    def abandon_percent(self) -> float | None:
        """Callers who hung up in the queue / calls that entered a queue × 100."""
        if self.counts.entered == 0:
            return None
        return self.counts.abandoned * 100.0 / self.counts.entered


def classify(
    *,
    answered: bool,
    outcome: str,
    wait_asterisk_s: int | None,
    wait_ms: int | None,
    rules: CountingRules,
) -> Counts:
    """The counts contributed by one call (the reference the SQL aggregation follows)."""
    wait_s = wait_of(wait_asterisk_s, wait_ms, rules)
    if answered:
        within = wait_s is not None and within_threshold(wait_s, rules)
        return Counts(
            answered=1,
            answered_within=int(within),
            answered_wait_ms=wait_ms or 0,
            answered_wait_unknown=int(wait_ms is None),
        )
    if outcome == ABANDONED:
        short = rules.short_abandon_s > 0 and wait_s is not None and wait_s < rules.short_abandon_s
        return Counts(abandoned=1, abandoned_short=int(short))
    if outcome == TIMEOUT:
        return Counts(timeout=1)
    if outcome == EXIT_EMPTY:
        return Counts(exit_empty=1)
    if outcome == EXIT_WITH_KEY:
        return Counts(exit_with_key=1)
    if outcome == CUT:
        return Counts(cut=1)
    if outcome == UNKNOWN:
        return Counts(unknown=1)
    return Counts(other=1)


def wait_of(wait_asterisk_s: int | None, wait_ms: int | None, rules: CountingRules) -> float | None:
    """The wait in seconds on the rules' basis."""
    if rules.wait_basis == "exact" or wait_asterisk_s is None:
        return None if wait_ms is None else wait_ms / 1000.0
    return float(wait_asterisk_s)


def within_threshold(wait_s: float, rules: CountingRules) -> bool:
    """Wait <= threshold (inclusive); exact basis compares whole milliseconds."""
    if rules.wait_basis == "exact":
        return round(wait_s * 1000) <= rules.threshold_s * 1000
    return wait_s <= rules.threshold_s


# ------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class Bucket:
    """Counts of one group in one hour of the period (what the SQL layer returns)."""

    key: str
    hour_index: int
    counts: Counts


@dataclass(frozen=True)
class Line:
    """One line of the report: a group's counts for the whole period."""

    key: str
    name: str
    measured: bool
    counts: Counts
    rules: CountingRules

    @property
    def indicator(self) -> Indicator:
        """The indicator of this line."""
        return Indicator(self.counts, self.rules)


@dataclass
class Report:
    """Everything one export needs: lines, totals, daily and hourly breakdowns."""

    period: Period
    rules: CountingRules
    group_by: GroupBy
    lines: list[Line]
    total: Line
    measured_total: Line
    daily: dict[str, dict[date, Counts]]
    hourly: dict[str, dict[int, Counts]]
    generated_at: datetime
    software_version: str
    source: str = "ami"
    provenance: ProvenanceCounts | None = None
    meta: dict[str, str] = field(default_factory=dict)

    def line(self, key: str) -> Line:
        """The line of one group (``ALL`` for the total)."""
        if key == ALL_KEY:
            return self.total
        for line in self.lines:
            if line.key == key:
                return line
        raise KeyError(key)

    @property
    def measured_lines(self) -> list[Line]:
        """Lines of the measured groups."""
        return [line for line in self.lines if line.measured]


def service_of_queue(queue: str) -> str:
    """Default service of a queue name: ``q101`` → ``101``, ``q101b`` → ``101``."""
    name = queue[1:] if queue.startswith("q") else queue
    digits = ""
    for char in name:
        if not char.isdigit():
            break
        digits += char
    return digits or queue


def _sum(vectors: Iterable[Sequence[int]]) -> tuple[int, ...]:
    """Element-wise sum of count vectors (column sums run in C)."""
    return tuple(map(sum, zip(*vectors, strict=True)))


def _fold(
    period: Period, buckets: Iterable[Bucket]
) -> tuple[dict[str, Counts], dict[str, dict[date, Counts]], dict[str, dict[int, Counts]]]:
    """Totals, daily and hour-of-day counts per group and for ``ALL``.

    Works on plain integer vectors grouped by (group, hour index) and maps each distinct
    hour index to its local (date, hour) once: a month of 1M calls is ~7,000 buckets, and
    adding dataclasses field by field for each of them took a third of a second.
    """
    per_hour: dict[str, dict[int, list[tuple[int, ...]]]] = {}
    all_hours: dict[int, list[tuple[int, ...]]] = {}
    for bucket in buckets:
        values = bucket.counts.values()
        per_hour.setdefault(bucket.key, {}).setdefault(bucket.hour_index, []).append(values)
        all_hours.setdefault(bucket.hour_index, []).append(values)
    if all_hours:
        per_hour[ALL_KEY] = all_hours
    local = {index: period.local_hour(index) for index in all_hours}
    totals: dict[str, Counts] = {}
    daily: dict[str, dict[date, Counts]] = {}
    hourly: dict[str, dict[int, Counts]] = {}
    for key, hours in per_hour.items():
        days: dict[date, list[tuple[int, ...]]] = {}
        of_day: dict[int, list[tuple[int, ...]]] = {}
        for index, vectors in hours.items():
            vector = vectors[0] if len(vectors) == 1 else _sum(vectors)
            day, hour = local[index]
            days.setdefault(day, []).append(vector)
            of_day.setdefault(hour, []).append(vector)
        day_sums = {d: _sum(v) for d, v in days.items()}
        totals[key] = Counts.from_values(_sum(day_sums.values()))
        daily[key] = {d: Counts.from_values(v) for d, v in day_sums.items()}
        hourly[key] = {h: Counts.from_values(_sum(v)) for h, v in of_day.items()}
    return totals, daily, hourly


def build_report(
    *,
    period: Period,
    rules: CountingRules,
    buckets: Iterable[Bucket],
    group_by: GroupBy = "service",
    names: Mapping[str, str] | None = None,
    measured: Iterable[str] | None = None,
    generated_at: datetime,
    software_version: str,
    source: str = "ami",
    provenance: ProvenanceCounts | None = None,
) -> Report:
    """Fold hourly buckets into the period's lines, daily and hourly breakdowns.

    ``measured`` defaults to the rules' (routing.toml's) measured services."""
    names = dict(SERVICE_NAMES if names is None else names)
    order = tuple(rules.measured if measured is None else measured)
    measured_set = set(order)
    totals, daily, hourly = _fold(period, buckets)

    def is_measured(key: str) -> bool:
        return (service_of_queue(key) if group_by == "queue" else key) in measured_set

    def name_of(key: str) -> str:
        if group_by == "queue":
            service = service_of_queue(key)
            return f"Cola {key}" + (f" ({names[service]})" if service in names else "")
        return names.get(key, key)

    keys = [k for k in totals if k != ALL_KEY]
    if group_by == "service":
        keys += [k for k in order if k not in totals]
    keys.sort(key=lambda k: (not is_measured(k), _natural(k, order)))
    lines = [Line(k, name_of(k), is_measured(k), totals.get(k, Counts()), rules) for k in keys]
    measured_counts = Counts()
    for line in lines:
        if line.measured:
            measured_counts.add(line.counts)
    total = Line(
        ALL_KEY,
        "Todos los servicios" if group_by == "service" else "Todas las colas",
        False,
        totals.get(ALL_KEY, Counts()),
        rules,
    )
    return Report(
        period=period,
        rules=rules,
        group_by=group_by,
        lines=lines,
        total=total,
        measured_total=Line("MEDIDOS", "Servicios medidos", True, measured_counts, rules),
        daily=daily,
        hourly=hourly,
        generated_at=generated_at,
        software_version=software_version,
        source=source,
        provenance=provenance,
    )


def _natural(key: str, measured: tuple[str, ...] = MEASURED_SERVICES) -> tuple[int, int, str]:
    """Sort measured services in the configured order, then numbers, then names."""
    if key in measured:
        return (0, measured.index(key), key)
    digits = service_of_queue(key)
    return (1, int(digits), key) if digits.isdigit() else (2, 0, key)


def percent_text(value: float | None) -> str:
    """``75.0`` or ``-`` (no calls)."""
    return "-" if value is None else f"{value:.1f}"


def meets_text(value: bool | None) -> str:
    """``SÍ`` / ``NO`` / ``-``."""
    if value is None:
        return "-"
    return "SÍ" if value else "NO"
