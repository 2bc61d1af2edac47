"""`%kimi` and `%%kimi`: parse flags, build the turn, stream it, render it. Nothing more."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import CInt

from ..api.client import Kimi
from ..api.endpoint import resolve_endpoint
from ..core.constants import CONTEXT_TOKENS, IMAGE_MAX_BYTES, IMAGE_MAX_SIDE_PX, VARIABLE_TOKENS
from ..core.conversation import Conversation, Message
from ..core.errors import KimiError
from ..core.settings import Resolved, resolve
from ..prompt.context import NotebookContext
from . import commands as _commands
from . import config_view, explain, history  # noqa: F401  (they register their commands)
from . import controls as _controls
from . import panel as _panel
from . import usage as _usage
from .flags import flag_settings, parameter_arguments
from .traits import setting_trait


@magics_class
class KimiMagics(Magics):
    """Kimi K2.6 in the notebook. Settings are `%config KimiMagics.<name> = value`."""

    # Every setting of _settings.py; None means "not set here", so a config file, the
    # environment or the default applies (`%kimi config` says which). The panel binds to these.
    model = setting_trait("model")
    api = setting_trait("api")
    system = setting_trait("system")
    temperature = setting_trait("temperature")
    top_p = setting_trait("top_p")
    reasoning_effort = setting_trait("reasoning_effort")
    thinking = setting_trait("thinking")
    seed = setting_trait("seed")
    seed_mode = setting_trait("seed_mode")
    max_completion_tokens = setting_trait("max_completion_tokens")
    max_tokens = setting_trait("max_tokens")
    frequency_penalty = setting_trait("frequency_penalty")
    presence_penalty = setting_trait("presence_penalty")
    stop = setting_trait("stop")
    n = setting_trait("n")
    logprobs = setting_trait("logprobs")
    top_logprobs = setting_trait("top_logprobs")
    logit_bias = setting_trait("logit_bias")
    metadata = setting_trait("metadata")
    modalities = setting_trait("modalities")
    parallel_tool_calls = setting_trait("parallel_tool_calls")
    service_tier = setting_trait("service_tier")
    store = setting_trait("store")
    stream = setting_trait("stream")
    user = setting_trait("user")
    read_timeout = setting_trait("read_timeout")
    call_timeout = setting_trait("call_timeout")
    redact_secret_names = setting_trait("redact_secret_names")
    cache = setting_trait("cache")
    cache_dir = setting_trait("cache_dir")
    max_cost = setting_trait("max_cost")
    context_window = setting_trait("context_window")
    variable_tokens = CInt(
        VARIABLE_TOKENS, help="Token budget of one variable's rendering in a prompt."
    ).tag(config=True)
    context_tokens = CInt(
        CONTEXT_TOKENS, help="Token budget of all variable renderings in one prompt."
    ).tag(config=True)
    image_max_side = CInt(
        IMAGE_MAX_SIDE_PX,
        help="Images are downscaled to at most this many pixels on their longest side.",
    ).tag(config=True)
    image_max_bytes = CInt(
        IMAGE_MAX_BYTES, help="Images are re-encoded to at most this many bytes."
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        self.conversations: dict[str, Conversation] = {}
        self._client: Kimi | None = None
        self.ledger = _usage.Ledger()
        self.panel_view: _panel.Panel | None = None
        # Displayed images and cell errors; load_ipython_extension installs its hooks.
        self.context = NotebookContext()

    def conversation(self, name: str | None = None) -> Conversation:
        """The named conversation (created on first use)."""
        name = name or "default"
        if name not in self.conversations:
            self.conversations[name] = Conversation(name=name)
        return self.conversations[name]

    def settings(self, args: argparse.Namespace | None = None) -> Resolved:
        """Every effective setting and its source: flag > panel / %config > file > env > default."""
        session = {name: getattr(self, name) for name in self.trait_names(config=True)}
        return resolve(flag_settings(args) if args is not None else {}, session)

    def close(self) -> None:
        """Release the HTTP connections (on `%unload_ext`)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def client(self, resolved: Resolved | None = None) -> Kimi:
        """A client for the current credentials and endpoint settings (re-made if they change)."""
        resolved = resolved or self.settings()
        endpoint = resolve_endpoint(api=resolved["api"], model=resolved["model"])
        if self._client is None or self._client.endpoint != endpoint:
            if self._client is not None:
                self._client.close()
            self._client = Kimi(
                endpoint=endpoint,
                read_timeout=resolved["read_timeout"],
                call_timeout=resolved["call_timeout"],
            )
        return self._client

    def request_settings(
        self, args: argparse.Namespace, resolved: Resolved | None = None
    ) -> dict[str, Any]:
        """The request parameters of this call, checked against their documented ranges."""
        return _controls.request_parameters(resolved or self.settings(args))

    @no_var_expand
    @magic_arguments()
    @argument("--new", action="store_true", help="Start a fresh conversation for this call.")
    @argument("--chat", metavar="NAME", help="Use the named conversation (default: 'default').")
    @argument("--system", metavar="TEXT", help="System prompt for this call.")
    @argument("--model", metavar="ID", help="Model id for this call.")
    @argument(
        "--cache",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Answer an identical earlier request from the local response cache.",
    )
    @argument(
        "--refresh",
        action="store_true",
        help="With the cache on: ask the server anyway and store the new answer.",
    )
    @parameter_arguments
    @argument(
        "-v",
        "--var",
        action="append",
        metavar="NAME",
        help="Attach a variable as context (repeatable).",
    )
    @argument(
        "--image",
        action="append",
        metavar="WHICH",
        help="Attach an image: 'last', a cell number, or a Figure / PIL image / array / "
        "bytes / path / data URL by name (repeatable).",
    )
    @argument(
        "--no-interpolate",
        action="store_true",
        help="Send {braces} as typed: no {name} references.",
    )
    @argument(
        "-o",
        "--output",
        metavar="NAME",
        help="Store the answer in NAME (the parsed object with --json / --schema).",
    )
    @argument(
        "-f",
        "--format",
        choices=["code"],
        help="'code': put the answer's code into a new cell below.",
    )
    @argument("--json", action="store_true", help="Ask for a JSON object and parse it.")
    @argument(
        "--schema",
        metavar="NAME",
        help="Ask for JSON matching NAME: a JSON Schema dict or a pydantic model class.",
    )
    @argument(
        "--dry-run",
        action="store_true",
        help="Show what would be sent, and the estimated tokens and cost; send nothing.",
    )
    @line_cell_magic
    def kimi(self, line: str, cell: str | None = None) -> None:
        """Ask Kimi K2.6; the answer streams in as rendered markdown.

        Examples::

            %%kimi --temperature 0.2
            What story does this data tell? Suggest three plots.

            %kimi Why does my merge duplicate rows?
            %kimi reset
        """
        if cell is None:
            word, _, rest = line.strip().partition(" ")
            if word in _commands.COMMANDS:
                return self._run_command(word, rest)
        args, question = self._parse(line, cell)
        if not question.strip():
            raise UsageError(
                "There is nothing to ask: write the question after %kimi, or in the "
                "cell below %%kimi. `%kimi help` lists the commands."
            )
        self.ask(question, args)

    def ask(self, question: str, args: argparse.Namespace) -> None:
        """Send one question with the call's flags, stream the answer, deliver it."""
        from . import (
            turn as _turn,  # the prompt stages load on the first question, not at %load_ext
        )

        conversation = Conversation() if args.new else self.conversation(args.chat)
        try:
            resolved = self.settings(args)
            turn = _turn.prepare(self, question, args, resolved)
            user: Message = turn.message
            settings = turn.settings(self.request_settings(args, resolved))
            messages = conversation.request_messages(user, resolved["system"] or None)
            if args.dry_run:
                display(_turn.dry_run(self, turn, messages, settings, resolved))
                return
            client = self.client(resolved)
            call = _controls.start(self, client, conversation, messages, settings, resolved, args)
        except KimiError as error:
            raise UsageError(str(error)) from None
        shown = _controls.show(call)
        answer = shown.answer
        conversation.record(user, answer)
        _controls.finish(self, call, shown)
        if shown.error is not None:
            raise UsageError(str(shown.error))
        if shown.keyboard_interrupt:
            raise UsageError(
                "Interrupted: the answer so far is kept above and in the "
                "conversation, so a follow-up question can build on it."
            )
        problem = _turn.deliver(self, answer, args, turn)
        if problem:
            raise UsageError(problem)

    def _run_command(self, word: str, rest: str) -> Any:
        try:
            return _commands.COMMANDS[word](self, rest)
        except KimiError as error:
            raise UsageError(str(error)) from None

    def _parse(self, line: str, cell: str | None) -> tuple[argparse.Namespace, str]:
        """Flags from the magic line; the question is the cell, or the line after its flags."""
        parser = self.kimi.parser
        flags, question = (line, cell) if cell is not None else split_leading_flags(parser, line)
        try:
            args = parser.parse_args(shlex.split(flags))
        except (SystemExit, ValueError, UsageError) as error:
            raise UsageError(
                f"Could not read the flags '{flags.strip()}' ({error}). "
                "See %kimi? for the flags and their values."
            ) from None
        return args, question or ""


def split_leading_flags(parser: argparse.ArgumentParser, line: str) -> tuple[str, str]:
    """`-t 0.2 why is -1 < 0?` -> ('-t 0.2', 'why is -1 < 0?'): flags end at the first word."""
    rest = line.lstrip()
    taken: list[str] = []
    while rest.startswith("-"):
        token, _, after = rest.partition(" ")
        name = token.split("=", 1)[0]
        action = parser._option_string_actions.get(name)
        if action is None:
            break
        taken.append(token)
        rest = after.lstrip()
        if action.nargs != 0 and "=" not in token:
            value, _, rest = _take_value(rest)
            taken.append(shlex.quote(value))
    return " ".join(taken), rest


def _take_value(text: str) -> tuple[str, str, str]:
    """The next word (or quoted string) and the text after it."""
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end != -1:
            return text[1:end], " ", text[end + 1 :].lstrip()
    value, sep, rest = text.partition(" ")
    return value, sep, rest.lstrip()
