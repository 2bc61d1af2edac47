"""The one place that resolves configuration, in the documented order (highest first):

1. a flag on the magic line (this call only)
2. the panel / `%config KimiMagics.<name>` (two views of the same traits)
3. `[tool.kimi_magic]` in the nearest pyproject.toml, then the user file
   `~/.config/kimi_magic/config.toml` (its top level, or its `[kimi_magic]` table); the
   project file's settings that run code, start processes, send more data, write outside
   its folder or change where requests go only once the user trusts it (core/trust.py)
4. the environment: `KIMI_MAGIC_<NAME>` (e.g. KIMI_MAGIC_TEMPERATURE=0.2)
5. the defaults below

Every effective value knows where it came from, so `%kimi config` can say it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .constants import (
    AGENT_MAX_COST_USD,
    AGENT_MAX_ROUNDS,
    APPROVE_TIMEOUT_S,
    CALL_TIMEOUT_S,
    CONTEXT_WINDOW_TOKENS,
    ENV_GATEWAY,
    MODEL_ID,
    READ_TIMEOUT_S,
    RUN_PYTHON_SECONDS,
    TOOL_MAX_ROUNDS,
)
from .errors import ConfigurationError
from .parameters import PARAMETERS, coerce, parse_boolean

if TYPE_CHECKING:
    from .trust import Ignored, UntrustedFile

# Settings that are ours rather than request parameters, with their kinds and defaults.
OWN_SETTINGS: dict[str, tuple[str, Any]] = {
    "model": ("string", MODEL_ID),
    "api": ("string", "native"),
    "system": ("string", ""),
    "read_timeout": ("number", READ_TIMEOUT_S),
    "call_timeout": ("number", CALL_TIMEOUT_S),  # one call, first byte sent to last read
    "seed_mode": ("string", "fixed"),  # "random": a new seed for every call
    "cache": ("boolean", False),  # the opt-in local response cache
    "cache_dir": ("string", ""),  # empty: ~/.cache/kimi_magic/responses
    "max_cost": ("number", None),  # spending cap per session in USD; None: no cap
    "context_window": ("integer", CONTEXT_WINDOW_TOKENS),
    # Redact values of variables / environment entries named *KEY*, *TOKEN*, ... from prompts.
    "redact_secret_names": ("boolean", True),
    "background": ("boolean", False),  # %%kimi answers stream in the background (--bg)
    # Tools (issue 9) offered to every question, as --tools: names, all, notebook, python,
    # mcp:NAME. (`tools` itself is the request's list of raw definitions.)
    "default_tools": ("string", ""),
    "approve": ("string", "ask"),  # code-running tools: ask (buttons), auto, or deny
    "approve_timeout": ("number", APPROVE_TIMEOUT_S),  # unclicked buttons deny after this
    "python_timeout": ("number", RUN_PYTHON_SECONDS),  # a run_python run is stopped after this
    "tool_max_rounds": ("integer", TOOL_MAX_ROUNDS),
    "agent_max_rounds": ("integer", AGENT_MAX_ROUNDS),
    "agent_max_cost": ("number", AGENT_MAX_COST_USD),  # per %%kimi --agent cell
    "record": ("string", ""),  # a replay file every whole answer is written to
    "replay": ("string", ""),  # a replay file that answers instead of the network
    # Cloudflare AI Gateway (api/gateway.py): its name (also CLOUDFLARE_AI_GATEWAY), a tag for
    # its logs, its cache (TTL in seconds; off for one call with --no-gateway-cache), and
    # what it logs: "on", "off", or "metadata" (usage without prompts); "" keeps its default.
    "gateway": ("string", ""),
    "gateway_tag": ("string", ""),
    "gateway_cache_ttl": ("integer", None),
    "gateway_cache": ("boolean", True),
    "gateway_log": ("string", ""),
}
# Settings read from another environment variable too (after KIMI_MAGIC_<NAME>).
ENV_ALIASES: dict[str, str] = {"gateway": ENV_GATEWAY}
DEFAULTS: dict[str, Any] = {name: None for name in PARAMETERS}
DEFAULTS["stream"] = True
DEFAULTS.update({name: default for name, (_, default) in OWN_SETTINGS.items()})
NAMES = tuple(DEFAULTS)

ENV_PREFIX = "KIMI_MAGIC_"
PYPROJECT = "pyproject.toml"
USER_CONFIG = Path("kimi_magic") / "config.toml"

# Tables in the config files that are not settings (tools/mcp_config.py reads mcp_servers).
TABLES = frozenset({"mcp_servers"})

FLAG, SESSION, DEFAULT = "flag", "panel / %config", "default"


@dataclass(frozen=True)
class Setting:
    name: str
    value: Any
    source: str  # FLAG, SESSION, a file path, "environment (KIMI_MAGIC_X)" or DEFAULT


@dataclass
class Resolved:
    """The effective settings of one call."""

    settings: dict[str, Setting]
    notes: list[str] = field(default_factory=list)
    # project-file settings left out until the file is trusted (core/trust.py)
    ignored: dict[str, Ignored] = field(default_factory=dict)
    untrusted: UntrustedFile | None = None

    def __getitem__(self, name: str) -> Any:
        return self.settings[name].value

    def source(self, name: str) -> str:
        return self.settings[name].source

    def request_parameters(self) -> dict[str, Any]:
        """The request parameters that are set (None ones are not sent)."""
        return {name: self[name] for name in PARAMETERS if self[name] is not None}


def resolve(
    flags: Mapping[str, Any] | None = None,
    session: Mapping[str, Any] | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    user_config: Path | None = None,
) -> Resolved:
    """Every setting's effective value and source; None in a layer means "not set there"."""
    files = read_config_files(cwd, user_config)
    env = from_environment(os.environ if environ is None else environ)
    layers: list[tuple[Mapping[str, Any], Any]] = [
        (flags or {}, FLAG),
        (session or {}, SESSION),
        (files.found, None),
        (env, None),
    ]
    settings: dict[str, Setting] = {}
    for name in NAMES:
        for layer, source in layers:
            entry = layer.get(name)
            if entry is None:
                continue
            value, where = (entry, source) if source is not None else entry
            settings[name] = Setting(name, value, where)
            break
        else:
            settings[name] = Setting(name, DEFAULTS[name], DEFAULT)
    return Resolved(settings, files.notes, files.ignored, files.untrusted)


