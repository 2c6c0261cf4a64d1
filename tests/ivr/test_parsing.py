"""Pure parts: reply parser robustness, flow data validation, request properties."""

from __future__ import annotations

import re
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from centralita.ivr.agi import AgiRequest, parse_reply
from centralita.ivr.events import user_event_body
from centralita.ivr.exceptions import AgiProtocolError, FlowConfigError
from centralita.ivr.flow_config import load_config, parse_config


@given(st.text(max_size=200))
def test_parse_reply_only_ever_raises_protocol_errors(line: str) -> None:
    message = ""
    try:
        reply = parse_reply(line)
    except AgiProtocolError as exc:
        message = str(exc)
    else:
        assert 100 <= reply.code <= 999
    assert "71234567" not in message  # digit runs are masked in error messages


def test_protocol_error_masks_numbers() -> None:
    with pytest.raises(AgiProtocolError) as caught:
        parse_reply("caller 71234567 said hi")
    assert "*****567" in str(caught.value)


def test_request_properties() -> None:
    request = AgiRequest(
        MappingProxyType(
            {
                "agi_network_script": "ivr?service=4639999&x=1",
                "agi_extension": "s",
                "agi_uniqueid": "1795925652.0",
            }
        )
    )
    assert request.script == "ivr"
    assert request.params == {"service": "4639999", "x": "1"}
    assert (request.extension, request.uniqueid, request.callerid) == ("s", "1795925652.0", "")


def test_user_event_body_is_one_safe_argument() -> None:
    body = user_event_body({"service": "101", "customer": 'a,b"c|d\ne', "result": "ok"})
    assert body == "CentralitaIvr,service: 101,customer: abcde,result: ok"


def test_packaged_flows_are_valid() -> None:
    config = load_config()
    assert config.flow["identify_customer"].identify
    assert config.flow["public_telephony_menu"].topics == ("billing", "damage")
    assert config.greeting("101") == "cc-saludo-101"
    assert config.greeting("5550000") == "cc-saludo-general"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t + "\n[flow.x]\nidentify = ['phone']\ntypo = 1\n", "unknown field"),
        (lambda t: t.replace('greeting = "cc-saludo-101"', 'greeting = "cc-nope"'), "cc-nope"),
        (lambda t: t + "\n[flow.y]\ntopics = ['a']\n", "topics (1-9) and menu go together"),
        (lambda t: t + "\n[flow.z]\nidentify = ['phone', 'phone']\n", "repeat"),
        (lambda t: t + "\n[flow.w]\nidentify = ['email']\n", "Invalid enum value 'email'"),
        (lambda t: t.replace("max_attempts = 3", "max_attempts = 0"), "max_attempts"),
        (lambda t: t + "\n[[", "flows.toml"),
    ],
)
def test_flow_data_errors_name_the_problem(edit, message: str) -> None:
    from importlib import resources

    text = resources.files("centralita.ivr").joinpath("flows.toml").read_text(encoding="utf-8")
    with pytest.raises(FlowConfigError, match=re.escape(message)):
        parse_config(edit(text))
