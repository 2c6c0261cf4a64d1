"""The mail task's settings, built by the app layer from ``[mail]`` (`centralita.settings`)."""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from centralita.mail.exceptions import MailConfigError

ADDRESS = re.compile(r"^[^@\s<>\",;]+@[^@\s<>\",;]+\.[^@\s<>\",;]+$")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send (``repr`` never shows the password)."""

    host: str
    port: int
    from_address: str
    recipients: Mapping[str, str]
    starttls: bool = True
    tls: bool = False
    tls_context: ssl.SSLContext | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    poll_interval_s: float = 5.0
    retry_min_s: float = 30.0
    retry_max_s: float = 3600.0
    max_attempts: int = 50

    @classmethod
    def build(
        cls,
        *,
        host: str,
        port: int,
        starttls: bool,
        tls: bool,
        ca_file: str,
        username: str,
        password: str,
        from_address: str,
        recipients: Mapping[str, str],
        timeout_s: float,
        poll_interval_s: float,
        retry_min_s: float,
        retry_max_s: float,
        max_attempts: int,
    ) -> SmtpConfig:
        """Check the values and build the TLS context.

        Raises:
            MailConfigError: one Spanish line naming the ``mail.`` key and what to do.
        """
        if not host:
            raise MailConfigError("mail.host: falta el servidor SMTP")
        if not 1 <= port <= 65535:
            raise MailConfigError(f"mail.port: {port} no es un puerto (1-65535)")
        if starttls and tls:
            raise MailConfigError("mail: starttls y tls no van juntos; elija uno")
        if not ADDRESS.match(from_address):
            raise MailConfigError(
                f"mail.from_address: «{from_address}» no es una dirección de correo; indíquela"
            )
        for name, address in recipients.items():
            if not NAME.match(name):
                raise MailConfigError(
                    f"mail.recipients.{name}: el nombre debe ir en minúsculas, "
                    "con letras, dígitos y _"
                )
            if not ADDRESS.match(address):
                raise MailConfigError(
                    f"mail.recipients.{name}: «{address}» no es una dirección de correo"
                )
        if password and not username:
            raise MailConfigError("mail: hay contraseña pero falta mail.username")
        if timeout_s <= 0 or poll_interval_s <= 0 or retry_min_s <= 0:
            raise MailConfigError(
                "mail: timeout_s, poll_interval_s y retry_min_s deben ser mayores que 0"
            )
        if retry_max_s < retry_min_s:
            raise MailConfigError("mail.retry_max_s no puede ser menor que mail.retry_min_s")
        if max_attempts < 1:
            raise MailConfigError("mail.max_attempts debe ser 1 o más")
        context = None
        if starttls or tls:
            try:
                context = ssl.create_default_context(cafile=ca_file or None)
            except (OSError, ssl.SSLError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise MailConfigError(f"mail.ca_file: no se puede usar ({reason})") from exc
        elif ca_file:
            raise MailConfigError("mail.ca_file requiere starttls o tls")
        return cls(
            host=host,
            port=port,
            from_address=from_address,
            recipients=dict(recipients),
            starttls=starttls,
            tls=tls,
            tls_context=context,
            username=username or None,
            password=password or None,
            timeout_s=timeout_s,
            poll_interval_s=poll_interval_s,
            retry_min_s=retry_min_s,
            retry_max_s=retry_max_s,
            max_attempts=max_attempts,
        )

    def address_of(self, recipient: str) -> str | None:
        """The address a script's ``to`` means: a literal address, or a configured name."""
        if ADDRESS.match(recipient):
            return recipient
        return self.recipients.get(recipient)

    def backoff_s(self, attempts: int) -> float:
        """Wait before the next try after `attempts` failed ones: doubling, capped."""
        return float(min(self.retry_max_s, self.retry_min_s * 2 ** max(0, attempts - 1)))
