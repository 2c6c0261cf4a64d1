"""`manager_custom.conf`: the daemon's least-privilege AMI user, without its secret.

read: call (channels, Join/Leave in 11, OriginateResponse), agent (queue and member
events), dialplan (VarSet: QUEUESTATUS, AGISTATUS), user (UserEvent from the IVR).
write: originate (the prepaid campaign). QueueStatus/QueueSummary need no class.
"""

from __future__ import annotations

from asterisk_conf.header import header
from asterisk_conf.options import Target
from routing import RoutingTable

FILENAME = "manager_custom.conf"
READ_CLASSES = ("call", "agent", "dialplan", "user")
WRITE_CLASSES = ("originate",)


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
        f"write={','.join(WRITE_CLASSES)}",
        "",
    ]
    return "\n".join(lines)
