"""Cloudflare AI Gateway against the emulator: URL shapes on both endpoints, each cf-aig-*
header sent and read, HIT / MISS and the ledger, log ids on Answer and in the output metadata,
the gateway's own errors, metadata without prompt text, and the gateway token kept out of
everything; map goes through the gateway, batch says it does not."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kimi_magic
from kimi_magic.core.errors import APIStatusError, ConfigurationError
from kimi_magic.core.settings import resolve
from kimi_magic.emulator import Emulator
from kimi_magic.render.final_output import METADATA_KEY, output_bundle
from kimi_magic.session.session import Session

GATEWAY_TOKEN = "aigTok3nQ9x7Zr4Lw8Vt1Np5Hs3Jd6Kf0Gb2Yc4n"
NATIVE_PATH = "/v1/test-account/my-gateway/workers-ai/@cf/moonshotai/kimi-k2.6"
OPENAI_PATH = "/v1/test-account/my-gateway/workers-ai/v1/chat/completions"


@pytest.fixture
def gateway_env(
    emulator: Emulator, emulator_connection: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The emulator's gateway host, an authenticated gateway and its token in the environment."""
    monkeypatch.setenv("KIMI_MAGIC_GATEWAY_URL", emulator.gateway_url)
    monkeypatch.setenv("CLOUDFLARE_AI_GATEWAY_TOKEN", GATEWAY_TOKEN)
    monkeypatch.delenv("CLOUDFLARE_AI_GATEWAY", raising=False)
    emulator.gateway.token = GATEWAY_TOKEN
    return {**emulator_connection, "account_id": emulator.account_id}


@pytest.fixture
def session(gateway_env: dict[str, Any]) -> Iterator[Session]:
    made = Session(connection={**gateway_env, "max_retries": 0})
    made.configure(gateway="my-gateway")
    yield made
    made.close()


def sent_headers(emulator: Emulator) -> list[dict[str, str]]:
    return [r["headers"] for r in emulator.requests]


