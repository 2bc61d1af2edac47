"""Kimi K2.6 on Cloudflare Workers AI in Jupyter: `%load_ext kimi_magic`, then `%%kimi`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .api.client import AnswerStream, Kimi
from .core.conversation import Conversation
from .core.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    KimiError,
    StreamError,
)
from .core.types import Answer, Usage

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Answer",
    "AnswerStream",
    "ConfigurationError",
    "Conversation",
    "Kimi",
    "KimiError",
    "StreamError",
    "Usage",
    "ask",
    "load_ipython_extension",
    "panel",
]


def ask(prompt: str, *, system: str | None = None, echo: bool = False, **params: Any) -> Answer:
    """Ask Kimi K2.6 once and return the answer; `echo=True` streams it to stdout as it comes.

    >>> answer = kimi_magic.ask("Summarise this", temperature=0.2)
    >>> answer.text, answer.reasoning, answer.usage, answer.cost
    """
    connection = {k: params.pop(k) for k in list(params) if k in _CONNECTION_KEYS}
    params, system = _configured(params, system, connection)
    with Kimi(**connection) as client:
        if not echo:
            return client.ask(prompt, system=system, **params)
        from .render.render_text import stream_to_stdout

        conversation = Conversation()
        user = {"role": "user", "content": prompt}
        events = client.stream(conversation.request_messages(user, system), **params)
        return stream_to_stdout(events)


def _configured(
    params: dict[str, Any], system: str | None, connection: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """Keywords on top of the config files, the environment and the defaults (as in the magic);
    the resolved model, api and read_timeout go into `connection`."""
    from .core.settings import DEFAULTS, resolve
    from .magic.controls import request_parameters

    if params.get("max_tokens") is not None:
        from .core.parameters import deprecation_note

        logging.getLogger("kimi_magic").warning(deprecation_note("max_tokens"))
    given = {k: v for k, v in {**params, **connection}.items() if k in DEFAULTS}
    resolved = resolve({**given, "system": system})
    for name in ("model", "api", "read_timeout", "call_timeout"):
        connection[name] = resolved[name]
    others = {k: v for k, v in params.items() if k not in DEFAULTS}  # tools, response_format, ...
    return {**request_parameters(resolved), **others}, resolved["system"] or None


def panel(where: str = "auto") -> Any:
    """The settings panel (JupyterLab's right side area, inline elsewhere); loads the extension.

    >>> kimi_magic.panel()
    """
    from IPython import get_ipython

    from .core.errors import ConfigurationError
    from .magic.panel import open_panel

    ipython = get_ipython()
    if ipython is None:
        raise ConfigurationError(
            "The panel needs a notebook or IPython: run kimi_magic.panel() in a Jupyter cell."
        )
    if "KimiMagics" not in ipython.magics_manager.registry:
        ipython.extension_manager.load_extension("kimi_magic")
    return open_panel(ipython.magics_manager.registry["KimiMagics"], where)


_CONNECTION_KEYS = frozenset(
    {
        "account_id",
        "api_token",
        "base_url",
        "openai_base_url",
        "api_key",
        "api",
        "model",
        "connect_timeout",
        "read_timeout",
        "call_timeout",
        "max_retry_wait",
        "max_retries",
        "transport",
        "endpoint",
    }
)


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """`%load_ext kimi_magic`: registers `%kimi` and `%%kimi`; nothing is sent yet."""
    from .magic.input_transform import protect_question_marks
    from .magic.magics import KimiMagics

    magics = KimiMagics(shell=ipython)
    ipython.register_magics(magics)
    magics.context.install(ipython)  # remembers displayed images and cell errors from now on
    if protect_question_marks not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(protect_question_marks)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """`%unload_ext kimi_magic`: removes the input transformer `load_ipython_extension` added."""
    from .magic.input_transform import protect_question_marks

    if protect_question_marks in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(protect_question_marks)
    manager = ipython.magics_manager
    magics = manager.registry.get("KimiMagics") if manager is not None else None
    if magics is not None:
        magics.context.uninstall()
        magics.close()
    # Otherwise `%config KimiMagics.x` after a reload could read or set the old instance.
    ipython.configurables[:] = [
        c for c in ipython.configurables if type(c).__name__ != "KimiMagics"
    ]
