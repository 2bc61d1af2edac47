"""Whole (non-streamed) replies, gateways and paths, against the foreign server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from foreign_server import (
    ACCOUNT,
    MODEL,
    TOKEN,
    ForeignServer,
    Reply,
    chunks,
    completion,
    cost,
    json_reply,
    sse,
)

from kimi_magic import APIStatusError, Kimi
from kimi_magic.api.endpoint import Endpoint

# -- whole replies ----------------------------------------------------------------------------


def test_a_whole_native_reply_in_the_envelope(kimi: Kimi, server: ForeignServer) -> None:
    body = {"result": completion("Four.", "2+2"), "success": True, "errors": [], "messages": []}
    server.script(json_reply(body))
    answer = kimi.ask("2+2?", stream=False)
    assert (answer.text, answer.reasoning, answer.finish_reason) == ("Four.", "2+2", "stop")
    assert answer.usage.total_tokens == 70 and answer.cost == pytest.approx(cost(50, 0, 20))
    assert server.requests[0].json["stream"] is False


@pytest.mark.parametrize("how", ["api=openai", "openai base url"])
def test_a_bare_openai_compatible_reply(
    env: ForeignServer, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    call = {
        "id": "functions.get_weather:0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    }
    env.script(json_reply(completion("", "need weather", tool_calls=[call])))
    if how == "api=openai":
        client = Kimi(api="openai")
    else:
        monkeypatch.setenv("KIMI_MAGIC_OPENAI_BASE_URL", f"http://127.0.0.1:{env.port}/compat/v1")
        monkeypatch.setenv("KIMI_MAGIC_API_KEY", TOKEN)
        client = Kimi()
    with client:
        answer = client.ask("Weather in Oslo?", stream=False)
    assert answer.reasoning == "need weather" and answer.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in answer.tool_calls] == [
        ("functions.get_weather:0", "get_weather", '{"city": "Oslo"}')
    ]
    assert env.requests[0].json["model"] == MODEL


def test_a_whole_reply_to_a_streaming_request(kimi: Kimi, server: ForeignServer) -> None:
    arguments = {"city": "Rome"}  # an object, not a JSON string, as older replies have it
    function = {"name": "get_weather", "arguments": arguments}
    call = {"id": "functions.get_weather:0", "type": "function", "function": function}
    body = {"result": completion("", tool_calls=[call]), "success": True, "errors": []}
    server.script(json_reply(body))
    answer = kimi.ask("Weather in Rome?")
    assert server.requests[0].json["stream"] is True
    assert [json.loads(c.arguments) for c in answer.tool_calls] == [arguments]
    assert answer.finish_reason == "tool_calls" and answer.usage.completion_tokens == 20


def test_an_html_gateway_error_is_retried(kimi: Kimi, server: ForeignServer) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    server.script(
        Reply([page], status=502, content_type="text/html", framing="length"),
        Reply(sse(chunks("Back.")), version="HTTP/1.0"),
    )
    assert kimi.ask("hi").text == "Back." and len(server.requests) == 2


def test_an_html_error_says_what_the_server_said(kimi: Kimi, server: ForeignServer) -> None:
    page = b"<html><body>Forbidden by policy</body></html>"
    server.script(Reply([page], status=403, content_type="text/html", framing="length"))
    with pytest.raises(APIStatusError, match="Forbidden by policy") as caught:
        kimi.ask("hi")
    assert caught.value.status == 403 and len(server.requests) == 1


@pytest.mark.parametrize("api", ["native", "openai"])
def test_through_an_ai_gateway(server: ForeignServer, api: Any) -> None:
    server.script(Reply(sse(chunks("via the gateway"))))
    base = f"http://127.0.0.1:{server.port}/gw/v1/{ACCOUNT}/my-gw/workers-ai"
    with Kimi(base_url=base, api_token=TOKEN, api=api) as client:
        assert client.ask("hi").text == "via the gateway"
    assert ("model" in server.requests[0].json) == (api == "openai")


def test_the_model_path_with_a_percent_encoded_at(server: ForeignServer) -> None:
    server.script(Reply(sse(chunks("encoded"))))
    base = f"http://127.0.0.1:{server.port}/client/v4/accounts/{ACCOUNT}/ai/run"
    endpoint = Endpoint(f"{base}/%40cf/moonshotai/kimi-k2.6", "native", MODEL, TOKEN)
    with Kimi(endpoint=endpoint) as client:
        assert client.ask("hi").text == "encoded"
    assert "%40cf" in server.requests[0].path
