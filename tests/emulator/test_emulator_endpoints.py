"""The emulator's endpoints and the errors it gives before any answer, as a client receives them."""

from __future__ import annotations

import json

import httpx
import pytest
from emulator_http import (
    AUTH,
    HELLO,
    TOKEN,
    joined,
    native_url,
    openai_url,
    sse_data,
    stream_body,
)

from kimi_magic.core.constants import MODEL_ID
from kimi_magic.emulator import Emulator, Reply

# -- endpoints --------------------------------------------------------------------------------


def test_native_reply_is_wrapped_in_the_cloudflare_envelope(
    emulator: Emulator, http: httpx.Client
) -> None:
    r = http.post(native_url(emulator), headers=AUTH, json=HELLO)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cf-ray"]
    body = r.json()
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    completion = body["result"]
    assert completion["object"] == "chat.completion"
    assert completion["model"] == MODEL_ID
    assert completion["id"].startswith("chatcmpl-")
    message = completion["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert "You asked: Hello there, emulator" in message["content"]
    assert message["reasoning"]
    assert completion["choices"][0]["finish_reason"] == "stop"
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}


def test_default_answer_exercises_the_markdown_renderer(
    emulator: Emulator, http: httpx.Client
) -> None:
    content = http.post(native_url(emulator), headers=AUTH, json=HELLO).json()["result"]
    text = content["choices"][0]["message"]["content"]
    assert "\n## " in "\n" + text
    assert "\n- " in text
    assert "|---" in text
    assert "```python\n" in text
    assert "$$" in text and " $e^" in text


@pytest.mark.parametrize("model_path", [MODEL_ID, MODEL_ID.replace("@", "%40")])
def test_native_model_may_arrive_percent_encoded(
    emulator: Emulator, http: httpx.Client, model_path: str
) -> None:
    r = http.post(native_url(emulator, model_path), headers=AUTH, json=HELLO)
    assert r.status_code == 200
    assert emulator.requests[-1]["path"].endswith(model_path)


def test_prompt_form_is_answered(emulator: Emulator, http: httpx.Client) -> None:
    r = http.post(native_url(emulator), headers=AUTH, json={"prompt": "Tell me a joke"})
    assert "You asked: Tell me a joke" in r.json()["result"]["choices"][0]["message"]["content"]


def test_openai_endpoint_returns_a_bare_completion(emulator: Emulator, http: httpx.Client) -> None:
    r = http.post(openai_url(emulator), headers=AUTH, json={**HELLO, "model": MODEL_ID})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert "success" not in body


@pytest.mark.parametrize(
    ("model", "status", "code"), [(None, 400, 8001), ("@cf/meta/llama-3-8b", 400, 5007)]
)
def test_openai_endpoint_checks_the_model(
    emulator: Emulator, http: httpx.Client, model: str | None, status: int, code: int
) -> None:
    body = dict(HELLO) if model is None else {**HELLO, "model": model}
    r = http.post(openai_url(emulator), headers=AUTH, json=body)
    assert r.status_code == status
    assert r.json()["errors"][0]["code"] == code


@pytest.mark.parametrize(
    ("suffix", "shape"),
    [
        (f"/{MODEL_ID}", "native"),
        (f"/run/{MODEL_ID}", "native"),
        ("/v1/chat/completions", "openai"),
    ],
)
def test_ai_gateway_routes(emulator: Emulator, http: httpx.Client, suffix: str, shape: str) -> None:
    r = http.post(
        emulator.gateway_base_url + suffix, headers=AUTH, json={**HELLO, "model": MODEL_ID}
    )
    assert r.status_code == 200
    body = r.json()
    completion = body["result"] if shape == "native" else body
    assert completion["object"] == "chat.completion"
    assert ("result" in body) == (shape == "native")


def test_gateway_streams_too(emulator: Emulator, http: httpx.Client) -> None:
    url = f"{emulator.gateway_base_url}/v1/chat/completions"
    with http.stream("POST", url, headers=AUTH, json=stream_body(model=MODEL_ID)) as r:
        payloads = sse_data(r)
    assert payloads[-1] == "[DONE]"
    assert "You asked:" in joined(payloads, "content")


