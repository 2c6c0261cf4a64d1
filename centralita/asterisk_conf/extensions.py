"""`extensions_custom.conf`: one inbound extension per dialed number, and the campaign context.

Each inbound extension answers, sets the service's defaults in the CC_* channel variables,
asks the IVR (FastAGI, wrapped in TryExec), then acts on what the variables say: queue
(with QUEUE_PRIO), transfer to a number, or announcement. When the AGI server is down
TryExec returns, the defaults stand, and the call is queued in its service's queue.

With the console's call controls on, ``[centralita-transfer]`` has one extension per
inbound queue (``exten => q101``): the console Redirects the caller's channel there to
transfer it to another service's queue. It is the same channel (same Uniqueid, CC_*
variables kept), so the call stays one call, counted under its first service.
"""

from __future__ import annotations

from centralita.asterisk_conf.header import comment_text, header
from centralita.asterisk_conf.options import Target
from centralita.routing import RoutingTable, Service, ToAnnouncement, ToNumber, ToQueue
from centralita.routing import dialplan_vars as cc

FILENAME = "extensions_custom.conf"
TRANSFER_CONTEXT = "centralita-transfer"


def render_extensions(table: RoutingTable, target: Target) -> str:
    """The text of extensions_custom.conf."""
    pbx = table.pbx
    lines = header(
        FILENAME,
        target,
        f"Inbound numbers land in [{pbx.inbound_context}] (FreePBX/Elastix [from-pstn]",
        "includes it). Channel variables CC_* carry the routing decision; the IVR at",
        f"agi://{table.ivr.agi_host}:{table.ivr.agi_port}/{table.ivr.agi_path} overwrites them.",
        "Without the IVR every call goes to its service's queue with the default priority.",
    )
    lines.append(f"[{pbx.inbound_context}]")
    for service in table.services:
        if service.direction != "inbound":
            continue
        for number in service.numbers:
            lines += _inbound(table, service, number)
    outbound = [s for s in table.services if s.direction == "outbound"]
    if outbound:
        lines += [
            "; Campaign calls: AMI Originate Channel=Local/<customer>@"
            f"{pbx.outbound_context}, Context={pbx.campaign_context}, Exten=<service key>.",
            f"[{pbx.campaign_context}]",
        ]
        for service in outbound:
            lines += _campaign(table, service)
    if target.call_controls:
        lines += _transfers(table)
    return "\n".join(lines) + "\n"


def _transfers(table: RoutingTable) -> list[str]:
    """The console's transfer targets: AMI Redirect Context=centralita-transfer,
    Exten=<queue> of an inbound service; the caller keeps its CC_* variables."""
    lines = [
        "; Console transfers: AMI Redirect of the caller's channel, Context="
        f"{TRANSFER_CONTEXT}, Exten=<queue>, Priority=1 (same channel: one call).",
        f"[{TRANSFER_CONTEXT}]",
    ]
    seen: set[str] = set()
    for service in table.services:
        if service.direction != "inbound" or service.queue in seen:
            continue
        seen.add(service.queue)
        name = service.queue
        lines += [
            f"; {name}: service {service.key} {comment_text(service.name)}",
            f"exten => {name},1,NoOp(centralita transfer of ${{{cc.SERVICE}}} to {name})",
            f' same => n,ExecIf($["${{{cc.PRIORITY}}}" != ""]?Set(QUEUE_PRIO=${{{cc.PRIORITY}}}))',
            f" same => n,Queue({name},t,,,{_wait(table.queue(name).max_wait_s)})",
            " same => n,NoOp(centralita transfer not answered QUEUESTATUS=${QUEUESTATUS})",
            " same => n,Hangup()",
            "",
        ]
    return lines


