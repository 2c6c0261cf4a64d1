"""The screen-pop's collaborators: the service's name and script, the customer record.

The only module of the part that imports ``scripts`` (the script files) and ``ivr`` (the
customer directory); the publisher takes them as plain callables (``model``'s
:data:`~centralita.screenpop.model.ServiceResolver` and
:data:`~centralita.screenpop.model.CustomerLookup`).
"""

from __future__ import annotations

from typing import Any, Protocol

import structlog

from centralita.ivr.events import InputKind
from centralita.ivr.exceptions import DirectoryUnavailableError
from centralita.screenpop.model import CustomerInfo, CustomerLookup, ServiceInfo, ServiceResolver
from centralita.scripts import ScriptError, load_script

log = structlog.get_logger(__name__)


class _Routing(Protocol):
    def service(self, key: str) -> Any: ...


def service_resolver(routing: _Routing | None = None) -> ServiceResolver:
    """Service name and script: the routing table's, else the script file's own."""
    cache: dict[str, ServiceInfo] = {}

    def resolve(key: str) -> ServiceInfo:
        found = cache.get(key)
        if found is not None:
            return found
        name, script_id = key, key
        if routing is not None:
            try:
                service = routing.service(key)
                name, script_id = str(service.name), str(service.script)
            except KeyError:
                pass
        try:
            script = load_script(script_id)
            info = ServiceInfo(
                name=script.service if name == key else name,
                script_id=script.id,
                script_version=script.version,
            )
        except ScriptError:
            info = ServiceInfo(name=name, script_id=None, script_version=None)
        cache[key] = info
        return info

    return resolve


def directory_lookup(directory: Any) -> CustomerLookup:
    """Adapt an ``ivr.directory.CustomerDirectory`` to a :data:`CustomerLookup`."""
    kinds = {"contract": InputKind.CONTRACT, "phone": InputKind.PHONE}

    async def lookup(kind: str, value: str) -> CustomerInfo | None:
        try:
            found = await directory.lookup(kinds[kind], value)
        except DirectoryUnavailableError as exc:
            log.warning("customer_lookup_failed", reason=str(exc))
            return None
        if found is None:
            return None
        return CustomerInfo(
            contract=found.contract,
            name=found.name,
            segment=found.segment,
            phone=found.phone,
            ci=found.ci,
            services=list(found.services),
            address=found.address,
            notes=found.notes,
            source="ivr" if kind == "contract" else "caller_number",
        )

    return lookup
