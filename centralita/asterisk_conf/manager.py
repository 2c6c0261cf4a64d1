"""`manager_custom.conf`: the daemon's least-privilege AMI user, without its secret.

read: call (channels, Join/Leave in 11, OriginateResponse), agent (queue and member
events), dialplan (VarSet: QUEUESTATUS, AGISTATUS), user (UserEvent from the IVR).
write: reporting, the least class that allows the ``Status`` action (registered as
system|call|reporting; the resync after a reconnect lists the live channels with it),
originate only when the prepaid campaign dials (``Target.campaign``), and call (Redirect:
the console's transfers) and agent (QueuePause: pauses with a reason) only when the
console's call controls are on (``Target.call_controls``, the daemon's ``[console]
call_controls``). QueueStatus,
QueueSummary, Ping, ListCommands need no class. ``centralita doctor`` warns when the user
it logs in as can run actions of other classes.
"""

from __future__ import annotations

from centralita.asterisk_conf.header import header
from centralita.asterisk_conf.options import Target
from centralita.routing import RoutingTable

FILENAME = "manager_custom.conf"
READ_CLASSES = ("call", "agent", "dialplan", "user")
WRITE_CLASSES = ("reporting",)
CAMPAIGN_WRITE_CLASSES = ("originate",)
CALL_CONTROLS_WRITE_CLASSES = ("call", "agent")


def write_classes(campaign: bool, call_controls: bool = False) -> tuple[str, ...]:
    """The write classes the daemon needs, with or without the campaign's dialer and the
    console's call controls."""
    return (
        WRITE_CLASSES
        + (CAMPAIGN_WRITE_CLASSES if campaign else ())
        + (CALL_CONTROLS_WRITE_CLASSES if call_controls else ())
    )


def render_manager(table: RoutingTable, target: Target) -> str:
    """The text of manager_custom.conf."""
    pbx = table.pbx
    lines = header(
        FILENAME,
        target,
        "Include it at the END of manager.conf (FreePBX/Elastix already do).",
        "No secret here: the user's secret is read from the one-line file",
        f"{pbx.ami_secret_include} (`secret = ...`, mode 0640, owner asterisk), which the",
        "admin creates with the same value as the daemon's CENTRALITA_AMI_SECRET.",
        "Without that file the user exists but cannot log in.",
    )
    lines += [
        "[general](+)",
        "timestampevents=yes",
    ]
    if target.legacy:
        lines.append("channelvars=CHANNEL(linkedid)   ; Asterisk 11 has no Linkedid header")
    lines += [
        "",
        f"[{pbx.ami_user}]",
        f"#tryinclude {pbx.ami_secret_include}",
        "deny=0.0.0.0/0.0.0.0",
        f"permit={target.ami_permit}",
        f"read={','.join(READ_CLASSES)}",
        f"write={','.join(write_classes(target.campaign, target.call_controls))}",
        "",
    ]
    return "\n".join(lines)
