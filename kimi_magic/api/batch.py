"""Workers AI's async batch API on the wire (docs/design.md section 4): the item bodies, payloads
split under 10 MB, submit (`?queueRequest=true`), poll, and the per-item results read back.

Only this module knows the batch JSON shapes; the job logic is kimi_magic/scale/batch.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ..core.answer import Answer
from ..core.call import Call
from ..core.constants import MAX_RETRIES
from ..core.errors import APIConnectionError, ConfigurationError, KimiError, StreamError, redact
from .client import Client
from .retry import parse_retry_after, retry_delay, should_retry
from .wire import error_from_reply, events_from_completion, parse_json, request_body

# The API takes payloads under 10 MB; keep a margin for the envelope and for rounding.
MAX_PAYLOAD_BYTES = 9_500_000
_ENVELOPE_BYTES = len(b'{"requests":[]}')


def item_body(
    messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any], reference: str
) -> dict[str, Any]:
    """One request of a batch: the single-request body (no streaming) + its external_reference."""
    body = request_body(messages, {k: v for k, v in params.items() if k != "stream"}, stream=False)
    body.pop("stream", None)
    body["external_reference"] = reference
    return body


def payloads(
    bodies: Iterable[tuple[Any, dict[str, Any]]], limit: int = MAX_PAYLOAD_BYTES
) -> Iterator[list[tuple[Any, dict[str, Any]]]]:
    """(tag, body) pairs grouped into payloads whose JSON stays under `limit` bytes."""
    group: list[tuple[Any, dict[str, Any]]] = []
    size = _ENVELOPE_BYTES
    for tag, body in bodies:
        length = len(json.dumps(body, ensure_ascii=False).encode("utf-8")) + 1  # + the comma
        if length + _ENVELOPE_BYTES > limit:
            raise ConfigurationError(
                f"One item's request is {length:,} bytes, more than a batch payload may hold "
                f"({limit:,}). Shorten that item's prompt, or run it without batch=True."
            )
        if group and size + length > limit:
            yield group
            group, size = [], _ENVELOPE_BYTES
        group.append((tag, body))
        size += length
    if group:
        yield group


@dataclass(frozen=True)
class ItemResult:
    """One entry of a finished batch: its reference, and an answer or an error paragraph."""

    reference: str | None
    position: int | None  # the `id` field: the item's place in its payload
    answer: Answer | None
    error: str | None


@dataclass(frozen=True)
class Poll:
    """A poll's answer: `queued`, `running` or `done` (then `items` holds every result)."""

    status: str
    items: tuple[ItemResult, ...] = ()


# Cloudflare documents the async batch (`?queueRequest=true`) only on the Workers AI REST API
# (developers.cloudflare.com/workers-ai/features/batch-api/rest-api/); its AI Gateway page for
# Workers AI (ai-gateway/providers/workersai/) documents single runs, not the batch queue. So
# a batch goes to Workers AI directly, and says so.
GATEWAY_NOTE = (
    "Batch mode does not go through AI Gateway (Cloudflare documents the async batch only on "
    "the Workers AI API), so this job was sent to Workers AI directly."
)


def batch_url(client: Client) -> str:
    if not hasattr(client, "_http"):  # a replay file answers single requests only
        raise ConfigurationError(
            "Replay mode cannot run Cloudflare's async batch: a replay file holds single "
            "answers. Use batch=False with replay, or record the job without batch."
        )
    if client.endpoint.direct_url:  # through AI Gateway: the batch goes direct (GATEWAY_NOTE)
        return client.endpoint.direct().url
    if client.endpoint.kind != "native":
        raise ConfigurationError(
            "Cloudflare's async batch needs the native Workers AI endpoint (api='native'), not "
            "an OpenAI-compatible one. Use batch=False, or set api to native."
        )
    return client.endpoint.url


def submit(client: Client, bodies: Sequence[Mapping[str, Any]]) -> str:
    """Queue `bodies`; returns the request id to poll."""
    reply = _post(client, {"requests": list(bodies)}, {"queueRequest": "true"})
    request_id = reply.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise StreamError(
            "Workers AI accepted the batch but sent no request_id to poll it with, so its "
            "results cannot be fetched. Run the job again; items already answered are kept."
        )
    return request_id


def poll(client: Client, request_id: str) -> Poll:
    """Ask how a queued batch stands."""
    return parse_poll(_post(client, {"request_id": request_id}, {}))


def parse_poll(result: Mapping[str, Any]) -> Poll:
    """The `result` of a poll reply as a Poll (responses in any order)."""
    responses = result.get("responses")
    if not isinstance(responses, list):
        status = str(result.get("status") or "queued").lower()
        return Poll("running" if status == "running" else "queued")
    return Poll("done", tuple(_item(entry) for entry in responses if isinstance(entry, Mapping)))


def _item(entry: Mapping[str, Any]) -> ItemResult:
    reference = entry.get("external_reference")
    reference = None if reference is None else str(reference)
    position = entry.get("id") if isinstance(entry.get("id"), int) else None
    result = entry.get("result")
    # The documentation shows both a bare chat.completion and one wrapped a level deeper.
    if isinstance(result, Mapping) and isinstance(result.get("result"), Mapping):
        result = result["result"]
    if not isinstance(result, Mapping):
        return ItemResult(reference, position, None, _item_error(entry))
    if entry.get("success") is False or result.get("errors") or result.get("error"):
        return ItemResult(reference, position, None, _item_error(result))
    return ItemResult(reference, position, answer_from_completion(result), None)


def _item_error(body: Mapping[str, Any]) -> str:
    error = error_from_reply(200, body)
    code = f" (Cloudflare error {error.code})" if error.code is not None else ""
    said = f': "{error.server_message}"' if error.server_message else " and gave no reason"
    return (
        f"Workers AI could not answer this item{code}{said}. Run the same call again to "
        "resubmit only the items that failed."
    )


def answer_from_completion(completion: Mapping[str, Any]) -> Answer:
    """A whole answer from a chat.completion."""
    return Call({}, lambda _call: events_from_completion(completion)).result()


def _post(client: Client, body: Mapping[str, Any], query: Mapping[str, str]) -> Mapping[str, Any]:
    """POST with the client's retry policy; the envelope's `result`, or a KimiError."""
    url, attempt = batch_url(client), 0
    while True:
        try:
            response = client._http.post(
                url, json=body, params=query, headers=client.endpoint.direct().headers()
            )
            reply = parse_json(response.text)
            if (
                response.status_code >= 400
                or not isinstance(reply, Mapping)
                or not reply.get("success", True)
            ):
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                raise error_from_reply(response.status_code, reply or response.text, retry_after)
            result = reply.get("result")
            return result if isinstance(result, Mapping) else {}
        except httpx.RequestError as exc:
            error: KimiError = APIConnectionError(
                f"Could not reach {client.endpoint.host} ({type(exc).__name__}). Check the "
                "network and the base URL; the batch job resumes when run again."
            )
        except KimiError as caught:
            error = caught
        # A map's client retries nothing itself (map does); the batch calls retry here.
        if attempt >= max(client.max_retries, MAX_RETRIES) or not should_retry(error):
            error.args = (redact(str(error), client.endpoint.secrets),)
            raise error
        time.sleep(retry_delay(attempt, getattr(error, "retry_after", None)))
        attempt += 1
