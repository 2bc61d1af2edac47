"""Scripting the emulator from another process, its batch queue, the schema, its command line."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from emulator_http import (
    AUTH,
    HELLO,
    native_url,
)
from waiting import finishes, wait_until

from kimi_magic.core.constants import MODEL_ID
from kimi_magic.emulator import Emulator, Reply

# -- scripting from another process -----------------------------------------------------------


def test_http_control_endpoints(emulator: Emulator, http: httpx.Client) -> None:
    control = f"http://127.0.0.1:{emulator.port}/_emulator"
    r = http.post(f"{control}/script", json=[Reply.text("scripted one"), Reply.http_error(429)])
    assert r.json() == {"queued": 2}
    first = http.post(native_url(emulator), headers=AUTH, json=HELLO).json()
    assert first["result"]["choices"][0]["message"]["content"] == "scripted one"
    assert http.post(native_url(emulator), headers=AUTH, json=HELLO).status_code == 429

    recorded = http.get(f"{control}/requests").json()
    assert [q["json"] for q in recorded] == [HELLO, HELLO]
    assert all(q["headers"]["authorization"] == "Bearer <redacted>" for q in recorded)

    config = http.post(f"{control}/config", json={"reasoning_field": "reasoning_content"}).json()
    assert config == {"rate": None, "reasoning_field": "reasoning_content"}
    message = http.post(native_url(emulator), headers=AUTH, json=HELLO).json()["result"]
    assert "reasoning_content" in message["choices"][0]["message"]

    assert http.post(f"{control}/reset").json() == {"ok": True}
    assert http.get(f"{control}/requests").json() == []
    assert http.get(f"{control}/config").json()["reasoning_field"] == "reasoning"


@pytest.mark.parametrize(
    ("endpoint", "payload"),
    [
        ("script", [{"contents": "typo"}]),
        ("script", [{"fault": {"type": "meteor"}}]),
        ("script", [{"fault": {"type": "stall", "seconds": "long"}}]),
        ("script", [{"chunk_chars": 0}]),
        ("script", [{"raw_chunks_b64": ["not base64!"]}]),
        ("config", {"reasoning_field": "thoughts"}),
        ("config", {"rate": -1}),
        ("config", {"speed": 3}),
    ],
)
def test_control_endpoints_reject_mistakes(
    emulator: Emulator, http: httpx.Client, endpoint: str, payload: object
) -> None:
    r = http.post(f"http://127.0.0.1:{emulator.port}/_emulator/{endpoint}", json=payload)
    assert r.status_code == 400
    assert r.json()["error"]
    assert emulator.queued == 0


def test_script_rejects_unknown_keys(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="Unknown reply keys"):
        emulator.script({"contents": "typo"})


# -- async batch ------------------------------------------------------------------------------


def test_async_batch_queue_then_poll(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.text("first scripted"))
    requests = [
        {"messages": [{"role": "user", "content": f"Row {i}"}], "external_reference": f"r{i}"}
        for i in range(4)
    ]
    url = native_url(emulator)
    queued = http.post(
        url, params={"queueRequest": "true"}, headers=AUTH, json={"requests": requests}
    )
    assert queued.status_code == 200
    result = queued.json()["result"]
    assert result["status"] == "queued"
    request_id = result["request_id"]

    poll = http.post(
        url, params={"queueRequest": "true"}, headers=AUTH, json={"request_id": request_id}
    )
    assert poll.json()["result"]["status"] == "queued"
    done = http.post(url, headers=AUTH, json={"request_id": request_id}).json()["result"]
    responses = done["responses"]
    assert sorted(r["id"] for r in responses) == [0, 1, 2, 3]
    assert [r["id"] for r in responses] != [0, 1, 2, 3], "results come back in any order"
    by_id = {r["id"]: r for r in responses}
    for i in range(4):
        assert by_id[i]["success"] is True
        assert by_id[i]["external_reference"] == f"r{i}"
        assert by_id[i]["result"]["object"] == "chat.completion"
    assert by_id[0]["result"]["choices"][0]["message"]["content"] == "first scripted"
    assert "You asked: Row 3" in by_id[3]["result"]["choices"][0]["message"]["content"]


def test_async_batch_rejects_bad_items_and_unknown_ids(
    emulator: Emulator, http: httpx.Client
) -> None:
    url = native_url(emulator)
    bad = {"requests": [HELLO, {"messages": []}]}
    r = http.post(url, params={"queueRequest": "true"}, headers=AUTH, json=bad)
    assert r.status_code == 400 and "requests[1]" in r.json()["errors"][0]["message"]
    r = http.post(url, headers=AUTH, json={"request_id": "nope"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8001


# -- the published schema ---------------------------------------------------------------------


def test_schema_validator_rejects_temperature_7(
    validate_request: Callable[[dict[str, Any]], None],
) -> None:
    import jsonschema

    validate_request({**HELLO, "temperature": 0.7})
    with pytest.raises(jsonschema.ValidationError):
        validate_request({**HELLO, "temperature": 7})


def test_emulator_accepts_what_the_schema_accepts(
    emulator: Emulator, http: httpx.Client, validate_request: Callable[[dict[str, Any]], None]
) -> None:
    bodies: list[dict[str, Any]] = [
        HELLO,
        {"prompt": "Hi", "max_tokens": 64},
        {**HELLO, "stream": True, "temperature": 0.2, "reasoning_effort": "low"},
        {**HELLO, "chat_template_kwargs": {"enable_thinking": False}},
        {**HELLO, "response_format": {"type": "json_object"}},
    ]
    for body in bodies:
        validate_request(body)
        with http.stream("POST", native_url(emulator), headers=AUTH, json=body) as r:
            r.read()
        assert r.status_code == 200, body


# -- lifecycle and the command line -----------------------------------------------------------


def test_stop_closes_open_connections_and_the_port() -> None:
    before = set(threading.enumerate())
    emu = Emulator(token="t", account_id="a").start()
    url, headers = native_url(emu), {"Authorization": "Bearer t"}
    with httpx.Client(timeout=5) as client:
        assert client.post(url, headers=headers, json=HELLO).status_code == 200
        # The client still holds a keep-alive connection; stop drops it and its handler ends,
        # rather than stop giving up on a handler that waits for the connection's idle timeout.
        finishes(emu.stop, "stopping an emulator with an open keep-alive connection")
        wait_until(
            lambda: (
                not [
                    t
                    for t in threading.enumerate()
                    if t not in before and "process_request" in t.name
                ]
            ),
            "the connection's handler to end (it would wait 120 s for an idle connection)",
        )
        with pytest.raises(httpx.TransportError):
            client.post(url, headers=headers, json=HELLO)


def native_url_for(base_url: str, account: str) -> str:
    return f"{base_url}/accounts/{account}/ai/run/{MODEL_ID}"


def test_command_line_prints_the_exports_and_serves() -> None:
    command = [sys.executable, "-m", "kimi_magic.emulator", "--port", "0", "--token", "cli-token"]
    command += ["--account", "cli-account", "--reasoning-field", "both"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        exports = dict(
            line.split("export ", 1)[1].strip().split("=", 1) for line in lines if "export " in line
        )
        try:
            assert exports["CLOUDFLARE_ACCOUNT_ID"] == "cli-account"
            assert exports["CLOUDFLARE_API_TOKEN"] == "cli-token"
            url = native_url_for(exports["KIMI_MAGIC_BASE_URL"], "cli-account")
            r = httpx.post(url, headers={"Authorization": "Bearer cli-token"}, json=HELLO)
            message = r.json()["result"]["choices"][0]["message"]
            assert {"reasoning", "reasoning_content"} <= set(message)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.stdout.read()
        assert proc.wait(timeout=5) == 0


def test_an_image_costs_tokens_by_its_size_not_its_base64_length() -> None:
    import io

    from PIL import Image

    from kimi_magic.emulator._usage import estimate_tokens, prompt_text

    def body_with(width: int, height: int) -> dict[str, Any]:
        buffer = io.BytesIO()
        Image.effect_noise((width, height), 64).save(buffer, "PNG")  # noise: a large file
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        return {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                }
            ]
        }

    small, large = (
        estimate_tokens(prompt_text(body_with(w, h))) for w, h in ((280, 280), (560, 560))
    )
    assert 100 <= small <= 200 and 400 <= large <= 500  # ~w*h/784 + the text
