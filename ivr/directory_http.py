"""A CRM as customer directory, over HTTP (httpx).

Contract with the CRM: `GET {base_url}/customers?{kind}={value}` (kind is phone, contract
or ci) answers 200 with a JSON object of `Customer` fields (extra fields are ignored),
or 404 when there is no such customer. Anything else, a timeout or a body that does not
decode is `DirectoryUnavailableError`.
"""

from __future__ import annotations

import httpx
import msgspec

from ivr.directory import Customer
from ivr.events import InputKind
from ivr.exceptions import DirectoryUnavailableError

_decoder = msgspec.json.Decoder(Customer)


class HttpCustomerDirectory:
    """`CustomerDirectory` on a CRM's HTTP API."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 2.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )

    async def lookup(self, kind: InputKind, value: str) -> Customer | None:
        """Ask the CRM; 404 is 'not found'."""
        if kind is InputKind.NONE or not value:
            return None
        try:
            response = await self._client.get("/customers", params={kind.value: value})
        except httpx.HTTPError as exc:
            raise DirectoryUnavailableError(f"CRM request failed: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise DirectoryUnavailableError(f"CRM answered HTTP {response.status_code}")
        try:
            return _decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            raise DirectoryUnavailableError(f"CRM answered an invalid body: {exc}") from exc

    async def close(self) -> None:
        """Close the HTTP client when this directory created it."""
        if self._owns_client:
            await self._client.aclose()
