"""What every case checks about what the user is shown."""

from __future__ import annotations

from _canary import CANARY

from kimi_magic import Kimi, KimiError


def assert_one_paragraph(error: BaseException, *phrases: str) -> str:
    """What every error must be: ours, one paragraph, no traceback, no token, saying `phrases`."""
    assert isinstance(error, KimiError), f"{type(error).__name__} leaked: {error}"
    text = str(error)
    assert "\n" not in text.strip(), text
    assert "Traceback" not in text and 'File "' not in text, text
    assert CANARY not in text and CANARY not in repr(vars(error)), "the token leaked"
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in: {text}"
    return text


def assert_next_call_works(client: Kimi) -> None:
    answer = client.ask("And again?")
    assert answer.text == "OK" and answer.complete
