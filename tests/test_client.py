"""The client against the emulator over real loopback HTTP: endpoints, events, faults, retries."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import httpx
import pytest
from waiting import HANG_GUARD_S, wait_until

from kimi_magic import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    Conversation,
    Kimi,
    StreamError,
)
from kimi_magic.core.types import ReasoningDelta, TextDelta, ToolCallDelta
from kimi_magic.emulator import Emulator


def client_for(emu: Emulator, **kwargs: Any) -> Kimi:
    return Kimi(base_url=emu.base_url, account_id=emu.account_id, api_token=emu.token, **kwargs)


@pytest.fixture
def kimi(emulator: Emulator) -> Any:
    with client_for(emulator) as client:
        yield client


def raw(*chunks: bytes, content_type: str = "text/event-stream") -> dict[str, Any]:
    return {
        "raw_chunks_b64": [base64.b64encode(c).decode() for c in chunks],
        "content_type": content_type,
    }


THINK_THEN_ANSWER = {
    "reasoning": "Let me think.",
    "content": "Hello **world**.",
    "usage": {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "prompt_tokens_details": {"cached_tokens": 400},
    },
}


# -- endpoints ----------------------------------------------------------------------------


def test_native_stream_gives_reasoning_then_text_usage_cost(kimi: Kimi, emulator: Emulator) -> None:
    emulator.script(THINK_THEN_ANSWER)
    stream = kimi.stream([{"role": "user", "content": "hi"}])
    kinds = [type(e) for e in stream if isinstance(e, (ReasoningDelta, TextDelta))]
    assert kinds.index(TextDelta) > max(i for i, k in enumerate(kinds) if k is ReasoningDelta)
    assert list(stream) and list(stream) == list(stream)  # replays what it streamed
    emulator.script(THINK_THEN_ANSWER)
    answer = kimi.ask("hi")
    assert (answer.text, answer.reasoning) == ("Hello **world**.", "Let me think.")
    assert (
        answer.usage.prompt_tokens,
        answer.usage.cached_tokens,
        answer.usage.completion_tokens,
    ) == (1000, 400, 500)
    assert answer.cost == pytest.approx((600 * 0.95 + 400 * 0.16 + 500 * 4.0) / 1e6)
    assert answer.finish_reason == "stop"
    assert answer.request_id  # the emulator sends a cf-ray header
    assert emulator.requests[-1]["path"].endswith("/ai/run/@cf/moonshotai/kimi-k2.6")


@pytest.mark.parametrize("api", ["native", "openai"])
def test_non_streaming_unwraps_envelope(emulator: Emulator, api: str) -> None:
    emulator.script({"reasoning": "R", "content": "Plain answer."})
    with client_for(emulator, api=api) as kimi:
        answer = kimi.ask("hi", stream=False)
    assert (answer.text, answer.reasoning) == ("Plain answer.", "R")
    body = emulator.requests[-1]["json"]
    assert body["stream"] is False
    if api == "openai":
        assert emulator.requests[-1]["path"].endswith("/ai/v1/chat/completions")
        assert body["model"] == "@cf/moonshotai/kimi-k2.6"


def test_openai_compatible_server_by_base_url(emulator: Emulator) -> None:
    emulator.script({"content": "via openai base"})
    with Kimi(openai_base_url=emulator.openai_base_url, api_key=emulator.token) as kimi:
        assert kimi.ask("hi").text == "via openai base"
    assert emulator.requests[-1]["path"].endswith("/chat/completions")


@pytest.mark.parametrize("api", ["native", "openai"])
def test_ai_gateway_base_url(emulator: Emulator, api: str) -> None:
    emulator.script({"content": "through the gateway"})
    with Kimi(base_url=emulator.gateway_base_url, api_token=emulator.token, api=api) as kimi:
        assert kimi.ask("hi").text == "through the gateway"
    path = emulator.requests[-1]["path"]
    assert "/workers-ai/" in path


def test_environment_variables_choose_the_endpoint(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CF_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_AUTH_TOKEN", emulator.token)
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    emulator.script({"content": "from env"})
    with Kimi() as kimi:
        assert kimi.ask("hi").text == "from env"


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content", "both"])
def test_reasoning_field_variants_read_once(emulator: Emulator, kimi: Kimi, field: str) -> None:
    emulator.configure(reasoning_field=field)
    emulator.script({"reasoning": "step one, step two", "content": "done"})
    assert kimi.ask("hi").reasoning == "step one, step two"


@pytest.mark.parametrize("mode", ["final_chunk", "every_chunk", "trailing_response"])
def test_usage_modes(emulator: Emulator, kimi: Kimi, mode: str) -> None:
    emulator.script(
        {
            "content": "counted",
            "usage_mode": mode,
            "usage": {"prompt_tokens": 12, "completion_tokens": 34},
        }
    )
    usage = kimi.ask("hi").usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (12, 34)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_line_endings_and_comments(emulator: Emulator, kimi: Kimi, ending: str) -> None:
    emulator.script({"content": "line endings ok", "line_ending": ending, "comments": True})
    assert kimi.ask("hi").text == "line endings ok"


def test_tool_call_pieces_are_assembled(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script({"tool_calls": [{"name": "get_weather", "arguments": '{"city": "Paris"}'}]})
    stream = kimi.stream([{"role": "user", "content": "weather?"}])
    pieces = [e for e in stream if isinstance(e, ToolCallDelta)]
    assert len(pieces) >= 2 and pieces[0].name == "get_weather" and pieces[0].id
    call = stream.answer.tool_calls[0]
    assert (call.name, call.arguments) == ("get_weather", '{"city": "Paris"}')
    assert stream.answer.finish_reason == "tool_calls"


# -- raw streams: what another server may send ---------------------------------------------

CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":"caf\xc3\xa9"}}]}\n\n'


def test_utf8_split_across_network_writes(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script(raw(CHUNK[:40], CHUNK[40:-6], CHUNK[-6:], b"data: [DONE]\n\n"))
    assert kimi.ask("hi").text == "café"


def test_old_workers_ai_response_shape_and_trailing_usage(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script(
        raw(
            b'data: {"response":"Hi "}\n\n',
            b'data: {"response":"there"}\n\n',
            b'data: {"response":"","usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n',
            b"data: [DONE]\n\n",
        )
    )
    answer = kimi.ask("hi")
    assert answer.text == "Hi there" and answer.usage.completion_tokens == 2


def test_reasoning_content_fallback_only_when_reasoning_absent(
    emulator: Emulator, kimi: Kimi
) -> None:
    emulator.script(
        raw(
            b'data: {"choices":[{"index":0,"delta":'
            b'{"reasoning":"A","reasoning_content":"A"}}]}\n\n',
            b'data: {"choices":[{"index":0,"delta":{"reasoning_content":"B"}}]}\n\n',
            b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n',
            b"data: [DONE]\n\n",
        )
    )
    assert kimi.ask("hi").reasoning == "AB"


# -- faults: the message the user sees ------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        (401, 10000, "CLOUDFLARE_API_TOKEN"),
        (403, 5035, "Workers Paid plan"),
        (404, 7003, "CLOUDFLARE_ACCOUNT_ID"),
        (400, 5007, "does not know this model"),
        (400, 3042, "does not know this model"),
        (413, 3006, "too large"),
        (429, 3036, "daily free"),  # a 429 that retrying cannot fix
        (400, 8001, "invalid input"),
    ],
)
def test_cloudflare_error_codes_say_what_to_do(
    emulator: Emulator, kimi: Kimi, status: int, code: int, words: str
) -> None:
    emulator.script({"fault": {"type": "http_error", "status": status, "code": code}})
    with pytest.raises(APIStatusError) as caught:
        kimi.ask("hi")
    message = str(caught.value)
    assert words in message and str(code) in message
    assert "Traceback" not in message and "\n" not in message
    assert len(emulator.requests) == 1  # not retried


def test_wrong_token_is_never_echoed(emulator: Emulator) -> None:
    secret = "sk-very-secret-token-1234"
    with Kimi(base_url=emulator.base_url, account_id=emulator.account_id, api_token=secret) as kimi:
        assert secret not in repr(kimi) and secret not in repr(kimi.endpoint)
        with pytest.raises(APIStatusError) as caught:
            kimi.ask("hi")
    assert caught.value.code == 10000
    assert secret not in str(caught.value) and secret not in repr(caught.value)


def test_token_in_a_server_message_is_redacted(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script(
        {
            "fault": {
                "type": "http_error",
                "status": 400,
                "code": 8001,
                "message": f"bad request from token {emulator.token}",
            }
        }
    )
    with pytest.raises(APIStatusError) as caught:
        kimi.ask("hi")
    assert emulator.token not in str(caught.value) and "[redacted]" in str(caught.value)


def test_openai_shaped_error(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script(
        {"fault": {"type": "openai_error", "status": 400, "message": "temperature out of range"}}
    )
    with pytest.raises(APIStatusError, match="temperature out of range"):
        kimi.ask("hi")


def test_200_json_error_to_a_stream_is_retried_then_reported(emulator: Emulator) -> None:
    fault = {
        "fault": {
            "type": "json_error_200",
            "code": 3040,
            "message": "Capacity temporarily exceeded",
        }
    }
    emulator.script(fault, fault)
    with client_for(emulator, max_retries=1) as kimi, pytest.raises(APIStatusError) as caught:
        kimi.ask("hi")
    assert caught.value.code == 3040 and "out of capacity" in str(caught.value)
    assert len(emulator.requests) == 2


def test_disconnect_mid_stream_keeps_the_partial_answer(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script(
        {
            "content": "one two three four five six",
            "chunk_chars": 4,
            "fault": {"type": "disconnect", "after_chunks": 3},
        }
    )
    with pytest.raises(StreamError, match="connection broke") as caught:
        kimi.ask("hi")
    partial = caught.value.answer
    assert partial is not None and partial.truncated and partial.text == "one two thre"
    assert len(emulator.requests) == 1  # never retried after text was shown


def test_malformed_event(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script(
        {"content": "abcdefgh", "chunk_chars": 2, "fault": {"type": "malformed", "after_chunks": 2}}
    )
    with pytest.raises(StreamError, match="not valid JSON") as caught:
        kimi.ask("hi")
    assert caught.value.answer is not None and caught.value.answer.text == "abcd"


def test_in_stream_error_object(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script(
        {
            "content": "abcdefgh",
            "chunk_chars": 2,
            "fault": {"type": "stream_error", "after_chunks": 1, "message": "AiError: overloaded"},
        }
    )
    with pytest.raises(StreamError, match="overloaded") as caught:
        kimi.ask("hi")
    assert caught.value.answer is not None and caught.value.answer.text == "ab"


def test_stream_without_done_is_reported_truncated(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script(
        {"content": "abcdefgh", "chunk_chars": 2, "fault": {"type": "no_done", "after_chunks": 2}}
    )
    with pytest.raises(StreamError, match="truncated") as caught:
        kimi.ask("hi")
    assert caught.value.answer is not None and caught.value.answer.text == "abcd"


def test_stall_longer_than_read_timeout(emulator: Emulator) -> None:
    emulator.script(
        {
            "content": "abcdefgh",
            "chunk_chars": 2,
            "fault": {"type": "stall", "after_chunks": 2, "seconds": 2},
        }
    )
    with (
        client_for(emulator, read_timeout=0.3) as kimi,
        pytest.raises(StreamError, match="read timeout") as caught,
    ):
        kimi.ask("hi")
    assert caught.value.answer is not None and caught.value.answer.text == "abcd"


def test_stall_before_headers_is_a_timeout_error(emulator: Emulator) -> None:
    emulator.script({"fault": {"type": "stall", "seconds": 2}})
    with (
        client_for(emulator, read_timeout=0.3, max_retries=0) as kimi,
        pytest.raises(APITimeoutError, match="read_timeout"),
    ):
        kimi.ask("hi")


def test_connection_refused_says_so() -> None:
    with (
        Kimi(
            base_url="http://127.0.0.1:9/client/v4", account_id="a", api_token="t", max_retries=0
        ) as kimi,
        pytest.raises(APIConnectionError, match=r"Could not reach 127\.0\.0\.1:9"),
    ):
        kimi.ask("hi")


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CLOUDFLARE_ACCOUNT_ID",
        "CF_ACCOUNT_ID",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_AUTH_TOKEN",
        "CF_API_TOKEN",
        "KIMI_MAGIC_OPENAI_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN"):
        Kimi()


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(429, 3040), (503, None), (408, 3007), (409, None), (500, None)]
)
def test_transient_errors_are_retried(
    emulator: Emulator, kimi: Kimi, status: int, code: int | None
) -> None:
    fault: dict[str, Any] = {"type": "http_error", "status": status, "retry_after": 0}
    if code:
        fault["code"] = code
    emulator.script({"fault": fault}, {"fault": fault}, {"content": "third time lucky"})
    assert kimi.ask("hi").text == "third time lucky"
    assert len(emulator.requests) == 3


def test_retry_after_is_honoured(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script(
        {"fault": {"type": "http_error", "status": 429, "code": 3040, "retry_after": 1}},
        {"content": "after waiting"},
    )
    started = time.perf_counter()
    assert kimi.ask("hi").text == "after waiting"
    assert time.perf_counter() - started >= 1.0
    assert len(emulator.requests) == 2


def test_retries_stop_at_the_limit(emulator: Emulator) -> None:
    fault = {"fault": {"type": "http_error", "status": 503, "retry_after": 0}}
    emulator.script(*[fault] * 5)
    with client_for(emulator, max_retries=2) as kimi, pytest.raises(APIStatusError, match="503"):
        kimi.ask("hi")
    assert len(emulator.requests) == 3


# -- conversation and requests --------------------------------------------------------------


def test_conversation_history_and_affinity_header(emulator: Emulator, kimi: Kimi) -> None:
    chat = Conversation()
    kimi.ask("first", chat=chat)
    kimi.ask("second", chat=chat, system="Be brief.")
    first, second = emulator.requests
    assert [m["role"] for m in second["json"]["messages"]] == [
        "system",
        "user",
        "assistant",
        "user",
    ]
    assert first["headers"]["x-session-affinity"] == second["headers"]["x-session-affinity"]
    assert first["headers"]["x-session-affinity"] == chat.session_id


def test_requests_validate_against_the_published_schema(
    emulator: Emulator, kimi: Kimi, validate_request: Any
) -> None:
    kimi.ask("plain")
    kimi.ask(
        "tuned",
        temperature=0.3,
        top_p=0.9,
        seed=7,
        max_completion_tokens=256,
        reasoning_effort="low",
        frequency_penalty=0.1,
        presence_penalty=0.2,
        stop=["###"],
    )
    kimi.ask("no thinking", thinking=False, stream=False)
    kimi.ask("old max", max_tokens=100)
    for request in emulator.requests:
        validate_request(request["json"])
    off = emulator.requests[2]["json"]["chat_template_kwargs"]
    assert off == {"thinking": False, "enable_thinking": False}
    assert emulator.requests[3]["json"]["max_completion_tokens"] == 100
    assert "max_tokens" not in emulator.requests[3]["json"]


def test_the_validator_rejects_a_bad_body(validate_request: Any) -> None:
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        validate_request({"messages": [{"role": "user", "content": "hi"}], "temperature": 7})
    with pytest.raises(jsonschema.ValidationError):
        validate_request({"temperature": 0.5})


def test_injected_transport_is_used() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "result": {
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "mocked"},
                            "finish_reason": "stop",
                        }
                    ]
                },
                "success": True,
                "errors": [],
                "messages": [],
            },
        )

    with Kimi(account_id="acct", api_token="tok", transport=httpx.MockTransport(handler)) as kimi:
        assert kimi.ask("hi", stream=False).text == "mocked"
    assert seen[0].url.path == "/client/v4/accounts/acct/ai/run/@cf/moonshotai/kimi-k2.6"


def test_a_server_without_request_id_header_or_usage(emulator: Emulator, kimi: Kimi) -> None:
    from kimi_magic.core.answer import footer_line

    emulator.script(
        raw(
            b'data: {"id":"chatcmpl-42","choices":[{"index":0,"delta":{"content":"Hi!"}}]}\n\n',
            b'data: {"id":"chatcmpl-42","choices":[{"index":0,"delta":{},'
            b'"finish_reason":"stop"}]}\n\n',
            b"data: [DONE]\n\n",
        )
    )
    answer = kimi.ask("hi")
    assert answer.request_id and answer.request_id.endswith("-EMU")  # the cf-ray header
    assert answer.text == "Hi!" and answer.usage.total_tokens == 0
    assert footer_line(answer).startswith("usage not reported by the server · out ≈ 1")


def test_without_a_request_id_header_the_completion_id_is_kept() -> None:
    body = (
        b'data: {"id":"chatcmpl-42","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        b'data: {"id":"chatcmpl-42","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
        b"\n\ndata: [DONE]\n\n"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))

    with Kimi(account_id="a", api_token="t", transport=httpx.MockTransport(handler)) as kimi:
        assert kimi.ask("hi").request_id == "chatcmpl-42"


def test_a_compressed_event_stream_is_decoded() -> None:
    import gzip

    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        assert "gzip" in request.headers["accept-encoding"]  # so a proxy may well compress
        headers = {"content-type": "text/event-stream", "content-encoding": "gzip"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(gzip.compress(body)))

    with Kimi(account_id="a", api_token="t", transport=httpx.MockTransport(handler)) as kimi:
        assert kimi.ask("hi").text == "Hi"


class _BrokenBody(httpx.SyncByteStream):
    def __iter__(self) -> Any:
        yield b'{"errors": ['
        raise httpx.ReadError("connection reset")


@pytest.mark.parametrize("status", [503, 200])
def test_a_body_that_breaks_while_read_is_one_of_our_errors(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/json"}
        return httpx.Response(status, headers=headers, stream=_BrokenBody())

    transport = httpx.MockTransport(handler)
    with (
        Kimi(account_id="a", api_token="t", transport=transport, max_retries=0) as kimi,
        pytest.raises(APIConnectionError, match="ReadError"),
    ):
        kimi.ask("hi", stream=status == 200)


def test_stop_during_a_retry_wait_sends_nothing_more(emulator: Emulator, kimi: Kimi) -> None:
    emulator.script(
        {"fault": {"type": "http_error", "status": 429, "code": 3040, "retry_after": 30}},
        {"content": "too late"},
    )
    stream = kimi.stream([{"role": "user", "content": "hi"}])
    reader = threading.Thread(target=stream.result)
    reader.start()
    wait_until(lambda: emulator.requests, "the first request to reach the emulator")
    stream.stop()
    # Had stop not cut the 30 s Retry-After wait, the reader would sit it out past the guard.
    reader.join(timeout=HANG_GUARD_S / 2)
    assert not reader.is_alive(), "stop did not end the wait for the Retry-After"
    assert len(emulator.requests) == 1 and stream.answer.interrupted


def test_a_call_that_failed_before_any_answer_is_not_a_turn(emulator: Emulator, kimi: Kimi) -> None:
    chat = Conversation()
    emulator.script({"fault": {"type": "http_error", "status": 401, "code": 10000}})
    with pytest.raises(APIStatusError):
        kimi.ask("first try", chat=chat)
    assert chat.messages == [] and chat.answers == []
    kimi.ask("second try", chat=chat)
    sent = emulator.requests[-1]["json"]["messages"]
    assert [m["content"] for m in sent] == ["second try"]  # no empty assistant turn


def test_a_stream_stopped_before_it_starts_sends_nothing(emulator: Emulator, kimi: Kimi) -> None:
    stream = kimi.stream([{"role": "user", "content": "hi"}])
    stream.stop()
    assert list(stream) == [] and emulator.requests == []
    assert stream.answer.interrupted


def test_credentials_in_a_base_url_stay_out_of_messages(emulator: Emulator) -> None:
    base = emulator.openai_base_url.replace("://", "://proxyuser:s3cret-pass@")
    with Kimi(openai_base_url=base, api_key="k", max_retries=0) as kimi:
        assert "s3cret-pass" not in repr(kimi) and "s3cret-pass" not in kimi.endpoint.shown_url
        assert kimi.endpoint.host == base.split("@")[1].split("/")[0]
    with (
        Kimi(openai_base_url="http://u:s3cret-pass@127.0.0.1:9/v1", max_retries=0) as kimi,
        pytest.raises(APIConnectionError) as caught,
    ):
        kimi.ask("hi")
    assert "s3cret-pass" not in str(caught.value) and "127.0.0.1:9" in str(caught.value)
