"""Workspace trust: what a project file may set before the user trusts it, and the store of
trusted files.

A project file (the nearest pyproject.toml, found by walking up from the working directory)
arrives with a folder the user may have just cloned. Until the user trusts it (`%kimi trust`,
`kimi_magic.trust()`), the settings in it that run code, start a process, send more data, write
outside its folder or change where requests go are ignored, the way editors and direnv treat a
new workspace. Trust is the file's absolute path and the sha256 of its content, kept in
`trusted.json` beside the user's config file: a changed file is untrusted again. The user's own
config file, `%config`, flags and the environment are the user's, and always apply.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STORE_NAME = "trusted.json"
STORE_VERSION = 1
TRUST_HINT = "run %kimi trust (or kimi_magic.trust()) if you trust this folder"

# -- what a project file may set ------------------------------------------------------------

# Settings a project file may set before it is trusted: the model's parameters and how the
# answer is shown. This is an allow-list: any other name, a setting added later included, needs
# trust unless VALUE_CHECKED below allows its value.
SAFE = frozenset(
    {
        # sampling and the answer's shape: what the model is asked, not what happens around it
        "temperature",
        "top_p",
        "reasoning_effort",
        "thinking",
        "seed",
        "seed_mode",
        "max_completion_tokens",
        "max_tokens",
        "frequency_penalty",
        "presence_penalty",
        "stop",
        "n",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "modalities",
        "parallel_tool_calls",
        "service_tier",
        "metadata",
        "user",
        "stream",
        # a prompt steers the model, and the model is untrusted whatever steers it
        "system",
        # display and patience
        "background",
        "read_timeout",
        "call_timeout",
        "context_window",
        # how long an approval waits for a click: a wait that ends in a denial, never a run
        "approve_timeout",
        # AI Gateway labels (cf-aig-metadata) and skipping its cache: no new place data goes
        "gateway_tag",
        "gateway_cache",
    }
)

# A plain Workers AI model id: no path step (`..`), query or second host can hide in it.
_MODEL_ID = re.compile(r"@(cf|hf)/[A-Za-z0-9_-][A-Za-z0-9._-]*/[A-Za-z0-9_-][A-Za-z0-9._-]*")
_SAFE_TOOL_WORDS = frozenset({"notebook"})  # read-only tools; python, mcp:, all, names need trust


def _inside(value: Any, folder: Path, cwd: Path) -> bool:
    """Whether a path setting (relative to the working directory, as it is used) stays in the
    project folder; links are followed, so a link out of the folder counts as out."""
    if not value:
        return True
    target = (cwd / Path(str(value)).expanduser()).resolve()
    return target == folder or folder in target.parents


def _tool_words(value: Any) -> list[str]:
    words = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
    return [str(w).strip() for w in words if str(w).strip()]


# Settings a project file may set to some values: name -> (the test of a harmless value, what
# any other value would do). Turning a guard on is always allowed; turning it off is not.
ValueCheck = Callable[[Any, Path, Path], bool]
VALUE_CHECKED: dict[str, tuple[ValueCheck, str]] = {
    "approve": (
        lambda v, f, c: v in ("ask", "deny"),
        "runs the model's code without asking",
    ),
    "default_tools": (
        lambda v, f, c: set(_tool_words(v)) <= _SAFE_TOOL_WORDS,
        "offers tools that run code or start MCP servers",
    ),
    "redact_secret_names": (
        lambda v, f, c: v is not False,
        "sends secret-named values unredacted",
    ),
    "store": (lambda v, f, c: v is not True, "asks the provider to keep the conversation"),
    "cache": (lambda v, f, c: v is not True, "writes answers to the cache outside the folder"),
    "cache_dir": (_inside, "writes answers outside the project folder"),
    "record": (_inside, "writes answers outside the project folder"),
    "replay": (_inside, "reads a file outside the project folder"),
    # An AI Gateway that is set keeps logs by its own settings; a project may ask it to keep
    # less (off, metadata), not more, and may not ask it to store answers in its cache.
    "gateway_log": (
        lambda v, f, c: str(v or "").lower() in ("", "off", "metadata"),
        "asks the AI Gateway to log prompts and answers",
    ),
    "gateway_cache_ttl": (
        lambda v, f, c: not v,
        "asks the AI Gateway to keep answers in its cache",
    ),
    "model": (
        lambda v, f, c: bool(_MODEL_ID.fullmatch(str(v))),
        "is not a plain @cf/... model id, so it changes the URL requests go to",
    ),
}

# Settings a project file may never set before it is trusted, with why. (Any name in neither
# table above lands here too, with DEFAULT_REASON.)
RESTRICTED: dict[str, str] = {
    "mcp_servers": "starts processes or connects to servers",
    "api": "changes the endpoint requests go to",
    "gateway": "sends every request through an AI Gateway, which may log prompts and answers",
    "max_cost": "spending limits are the user's",
    "agent_max_cost": "spending limits are the user's",
    "agent_max_rounds": "round limits are the user's",
    "tool_max_rounds": "round limits are the user's",
    "python_timeout": "how long approved code may run is the user's",
}
DEFAULT_REASON = "not known to be harmless"


def needs_trust(name: str, value: Any, folder: Path, cwd: Path) -> str:
    """Why a project file may not set `name` to `value` until it is trusted; "" if it may."""
    if name in SAFE:
        return ""
    if name in VALUE_CHECKED:
        check, why = VALUE_CHECKED[name]
        return "" if check(value, folder, cwd) else why
    return RESTRICTED.get(name, DEFAULT_REASON)


# -- the store -------------------------------------------------------------------------------


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass
class TrustStore:
    """`trusted.json`: {"version": 1, "trusted": {absolute path: sha256}}; `problem` says why
    an unreadable store was treated as trusting nothing."""

    path: Path
    trusted: dict[str, str] = field(default_factory=dict)
    problem: str = ""

    @classmethod
    def load(cls, path: Path) -> TrustStore:
        if not path.is_file():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            trusted = data.get("trusted") if isinstance(data, dict) else None
            if not isinstance(trusted, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in trusted.items()
            ):
                raise ValueError("it is not a table of file paths and sha256 hashes")
        except (OSError, ValueError) as error:  # a UnicodeDecodeError is a ValueError
            reason = error.strerror if isinstance(error, OSError) else str(error)
            return cls(
                path,
                problem=(
                    f"The trust store {path} could not be read ({reason}), so no project file "
                    "is trusted: delete it, or run %kimi trust again in each folder you trust "
                    "(that rewrites it)."
                ),
            )
        return cls(path, dict(trusted))

    def trusts(self, file: Path, content: bytes) -> bool:
        return self.trusted.get(str(file)) == digest(content)

    def save(self) -> None:
        """Written whole to a temporary file and renamed: never half a store."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": STORE_VERSION, "trusted": self.trusted}, indent=2)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".trusted-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text + "\n")
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.problem = ""


class UntrustedProjectWarning(UserWarning):
    """Settings of an untrusted project file were ignored (the Python API's notice)."""


# -- what was ignored ------------------------------------------------------------------------


@dataclass(frozen=True)
class Ignored:
    """A project-file setting that did not apply: where it was and why."""

    name: str
    value: Any
    where: str
    reason: str


@dataclass(frozen=True)
class UntrustedFile:
    """A project file whose restricted settings were ignored (the notice's state)."""

    path: Path
    sha256: str
    names: tuple[str, ...]
    store_problem: str = ""

    @property
    def notice(self) -> str:
        """The one line shown once per file state."""
        line = (
            f"Ignored {', '.join(self.names)} from {self.path} [tool.kimi_magic]: an untrusted "
            f"project file may not set them; {TRUST_HINT}."
        )
        return f"{line} {self.store_problem}" if self.store_problem else line


def store_path(user_config: Path) -> Path:
    """The trust store lives beside the user's own config file."""
    return user_config.parent / STORE_NAME