def from_environment(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """`KIMI_MAGIC_TEMPERATURE=0.2` -> {"temperature": (0.2, "environment (...)")}."""
    found: dict[str, tuple[Any, str]] = {}
    for name in NAMES:
        variable = ENV_PREFIX + name.upper()
        text = environ.get(variable)
        if (text is None or not text.strip()) and name in ENV_ALIASES:
            variable = ENV_ALIASES[name]
            text = environ.get(variable)
        if text is None or not text.strip():
            continue
        found[name] = (_value(name, text, variable), f"environment ({variable})")
    return found


def _value(name: str, raw: Any, where: str) -> Any:
    """A setting's value from text or TOML, converted to its kind."""
    kind = OWN_SETTINGS[name][0] if name in OWN_SETTINGS else ""
    try:
        if isinstance(raw, str) and not kind:  # a request parameter: its table says how
            return coerce(name, raw)
        if isinstance(raw, str) and kind != "string":
            convert: dict[str, Callable[[str], Any]] = {
                "number": float,
                "integer": int,
                "boolean": parse_boolean,
            }
            return convert[kind](raw.strip())
    except (ValueError, KeyError):
        raise ConfigurationError(
            f"{where} sets {name} to {raw!r}, which is not a {kind}. Fix or remove it."
        ) from None
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}: {error}") from None
    return raw


