"""Routing of calls: services, dialed numbers, queues, time rules, segment priority.

A leaf package (imports no other project package). Pure except `loader` (reads files)
and `reload` (hot reload in the daemon).

    table = load_routing(default_routing_path())
    decision = resolve(table, "4639999", when, segment="corporativo")
"""

from __future__ import annotations

from centralita.routing.campaign import in_calling_window
from centralita.routing.exceptions import RoutingConfigError, RoutingError, UnknownNumberError
from centralita.routing.loader import default_routing_path, load_routing, parse_routing
from centralita.routing.model import (
    Announcement,
    Destination,
    Queue,
    RoutingConfig,
    Rule,
    Service,
    ToAnnouncement,
    ToNumber,
    ToQueue,
)
from centralita.routing.reload import RoutingHolder
from centralita.routing.resolve import Decision, resolve
from centralita.routing.table import RoutingTable

__all__ = [
    "Announcement",
    "Decision",
    "Destination",
    "Queue",
    "RoutingConfig",
    "RoutingConfigError",
    "RoutingError",
    "RoutingHolder",
    "RoutingTable",
    "Rule",
    "Service",
    "ToAnnouncement",
    "ToNumber",
    "ToQueue",
    "UnknownNumberError",
    "default_routing_path",
    "in_calling_window",
    "load_routing",
    "parse_routing",
    "resolve",
]
