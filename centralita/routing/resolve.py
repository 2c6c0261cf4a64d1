"""`resolve`: where a call to a dialed number goes at a given time, and why (pure).

Rule precedence, most specific first (windows never overlap inside one scope, so at most
one rule per scope matches):

1. rules for the caller's topic (`topic = "damage"`) with a `holiday` window, on a holiday;
2. rules for the caller's topic with weekday windows;
3. rules for every call with a `holiday` window, on a holiday;
4. rules for every call with weekday windows;
5. otherwise the service's default: its queue, no announcement.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from centralita.routing import dialplan_vars
from centralita.routing.exceptions import UnknownNumberError
from centralita.routing.model import (
    Announcement,
    Destination,
    DestinationKind,
    Rule,
    Service,
    ToAnnouncement,
    ToNumber,
    ToQueue,
)
from centralita.routing.table import RoutingTable
from centralita.routing.windows import DAY_NAMES, HOLIDAY, Interval, describe


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """The routing of one call: destination, priority, flow, and the reasons for each."""

    service_key: str
    service_name: str
    dialed: str
    at: dt.datetime
    destination_kind: DestinationKind
    queue: str | None
    number: str | None
    number_label: str | None
    announcement: Announcement | None
    priority: int
    segment: str | None
    script_id: str
    ivr_flow: str | None
    max_wait_s: int | None
    overflow: Destination | None
    measured: bool
    rule: str | None
    holiday: str | None
    topic: str | None
    reasons: list[str]
    by_topic: dict[str, Decision] = msgspec.field(default_factory=dict)

    def for_topic(self, topic: str) -> Decision:
        """The decision for a caller who chose `topic` (this one if no topic rule applies)."""
        return self.by_topic.get(topic, self)

    def channel_vars(self) -> dict[str, str]:
        """The dialplan variables (see `routing.dialplan_vars`) that carry this decision."""
        return {
            dialplan_vars.SERVICE: self.service_key,
            dialplan_vars.QUEUE: self.queue or "",
            dialplan_vars.PRIORITY: str(self.priority),
            dialplan_vars.MAX_WAIT: str(self.max_wait_s or ""),
            dialplan_vars.DEST_KIND: self.destination_kind,
            dialplan_vars.DEST_NUMBER: self.number or "",
            dialplan_vars.ANNOUNCEMENT: self.announcement.sound if self.announcement else "",
            dialplan_vars.RULE: self.rule or "",
        }


def resolve(
    table: RoutingTable,
    dialed: str,
    when: dt.datetime,
    segment: str | None = None,
    *,
    topic: str | None = None,
) -> Decision:
    """Decide the routing of a call to `dialed` at `when` (timezone-aware).

    Args:
        table: the routing table.
        dialed: the number the caller dialed (the dialplan extension).
        when: the call's time; converted to the table's time zone.
        segment: the caller's customer segment, when the IVR identified one.
        topic: the caller's choice in the service's menu (one of `service.topics`).

    Raises:
        UnknownNumberError: no service answers `dialed`.
        ValueError: `when` is naive, or `topic` is not a topic of the service.
    """
    service = table.service_for_number(dialed)
    if service is None:
        raise UnknownNumberError(dialed)
    if when.tzinfo is None or when.utcoffset() is None:
        msg = "resolve() needs a timezone-aware datetime"
        raise ValueError(msg)
    if topic is not None and topic not in service.topics:
        topics = ", ".join(f"«{t}»" for t in service.topics) or "ninguno"
        msg = f"el servicio «{service.key}» no tiene el tema «{topic}» (sus temas: {topics})"
        raise ValueError(msg)
    local = when.astimezone(table.timezone)
    decision = _decide(table, service, dialed=dialed, local=local, segment=segment, topic=topic)
    if topic is not None:
        return decision
    by_topic: dict[str, Decision] = {}
    for name in service.topics:
        if _match(table, service, local, name, only_topic=True) is not None:
            by_topic[name] = _decide(
                table, service, dialed=dialed, local=local, segment=segment, topic=name
            )
    if not by_topic:
        return decision
    return msgspec.structs.replace(decision, by_topic=by_topic)


def _decide(
    table: RoutingTable,
    service: Service,
    *,
    dialed: str,
    local: dt.datetime,
    segment: str | None,
    topic: str | None,
) -> Decision:
    holiday = table.holidays.get(local.date())
    reasons = [
        f"el número marcado {dialed} es del servicio «{service.key}» ({service.name})",
        f"hora local {local:%Y-%m-%d %H:%M} {DAY_NAMES[local.weekday()]} ({table.timezone.key})",
    ]
    if holiday is not None:
        reasons.append(f"{local.date().isoformat()} es feriado ({holiday})")
    if topic is not None:
        reasons.append(f"quien llama eligió el tema «{topic}»")
    priority = _priority(table, service, segment, reasons)
    destination: Destination = ToQueue(queue=service.queue)
    announcement: Announcement | None = None
    ivr_flow = service.ivr_flow
    matched = _match(table, service, local, topic, only_topic=False)
    rule_name: str | None = None
    if matched is None:
        reasons.append(
            f"no se aplica ninguna regla horaria: enrutamiento por omisión a la cola "
            f"{service.queue}"
        )
    else:
        rule, interval = matched
        rule_name = rule.name
        scope = f" del tema «{rule.topic}»" if rule.topic else ""
        why = f": {rule.reason}" if rule.reason else ""
        reasons.append(f"se aplica la regla «{rule.name}»{scope} ({describe(interval)}){why}")
        if rule.destination is not None:
            destination = rule.destination
        if rule.announcement is not None:
            announcement = table.announcement(rule.announcement)
        if rule.ivr_flow is not None:
            ivr_flow = rule.ivr_flow
    queue: str | None = None
    number: str | None = None
    label: str | None = None
    max_wait_s: int | None = None
    match destination:
        case ToQueue():
            queue = destination.queue
            max_wait_s = table.queue(queue).max_wait_s
            wait = "sin espera máxima" if max_wait_s is None else f"espera máxima {max_wait_s} s"
            reasons.append(f"destino: cola {queue} ({wait})")
        case ToNumber():
            number, label = destination.number, destination.label or None
            reasons.append(f"destino: transferir a {number} {label or ''}".rstrip())
        case ToAnnouncement(announcement=name):
            announcement = table.announcement(name)
            reasons.append(f"destino: anuncio «{name}», luego cortar")
    overflow = service.overflow if isinstance(destination, ToQueue) else None
    return Decision(
        service_key=service.key,
        service_name=service.name,
        dialed=dialed,
        at=local,
        destination_kind=_kind(destination),
        queue=queue,
        number=number,
        number_label=label,
        announcement=announcement,
        priority=priority,
        segment=segment,
        script_id=service.script,
        ivr_flow=ivr_flow,
        max_wait_s=max_wait_s,
        overflow=overflow,
        measured=service.measured,
        rule=rule_name,
        holiday=holiday,
        topic=topic,
        reasons=reasons,
    )


def _kind(destination: Destination) -> DestinationKind:
    match destination:
        case ToQueue():
            return "queue"
        case ToNumber():
            return "number"
        case ToAnnouncement():
            return "announcement"


def _priority(
    table: RoutingTable, service: Service, segment: str | None, reasons: list[str]
) -> int:
    policy = service.priority
    if segment is None:
        if policy.by_segment:
            reasons.append(
                f"segmento del cliente desconocido: prioridad por omisión {policy.default}"
            )
        return policy.default
    if segment in policy.by_segment:
        value = policy.by_segment[segment]
        reasons.append(f"segmento del cliente «{segment}»: prioridad {value}")
        return value
    known = "" if segment in table.config.segments else " (no es un segmento de este archivo)"
    reasons.append(
        f"segmento del cliente «{segment}»{known}: prioridad por omisión {policy.default}"
    )
    return policy.default


def _match(
    table: RoutingTable,
    service: Service,
    local: dt.datetime,
    topic: str | None,
    *,
    only_topic: bool,
) -> tuple[Rule, Interval] | None:
    is_holiday = local.date() in table.holidays
    day, minute = local.weekday(), local.hour * 60 + local.minute
    scopes: list[str | None] = [topic] if only_topic or topic is None else [topic, None]
    for scope in scopes:
        days = [HOLIDAY, day] if is_holiday else [day]
        for wanted in days:
            for index, rule in enumerate(service.rule):
                if rule.topic != scope:
                    continue
                for iv in table.rule_intervals(service.key, index):
                    if iv.day == wanted and iv.start <= minute < iv.end:
                        return rule, iv
    return None
