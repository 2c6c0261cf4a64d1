"""Which services the indicator measures, their names, threshold and target: read from
routing.toml, the one source (``measured`` of each ``[[service]]`` and ``[indicator]``).

The report, the supervisor reports, the reconciliation, the wallboard and every export
take them from here; the legend names the file and its SHA-256, so an audit knows which
configuration made a figure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from centralita import routing
from centralita.metrics.exceptions import MetricsError
from centralita.metrics.service_level import SERVICE_NAMES, CountingRules


@dataclass(frozen=True)
class ServiceConfig:
    """What routing.toml says about the indicator."""

    names: dict[str, str]
    measured: tuple[str, ...]
    threshold_s: int
    target_percent: float
    source: str
    """The file and its digest, as the legend prints them."""

    def rules(self, **overrides: object) -> CountingRules:
        """Counting rules with this configuration (``overrides`` win, e.g. a CLI's
        ``threshold_s``; ``None`` values are ignored)."""
        values: dict[str, object] = {
            "threshold_s": self.threshold_s,
            "target_percent": self.target_percent,
            "measured": self.measured,
            "config_source": self.source,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return CountingRules(**values)  # type: ignore[arg-type]


def config_source_text(path: str | Path, digest: str) -> str:
    """``routing.toml (SHA-256 1a2b3c4d5e6f…)``: the legend's line."""
    return f"{Path(path).name} ({path}), SHA-256 {digest}"


def load_service_config(routing_path: str | Path | None = None) -> ServiceConfig:
    """The configuration of ``routing_path`` (default: the routing the daemon uses,
    ``$CENTRALITA_ROUTING`` or the shipped file).

    Raises:
        MetricsError: the file is missing or invalid (never silently replaced).
    """
    path = Path(routing_path) if routing_path else default_routing()
    if not path.is_file():
        raise MetricsError(f"enrutamiento {path}: no existe; indique otro archivo")
    try:
        table = routing.load_routing(path)
    except routing.RoutingConfigError as exc:
        from centralita.routing.commands import routing_error_line

        raise MetricsError(routing_error_line(exc)) from exc
    return from_table(table)


def from_table(table: routing.RoutingTable) -> ServiceConfig:
    """The configuration of an already loaded routing table."""
    names = dict(SERVICE_NAMES)
    names.update({service.key: service.name for service in table.services})
    return ServiceConfig(
        names=names,
        measured=tuple(service.key for service in table.measured_services()),
        threshold_s=table.indicator.threshold_s,
        target_percent=table.indicator.target_percent,
        source=config_source_text(table.source, table.digest),
    )


def default_routing() -> Path:
    """``$CENTRALITA_ROUTING`` when set, else the shipped routing file."""
    env = os.environ.get("CENTRALITA_ROUTING", "")
    return Path(env) if env else routing.default_routing_path()
