"""The emulator's load settings: latency, shares of 429 and 200 + 3040, slow batches, wrapped
batch results, over Python and over HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from kimi_magic.emulator import Emulator

HELLO = {"messages": [{"role": "user", "content": "Hi"}], "stream": False}


def post(emulator: Emulator, body: dict[str, object], **kwargs: object) -> httpx.Response:
    url = f"{emulator.base_url}/accounts/{emulator.account_id}/ai/run/@cf/moonshotai/kimi-k2.6"
    headers = {"Authorization": f"Bearer {emulator.token}"}
    with httpx.Client(timeout=10) as client:  # one connection per call: this is not a load test
        return client.post(url, json=body, headers=headers, **kwargs)  # type: ignore[arg-type]


def test_latency_delays_each_answer(emulator: Emulator) -> None:
    emulator.configure_load(latency=0.3)
    started = time.perf_counter()
    assert post(emulator, HELLO).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_shares_of_429_and_3040_are_drawn_and_marked(emulator: Emulator) -> None:
    emulator.configure_load(rate_limited=0.3, capacity=0.2, retry_after=2, seed=5)
    replies = [post(emulator, HELLO) for _ in range(200)]
    limited = [r for r in replies if r.status_code == 429]
    capacity = [r for r in replies if r.status_code == 200 and r.json().get("success") is False]
    assert 40 <= len(limited) <= 80 and 20 <= len(capacity) <= 60
    assert all(r.headers["retry-after"] == "2" for r in limited)
    assert capacity[0].json()["errors"][0]["code"] == 3040
    assert sum(bool(r.get("refused")) for r in emulator.requests) == emulator.load.refused
    assert emulator.load.refused == len(limited) + len(capacity)


def test_a_slow_batch_is_queued_then_running_then_done_with_wrapped_results(
    emulator: Emulator,
) -> None:
    emulator.configure_load(batch_polls=4, batch_wrapped=True)
    requests = [{"messages": [{"role": "user", "content": f"r{i}"}]} for i in range(6)]
    queued = post(emulator, {"requests": requests}, params={"queueRequest": "true"}).json()
    request_id = queued["result"]["request_id"]
    states = [post(emulator, {"request_id": request_id}).json()["result"] for _ in range(5)]
    assert [s.get("status") for s in states[:4]] == ["queued", "queued", "running", "running"]
    responses = states[4]["responses"]
    wrapped = [r for r in responses if "result" in r["result"]]
    assert sorted(r["id"] for r in wrapped) == [2, 5]


def test_load_is_set_over_http_and_reset_with_the_emulator(emulator: Emulator) -> None:
    reply = httpx.post(f"{emulator.url}/_emulator/load", json={"latency": 0.05})
    assert reply.json()["latency"] == 0.05 and emulator.load.load.latency == 0.05
    bad = httpx.post(f"{emulator.url}/_emulator/load", json={"rate_limited": 2})
    assert bad.status_code == 400 and "share from 0 to 1" in bad.json()["error"]
    emulator.reset()
    assert emulator.load.load.latency == 0


def test_unknown_load_settings_are_refused(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="Unknown load settings"):
        emulator.configure_load(latnecy=1)


def test_the_command_line_sets_the_load_and_reset_keeps_it() -> None:
    from kimi_magic.emulator.__main__ import parse_args

    args = parse_args(["--latency", "0.2", "--rate-limited", "0.1", "--batch-polls", "3"])
    assert (args.latency, args.rate_limited, args.capacity, args.batch_polls) == (0.2, 0.1, 0, 3)
    emu = Emulator()
    emu.load.baseline = emu.configure_load(latency=args.latency, batch_polls=args.batch_polls)
    emu.configure_load(latency=0)
    emu.reset()
    assert emu.load.load.latency == 0.2 and emu.load.load.batch_polls == 3
