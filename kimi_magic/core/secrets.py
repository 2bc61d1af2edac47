"""Secrets kept out of everything sent to a model: the configured API token, values whose
names look secret (`*KEY*`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`) and strings in well-known key
formats. Each is replaced by a marker that says what was taken out, so `--dry-run` (and the
model) can see that something was there.

>>> redact_secrets("my key is sk-abcdefghijklmnopqrstuvwx").text
'my key is [redacted: looks like an OpenAI-style key]'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .constants import ENV_API_TOKEN, ENV_OPENAI_API_KEY

MARKER = "[redacted: {}]"
MIN_SECRET_CHARS = 6  # a shorter value ("", "yes", "1234") would redact ordinary words
# A name looks secret when a word of it says so: API_KEY, apiKey, github_token, db_password,
# client_secret. KEY and TOKEN only as the last word (KeyError, token_count hold no secret).
_SECRET_LAST_WORDS = frozenset({"key", "apikey", "token", "pat"})
_SECRET_WORDS = frozenset(
    {"secret", "password", "passwd", "passphrase", "pwd", "credential", "credentials"}
)
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|[^A-Za-z]|$)|[A-Z]?[a-z]+|[A-Z]+")

_KEY_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern))
    for label, pattern in (
        (
            "a private key",
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
        ),
        ("a JWT", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
        ("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
        ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("a Stripe key", r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"),
        ("an OpenAI-style key", r"\bsk-[A-Za-z0-9_-]{20,}"),
        # Cloudflare API tokens: 40 characters of [A-Za-z0-9_-]. Mixed case and a digit are
        # required (see _looks_random), so a git commit hash (lowercase hex) is left alone.
        ("a Cloudflare API token", r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{40}(?![A-Za-z0-9_-])"),
    )
)
# `api_key = "..."`, `"password": "..."`, `TOKEN='...'` in code or JSON: the value goes.
# The name is bounded and must start a word, so a long run of word characters (a 3 MB
# prompt of "xxxx…") costs linear time, not quadratic backtracking.
_ASSIGNED = re.compile(
    r"""(?<![\w-])(?P<name>[A-Za-z_][\w-]{0,63})(?P<quote>["']?)(?P<between>[ \t]*[:=][ \t]*)"""
    r"""(?P<open>["'])(?P<value>[^"'\n]{6,200})(?P=open)"""
)


@dataclass(frozen=True)
class Redaction:
    """Text with its secrets replaced; `found` says what was taken out (one entry each)."""

    text: str
    found: tuple[str, ...] = ()


@dataclass(frozen=True)
class Redactor:
    """What to redact: exact values (with a label each) and, always, well-known key formats.

    Build one per prompt with `Redactor.collect`, then `redact` every text of that prompt.
    """

    values: tuple[tuple[str, str], ...] = ()  # (secret, label), longest first
    by_name: bool = True  # also `name = "value"` assignments with secret-looking names

    def __repr__(self) -> str:  # the values are the secrets: never show them
        return f"Redactor({len(self.values)} values, by_name={self.by_name})"

    @classmethod
    def collect(
        cls,
        *,
        token: str | Iterable[str] | None = None,
        namespace: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        by_name: bool = True,
    ) -> Redactor:
        """The secrets of a session: the configured token(s), and (with `by_name`) the values
        of variables and environment entries whose names look secret."""
        env = os.environ if environ is None else environ
        tokens = [token] if isinstance(token, str) else list(token or ())
        tokens += [env.get(name, "") for name in (*ENV_API_TOKEN, ENV_OPENAI_API_KEY)]
        found: dict[str, str] = {t.strip(): "the API token" for t in tokens if _usable(t)}
        if by_name:
            for source, label in ((env, "environment entry"), (namespace or {}, "variable")):
                for name, value in list(source.items()):
                    if isinstance(value, str) and looks_secret(name) and _usable(value):
                        found.setdefault(value.strip(), f"value of {label} {name}")
        ordered = sorted(found.items(), key=lambda item: -len(item[0]))
        return cls(tuple(ordered), by_name)

    def redact(self, text: str) -> Redaction:
        """`text` with every secret replaced by a marker saying what it was."""
        found: list[str] = []
        for secret, label in self.values:
            if secret in text:
                text = text.replace(secret, MARKER.format(label))
                found.append(label)
        for label, pattern in _KEY_FORMATS:
            text, count = _sub_formats(pattern, label, text)
            found += [f"looks like {label}"] * count
        if self.by_name:
            text, names = _sub_assignments(text)
            found += [f"value of {name}" for name in names]
        return Redaction(text, tuple(found))


def looks_secret(name: str) -> bool:
    """True for names like API_KEY, apiKey, github_token, db_password (not max_tokens,
    KeyError or token_count)."""
    words = [w.lower() for w in _WORD.findall(name)]
    if not words:
        return False
    return words[-1] in _SECRET_LAST_WORDS or any(w in _SECRET_WORDS for w in words)


def redact_secrets(
    text: str,
    *,
    token: str | Iterable[str] | None = None,
    namespace: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    by_name: bool = True,
) -> Redaction:
    """One text with its secrets redacted: for tool results, history, anything about to be
    sent. Pass the notebook namespace to catch the values of secret-looking variables."""
    redactor = Redactor.collect(token=token, namespace=namespace, environ=environ, by_name=by_name)
    return redactor.redact(text)


def _usable(value: str | None) -> bool:
    return bool(value) and len(str(value).strip()) >= MIN_SECRET_CHARS


def _looks_random(candidate: str) -> bool:
    return (
        any(c.isupper() for c in candidate)
        and any(c.islower() for c in candidate)
        and any(c.isdigit() for c in candidate)
    )


def _sub_formats(pattern: re.Pattern[str], label: str, text: str) -> tuple[str, int]:
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if label == "a Cloudflare API token" and not _looks_random(match.group(0)):
            return match.group(0)
        count += 1
        return MARKER.format(f"looks like {label}")

    return pattern.sub(replace, text), count


def _sub_assignments(text: str) -> tuple[str, list[str]]:
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, value = match.group("name"), match.group("value")
        if not looks_secret(name) or value.startswith("[redacted"):
            return match.group(0)
        names.append(name)
        quote = match.group("open")
        head = match.group(0)[: match.start("open") - match.start(0)]
        return f"{head}{quote}{MARKER.format(f'value of {name}')}{quote}"

    return _ASSIGNED.sub(replace, text), names
