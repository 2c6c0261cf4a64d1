"""A CRM as customer directory and telephone guides, over HTTP (httpx).

Contract with the CRM (`base_url` is `[directory] crm_url`, or `ivr serve --crm-url`):

- `GET {base_url}/customers?{kind}={value}` (kind is phone, contract or ci) answers 200
  with a JSON object of `Customer` fields (extra fields are ignored), or 404 when there
  is no such customer.
- `GET {base_url}/guia?tipo={tipo}&q={text}&limite={n}`: the agents' search in a guide,
  `tipo` is `telefonica` (Sistema Guiatel, service 104) or `comercial` (Guía Comercial,
  4200224); `q` is what the agent typed (UTF-8, URL-encoded: a name, an address, a
  heading or the first digits of a number); `limite` is the most entries wanted (the
  CRM may send more: the first `limite` are kept). It answers 200 with a JSON list,
  possibly empty, of objects::

      {"name": "Ferretería El Puente", "number": "4223344",
       "address": "Av. Blanco Galindo km 4", "locality": "Quillacollo",
       "category": "Ferreterías", "reservado": false}

  `name` is required; `number`, `address`, `locality`, `category` (the commercial
  guide's heading) are strings, missing or null meaning ""; `reservado` is true for a
  number "en reserva" (unpublished), whose number centralita drops even if sent (the
  CRM should leave it out). Extra fields are ignored.

Anything else (another status, 404 included, a timeout, a refused connection, a body
that does not decode) is `DirectoryUnavailableError`: the console then says "directorio
no disponible", never an error page.
"""

from __future__ import annotations

import httpx
import msgspec

from centralita.ivr.directory import MAX_GUIDE_RESULTS, Customer, GuideEntry, GuideKind
from centralita.ivr.events import InputKind
from centralita.ivr.exceptions import DirectoryUnavailableError

_decoder = msgspec.json.Decoder(Customer)


class _WireEntry(msgspec.Struct, forbid_unknown_fields=False):
    """A `/guia` entry as the CRM sends it (null accepted for the optional strings)."""

    name: str
    number: str | None = None
    address: str | None = None
    locality: str | None = None
    category: str | None = None
    reservado: bool | None = False


_guide_decoder = msgspec.json.Decoder(list[_WireEntry])


class HttpCustomerDirectory:
    """`CustomerDirectory` and `GuideSearch` on a CRM's HTTP API."""

    source = "crm"

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

    async def search(self, guide: GuideKind, text: str, limit: int) -> list[GuideEntry]:
        """Ask the CRM's guide; blank text finds nothing (the CRM is not asked)."""
        wanted = text.strip()
        limit = max(1, min(limit, MAX_GUIDE_RESULTS))
        if not wanted:
            return []
        params = {"tipo": guide, "q": wanted, "limite": str(limit)}
        try:
            response = await self._client.get("/guia", params=params)
        except httpx.HTTPError as exc:
            raise DirectoryUnavailableError(f"CRM request failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise DirectoryUnavailableError(f"CRM guide answered HTTP {response.status_code}")
        try:
            wire = _guide_decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            raise DirectoryUnavailableError(f"CRM guide answered an invalid body: {exc}") from exc
        return [
            GuideEntry(
                name=w.name,
                number=w.number or "",
                address=w.address or "",
                locality=w.locality or "",
                category=w.category or "",
                reserved=bool(w.reservado),
            )
            for w in wire[:limit]
        ]

    async def close(self) -> None:
        """Close the HTTP client when this directory created it."""
        if self._owns_client:
            await self._client.aclose()