# -- errors before any answer -----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}], ids=str
)
def test_bad_credentials_get_401_code_10000(
    emulator: Emulator, http: httpx.Client, headers: dict[str, str]
) -> None:
    r = http.post(native_url(emulator), headers=headers, json=HELLO)
    assert r.status_code == 401
    assert r.json() == {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }
    assert emulator.requests[-1]["authorized"] is False


def test_recorded_requests_never_hold_the_token(emulator: Emulator, http: httpx.Client) -> None:
    http.post(native_url(emulator), headers=AUTH, json=HELLO)
    recorded = emulator.requests[-1]
    assert recorded["headers"]["authorization"] == "Bearer <redacted>"
    assert recorded["authorized"] is True
    assert recorded["method"] == "POST"
    assert recorded["json"] == HELLO
    assert TOKEN not in json.dumps(emulator.requests)


def test_wrong_account_gets_404_code_7003(emulator: Emulator, http: httpx.Client) -> None:
    url = f"{emulator.base_url}/accounts/someone-else/ai/run/{MODEL_ID}"
    r = http.post(url, headers=AUTH, json=HELLO)
    assert r.status_code == 404
    error = r.json()["errors"][0]
    assert error["code"] == 7003
    assert error["message"].startswith("Could not route to /client/v4/accounts/someone-else/")
    assert error["message"].endswith("perhaps your object identifier is invalid?")


def test_unknown_model_gets_400_code_5007(emulator: Emulator, http: httpx.Client) -> None:
    r = http.post(native_url(emulator, "@cf/moonshotai/kimi-k9"), headers=AUTH, json=HELLO)
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["code"] == 5007
    assert "No such model @cf/moonshotai/kimi-k9" in error["message"]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b"{}",
        b"[1, 2]",
        json.dumps({"messages": []}).encode(),
        json.dumps({"prompt": ""}).encode(),
        json.dumps({**HELLO, "prompt": "both"}).encode(),
        json.dumps({**HELLO, "temperature": 7}).encode(),
        json.dumps({**HELLO, "max_tokens": "many"}).encode(),
        json.dumps({"messages": [{"content": "no role"}]}).encode(),
        json.dumps(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            }
        ).encode(),
    ],
    ids=lambda c: c.decode()[:40] or "empty",
)
def test_invalid_input_gets_400_code_8001(
    emulator: Emulator, http: httpx.Client, content: bytes
) -> None:
    emulator.script(Reply.text("never sent"))
    r = http.post(native_url(emulator), headers=AUTH, content=content)
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["code"] == 8001
    assert error["message"].startswith("AiError: Invalid input")
    assert emulator.queued == 1, "a rejected request must not use up a scripted reply"


def test_unknown_path_and_wrong_method(emulator: Emulator, http: httpx.Client) -> None:
    r = http.post(f"{emulator.base_url}/accounts/{emulator.account_id}/nothing", headers=AUTH)
    assert (r.status_code, r.json()["errors"][0]["code"]) == (404, 7000)
    r = http.get(native_url(emulator), headers=AUTH)
    assert (r.status_code, r.json()["success"]) == (405, False)


def test_chunked_request_bodies_are_read(emulator: Emulator, http: httpx.Client) -> None:
    parts = [b'{"messages": [{"role": "user", ', b'"content": "sent in pieces"}]}']
    headers = {**AUTH, "Content-Type": "application/json"}
    r = http.post(native_url(emulator), headers=headers, content=iter(parts))
    assert emulator.requests[-1]["headers"]["transfer-encoding"] == "chunked"
    assert "You asked: sent in pieces" in r.json()["result"]["choices"][0]["message"]["content"]


def test_image_data_urls_are_accepted(emulator: Emulator, http: httpx.Client) -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    text = {"type": "text", "text": "What is this?"}
    body = {"messages": [{"role": "user", "content": [text, part]}]}
    r = http.post(native_url(emulator), headers=AUTH, json=body)
    assert "What is this? (with 1 image)" in r.json()["result"]["choices"][0]["message"]["content"]
