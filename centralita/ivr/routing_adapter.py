"""`RoutingRouter`: the flows' `Router` on top of the `routing` package."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from centralita.ivr import events
from centralita.ivr.flows import Route
from centralita.routing import RoutingHolder, RoutingTable, resolve


class RoutingRouter:
    """Resolve with the routing table in force (a holder's table follows hot reloads)."""

    def __init__(self, table: Callable[[], RoutingTable]) -> None:
        self._table = table

    @classmethod
    def from_holder(cls, holder: RoutingHolder) -> RoutingRouter:
        """Follow `holder.table`, which changes on reload."""
        return cls(lambda: holder.table)

    def route(
        self, dialed: str, when: dt.datetime, *, segment: str | None, topic: str | None
    ) -> Route:
        """routing.resolve, reduced to channel variables.

        CC_QUEUE always names a queue: when a time rule sends the call to a number or an
        announcement, it keeps the service's own queue (the dialplan follows CC_DEST_KIND).

        Raises:
            routing.RoutingError, ValueError: routing cannot decide (the flow falls back).
        """
        table = self._table()
        decision = resolve(table, dialed, when, segment, topic=topic)
        queue = decision.queue or table.service(decision.service_key).queue
        variables = decision.channel_vars()
        variables[events.VAR_QUEUE] = queue
        return Route(
            service=decision.service_key,
            queue=queue,
            priority=decision.priority,
            variables=variables,
            destination=decision.destination_kind,
            flow=decision.ivr_flow,
        )
