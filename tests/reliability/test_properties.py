"""Properties of the stream path and interpolation, with hypothesis: any split of a valid
stream decodes the same; any truncation gives a partial answer and one of our errors; text
without references survives interpolation unchanged."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest
from _faults import DONE, answer_events, finish_events
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matrix import case

from kimi_magic import Answer, Kimi, KimiError, StreamError
from kimi_magic.prompt.interpolate import _CANDIDATE, interpolate

# Words with multi-byte characters, so splits fall inside characters too.
WORD = st.text(alphabet=st.sampled_from(list("ab z.\n{}`$é€✓😀")), min_size=1, max_size=6)
WORDS = st.lists(WORD, min_size=1, max_size=12)
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis folder in the checkout
    suppress_health_check=[HealthCheck.too_slow],
)


def _stream(words: list[str], thought: list[str]) -> bytes:
    return b"".join([*answer_events(words, thought), *finish_events(), DONE])


def _client(chunks: list[bytes], fail_with: Exception | None = None) -> Kimi:
    """A client whose server answers with `chunks` (then `fail_with` raised mid-read)."""

    def body() -> Iterator[bytes]:
        yield from chunks
        if fail_with is not None:
            raise fail_with

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_Stream(body())
        )

    return Kimi(
        account_id="acct",
        api_token="prop-token-1234",
        base_url="http://127.0.0.1:9/client/v4",
        transport=httpx.MockTransport(handler),
        max_retries=0,
    )


class _Stream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks


def _cut(blob: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(blob), *(p % (len(blob) + 1) for p in points)})
    return [blob[a:b] for a, b in itertools.pairwise(edges)]


@case(
    "property",
    "any-split-decodes-the-same",
    "A valid stream (multi-byte text, reasoning) cut into chunks at any points, 150 examples.",
    "the same answer and reasoning as the uncut stream, complete",
)
@SETTINGS
@given(words=WORDS, thought=st.lists(WORD, max_size=4), points=st.lists(st.integers(0, 10**6)))
def test_any_split_decodes_the_same(
    words: list[str], thought: list[str], points: list[int]
) -> None:
    blob = _stream(words, thought)
    with _client(_cut(blob, points)) as client:
        answer = client.ask("hi")
    assert answer.text == "".join(words)
    assert answer.reasoning == "".join(thought)
    assert answer.complete


@case(
    "property",
    "any-truncation-is-ours",
    "A valid stream truncated at any byte, ending cleanly or with a transport error, 150 examples.",
    "a whole answer (only once the finish reason arrived) or StreamError with a prefix of "
    "the answer kept and marked truncated; never another exception type",
)
@SETTINGS
@given(
    words=WORDS,
    at=st.integers(0, 10**6),
    broken=st.booleans(),
)
def test_any_truncation_gives_a_partial_answer_and_our_error(
    words: list[str], at: int, broken: bool
) -> None:
    blob = _stream(words, [])
    cut = at % (len(blob) + 1)
    failure = httpx.ReadError("connection reset") if broken else None
    full = "".join(words)
    with _client([blob[:cut]], failure) as client:
        try:
            answer: Answer = client.ask("hi")
        except StreamError as error:
            assert error.answer is not None and full.startswith(error.answer.text)
            assert error.answer.truncated
            assert "\n" not in str(error)
        except KimiError as error:  # pragma: no cover - would be a wrong kind of ours
            pytest.fail(f"{type(error).__name__}: {error}")
        else:
            assert answer.text == full and answer.complete
            assert b'"finish_reason": "stop"' in blob[:cut]


REFERENCE_FREE = st.text(
    alphabet=st.sampled_from(list("ab_ {}[].'\"`$\\\n=x1é")), max_size=60
).filter(lambda text: _CANDIDATE.search(text) is None)


@case(
    "property",
    "text-without-references-unchanged",
    "Any text with braces, brackets, quotes, backticks and dollars but no {name} reference, "
    "150 examples.",
    "interpolation gives back exactly the text typed",
)
@SETTINGS
@given(text=REFERENCE_FREE)
def test_text_without_references_survives_interpolation(text: str) -> None:
    segments = interpolate(text, {"a": 1, "x": 2})
    assert "".join(s for s in segments if isinstance(s, str)) == text
    assert all(isinstance(s, str) for s in segments)
