"""The shipped routing.toml: every service of the procedure, and each rule deciding."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest

from centralita.routing import (
    Decision,
    RoutingTable,
    ToAnnouncement,
    ToQueue,
    UnknownNumberError,
    default_routing_path,
    load_routing,
    resolve,
)

LA_PAZ = zoneinfo.ZoneInfo("America/La_Paz")
LAB_ROUTING = Path(__file__).resolve().parents[1] / "fixtures" / "routing-lab.toml"
SERVICE_QUEUES = {
    "101": "q101",
    "102": "q102",
    "103": "q103",
    "104": "q104",
    "4200224": "q4200224",
    "4251000": "q4251000",
    "4522222": "q4522222",
    "800131313": "q800131313",
    "800130001": "q800130001",
    "4639999": "q4639999",
    "prepago": "qprepago",
}


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return load_routing(default_routing_path())


@pytest.fixture(scope="module")
def lab() -> RoutingTable:
    """The lab's routing: the shipped one plus example rules (time rules, destinations,
    priority), to test those features."""
    return load_routing(LAB_ROUTING)


def at(text: str) -> dt.datetime:
    """A La Paz wall-clock time."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=LA_PAZ)


def test_covers_every_service_of_the_procedure(table: RoutingTable) -> None:
    assert {s.key: s.queue for s in table.services} == SERVICE_QUEUES
    assert {s.key for s in table.measured_services()} == {"101", "104", "800131313", "4639999"}
    for service in table.services:
        assert service.script == service.key
        if service.direction == "inbound":
            assert table.service_for_number(service.key) is service
    prepago = table.service("prepago")
    assert prepago.direction == "outbound"
    assert prepago.campaign is not None
    assert prepago.campaign.windows  # hours; the days are the campaign's [window]


def test_queue_lookup_includes_the_overflow_queue(table: RoutingTable) -> None:
    assert table.service_for_queue("q101b") is table.service("101")
    assert table.service_for_queue("q4639999") is table.service("4639999")
    assert table.service_for_queue("q99") is None
    assert table.service_for_number("999") is None


def test_default_routing_to_the_service_queue(table: RoutingTable) -> None:
    d = resolve(table, "104", at("2026-12-02T10:00"))
    assert (d.service_key, d.destination_kind, d.queue, d.priority) == ("104", "queue", "q104", 0)
    assert d.script_id == "104"
    assert d.measured
    assert d.rule is None
    assert d.max_wait_s is None  # the procedure sets no maximum wait
    assert (
        "no se aplica ninguna regla horaria: enrutamiento por omisión a la cola q104" in d.reasons
    )
    assert "destino: cola q104 (sin espera máxima)" in d.reasons


@pytest.mark.parametrize(
    ("local", "kind"),
    [
        ("2026-12-03T23:59", "queue"),  # Thursday
        ("2026-12-04T11:59", "queue"),  # Friday before noon: damage procedure
        ("2026-12-04T12:00", "number"),  # Friday noon: the manager
        ("2026-12-04T15:00", "number"),
        ("2026-12-05T08:00", "number"),  # Saturday
        ("2026-12-06T23:59", "number"),  # Sunday night
        ("2026-12-07T00:00", "queue"),  # Monday
    ],
)
def test_4639999_damages_friday_noon_to_sunday(lab: RoutingTable, local: str, kind: str) -> None:
    damage = resolve(lab, "4639999", at(local), topic="damage")
    assert damage.destination_kind == kind
    if kind == "number":
        assert damage.number == "2150"
        assert damage.rule == "danos-viernes-tarde-a-domingo"
        assert damage.announcement is not None
        assert damage.announcement.name == "derivacion-encargado-telefonia-publica"
        assert damage.channel_vars()["CC_DEST_KIND"] == "number"
    else:
        assert damage.queue == "q4639999"
        assert damage.rule is None
    billing = resolve(lab, "4639999", at(local), topic="billing")
    assert (billing.destination_kind, billing.queue) == ("queue", "q4639999")


def test_4639999_boundary_is_la_paz_time(lab: RoutingTable) -> None:
    before = dt.datetime(2026, 12, 4, 15, 59, tzinfo=dt.UTC)  # 11:59 in La Paz (UTC-4)
    noon = dt.datetime(2026, 12, 4, 16, 0, tzinfo=dt.UTC)  # 12:00 in La Paz
    assert resolve(lab, "4639999", before, topic="damage").destination_kind == "queue"
    assert resolve(lab, "4639999", noon, topic="damage").destination_kind == "number"


def test_4639999_without_topic_shows_the_topic_decision(lab: RoutingTable) -> None:
    d = resolve(lab, "4639999", at("2026-12-04T15:00"))
    assert d.destination_kind == "queue"
    assert d.queue == "q4639999"
    assert set(d.by_topic) == {"damage"}
    assert d.for_topic("damage").destination_kind == "number"
    assert d.for_topic("billing") is d
    weekday = resolve(lab, "4639999", at("2026-12-02T15:00"))
    assert weekday.by_topic == {}
    assert weekday.for_topic("damage") is weekday


@pytest.mark.parametrize(
    ("segment", "priority"),
    [
        ("vip", 20),
        ("corporativo", 15),
        ("empresa", 10),
        ("pyme", 5),
        ("residencial", 0),
        (None, 0),
        ("desconocido", 0),
    ],
)
def test_101_priority_by_customer_segment(
    lab: RoutingTable, segment: str | None, priority: int
) -> None:
    d = resolve(lab, "101", at("2026-12-02T10:00"), segment)
    assert d.priority == priority
    assert d.queue == "q101"
    assert d.overflow == ToQueue(queue="q101b")
    assert d.channel_vars()["CC_PRIORITY"] == str(priority)
    assert any(r.startswith("segmento del cliente ") for r in d.reasons)


