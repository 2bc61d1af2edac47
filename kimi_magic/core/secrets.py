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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .constants import ENV_API_TOKEN, ENV_GATEWAY_TOKEN, ENV_OPENAI_API_KEY

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
# `api_key = "..."`, `"password": "..."`, `TOKEN='...'` in code or JSON: the value goes; so
# do digits (`pin_secret=98765432` in a dataclass's repr, `"password": 31415926535`).
# The name is bounded and must start a word, so a long run of word characters (a 3 MB
# prompt of "xxxx…") costs linear time, not quadratic backtracking. One pattern, one pass.
_ASSIGNED = re.compile(
    r"""(?<![\w-])(?P<name>[A-Za-z_][\w-]{0,63})(?P<quote>["']?)(?P<between>[ \t]*[:=][ \t]*)"""
    r"""(?:(?P<open>["'])(?P<value>[^"'\n]{6,200})(?P=open)|(?P<number>-?\d[\d_]{5,})(?![\w.]))"""
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
        tokens += [
            env.get(name, "") for name in (*ENV_API_TOKEN, ENV_OPENAI_API_KEY, ENV_GATEWAY_TOKEN)
        ]
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


# The secrets of the turn being built or run (`with redacting(...)`), so every place that
# cuts text to a limit can redact the whole text first, however deep in the rendering it is.
# A ContextVar, not a global: each thread and task sees its own (copy the context into
# worker threads).
_ACTIVE: ContextVar[Redactor | None] = ContextVar("kimi_magic_redactor", default=None)
_PATH_NAMES = re.compile(r"""[A-Za-z_][\w-]*|"([^"]*)"|'([^']*)'""")
SECRET_ITEMS = 10_000  # values walked by `scrub` before the rest is left to the text patterns


@contextmanager
def redacting(redactor: Redactor) -> Iterator[Redactor]:
    """Within the block, `active_redactor()` (and every cut to a limit) uses `redactor`."""
    token = _ACTIVE.set(redactor)
    try:
        yield redactor
    finally:
        _ACTIVE.reset(token)


def active_redactor() -> Redactor:
    """The redactor of the current turn, or (outside one) the environment's token and
    secret-looking entries, and the key formats."""
    found = _ACTIVE.get()
    return found if found is not None else Redactor.collect()


def redact_then(text: str) -> str:
    """`text` with the current turn's secrets redacted: call it before cutting `text` to a
    limit, so a secret that straddles the limit never leaks in part."""
    return active_redactor().redact(text).text


def secret_step(path: str) -> str:
    """The first attribute or key of `path` (`creds.db_password`, `config["api_key"]`) whose
    name looks secret, or ''."""
    for match in _PATH_NAMES.finditer(path):
        name = next((g for g in match.groups() if g is not None), match.group(0))
        if secret_key(name):
            return name
    return ""


def path_marker(path: str) -> str:
    """What stands for the value at a secret-looking path (or a variable's name)."""
    return MARKER.format(f"value of {'variable ' if path.isidentifier() else ''}{path}")


def scrub(value: Any, redactor: Redactor | None = None) -> Any:
    """`value` with every dict entry under a secret-looking key (at any depth, in dicts and
    lists) replaced by a marker; the same object when nothing needed it. Off with by_name."""
    redactor = redactor or active_redactor()
    if not redactor.by_name:
        return value
    budget = [SECRET_ITEMS]

    def walk(item: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > 50:
            return item
        if isinstance(item, Mapping):
            changed = False
            out: dict[Any, Any] = {}
            for key, inner in item.items():
                if isinstance(key, str) and secret_key(key) and _worth_hiding(inner):
                    out[key] = MARKER.format(f"value of {key}")
                    changed = True
                else:
                    out[key] = walk(inner, depth + 1)
                    changed = changed or out[key] is not inner
            return out if changed else item
        if isinstance(item, (list, tuple)):
            walked = [walk(inner, depth + 1) for inner in item]
            if any(a is not b for a, b in zip(walked, item, strict=True)):
                return walked if isinstance(item, list) else tuple(walked)
        return item

    return walk(value, 0)


def redact_json(value: Any, redactor: Redactor | None = None) -> Any:
    """A JSON-able value (a request body, an answer record) with every string redacted, to be
    written to a file; image data URLs are left whole (base64 is no secret, and a pattern
    would break it)."""
    redactor = redactor or active_redactor()

    def walk(item: Any, depth: int) -> Any:
        if isinstance(item, str):
            return item if item.startswith("data:") else redactor.redact(item).text
        if depth > 100:
            return item
        if isinstance(item, Mapping):
            return {key: walk(inner, depth + 1) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(inner, depth + 1) for inner in item]
        return item

    return walk(value, 0)


def _worth_hiding(value: Any) -> bool:
    """A value under a secret-looking key that could be a secret: text or digits of at least
    MIN_SECRET_CHARS, or a container (`"credentials": {...}`)."""
    if isinstance(value, (str, bytes)):
        return len(value) >= MIN_SECRET_CHARS
    if isinstance(value, int) and not isinstance(value, bool):
        return len(str(abs(value))) >= MIN_SECRET_CHARS
    return isinstance(value, (Mapping, list, tuple)) and len(value) > 0


def secret_key(name: str) -> bool:
    """A key, attribute or column name that looks secret (as `looks_secret`), but not a bare
    `key` (`key`, `key0`, `Key`): too common a dict key to hide what it holds."""
    return looks_secret(name) and [w.lower() for w in _WORD.findall(name)] != ["key"]


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
        if value is None:  # digits: only under a name that is surely secret
            if not secret_key(name):
                return match.group(0)
            names.append(name)
            head = match.group(0)[: match.start("number") - match.start(0)]
            return f"{head}{MARKER.format(f'value of {name}')}"
        if not looks_secret(name) or value.startswith("[redacted"):
            return match.group(0)
        names.append(name)
        quote = match.group("open")
        head = match.group(0)[: match.start("open") - match.start(0)]
        return f"{head}{quote}{MARKER.format(f'value of {name}')}{quote}"

    return _ASSIGNED.sub(replace, text), names