def metadata_of(headers: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(headers["cf-aig-metadata"])
    return found


@pytest.mark.parametrize(("api", "path"), [("native", NATIVE_PATH), ("openai", OPENAI_PATH)])
@pytest.mark.parametrize("stream", [True, False])
def test_every_request_goes_through_the_gateway_url_on_both_endpoints(
    emulator: Emulator, session: Session, schema_checked: None, api: str, path: str, stream: bool
) -> None:
    session.configure(api=api, stream=stream)
    answer = session.ask("What is 2+2?")
    assert answer.text and answer.complete
    [request] = emulator.requests
    assert request["path"] == path
    assert request["authorized"]  # the Workers AI token still goes as Authorization


def test_the_gateway_setting_comes_from_cloudflare_ai_gateway_too(
    emulator: Emulator, gateway_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_AI_GATEWAY", "my-gateway")
    answer = kimi_magic.ask("hello", **gateway_env)
    assert answer.gateway is not None
    assert [r["path"] for r in emulator.requests] == [NATIVE_PATH]


def test_the_gateway_token_goes_as_cf_aig_authorization(
    emulator: Emulator, session: Session
) -> None:
    session.ask("hello")
    [headers] = sent_headers(emulator)
    # The emulator checked it (a wrong one is refused, below) and recorded it redacted.
    assert headers["cf-aig-authorization"] == "Bearer <redacted>"


def test_metadata_files_the_call_under_names_never_its_prompt(
    emulator: Emulator, session: Session
) -> None:
    secret_prompt = "Summarise the merger plan for Project Nightingale"
    session.configure(gateway_tag="finance-team")
    session.ask(secret_prompt, chat="planning")
    [headers] = sent_headers(emulator)
    metadata = metadata_of(headers)
    assert metadata == {"conversation": "planning", "kind": "cell", "tag": "finance-team"}
    assert len(metadata) <= 5 and all(isinstance(v, (str, int)) for v in metadata.values())
    everything = json.dumps({k: v for k, v in headers.items() if k.startswith("cf-aig")})
    assert "Nightingale" not in everything and "merger" not in everything


def test_metadata_names_the_notebook_and_cell_in_a_magic(
    emulator: Emulator, controls_shell: Any, gateway_env: dict[str, Any]
) -> None:
    controls_shell.user_ns["__session__"] = "/home/me/analysis/quarterly.ipynb"
    controls_shell.run_cell("1 + 1", store_history=True)
    controls_shell.run_cell("%config KimiMagics.gateway = 'my-gateway'", store_history=True)
    result = controls_shell.run_cell("%kimi what is a Series?", store_history=True)
    assert result.error_in_exec is None
    [headers] = sent_headers(emulator)
    metadata = metadata_of(headers)
    assert metadata["notebook"] == "quarterly.ipynb"
    assert metadata["cell"] == result.execution_count
    assert metadata["kind"] == "cell" and metadata["conversation"] == "default"
    assert "Series" not in headers["cf-aig-metadata"]


def test_a_tool_round_is_filed_as_one(
    emulator: Emulator, gateway_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def weather(city: str) -> str:
        """Today's weather in a city."""
        return f"{city}: 21 C, sunny"

    monkeypatch.setenv("CLOUDFLARE_AI_GATEWAY", "my-gateway")
    emulator.script(
        {"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]},
        {"content": "It says: {{tool_result:0}}"},
    )
    answer = kimi_magic.ask("Weather in Oslo?", tools=[weather], **gateway_env)
    assert answer.text == "It says: Oslo: 21 C, sunny"
    kinds = [metadata_of(h)["kind"] for h in sent_headers(emulator)]
    assert kinds == ["cell", "tool_round"]


def test_cache_ttl_gives_a_hit_on_the_repeat_that_costs_nothing(
    emulator: Emulator, session: Session, schema_checked: None
) -> None:
    session.configure(gateway_cache_ttl=3600)
    first = session.ask("Name a prime", new=True)
    second = session.ask("Name a prime", new=True)
    assert [h["cf-aig-cache-ttl"] for h in sent_headers(emulator)] == ["3600", "3600"]
    assert first.gateway is not None and first.gateway["cache"] == "MISS"
    assert second.gateway is not None and second.gateway["cache"] == "HIT"
    assert first.gateway["log_id"] and second.gateway["log_id"] != first.gateway["log_id"]
    assert first.cost > 0 and second.cost == 0
    total = session.ledger.total
    assert total.calls == 2 and total.cost == pytest.approx(first.cost)
    assert "AI Gateway cache HIT: nothing paid" in str(second._repr_markdown_())
    assert f"gateway log {second.gateway['log_id']}" in second._repr_markdown_()


def test_without_a_ttl_every_call_is_a_miss(emulator: Emulator, session: Session) -> None:
    answers = [session.ask("Same question", new=True) for _ in range(2)]
    assert [(a.gateway or {}).get("cache") for a in answers] == ["MISS", "MISS"]
    assert all("cf-aig-cache-ttl" not in h for h in sent_headers(emulator))
    assert all(a.cost > 0 for a in answers)


def test_no_gateway_cache_flag_sends_skip_cache_and_misses(
    emulator: Emulator, controls_shell: Any, gateway_env: dict[str, Any]
) -> None:
    controls_shell.run_cell("%config KimiMagics.gateway = 'my-gateway'")
    controls_shell.run_cell("%config KimiMagics.gateway_cache_ttl = 600")
    for flag in ("--chat a", "--chat b --no-gateway-cache", "--chat c"):
        controls_shell.run_cell(f"%kimi {flag} Name a colour")
    session = controls_shell.magics_manager.registry["KimiMagics"].session
    answers = [session.conversation(n).exchanges[0].answer for n in "abc"]
    headers = sent_headers(emulator)
    assert [h.get("cf-aig-skip-cache") for h in headers] == [None, "true", None]
    assert [a.gateway["cache"] for a in answers] == ["MISS", "MISS", "HIT"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("on", {"cf-aig-collect-log": "true", "cf-aig-collect-log-payload": "true"}),
        ("metadata", {"cf-aig-collect-log": "true", "cf-aig-collect-log-payload": "false"}),
        ("off", {"cf-aig-collect-log": "false"}),
        ("", {}),
    ],
)
def test_gateway_log_sets_the_collect_log_headers(
    emulator: Emulator, session: Session, mode: str, expected: dict[str, str]
) -> None:
    session.configure(gateway_log=mode or None)
    session.ask("hello")
    [headers] = sent_headers(emulator)
    assert {k: v for k, v in headers.items() if k.startswith("cf-aig-collect")} == expected


@pytest.mark.parametrize("ttl", [30, 40 * 24 * 3600])
def test_a_cache_ttl_out_of_the_gateways_range_is_one_paragraph(
    emulator: Emulator, session: Session, ttl: int
) -> None:
    session.configure(gateway_cache_ttl=ttl)
    with pytest.raises(ConfigurationError, match="from 60 to 2,592,000"):
        session.ask("hello")
    assert not emulator.requests


def test_a_wrong_gateway_log_value_is_one_paragraph(session: Session) -> None:
    session.configure(gateway_log="everything")
    with pytest.raises(ConfigurationError, match="'on', 'off' or 'metadata'"):
        session.ask("hello")


def test_cache_status_and_log_id_reach_the_output_metadata(session: Session) -> None:
    answer = session.ask("hello")
    _, metadata = output_bundle(answer, "native")
    assert metadata[METADATA_KEY]["gateway"] == answer.gateway
    assert answer.gateway is not None and answer.gateway["log_id"].startswith("01EMULOG")


def test_without_a_gateway_no_cf_aig_header_is_sent(
    emulator: Emulator, emulator_connection: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDFLARE_AI_GATEWAY", raising=False)
    monkeypatch.setenv("CLOUDFLARE_AI_GATEWAY_TOKEN", GATEWAY_TOKEN)
    answer = kimi_magic.ask("hello", **emulator_connection)
    assert answer.gateway is None
    [headers] = sent_headers(emulator)
    assert not [name for name in headers if name.startswith("cf-aig")]


# -- the gateway's own errors ------------------------------------------------------------------


def test_a_wrong_gateway_token_is_the_gateways_auth_paragraph(
    emulator: Emulator, session: Session
) -> None:
    emulator.gateway.token = "some-other-gateway-token"
    with pytest.raises(APIStatusError) as caught:
        session.ask("hello")
    message = str(caught.value)
    assert "AI Gateway refused the request" in message and "CLOUDFLARE_AI_GATEWAY_TOKEN" in message
    assert "AI Gateway error 2009" in message and "\n" not in message
    assert "Workers AI' read and edit" not in message  # not the API token's advice


def test_an_unknown_gateway_name_is_its_own_paragraph(session: Session) -> None:
    session.configure(gateway="no-such-gateway")
    with pytest.raises(APIStatusError) as caught:
        session.ask("hello")
    message = str(caught.value)
    assert message.startswith("The AI Gateway was not found") and "CLOUDFLARE_AI_GATEWAY" in message
    # What the real gateway answers for a name the account does not have (emulator/_gateway.py).
    assert "(HTTP 400, AI Gateway error 2001.)" in message and "\n" not in message
    assert 'The gateway said: "Please configure AI Gateway in the Cloudflare dashboard".' in message
    assert "Workers AI' read and edit" not in message


def test_the_gateways_rate_limit_is_not_workers_ais(emulator: Emulator, session: Session) -> None:
    emulator.script({"fault": {"type": "gateway_rate_limit"}})
    with pytest.raises(APIStatusError) as caught:
        session.ask("hello")
    message = str(caught.value)
    assert message.startswith("The AI Gateway's own rate limit was hit")
    assert "(HTTP 429, AI Gateway error 2003.)" in message
    assert "300 a minute" not in message  # Workers AI's limit is another one
    assert caught.value.status == 429 and caught.value.code == 2003


@pytest.mark.parametrize(
    ("fault", "starts", "label"),
    [
        # The gateway's spend limit (a code with no paragraph of its own): still the gateway's.
        (
            {"type": "gateway_rate_limit", "code": 2041, "message": "Spend limit exceeded"},
            "The AI Gateway refused the request with one of its own limits (HTTP 429)",
            "(HTTP 429, AI Gateway error 2041.)",
        ),
        # Out of gateway credit (402): a paragraph naming the gateway, with its own words.
        (
            {"type": "gateway_auth", "status": 402, "code": 2021, "message": "Insufficient credit"},
            "The AI Gateway refused the request (HTTP 402) before Workers AI saw it",
            "(HTTP 402, AI Gateway error 2021.)",
        ),
        # An unknown code on a 401 is still the gateway's own authentication.
        (
            {"type": "gateway_auth", "code": 2999, "message": "Nope"},
            "The AI Gateway refused the request as unauthorized",
            "(HTTP 401, AI Gateway error 2999.)",
        ),
    ],
)
def test_gateway_codes_without_a_paragraph_still_read_as_the_gateways(
    emulator: Emulator, session: Session, fault: dict[str, Any], starts: str, label: str
) -> None:
    emulator.script({"fault": fault})
    with pytest.raises(APIStatusError) as caught:
        session.ask("hello")
    message = str(caught.value)
    assert message.startswith(starts) and label in message
    assert f'The gateway said: "{fault["message"]}".' in message
    assert "Workers AI' read and edit" not in message and "300 a minute" not in message


@pytest.mark.parametrize(
    "body",
    [
        # The shape before 2026: a list under `error`, no name.
        {"success": False, "result": [], "messages": [], "error": [{"code": 2009, "message": "x"}]},
        # A bare AiGatewayError, as some clients logged it.
        {"name": "AiGatewayError", "internalCode": 2009, "message": "Unauthorized"},
    ],
)
def test_both_shapes_of_the_gateways_errors_are_its_own(body: dict[str, Any]) -> None:
    from kimi_magic.api.wire import error_from_reply
    from kimi_magic.core.errors import GATEWAY

    error = error_from_reply(401, body, server=GATEWAY)
    assert str(error).startswith("The AI Gateway refused the request as unauthorized")
    assert error.code == 2009


def test_workers_ai_errors_through_the_gateway_keep_their_advice(
    emulator: Emulator, session: Session
) -> None:
    emulator.script({"fault": {"type": "http_error", "status": 429, "code": 3036}})
    with pytest.raises(APIStatusError) as caught:
        session.ask("hello")
    message = str(caught.value)
    assert "daily free Workers AI allocation" in message and "through AI Gateway" in message


@pytest.mark.parametrize("name", ["../other", "gw/x", "a?b=c", "x" * 65])
def test_a_gateway_name_cannot_change_the_path(session: Session, name: str) -> None:
    session.configure(gateway=name)
    with pytest.raises(ConfigurationError, match="AI Gateway's name"):
        session.ask("hello")


# -- the gateway token ---------------------------------------------------------------------


def test_the_gateway_token_is_in_no_body_repr_error_log_or_output(
    emulator: Emulator, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = session.ask(f"My gateway token is {GATEWAY_TOKEN}, keep it safe.")
    emulator.gateway.token = "rotated"
    with pytest.raises(APIStatusError) as caught:
        session.ask(f"again {GATEWAY_TOKEN}")
    client = session.client()
    seen = [
        json.dumps([r["json"] for r in emulator.requests]),
        json.dumps([r["headers"] for r in emulator.requests]),
        repr(client),
        repr(client.endpoint),
        str(caught.value),
        repr(vars(caught.value)),
        json.dumps(output_bundle(answer, "native"), default=str),
        repr(answer),
        caplog.text,
    ]
    assert not [text for text in seen if GATEWAY_TOKEN in text]
    assert "gateway_token=set" in repr(client.endpoint)


# -- map and batch -------------------------------------------------------------------------


def test_map_goes_through_the_gateway_filed_as_map(
    emulator: Emulator, session: Session, schema_checked: None
) -> None:
    out = kimi_magic.map(
        ["a", "b"], "Echo {item}", session=session, progress=False, checkpoint=False
    )
    assert not out.errors
    paths = {r["path"] for r in emulator.requests}
    assert paths == {NATIVE_PATH}
    assert {metadata_of(h)["kind"] for h in sent_headers(emulator)} == {"map"}


def test_batch_mode_goes_direct_and_says_so_in_one_line(
    emulator: Emulator, session: Session, gateway_env: dict[str, Any]
) -> None:
    out = kimi_magic.map(
        ["a", "b"],
        "Echo {item}",
        batch=True,
        session=session,
        progress=False,
        checkpoint=False,
        poll_interval=0.01,
    )
    assert not out.errors
    assert all(
        r["path"].startswith("/client/v4/accounts/test-account/ai/run/") for r in emulator.requests
    )
    assert not [h for h in sent_headers(emulator) if "cf-aig-authorization" in h]
    first_line = str(out.summary).splitlines()[0]
    assert "does not go through AI Gateway" in first_line and "directly" in first_line


# -- workspace trust -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "applies"),
    [
        ('gateway = "their-gateway"', False),
        ('gateway_log = "on"', False),
        ('gateway_log = "metadata"', True),
        ("gateway_cache_ttl = 86400", False),
        ('gateway_tag = "course-101"', True),
    ],
)
def test_an_untrusted_project_file_may_not_route_through_a_gateway(
    tmp_path: Path, line: str, applies: bool
) -> None:
    project = tmp_path / "p" / "pyproject.toml"
    project.parent.mkdir(parents=True)
    project.write_text(f"[tool.kimi_magic]\n{line}\n", encoding="utf-8")
    resolved = resolve(cwd=project.parent, environ={}, user_config=tmp_path / "u.toml")
    name = line.split(" = ")[0]
    assert (name in resolved.ignored) is not applies
    if not applies:
        assert resolved.ignored[name].reason
