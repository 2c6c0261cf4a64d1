"""`RoutingTable`: a validated routing file with its look-up indexes (immutable)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping

from centralita.routing.model import (
    Announcement,
    IndicatorSettings,
    IvrSettings,
    PbxSettings,
    Queue,
    RoutingConfig,
    Service,
    ToQueue,
)
from centralita.routing.windows import Interval, intervals_of


class RoutingTable:
    """The routing of one call center, built only from a config that passed validation."""

    def __init__(self, config: RoutingConfig, source: str, *, digest: str = "") -> None:
        self.config = config
        self.source = source
        self.digest = digest
        """SHA-256 (hex) of the file's text: names the configuration an audit saw."""
        self.timezone = zoneinfo.ZoneInfo(config.timezone)
        self._by_key = {s.key: s for s in config.service}
        self._by_number = {n: s for s in config.service for n in s.numbers}
        self._queues = {q.name: q for q in config.queue}
        self._announcements = {a.name: a for a in config.announcement}
        self._holidays = {h.date: h.name for h in config.holiday}
        self._by_queue: dict[str, Service] = {}
        for service in config.service:
            self._by_queue[service.queue] = service
            targets = [service.overflow, *(r.destination for r in service.rule)]
            for target in targets:
                if isinstance(target, ToQueue):
                    self._by_queue.setdefault(target.queue, service)
        self._rule_intervals: dict[tuple[str, int], tuple[Interval, ...]] = {
            (s.key, i): intervals_of(rule.windows)
            for s in config.service
            for i, rule in enumerate(s.rule)
        }

    def __repr__(self) -> str:
        return f"<RoutingTable {self.source} services={len(self.services)}>"

    @property
    def services(self) -> tuple[Service, ...]:
        """Every service, in file order."""
        return self.config.service

    @property
    def queues(self) -> tuple[Queue, ...]:
        """Every queue, in file order."""
        return self.config.queue

    @property
    def pbx(self) -> PbxSettings:
        """The `[pbx]` section."""
        return self.config.pbx

    @property
    def ivr(self) -> IvrSettings:
        """The `[ivr]` section."""
        return self.config.ivr

    @property
    def indicator(self) -> IndicatorSettings:
        """The `[indicator]` section: the regulator's threshold and target."""
        return self.config.indicator

    @property
    def holidays(self) -> Mapping[dt.date, str]:
        """Holiday dates and their names."""
        return self._holidays

    def service(self, key: str) -> Service:
        """The service with this key (KeyError if none)."""
        return self._by_key[key]

    def service_for_number(self, exten: str) -> Service | None:
        """The service a dialed number belongs to."""
        return self._by_number.get(exten)

    def service_for_queue(self, queue: str) -> Service | None:
        """The service whose calls a queue holds (its main queue, or its overflow queue)."""
        return self._by_queue.get(queue)

    def queue(self, name: str) -> Queue:
        """The queue with this name (KeyError if none)."""
        return self._queues[name]

    def announcement(self, name: str) -> Announcement:
        """The announcement with this name (KeyError if none)."""
        return self._announcements[name]

    def rule_intervals(self, service_key: str, rule_index: int) -> tuple[Interval, ...]:
        """The minute intervals of one rule of a service."""
        return self._rule_intervals[(service_key, rule_index)]

    def measured_services(self) -> tuple[Service, ...]:
        """Services measured by the ATT indicator."""
        return tuple(s for s in self.services if s.measured)
