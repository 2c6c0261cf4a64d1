"""The CRM adapter over httpx.MockTransport: found, not found, and every way of being down."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from centralita.ivr.directory_http import HttpCustomerDirectory
from centralita.ivr.events import InputKind
from centralita.ivr.exceptions import DirectoryUnavailableError
from centralita.ivr.flow_config import IvrConfig
from centralita.ivr.routing_adapter import RoutingRouter
from tests.ivr.conftest import StartServer, priority
from tests.ivr.fake_asterisk import FakeAsterisk

CRM_BODY = {
    "contract": "200999",
    "name": "Ñusta Quispe SRL",
    "segment": "vip",
    "phone": "71234567",
    "services": ["internet"],
    "crm_internal_id": 99,  # extra fields are ignored
}


def crm(handler: httpx.MockTransport) -> HttpCustomerDirectory:
    client = httpx.AsyncClient(base_url="http://crm.test", transport=handler)
    return HttpCustomerDirectory("http://crm.test", client=client)


def answering(requests: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.params.get("phone") == "71234567":
            return httpx.Response(200, json=CRM_BODY)
        return httpx.Response(404, json={"detail": "not found"})

    return httpx.MockTransport(handle)


async def test_found_and_not_found() -> None:
    requests: list[httpx.Request] = []
    directory = crm(answering(requests))
    found = await directory.lookup(InputKind.PHONE, "71234567")
    assert found is not None
    assert (found.contract, found.segment, found.services) == ("200999", "vip", ("internet",))
    assert await directory.lookup(InputKind.CI, "5551234") is None
    assert [str(r.url) for r in requests] == [
        "http://crm.test/customers?phone=71234567",
        "http://crm.test/customers?ci=5551234",
    ]


def _raise_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow CRM", request=request)


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    "handler",
    [
        lambda request: httpx.Response(503, text="maintenance"),
        lambda request: httpx.Response(200, text="<html>login</html>"),
        lambda request: httpx.Response(200, json={"contract": "1"}),  # fields missing
        _raise_timeout,
        _refuse,
    ],
    ids=["http-503", "not-json", "missing-fields", "timeout", "refused"],
)
async def test_every_failure_is_directory_unavailable(handler) -> None:
    directory = crm(httpx.MockTransport(handler))
    with pytest.raises(DirectoryUnavailableError):
        await directory.lookup(InputKind.PHONE, "71234567")


async def test_a_real_connection_refused_gives_a_queue(start_server: StartServer) -> None:
    directory = HttpCustomerDirectory("http://127.0.0.1:1", timeout_s=0.5)
    try:
        server = await start_server(directory_=directory)
        transcript = await FakeAsterisk(server.port, digits=["1", "71234567"]).run()
    finally:
        await directory.close()
    assert transcript.event["result"] == "directory_down"
    assert transcript.queue == "q101"


async def test_crm_drives_the_flow(start_server: StartServer, router: RoutingRouter) -> None:
    directory = crm(answering([]))
    server = await start_server(directory_=directory)
    transcript = await FakeAsterisk(server.port, digits=["1", "71234567"]).run()
    assert transcript.event["customer"] == "200999"
    assert transcript.event["segment"] == "vip"
    assert transcript.variables["CC_PRIORITY"] == priority(router, "101", "vip")


async def test_the_daemons_ivr_asks_the_crm_its_pops_use(
    start_server: StartServer, sqlite_url: str, ivr_config: IvrConfig
) -> None:
    """[directory] crm_url: the daemon's IVR looks the caller up in the CRM (a real HTTP
    server on 127.0.0.1), the very directory the pops and the guides use; without it, the
    customers table."""
    from types import SimpleNamespace

    from centralita.ami_listener.store import make_engine
    from centralita.ivr.directory import SqlCustomerDirectory
    from centralita.settings import parse_settings
    from centralita.wiring import customer_directory, ivr_directory
    from tests.ivr.guide_server import guide_crm

    engine = make_engine(sqlite_url)
    try:
        async with guide_crm() as crm:
            settings = parse_settings(f'[directory]\ncrm_url = "{crm.base}"\n', env={})
            guide = customer_directory(settings, engine)
            parts = SimpleNamespace(extra={"guide": guide}, engine=engine)
            directory = ivr_directory(settings, parts)  # type: ignore[arg-type]
            assert directory is guide
            # a real HTTP round trip: more time than the in-memory tests' 0.3 s lookup
            patient = msgspec.structs.replace(ivr_config, lookup_timeout_s=10.0)
            server = await start_server(directory_=directory, config=patient)
            transcript = await FakeAsterisk(
                server.port, digits=["1", "4412345"], callerid="4412345"
            ).run()
            await guide.close()
        assert transcript.event["customer"] == "100871"
        assert transcript.event["segment"] == "vip"
        plain = parse_settings("", env={})
        alone = SimpleNamespace(extra={}, engine=engine)
        assert isinstance(ivr_directory(plain, alone), SqlCustomerDirectory)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