def user_config_path() -> Path:
    """$XDG_CONFIG_HOME/kimi_magic/config.toml (default ~/.config)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / USER_CONFIG


def nearest_pyproject(start: Path) -> Path | None:
    """The first pyproject.toml from `start` up to the file system root."""
    for folder in (start, *start.parents):
        candidate = folder / PYPROJECT
        if candidate.is_file():
            return candidate
    return None


@dataclass
class ConfigFiles:
    """What the config files set, notes on what could not be used, and the project-file
    settings that were ignored because the file is not trusted."""

    found: dict[str, tuple[Any, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ignored: dict[str, Ignored] = field(default_factory=dict)
    untrusted: UntrustedFile | None = None


def read_config_files(cwd: Path | None = None, user_config: Path | None = None) -> ConfigFiles:
    """Settings from the nearest pyproject.toml (which wins) and the user config file; the
    project file's restricted settings only once the user trusts it (core/trust.py)."""
    # Imported here, not at the top: %load_ext needs these settings' names, not the trust
    # store (5 ms of the load, benchmarks/bench_streaming.py).
    from .trust import TrustStore, UntrustedFile, digest, store_path

    files = ConfigFiles()
    loads = _toml_loader()
    user = user_config if user_config is not None else user_config_path()
    here = (cwd or Path.cwd()).resolve()
    project = nearest_pyproject(here)
    candidates = [(user, False), (project, True)]  # the project file is applied last: it wins
    for path, is_pyproject in candidates:
        if path is None or not path.is_file():
            continue
        if loads is None:
            files.notes.append(
                f"{path} was not read: reading TOML needs Python 3.11 or the 'tomli' package."
            )
            continue
        try:
            content = path.read_bytes()
            data = loads(content.decode("utf-8"))
        except (OSError, ValueError) as error:
            files.notes.append(f"{path} could not be read ({error}); its settings are ignored.")
            continue
        table = (
            data.get("tool", {}).get("kimi_magic") if is_pyproject else data.get("kimi_magic", data)
        )
        if not isinstance(table, Mapping):
            continue
        where = f"{path} [tool.kimi_magic]" if is_pyproject else str(path)
        store = TrustStore.load(store_path(user)) if is_pyproject else None
        guarded = store is not None and not store.trusts(path, content)
        found, ignored, notes = _screen(table, where, path.parent, here, guarded)
        files.found.update(found)
        files.ignored.update(ignored)
        files.notes += notes
        if guarded and store is not None and store.problem:
            files.notes.append(store.problem)
        if ignored and store is not None:
            files.untrusted = UntrustedFile(path, digest(content), tuple(ignored), store.problem)
    return files


def _screen(
    table: Mapping[str, Any], where: str, folder: Path, here: Path, guarded: bool
) -> tuple[dict[str, tuple[Any, str]], dict[str, Ignored], list[str]]:
    """One file's settings: those that apply, those an untrusted project file may not set
    (when `guarded`), and notes on unknown names."""
    from .trust import Ignored, needs_trust  # see read_config_files

    found: dict[str, tuple[Any, str]] = {}
    ignored: dict[str, Ignored] = {}
    notes: list[str] = []
    for name, raw in table.items():
        if name not in DEFAULTS and name not in TABLES:
            notes.append(
                f"{where} sets unknown setting {name!r}; it is ignored. "
                f"Known settings: {', '.join(NAMES)}."
            )
            continue
        value = raw if name in TABLES else _value(name, raw, where)
        reason = needs_trust(name, value, folder, here) if guarded else ""
        if reason:
            ignored[name] = Ignored(name, value, where, reason)
        elif name not in TABLES:  # a table is read by its own reader (mcp_config.py)
            found[name] = (value, where)
    return found, ignored, notes


def project_restrictions(path: Path, content: bytes, cwd: Path | None = None) -> dict[str, Ignored]:
    """What a project file sets that needs trust (what trusting it would switch on)."""
    loads = _toml_loader()
    if loads is None:
        return {}
    try:
        data = loads(content.decode("utf-8"))
    except ValueError as error:
        raise ConfigurationError(f"{path} could not be read ({error}); fix it first.") from None
    table = data.get("tool", {}).get("kimi_magic")
    if not isinstance(table, Mapping):
        return {}
    here = (cwd or Path.cwd()).resolve()
    return _screen(table, f"{path} [tool.kimi_magic]", path.parent, here, True)[1]


def _toml_loader() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads
    try:
        import tomli  # type: ignore[import-not-found]
    except ImportError:
        return None
    return tomli.loads
