"""Wire the routing config into the tracker: which service a queue entry belongs to."""

from __future__ import annotations

from centralita.ami_listener.tracker import ServiceResolver, default_service
from centralita.routing import RoutingTable, load_routing


def resolver_for(table: RoutingTable) -> ServiceResolver:
    """Service of a queue entry: by dialed number, else by queue, else the default rule."""

    def service_for(exten: str, queue: str) -> str:
        service = table.service_for_number(exten) if exten else None
        if service is None:
            service = table.service_for_queue(queue)
        if service is None:
            return default_service(exten, queue)
        return service.key

    return service_for


def resolver_from_routing(path: str) -> ServiceResolver:
    """Load a routing file (raises routing's path-named errors) and build the resolver."""
    return resolver_for(load_routing(path))