def test_segment_does_not_change_priority_of_other_services(lab: RoutingTable) -> None:
    assert resolve(lab, "102", at("2026-12-02T10:00"), "corporativo").priority == 0


@pytest.mark.parametrize(
    ("local", "kind"),
    [
        ("2026-12-02T07:59", "announcement"),
        ("2026-12-02T08:00", "queue"),
        ("2026-12-02T18:29", "queue"),
        ("2026-12-02T18:30", "announcement"),
        ("2026-12-05T10:00", "announcement"),  # Saturday
        ("2026-12-06T10:00", "announcement"),  # Sunday
        ("2026-08-06T10:00", "announcement"),  # Thursday, Independence Day (holiday)
        ("2026-08-07T10:00", "queue"),  # the Friday after
    ],
)
def test_4251000_office_hours_and_holidays(lab: RoutingTable, local: str, kind: str) -> None:
    d = resolve(lab, "4251000", at(local))
    assert d.destination_kind == kind
    if kind == "announcement":
        assert d.rule == "central-fuera-de-horario"
        assert d.announcement is not None
        assert d.announcement.name == "central-fuera-de-horario"
        assert d.queue is None
        assert d.overflow is None


def test_103_on_a_holiday_announces_then_queues(lab: RoutingTable) -> None:
    holiday = resolve(lab, "103", at("2026-05-01T10:00"))
    assert holiday.holiday == "Día del Trabajo"
    assert (holiday.destination_kind, holiday.queue) == ("queue", "q103")
    assert holiday.announcement is not None
    assert holiday.announcement.name == "instalaciones-feriado"
    assert holiday.rule == "instalaciones-feriado"
    assert "2026-05-01 es feriado (Día del Trabajo)" in holiday.reasons
    normal = resolve(lab, "103", at("2026-05-04T10:00"))
    assert normal.announcement is None
    assert normal.rule is None


def test_102_overflows_to_an_announcement(lab: RoutingTable) -> None:
    d = resolve(lab, "102", at("2026-12-02T10:00"))
    assert d.overflow == ToAnnouncement(announcement="todos-ocupados")


def test_channel_vars_carry_the_decision(lab: RoutingTable) -> None:
    d: Decision = resolve(lab, "101", at("2026-12-02T10:00"), "corporativo")
    assert d.channel_vars() == {
        "CC_SERVICE": "101",
        "CC_QUEUE": "q101",
        "CC_PRIORITY": "15",
        "CC_MAXWAIT": "60",
        "CC_DEST_KIND": "queue",
        "CC_DEST_NUMBER": "",
        "CC_ANNOUNCEMENT": "",
        "CC_RULE": "",
    }


def test_resolve_rejects_naive_times_unknown_numbers_and_topics(table: RoutingTable) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve(table, "101", dt.datetime(2026, 12, 2, 10, 0))
    with pytest.raises(UnknownNumberError):
        resolve(table, "999", at("2026-12-02T10:00"))
    with pytest.raises(ValueError, match="el servicio «101» no tiene el tema «damage»"):
        resolve(table, "101", at("2026-12-02T10:00"), topic="damage")


@pytest.mark.parametrize(
    "local",
    ["2026-12-02T10:00", "2026-12-04T12:00", "2026-12-05T08:00", "2026-12-06T23:59"],
)
def test_shipped_4639999_damages_reach_an_agent_every_day(table: RoutingTable, local: str) -> None:
    # Procedure J 6-8: the agent registers the damage (and, from Friday noon to Sunday,
    # e-mails the manager); the call is never sent away from the measured queue.
    for topic in ("damage", "billing"):
        d = resolve(table, "4639999", at(local), topic=topic)
        assert (d.destination_kind, d.queue, d.rule) == ("queue", "q4639999", None)
        assert d.measured


def test_shipped_routing_invents_nothing_that_drops_a_caller(table: RoutingTable) -> None:
    # No announcement, no transfer, no priority by segment; every service queues.
    assert table.config.announcement == ()
    for service in table.services:
        assert service.rule == ()
        assert service.priority.by_segment == {}
        assert not isinstance(service.overflow, ToAnnouncement)
    for local in ("2026-12-02T03:00", "2026-12-05T10:00", "2026-12-25T10:00"):
        for service in table.services:
            if service.direction == "inbound":
                d = resolve(table, service.key, at(local), "vip")
                assert (d.destination_kind, d.queue, d.priority) == ("queue", service.queue, 0)


def test_shipped_examples_are_marked_and_listed() -> None:
    from centralita.routing.examples import example_lines

    text = default_routing_path().read_text(encoding="utf-8")
    active = {
        line.text.split("=")[0].split("#")[0].strip() for line in example_lines(text) if line.active
    }
    # every value the procedure does not give, still in force, says EXAMPLE
    assert {"max_wait_s", "overflow", "caller_id", "windows", "[[holiday]]"} <= active
    table = load_routing(default_routing_path())
    waits = {q.name: q.max_wait_s for q in table.queues if q.max_wait_s is not None}
    assert set(waits) == {"q101", "qprepago"}  # both marked EXAMPLE above
