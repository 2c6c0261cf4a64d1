"""Signed session cookies (stdlib HMAC-SHA256): ``base64(name|role|expiry).signature``.

The key comes from the daemon's settings or the environment; without one a random key is
made per process (sessions end with a restart).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

COOKIE = "centralita_session"
MAX_AGE_S = 12 * 3600


class SessionSigner:
    """Issues and checks session tokens."""

    def __init__(self, key: bytes | None = None, max_age_s: int = MAX_AGE_S) -> None:
        self._key = key or secrets.token_bytes(32)
        self.max_age_s = max_age_s

    def _sign(self, body: bytes) -> str:
        mac = hmac.new(self._key, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self, name: str, now: float | None = None) -> str:
        """A token for user ``name``, valid for ``max_age_s``."""
        expiry = int((now if now is not None else time.time()) + self.max_age_s)
        body = base64.urlsafe_b64encode(f"{name}|{expiry}".encode()).decode().rstrip("=")
        return f"{body}.{self._sign(body.encode())}"

    def check(self, token: str, now: float | None = None) -> str | None:
        """The user name of a valid, unexpired token; None otherwise."""
        body, _, mac = token.partition(".")
        if not body or not hmac.compare_digest(mac, self._sign(body.encode())):
            return None
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
            name, expiry = raw.rsplit("|", 1)
            if int(expiry) < (now if now is not None else time.time()):
                return None
        except ValueError:
            return None
        return name
