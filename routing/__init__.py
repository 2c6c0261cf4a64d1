"""Routing of calls: services, dialed numbers, queues, time rules, segment priority.

A leaf package (imports no other project package). Pure except `loader` (reads files)
and `reload` (hot reload in the daemon).

    table = load_routing(default_routing_path())
    decision = resolve(table, "4639999", when, segment="corporativo")
"""

from __future__ import annotations

from routing.campaign import in_calling_window
from routing.exceptions import RoutingConfigError, RoutingError, UnknownNumberError
from routing.loader import default_routing_path, load_routing, parse_routing
from routing.model import (
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
from routing.reload import RoutingHolder
from routing.resolve import Decision, resolve
from routing.table import RoutingTable

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
