"""Names of the channel variables the dialplan and the IVR share (the AGI sets them).

The generated dialplan sets each one to the service's default before calling the AGI,
so a call still reaches its queue when the FastAGI server is unreachable; the IVR
overwrites them with `Decision.channel_vars()`.
"""

from __future__ import annotations

SERVICE = "CC_SERVICE"
"""Service key (also the agent script id)."""
QUEUE = "CC_QUEUE"
"""Queue to join when CC_DEST_KIND is `queue`."""
PRIORITY = "CC_PRIORITY"
"""Queue priority (copied into QUEUE_PRIO; higher is served first)."""
MAX_WAIT = "CC_MAXWAIT"
"""Maximum wait in the queue in seconds, then the overflow destination."""
DEST_KIND = "CC_DEST_KIND"
"""`queue`, `number` or `announcement`."""
DEST_NUMBER = "CC_DEST_NUMBER"
"""Number to dial when CC_DEST_KIND is `number`."""
ANNOUNCEMENT = "CC_ANNOUNCEMENT"
"""Sound to play before the destination (or as the destination); empty for none."""
RULE = "CC_RULE"
"""Name of the time rule that decided, empty for the default routing."""

ALL = (SERVICE, QUEUE, PRIORITY, MAX_WAIT, DEST_KIND, DEST_NUMBER, ANNOUNCEMENT, RULE)
