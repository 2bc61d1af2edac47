"""The async batch API: queue a list of requests, answer the first poll "queued", then results."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from . import _wire
from ._load import LoadShaper
from ._replies import Meter, answer_for, build_completion
from ._usage import estimate_tokens, prompt_text


def batch_item(
    index: int, request: Mapping[str, Any], reply: Mapping[str, Any] | None, reasoning_field: str
) -> dict[str, Any]:
    """One entry of `responses`: the completion (or error) for the request at `index`."""
    reference = request.get("external_reference")
    fault = (reply or {}).get("fault")
    if fault and fault.get("type") in ("http_error", "openai_error", "json_error_200"):
        code = int(fault.get("code") or 3040)
        message = str(fault.get("message") or _wire.KNOWN_ERRORS.get(code, (0, "AiError"))[1])
        errors = [{"code": code, "message": message}]
        result: dict[str, Any] = {"errors": errors}
        return {"id": index, "result": result, "success": False, "external_reference": reference}
    answer = answer_for(reply, request)
    meter = Meter(estimate_tokens(prompt_text(request)), 0, (reply or {}).get("usage"))
    completion = build_completion(answer, meter, reasoning_field)
    return {"id": index, "result": completion, "success": True, "external_reference": reference}


class BatchQueue:
    """Batches by request id, each answered once it has been polled `load.batch_polls` times
    (queued for the first half of those polls, running for the rest)."""

    def __init__(self, load: LoadShaper | None = None) -> None:
        self._load = load or LoadShaper()
        self._jobs: dict[str, tuple[list[dict[str, Any]], list[int]]] = {}
        self._lock = threading.Lock()
        self._random = random.Random()

    def clear(self) -> None:
        """Forget every batch."""
        with self._lock:
            self._jobs.clear()

    def submit(self, responses: list[dict[str, Any]]) -> str:
        """Store finished `responses` in shuffled order; return the request id."""
        if self._load.load.batch_wrapped:
            # Cloudflare's documentation shows an item's result both bare and wrapped one
            # level deeper: every third successful one comes wrapped, so clients read both.
            for item in responses[2::3]:
                if item["success"]:
                    item["result"] = {"result": item["result"]}
        shuffled = list(responses)
        self._random.shuffle(shuffled)
        if len(shuffled) > 1 and shuffled == responses:
            # A client that relies on order should fail every time, not by chance.
            shuffled.reverse()
        request_id = str(uuid.uuid4())
        with self._lock:
            self._jobs[request_id] = (shuffled, [0])
        return request_id

    def poll(self, request_id: str) -> dict[str, Any] | None:
        """The `result` for a poll of `request_id`, or None when it is unknown."""
        with self._lock:
            job = self._jobs.get(request_id)
            if job is None:
                return None
            responses, polls = job
            polls[0] += 1
            waits = self._load.load.batch_polls
            if polls[0] <= waits:
                status = "queued" if polls[0] <= (waits + 1) // 2 else "running"
                return {"status": status, "request_id": request_id}
        return {"request_id": request_id, "responses": responses}