def _inbound(table: RoutingTable, service: Service, number: str) -> list[str]:
    pbx, ivr = table.pbx, table.ivr
    queue = table.queue(service.queue)
    measured = ", measured by ATT" if service.measured else ""
    agi = (
        f"agi://{ivr.agi_host}:{ivr.agi_port}/{ivr.agi_path}?service={service.key}&dialed={number}"
    )
    dial = f"Dial(Local/${{{cc.DEST_NUMBER}}}@{pbx.outbound_context},{pbx.dial_timeout_s})"
    play = f"Playback(${{{cc.ANNOUNCEMENT}}})"
    has_announcement = f'$["${{{cc.ANNOUNCEMENT}}}" != ""]'
    lines = [
        f"; {number}: service {service.key} {comment_text(service.name)}{measured}",
        f"exten => {number},1,NoOp(centralita service {service.key} dialed {number})",
        " same => n,Answer()",
        f" same => n,Set(CHANNEL(language)={pbx.language})",
        f" same => n,Set({cc.SERVICE}={service.key})",
        f" same => n,Set({cc.QUEUE}={service.queue})",
        f" same => n,Set({cc.PRIORITY}={service.priority.default})",
        f" same => n,Set({cc.MAX_WAIT}={_wait(queue.max_wait_s)})",
        f" same => n,Set({cc.DEST_KIND}=queue)",
        f" same => n,Set({cc.DEST_NUMBER}=)",
        f" same => n,Set({cc.ANNOUNCEMENT}=)",
        f" same => n,Set({cc.RULE}=)",
        f" same => n,TryExec(AGI({agi}))",
        " same => n,NoOp(centralita ivr AGISTATUS=${AGISTATUS} TRYSTATUS=${TRYSTATUS})",
        f' same => n,ExecIf($["${{{cc.QUEUE}}}" = ""]?Set({cc.QUEUE}={service.queue}))',
        f' same => n,GotoIf($["${{{cc.DEST_KIND}}}" = "number"]?number)',
        f' same => n,GotoIf($["${{{cc.DEST_KIND}}}" = "announcement"]?announcement)',
        f" same => n,ExecIf({has_announcement}?{play})",
        f" same => n,Set(QUEUE_PRIO=${{{cc.PRIORITY}}})",
        f" same => n,Queue(${{{cc.QUEUE}}},t,,,${{{cc.MAX_WAIT}}})",
        " same => n,NoOp(centralita not answered QUEUESTATUS=${QUEUESTATUS})",
    ]
    lines += _overflow(table, service)
    lines += [
        " same => n,Hangup()",
        f" same => n(number),ExecIf({has_announcement}?{play})",
        f" same => n,{dial}",
        " same => n,Hangup()",
        f" same => n(announcement),{play}",
        " same => n,Hangup()",
        "",
    ]
    return lines


def _wait(max_wait_s: int | None) -> str:
    """Queue()'s timeout argument: empty means no limit (the caller waits)."""
    return "" if max_wait_s is None else str(max_wait_s)


def _overflow(table: RoutingTable, service: Service) -> list[str]:
    match service.overflow:
        case None:
            return []
        case ToQueue(queue=name):
            wait = _wait(table.queue(name).max_wait_s)
            return [f" same => n,Queue({name},t,,,{wait})"]
        case ToNumber(number=number):
            pbx = table.pbx
            return [f" same => n,Dial(Local/{number}@{pbx.outbound_context},{pbx.dial_timeout_s})"]
        case ToAnnouncement(announcement=name):
            return [f" same => n,Playback({table.announcement(name).sound})"]


def _campaign(table: RoutingTable, service: Service) -> list[str]:
    queue = table.queue(service.queue)
    return [
        f"; {service.key}: {comment_text(service.name)} (outbound, caller id {service.caller_id})",
        f"exten => {service.key},1,NoOp(centralita campaign {service.key})",
        f" same => n,Set(CHANNEL(language)={table.pbx.language})",
        f" same => n,Set({cc.SERVICE}={service.key})",
        f" same => n,Set(QUEUE_PRIO={service.priority.default})",
        f" same => n,Queue({service.queue},t,,,{_wait(queue.max_wait_s)})",
        " same => n,Hangup()",
        "",
    ]
