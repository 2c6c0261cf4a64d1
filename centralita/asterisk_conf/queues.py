"""`queues_custom.conf`: one section per queue of routing.toml (members log in dynamically)."""

from __future__ import annotations

from centralita.asterisk_conf.header import comment_text, header
from centralita.asterisk_conf.options import Target
from centralita.routing import RoutingTable

FILENAME = "queues_custom.conf"


def render_queues(table: RoutingTable, target: Target) -> str:
    """The text of queues_custom.conf."""
    lines = header(
        FILENAME,
        target,
        "Queues whose names are also defined in the PBX's web interface would clash:",
        "define them here only. Agents join dynamically (AMI QueueAdd), no static members.",
        "servicelevel is the ATT threshold; the indicator itself is computed by centralita",
        "from its own call records, not from Asterisk's counters.",
    )
    for queue in table.queues:
        service = table.service_for_queue(queue.name)
        assert service is not None  # validation: every queue belongs to one service
        role = "overflow of" if service.queue != queue.name else "service"
        lines += [
            f"[{queue.name}]",
            f"; {role} {service.key} {comment_text(service.name)}",
            f"strategy={queue.strategy}",
            f"timeout={queue.ring_timeout_s}",
            f"retry={queue.retry_s}",
            # with the console's call controls the daemon pauses the agent after a call
            # until it is recorded (at most wrapup_s): Asterisk's own wrapuptime is off
            f"wrapuptime={0 if target.call_controls else queue.wrapup_s}",
            f"servicelevel={queue.servicelevel_s}",
            f"weight={queue.weight}",
            f"musicclass={queue.musicclass}",
            "joinempty=yes",
            "leavewhenempty=no",
            "ringinuse=no",
            "autofill=yes",
            "timeoutrestart=no",
            "announce-frequency=0",
            "announce-holdtime=no",
            "reportholdtime=no",
            "setinterfacevar=yes",
            "setqueuevar=yes",
            "setqueueentryvar=yes",
        ]
        if target.legacy:
            lines += [
                "eventwhencalled=yes      ; Asterisk 11: AgentCalled/AgentConnect/... events",
                "eventmemberstatus=yes    ; Asterisk 11: QueueMemberStatus events",
            ]
        lines.append("")
    return "\n".join(lines)
