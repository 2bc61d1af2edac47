"""The fault matrix, input side: bad inputs refused (or cleaned) before sending, secrets kept
out of every prompt, and open blocks closed before the footer. Run through the magic in an
in-process IPython shell aimed at the fault server, so what is asserted is what the user sees
and what the server received."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _canary import CANARY
from _checks import assert_one_paragraph
from _faults import FaultServer, answer_events, head
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from ipython_shell import loaded_shell
from matrix import case
from waiting import HANG_GUARD_S

import kimi_magic
from kimi_magic import ConfigurationError, Kimi, StreamError
from kimi_magic.prompt.images import encode_png
from kimi_magic.render.final_output import answer_markdown


@pytest.fixture
def shell(fault_env: FaultServer) -> Iterator[InteractiveShell]:
    with loaded_shell() as ip:
        yield ip


def refused(shell: InteractiveShell, cell: str, *phrases: str) -> str:
    """Run `cell`; it must fail with one paragraph (a UsageError) saying `phrases`."""
    result = shell.run_cell(cell)
    error = result.error_in_exec
    assert isinstance(error, UsageError), f"{type(error).__name__}: {error}"
    text = str(error)
    assert "\n" not in text.strip() and "Traceback" not in text and CANARY not in text, text
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in: {text}"
    return text


def sent_text(fault: FaultServer) -> str:
    """Every message content of the last request, as one text."""
    messages = fault.requests[-1]["json"]["messages"]
    return json.dumps(messages, ensure_ascii=False)


def ok(shell: InteractiveShell, cell: str) -> None:
    result = shell.run_cell(cell)
    assert result.error_in_exec is None, result.error_in_exec


# -- bad inputs ---------------------------------------------------------------------------------


def _png() -> bytes:
    return encode_png(np.full((20, 30, 3), 200, dtype=np.uint8))


def _bad_crc(data: bytes) -> bytes:
    at = data.index(b"IDAT") + 6
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


BAD_IMAGES = {
    "png-cut-after-header": (lambda: _png()[:40], "truncated"),
    "png-cut-in-half": (lambda: _png()[: len(_png()) // 2], "truncated"),
    "png-bad-checksum": (lambda: _bad_crc(_png()), "fails its checksum"),
    "jpeg-without-end": (lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 200, "truncated"),
}


@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_a_broken_image_file(
    name: str, shell: InteractiveShell, fault_env: FaultServer, tmp_path: Path
) -> None:
    make, phrase = BAD_IMAGES[name]
    path = tmp_path / ("picture.jpg" if "jpeg" in name else "picture.png")
    path.write_bytes(make())
    refused(shell, f"%kimi --image {path} what is this?", phrase, "cannot be sent")
    assert not fault_env.requests
    ok(shell, "%kimi and now?")


for _name, (_make, _phrase) in BAD_IMAGES.items():
    case(
        "input",
        f"image-{_name}",
        f"`--image FILE` where the file is a {_name.replace('-', ' ')}.",
        f"one paragraph: the data is {_phrase}, save the image again; nothing sent",
    )(None)


@case(
    "input",
    "undecodable-file-name",
    "`{name}` whose value is os.fsdecode(b'caf\\xe9.txt') (a lone surrogate).",
    "the question is sent with U+FFFD in place of the undecodable byte",
)
def test_an_undecodable_string_is_sent_with_replacement_characters(
    shell: InteractiveShell, fault_env: FaultServer
) -> None:
    shell.user_ns["name"] = os.fsdecode(b"caf\xe9.txt")
    ok(shell, "%kimi what is in {name}?")
    assert "caf\ufffd.txt" in sent_text(fault_env)


@case(
    "input",
    "invalid-json-schema",
    '`--schema s` where s = {"type": "objekt"}.',
    "one paragraph: not a valid JSON Schema, 'objekt' is not a type; nothing sent",
)
def test_an_invalid_schema_is_refused(shell: InteractiveShell, fault_env: FaultServer) -> None:
    shell.user_ns["s"] = {"type": "objekt"}
    refused(shell, "%kimi --schema s give me a person", "not a valid JSON Schema", "'objekt'")
    assert not fault_env.requests


@case(
    "input",
    "nan-in-metadata-flag",
    "`--metadata '{\"run\": NaN}'` on the magic line.",
    "one paragraph: NaN is not a JSON value; nothing sent",
)
def test_nan_in_a_json_flag(shell: InteractiveShell, fault_env: FaultServer) -> None:
    refused(shell, """%kimi --metadata '{"run": NaN}' hi""", "NaN is not a JSON value")
    assert not fault_env.requests


NON_FINITE: dict[str, dict[str, Any]] = {
    "nan-in-metadata": {"metadata": {"run": math.nan}},
    "infinity-in-logit-bias": {"logit_bias": {"1": math.inf}},
    "nan-in-tools": {
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"x": math.nan}}}]
    },
    "infinity-in-response-format": {"response_format": {"type": "json_object", "w": -math.inf}},
}


@pytest.mark.parametrize("name", list(NON_FINITE))
def test_non_finite_numbers_in_the_python_api(name: str, fault_env: FaultServer) -> None:
    with pytest.raises(ConfigurationError) as caught:
        kimi_magic.ask("hi", **NON_FINITE[name])
    assert_one_paragraph(caught.value, "JSON cannot carry", "Nothing was sent")
    assert not fault_env.requests


for _name in NON_FINITE:
    case(
        "input",
        f"python-{_name}",
        f"`kimi_magic.ask(...)` with {_name.replace('-', ' ')}.",
        "ConfigurationError, one paragraph naming the key (JSON cannot carry NaN or Infinity); "
        "nothing sent (was a bare ValueError)",
    )(None)


@case(
    "input",
    "temperature-as-typed",
    "`%kimi -t 7 hi` (out of range).",
    "one paragraph: temperature must be a number from 0 to 2, not 7 (as typed, not 7.0)",
)
def test_a_value_is_echoed_as_typed(shell: InteractiveShell, fault_env: FaultServer) -> None:
    text = refused(shell, "%kimi -t 7 hi", "from 0 to 2, not 7.")
    assert "7.0" not in text
    assert not fault_env.requests


@case(
    "input",
    "missing-name-suggests-own-names",
    "`{opn}` is not defined; the user defined `opener`; IPython's namespace holds `open`.",
    "one paragraph: Did you mean {opener}? (never a builtin such as open)",
)
def test_a_missing_name_suggests_the_users_names_only(
    shell: InteractiveShell, fault_env: FaultServer
) -> None:
    shell.user_ns["opener"] = 1
    shell.user_ns.setdefault("open", open)
    text = refused(shell, "%kimi what is {opn}?", "{opener}")
    assert "{open}" not in text
    assert not fault_env.requests


@case(
    "input",
    "slow-repr",
    "`{s}` where s's __repr__ takes 30 s.",
    "sent after about 2 s; the prompt says the rendering took longer than 2 s and was cut off",
)
def test_a_slow_repr_is_cut_off(shell: InteractiveShell, fault_env: FaultServer) -> None:
    # The repr blocks until the test opens its gate (or the hang guard passes): a prompt that
    # was sent without its result was sent while the repr still ran, not after waiting it out.
    ok(
        shell,
        "import threading\ngate = threading.Event()\nclass Slow:\n    def __repr__(self):\n"
        f"        gate.wait({HANG_GUARD_S})\n        return 'REPR-FINISHED'\n",
    )
    ok(shell, "s = Slow()")
    try:
        ok(shell, "%kimi what is {s}?")
        assert shell.user_ns["gate"].is_set() is False
    finally:
        shell.user_ns["gate"].set()
    sent = sent_text(fault_env)
    assert "took longer than 2 s" in sent and "REPR-FINISHED" not in sent


# -- secrets --------------------------------------------------------------------------------


@case(
    "secrets",
    "token-interpolated",
    "`{t}` where t holds the configured API token.",
    "the prompt says [redacted: the API token]; the token is not sent",
)
def test_the_token_is_never_interpolated(shell: InteractiveShell, fault_env: FaultServer) -> None:
    ok(shell, "import os\nt = os.environ['CLOUDFLARE_API_TOKEN']")
    ok(shell, "%kimi is {t} a valid token?")
    sent = sent_text(fault_env)
    assert CANARY not in sent and "[redacted: the API token]" in sent


@case(
    "secrets",
    "secret-named-variable",
    '`-v DB_PASSWORD` where DB_PASSWORD = "pa55-word-xyz".',
    "the prompt says [redacted: value of variable DB_PASSWORD]",
)
def test_a_secret_named_variable(shell: InteractiveShell, fault_env: FaultServer) -> None:
    shell.user_ns["DB_PASSWORD"] = "pa55-word-xyz"
    ok(shell, "%kimi -v DB_PASSWORD why does login fail?")
    sent = sent_text(fault_env)
    assert "pa55-word-xyz" not in sent
    assert "[redacted: value of variable DB_PASSWORD]" in sent


@case(
    "secrets",
    "secret-named-environment-entry",
    "`{x}` where x holds the value of the environment entry STRIPE_SECRET.",
    "the prompt says [redacted: value of environment entry STRIPE_SECRET]",
)
def test_a_secret_named_environment_entry(
    shell: InteractiveShell, fault_env: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_SECRET", "whsec-0a1b2c3d4e")
    shell.user_ns["x"] = "whsec-0a1b2c3d4e"
    ok(shell, "%kimi what is {x}?")
    assert "[redacted: value of environment entry STRIPE_SECRET]" in sent_text(fault_env)


KEY_FORMATS = {
    "openai-style": ("sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2", "an OpenAI-style key"),
    "aws-access-key-id": ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
    "github-token": ("ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "a GitHub token"),
    "jwt": (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "a JWT",
    ),
    "cloudflare-token": ("Zx9" + "Q" * 17 + "abc123def456ghi789jk", "a Cloudflare API token"),
    "private-key": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "a private key",
    ),
    "google-api-key": ("AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "a Google API key"),
}


@pytest.mark.parametrize("name", list(KEY_FORMATS))
def test_a_well_known_key_format(
    name: str, shell: InteractiveShell, fault_env: FaultServer
) -> None:
    key, label = KEY_FORMATS[name]
    shell.user_ns["note"] = f"the config holds {key} for now"
    ok(shell, "%kimi is this safe to commit: {note}")
    sent = sent_text(fault_env)
    assert key.splitlines()[-1] not in sent and f"[redacted: looks like {label}]" in sent


for _name, (_key, _label) in KEY_FORMATS.items():
    case(
        "secrets",
        f"key-format-{_name}",
        f"A value holding {_label} is interpolated (variable name not secret-looking).",
        f"the prompt says [redacted: looks like {_label}]",
    )(None)


@case(
    "secrets",
    "name-based-switch-off",
    "`%config KimiMagics.redact_secret_names = False`, then a secret-named variable and the "
    "token are interpolated.",
    "the variable's value is sent as it is; the API token is still redacted",
)
def test_the_name_based_switch(shell: InteractiveShell, fault_env: FaultServer) -> None:
    ok(shell, "%config KimiMagics.redact_secret_names = False")
    ok(shell, "import os\nt = os.environ['CLOUDFLARE_API_TOKEN']")
    shell.user_ns["DB_PASSWORD"] = "pa55-word-xyz"
    ok(shell, "%kimi compare {DB_PASSWORD} and {t}")
    sent = sent_text(fault_env)
    assert "pa55-word-xyz" in sent and CANARY not in sent


@case(
    "secrets",
    "explain-token-on-failing-line",
    "`int(TOKEN)` fails (the ValueError repeats the token), then `%kimi explain`.",
    "the question holds the cell, traceback and values with [redacted: …] where the token was",
)
def test_explain_never_sends_the_token(shell: InteractiveShell, fault_env: FaultServer) -> None:
    ok(shell, "import os\nTOKEN = os.environ['CLOUDFLARE_API_TOKEN']")
    result = shell.run_cell("int(TOKEN)", store_history=True)
    assert isinstance(result.error_in_exec, ValueError)
    ok(shell, "%kimi explain")
    sent = sent_text(fault_env)
    assert "invalid literal for int()" in sent and "[redacted" in sent and CANARY not in sent


@case(
    "secrets",
    "dry-run-shows-redactions",
    "`%kimi --dry-run` of a prompt holding the token.",
    "the dry run says how many secret values were redacted and why; nothing is sent",
)
def test_the_dry_run_shows_redactions(
    shell: InteractiveShell, fault_env: FaultServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(shell, "import os\nt = os.environ['CLOUDFLARE_API_TOKEN']")
    ok(shell, "%kimi --dry-run is {t} valid?")
    out = capsys.readouterr().out
    assert "1 secret value redacted" in out and "the API token" in out and CANARY not in out
    assert not fault_env.requests


@case(
    "secrets",
    "history-and-save-file",
    "A conversation whose prompt held the token, then `%kimi history` and `%kimi save`.",
    "history and the save file hold the redacted prompt only",
)
def test_history_and_save_hold_no_token(
    shell: InteractiveShell,
    fault_env: FaultServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ok(shell, "import os\nt = os.environ['CLOUDFLARE_API_TOKEN']")
    ok(shell, "%kimi is {t} valid?")
    ok(shell, "%kimi history")
    ok(shell, f"%kimi save {tmp_path / 'chats.json'}")
    saved = (tmp_path / "chats.json").read_text(encoding="utf-8")
    assert "[redacted: the API token]" in saved and CANARY not in saved
    assert CANARY not in capsys.readouterr().out


# -- answers that end inside an open block ----------------------------------------------------

OPEN_BLOCKS = {
    "backtick-fence": ("Here:\n```python\nx = 1\n", "```"),
    "tilde-fence": ("Here:\n~~~~\ncode\n```\nmore\n", "~~~~"),
    "math-block": ("So\n$$\nx^2\n", "$$"),
}


@pytest.mark.parametrize("name", list(OPEN_BLOCKS))
def test_an_open_block_is_closed_before_the_footer(name: str) -> None:
    text, closing = OPEN_BLOCKS[name]
    answer = kimi_magic.Answer(text=text, truncated=True)
    markdown = answer_markdown(answer)
    body, _, after = markdown.partition("⚠ **Truncated**")
    assert body.rstrip().endswith(closing), markdown
    assert "<sub>" in after


for _name, (_text, _closing) in OPEN_BLOCKS.items():
    case(
        "fence",
        _name,
        f"The answer ends inside an open {_name.replace('-', ' ')} (cut short).",
        f"the block is closed ({_closing}) before the truncation mark and footer, which show "
        "as text, not code",
    )(None)


@case(
    "fence",
    "closed-fences-untouched",
    "The answer's fences are all closed (one inline ``` mention too).",
    "the answer is shown exactly as it came",
)
def test_closed_fences_are_left_alone() -> None:
    text = "Use ```inline``` marks.\n```\ncode\n```\nDone."
    assert answer_markdown(kimi_magic.Answer(text=text)).startswith(text + "\n")


@case(
    "fence",
    "stream-cut-inside-code",
    "The stream breaks while a code block streams.",
    "one paragraph (connection broke in the middle of the answer); the final output closes the "
    "block, then shows the 'Stopped by an error' mark and footer",
)
def test_a_stream_cut_inside_code(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    fault.script([head(chunked=False), *answer_events(["Try:\n", "```py\n", "x = 1\n"])])
    with pytest.raises(StreamError) as caught:
        make_client().ask("code?")
    answer = caught.value.answer
    assert answer is not None
    markdown = answer_markdown(answer, error=str(caught.value))
    assert "x = 1\n```\n\n⚠ **Stopped by an error**" in markdown


ADVERSARIAL = {
    "one-long-word": "x" * 3_000_000,
    "assignments": "a=" * 1_500_000,
    "quotes": "'" * 3_000_000,
    "jwt-prefixes": "eyJ" * 1_000_000,
    "token-sized-words": ("A1b" * 13 + " ") * 75_000,
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_redaction_of_a_huge_prompt_takes_linear_time(name: str) -> None:
    # In a child process: a backtracking regex holds the GIL, so only a process can be stopped.
    # The limit is a hang guard (a quadratic pattern held this prompt for minutes; the linear
    # one takes seconds even on a loaded machine). benchmarks/bench_ui_events.py prints the time.
    script = (
        "import sys\n"
        "from kimi_magic.core.secrets import Redactor\n"
        "text = sys.stdin.read()\n"
        "print(len(text), len(Redactor.collect(environ={}).redact(text).text))\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=ADVERSARIAL[name],
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"Redacting the {name} prompt ran past {HANG_GUARD_S:g} s: it backtracks.")
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    assert before == len(ADVERSARIAL[name]) and after > 0  # the prompt comes back, redacted


for _name in ADVERSARIAL:
    case(
        "secrets",
        f"huge-prompt-{_name}",
        f"A 3 MB prompt built to make the secret patterns backtrack ({_name.replace('-', ' ')}).",
        "redacted in well under a second a megabyte (the assignment pattern once took "
        "quadratic time and held a 3 MB prompt for minutes)",
    )(None)
