"""A campaign call's screen-pop carries the campaign's customer and script K."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from centralita.ami_listener.records import CallRecord, QueueEntryRecord
from centralita.ami_listener.tracker import CallAnswered
from centralita.campaigns.ports import CampaignPop
from centralita.screenpop.model import ScreenPop
from centralita.screenpop.publisher import ScreenPopPublisher
from centralita.wiring import campaign_pop_sink


async def test_campaign_pop_completes_the_call_pop_with_the_customer() -> None:
    publisher = ScreenPopPublisher("p", None)
    runner = asyncio.create_task(publisher.run())
    call = CallRecord(
        pbx_id="p",
        uniqueid="1.1",
        linkedid="1.1",
        service="prepago",
        exten="prepago",
        caller_num="71234567",
        caller_name="",
        entered_at=100.0,
        queues=["qprepago"],
        entries=[QueueEntryRecord(queue="qprepago", service="prepago", entered_at=100.0)],
        answered_at=103.0,
    )
    publisher.handle(
        CallAnswered(call=call, queue="qprepago", agent_interface="SIP/201", agent_name="Ana")
    )
    async with asyncio.timeout(10):
        while publisher.bus.pop_for_call("1.1") is None:
            await asyncio.sleep(0.01)
    send = campaign_pop_sink(publisher)
    await send(
        CampaignPop(
            agent="SIP/201",
            attempt_id=7,
            uniqueid="1.1",
            month="2026-12",
            script_id="prepago",
            fields={
                "contrato": "C-123",
                "nombre": "María Gutiérrez",
                "servicio": "TV cable",
                "vencimiento": "2026-12-31",
                "telefono": "71234567",
                "intento": "1",
            },
        )
    )
    delivered = publisher.bus.pop_for_call("1.1")
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert delivered is not None
    pop = msgspec.json.decode(delivered.body, type=ScreenPop)
    assert pop.customer is not None
    assert pop.customer.contract == "C-123"
    assert pop.customer.name == "María Gutiérrez"
    assert "2026-12-31" in pop.customer.notes
    assert pop.script_id == "prepago"
    assert pop.agent == "sip-201"
