"""Semantic checks of a decoded routing file; every message starts with the path it is about.

`check(config)` returns all problems at once (an admin fixes them in one pass):
unknown references, duplicate numbers, keys and names, malformed or empty windows,
rules that overlap another rule of the same scope or can never apply.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Sequence

from centralita.routing.model import (
    Campaign,
    Destination,
    RoutingConfig,
    Rule,
    Service,
    ToAnnouncement,
    ToNumber,
    ToQueue,
    Window,
)
from centralita.routing.windows import (
    HOLIDAY,
    Interval,
    describe,
    intersects,
    is_covered,
    parse_clock,
    window_intervals,
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DIALED = re.compile(r"^[0-9*#+]+$")
_SOUND = re.compile(r"^[A-Za-z0-9_./-]+$")


def check(config: RoutingConfig) -> list[str]:
    """Return every semantic problem of `config` as a path-named message (empty if fine)."""
    errors: list[str] = []
    _check_top(config, errors)
    queues = _check_queues(config, errors)
    announcements = _check_announcements(config, errors)
    keys: dict[str, int] = {}
    numbers: dict[str, str] = {}
    queue_users: dict[str, list[str]] = {}
    for i, service in enumerate(config.service):
        path = f"service[{i}]"
        if service.key in keys:
            errors.append(
                f"{path}.key: clave de servicio repetida «{service.key}» "
                f"(también en service[{keys[service.key]}])"
            )
        keys.setdefault(service.key, i)
        ctx = _Ctx(config, queues, announcements, errors)
        ctx.service(path, service, numbers)
        for used in _queues_used(service):
            queue_users.setdefault(used, []).append(service.key)
    for i, queue in enumerate(config.queue):
        users = queue_users.get(queue.name, [])
        if not users:
            errors.append(f"queue[{i}]: ningún servicio usa la cola «{queue.name}»")
        elif len(set(users)) > 1:
            shared = ", ".join(f"«{u}»" for u in sorted(set(users)))
            errors.append(
                f"queue[{i}]: la cola «{queue.name}» la usan los servicios {shared}; "
                "cada cola pertenece a un solo servicio, para que sus llamadas cuenten "
                "para un solo número"
            )
    return errors


def _check_top(config: RoutingConfig, errors: list[str]) -> None:
    try:
        zoneinfo.ZoneInfo(config.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append(f"timezone: zona horaria desconocida «{config.timezone}»")
    _duplicates("segments", config.segments, "segmento", errors)
    for i, segment in enumerate(config.segments):
        if not _NAME.match(segment):
            errors.append(f"segments[{i}]: nombre de segmento no válido «{segment}»")
    pbx = config.pbx
    try:
        network = ipaddress.ip_network(pbx.ami_permit, strict=False)
    except ValueError:
        errors.append(f"pbx.ami_permit: no es una dirección/máscara «{pbx.ami_permit}»")
    else:
        if network.prefixlen == 0:
            errors.append("pbx.ami_permit: no debe permitir todas las direcciones")
    for field, value in (
        ("inbound_context", pbx.inbound_context),
        ("outbound_context", pbx.outbound_context),
        ("campaign_context", pbx.campaign_context),
        ("ami_user", pbx.ami_user),
        ("ami_secret_include", pbx.ami_secret_include),
        ("language", pbx.language),
    ):
        if not _NAME.match(value):
            errors.append(f"pbx.{field}: nombre no válido «{value}»")
    if pbx.dial_timeout_s <= 0:
        errors.append("pbx.dial_timeout_s: debe ser mayor que cero")
    ivr = config.ivr
    if not 0 < ivr.agi_port < 65536:
        errors.append(f"ivr.agi_port: no es un puerto TCP ({ivr.agi_port})")
    if not ivr.agi_host or any(c in ivr.agi_host for c in "/:?&,| "):
        errors.append(f"ivr.agi_host: host no válido «{ivr.agi_host}»")
    if not _NAME.match(ivr.agi_path):
        errors.append(f"ivr.agi_path: ruta no válida «{ivr.agi_path}»")
    indicator = config.indicator
    if indicator.threshold_s < 0:
        errors.append(f"indicator.threshold_s: debe ser 0 o más ({indicator.threshold_s})")
    if not 0 <= indicator.target_percent <= 100:
        errors.append(
            f"indicator.target_percent: debe estar entre 0 y 100 ({indicator.target_percent:g})"
        )
    seen: dict[object, int] = {}
    for i, holiday in enumerate(config.holiday):
        if holiday.date in seen:
            errors.append(
                f"holiday[{i}].date: feriado repetido {holiday.date.isoformat()} "
                f"(también en holiday[{seen[holiday.date]}])"
            )
        seen.setdefault(holiday.date, i)


def _check_queues(config: RoutingConfig, errors: list[str]) -> set[str]:
    names: set[str] = set()
    for i, queue in enumerate(config.queue):
        path = f"queue[{i}]"
        if not _NAME.match(queue.name):
            errors.append(f"{path}.name: nombre de cola no válido «{queue.name}»")
        if queue.name in names:
            errors.append(f"{path}.name: cola repetida «{queue.name}»")
        names.add(queue.name)
        for field, value in (
            ("ring_timeout_s", queue.ring_timeout_s),
            ("max_wait_s", queue.max_wait_s),
            ("servicelevel_s", queue.servicelevel_s),
        ):
            if value is not None and value <= 0:
                errors.append(f"{path}.{field}: debe ser mayor que cero")
        for field, value in (
            ("retry_s", queue.retry_s),
            ("wrapup_s", queue.wrapup_s),
            ("weight", queue.weight),
        ):
            if value < 0:
                errors.append(f"{path}.{field}: no puede ser negativo")
        if not _NAME.match(queue.musicclass):
            errors.append(f"{path}.musicclass: nombre no válido «{queue.musicclass}»")
    return names


def _check_announcements(config: RoutingConfig, errors: list[str]) -> set[str]:
    names: set[str] = set()
    for i, announcement in enumerate(config.announcement):
        path = f"announcement[{i}]"
        if not _NAME.match(announcement.name):
            errors.append(f"{path}.name: nombre no válido «{announcement.name}»")
        if announcement.name in names:
            errors.append(f"{path}.name: anuncio repetido «{announcement.name}»")
        names.add(announcement.name)
        if not _SOUND.match(announcement.sound):
            errors.append(f"{path}.sound: nombre de sonido no válido «{announcement.sound}»")
    return names


def _queues_used(service: Service) -> list[str]:
    used = [service.queue]
    destinations = [service.overflow, *(rule.destination for rule in service.rule)]
    used.extend(d.queue for d in destinations if isinstance(d, ToQueue))
    return used


def _duplicates(path: str, values: Sequence[str], what: str, errors: list[str]) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            errors.append(f"{path}[{i}]: {what} repetido «{value}»")
        seen.add(value)


class _Ctx:
    """Checks of one service; shares the file-wide name sets and the error list."""

    def __init__(
        self,
        config: RoutingConfig,
        queues: set[str],
        announcements: set[str],
        errors: list[str],
    ) -> None:
        self.config = config
        self.queues = queues
        self.announcements = announcements
        self.errors = errors

    def service(self, path: str, service: Service, numbers: dict[str, str]) -> None:
        err = self.errors.append
        if not _NAME.match(service.key):
            err(f"{path}.key: clave de servicio no válida «{service.key}»")
        if not service.name.strip():
            err(f"{path}.name: no puede estar vacío")
        if not _NAME.match(service.script):
            err(f"{path}.script: identificador de guion no válido «{service.script}»")
        if service.ivr_flow is not None and not _NAME.match(service.ivr_flow):
            err(f"{path}.ivr_flow: identificador de flujo no válido «{service.ivr_flow}»")
        self.queue_ref(f"{path}.queue", service.queue)
        for j, number in enumerate(service.numbers):
            npath = f"{path}.numbers[{j}]"
            if not _DIALED.match(number):
                err(f"{npath}: no es un número marcable «{number}»")
            elif number in numbers:
                err(f"{npath}: número repetido «{number}» (ya está en {numbers[number]})")
            else:
                numbers[number] = f"{npath}, servicio «{service.key}»"
        _duplicates(f"{path}.topics", service.topics, "tema", self.errors)
        for segment in sorted(service.priority.by_segment):
            if segment not in self.config.segments:
                err(f"{path}.priority.by_segment: segmento desconocido «{segment}»")
        if service.overflow is not None:
            self.destination(f"{path}.overflow", service.overflow)
            if isinstance(service.overflow, ToQueue) and service.overflow.queue == service.queue:
                err(f"{path}.overflow: desborda hacia su propia cola")
        if service.direction == "inbound":
            if not service.numbers:
                err(f"{path}.numbers: un servicio entrante necesita al menos un número")
            if service.campaign is not None:
                err(f"{path}.campaign: solo los servicios salientes tienen campaña")
            self.rules(path, service)
        else:
            if service.caller_id is None or not _DIALED.match(service.caller_id):
                err(
                    f"{path}.caller_id: un servicio saliente necesita el número que presenta "
                    "como llamante (caller id)"
                )
            if service.rule:
                err(f"{path}.rule: las reglas horarias son solo para servicios entrantes")
            if service.campaign is not None:
                self.campaign(f"{path}.campaign", service.campaign)

    def queue_ref(self, path: str, queue: str) -> None:
        if queue not in self.queues:
            self.errors.append(f"{path}: cola desconocida «{queue}»")

    def announcement_ref(self, path: str, name: str) -> None:
        if name not in self.announcements:
            self.errors.append(f"{path}: anuncio desconocido «{name}»")

    def destination(self, path: str, destination: Destination) -> None:
        match destination:
            case ToQueue(queue=queue):
                self.queue_ref(f"{path}.queue", queue)
            case ToNumber(number=number):
                if not _DIALED.match(number):
                    self.errors.append(f"{path}.number: no es un número marcable «{number}»")
            case ToAnnouncement(announcement=name):
                self.announcement_ref(f"{path}.announcement", name)

    def windows(self, path: str, windows: Sequence[Window]) -> list[Interval] | None:
        """Check windows; return their intervals, or None when one is malformed."""
        ok = True
        intervals: list[Interval] = []
        if not windows:
            self.errors.append(f"{path}: necesita al menos una franja horaria")
            return None
        for k, window in enumerate(windows):
            wpath = f"{path}[{k}]"
            start, end = parse_clock(window.start), parse_clock(window.until)
            if start is None:
                self.errors.append(f"{wpath}.from: no es una hora HH:MM «{window.start}»")
                ok = False
            if end is None:
                self.errors.append(f"{wpath}.until: no es una hora HH:MM «{window.until}»")
                ok = False
            if start is not None and end is not None and start >= end:
                self.errors.append(
                    f"{wpath}: franja vacía {window.start}-{window.until} "
                    "(from debe ser anterior a until; divida en dos las franjas que cruzan "
                    "la medianoche)"
                )
                ok = False
            if not window.days:
                self.errors.append(f"{wpath}.days: necesita al menos un día")
                ok = False
            if len(set(window.days)) != len(window.days):
                self.errors.append(f"{wpath}.days: un día figura dos veces")
                ok = False
            if not ok:
                continue
            for iv in window_intervals(window):
                for other in intervals:
                    if intersects(iv, other):
                        self.errors.append(
                            f"{wpath}: franjas superpuestas ({describe(iv)} y {describe(other)})"
                        )
                intervals.append(iv)
        return intervals if ok else None

    def rules(self, path: str, service: Service) -> None:
        names: set[str] = set()
        # scope (topic, holiday layer) -> earlier rules' (name, intervals)
        earlier: dict[tuple[str | None, bool], list[tuple[str, list[Interval]]]] = {}
        for j, rule in enumerate(service.rule):
            rpath = f"{path}.rule[{j}]"
            if rule.name in names:
                self.errors.append(f"{rpath}.name: regla repetida «{rule.name}»")
            names.add(rule.name)
            self.rule_fields(rpath, service, rule)
            intervals = self.windows(f"{rpath}.windows", rule.windows)
            if intervals is None:
                continue
            if not self.config.holiday and any(iv.day == HOLIDAY for iv in intervals):
                self.errors.append(
                    f"{rpath}: inalcanzable: la regla «{rule.name}» tiene una franja holiday "
                    "pero el archivo no declara ningún [[holiday]]"
                )
            for layer in (False, True):
                mine = [iv for iv in intervals if (iv.day == HOLIDAY) == layer]
                if not mine:
                    continue
                scope = earlier.setdefault((rule.topic, layer), [])
                self.against_earlier(rpath, rule.name, mine, scope)
                scope.append((rule.name, mine))

    def rule_fields(self, rpath: str, service: Service, rule: Rule) -> None:
        err = self.errors.append
        if not _NAME.match(rule.name):
            err(f"{rpath}.name: nombre de regla no válido «{rule.name}»")
        if rule.topic is not None and rule.topic not in service.topics:
            topics = ", ".join(service.topics) or "ninguno"
            err(f"{rpath}.topic: tema desconocido «{rule.topic}» (temas del servicio: {topics})")
        if rule.destination is None and rule.announcement is None and rule.ivr_flow is None:
            err(f"{rpath}: no cambia nada (indique destination, announcement o ivr_flow)")
        if rule.destination is not None:
            self.destination(f"{rpath}.destination", rule.destination)
        if isinstance(rule.destination, ToAnnouncement) and rule.announcement is not None:
            err(f"{rpath}.announcement: el destino ya es un anuncio")
        if rule.announcement is not None:
            self.announcement_ref(f"{rpath}.announcement", rule.announcement)
        if rule.ivr_flow is not None and not _NAME.match(rule.ivr_flow):
            err(f"{rpath}.ivr_flow: identificador de flujo no válido «{rule.ivr_flow}»")

    def against_earlier(
        self,
        rpath: str,
        name: str,
        mine: list[Interval],
        scope: list[tuple[str, list[Interval]]],
    ) -> None:
        previous = [iv for _, ivs in scope for iv in ivs]
        if previous and all(is_covered(iv, previous) for iv in mine):
            covering = sorted(
                {n for n, ivs in scope if any(intersects(a, b) for a in mine for b in ivs)}
            )
            self.errors.append(
                f"{rpath}: inalcanzable: cada franja de la regla «{name}» ya está cubierta por "
                + ", ".join(f"«{c}»" for c in covering)
            )
            return
        for other_name, ivs in scope:
            clashes = [(a, b) for a in mine for b in ivs if intersects(a, b)]
            if clashes:
                a, b = clashes[0]
                self.errors.append(
                    f"{rpath}.windows: se superpone con la regla «{other_name}» "
                    f"({describe(a)} y {describe(b)})"
                )

    def campaign(self, path: str, campaign: Campaign) -> None:
        self.windows(f"{path}.windows", campaign.windows)
