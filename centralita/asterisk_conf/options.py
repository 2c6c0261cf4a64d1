"""Generator options: the target Asterisk and the values that override routing.toml."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import get_args

from centralita.asterisk_conf.exceptions import InvalidOptionError
from centralita.routing import RoutingTable
from centralita.routing.model import AsteriskVersion

SUPPORTED_VERSIONS: tuple[str, ...] = get_args(AsteriskVersion)


@dataclass(frozen=True, kw_only=True)
class GeneratorOptions:
    """What `centralita conf generate` was asked for; None means "as in routing.toml"."""

    asterisk: str | None = None
    ami_permit: str | None = None
    source_name: str = "routing.toml"
    # Whether the AMI user may Originate (the prepaid campaign's dialer). None: when
    # routing.toml defines a campaign ([service.campaign] of an outbound service).
    campaign: bool | None = None
    # Whether the console's call controls are on (the daemon's [console] call_controls):
    # write=call (Redirect: transfers) and write=agent (QueuePause), and the transfer
    # context. Off by default: the AMI user gets neither class.
    call_controls: bool = False


@dataclass(frozen=True, kw_only=True)
class Target:
    """Options resolved against the routing table: everything the templates need."""

    asterisk: str
    ami_permit: str
    source_name: str
    campaign: bool = False
    call_controls: bool = False

    @property
    def legacy(self) -> bool:
        """Asterisk 11: literal manager events, eventwhencalled, channelvars for linkedid."""
        return self.asterisk == "11"

    @property
    def dialect(self) -> str:
        """Human name of the AMI dialect."""
        return "AMI dialect of Asterisk 11" if self.legacy else "AMI dialect of Asterisk 12+"


def resolve_options(table: RoutingTable, options: GeneratorOptions) -> Target:
    """Merge the options with the table's `[pbx]` section and check them.

    Raises:
        InvalidOptionError: unsupported version or unusable permit.
    """
    version = options.asterisk or table.pbx.asterisk
    if version not in SUPPORTED_VERSIONS:
        msg = f"asterisk: unsupported version {version!r} (one of {', '.join(SUPPORTED_VERSIONS)})"
        raise InvalidOptionError(msg)
    return Target(
        asterisk=version,
        ami_permit=asterisk_acl(options.ami_permit or table.pbx.ami_permit),
        source_name=options.source_name,
        campaign=(
            options.campaign
            if options.campaign is not None
            else any(service.campaign is not None for service in table.services)
        ),
        call_controls=options.call_controls,
    )


def asterisk_acl(permit: str) -> str:
    """Normalise `IP`, `IP/bits` or `IP/MASK` to the form every Asterisk accepts.

    Raises:
        InvalidOptionError: not an address, or a network that admits everyone.
    """
    try:
        network = ipaddress.ip_network(permit, strict=False)
    except ValueError as exc:
        msg = f"ami_permit: not an address/mask {permit!r}"
        raise InvalidOptionError(msg) from exc
    if network.prefixlen == 0:
        msg = "ami_permit: must not permit every address"
        raise InvalidOptionError(msg)
    if network.version == 4:
        return f"{network.network_address}/{network.netmask}"
    return str(network)
