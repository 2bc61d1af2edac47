"""`%kimi` and `%%kimi`: parse flags, build the turn, stream it, render it. Nothing more."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import Bool, CFloat, CInt, Enum, Unicode

from . import _commands, _turn
from . import _explain as _explain  # registers `%kimi explain` and `%kimi fix`
from ._client import Kimi
from ._constants import CONTEXT_TOKENS, IMAGE_MAX_BYTES, IMAGE_MAX_SIDE_PX, VARIABLE_TOKENS
from ._context import NotebookContext
from ._conversation import Conversation, Message
from ._display import show_stream
from ._endpoint import resolve_endpoint
from ._errors import KimiError

# Settings sent with every request unless a flag overrides them for one call.
REQUEST_SETTINGS = ("temperature", "top_p", "reasoning_effort", "thinking", "seed",
                    "max_completion_tokens", "stream")


@magics_class
class KimiMagics(Magics):
    """Kimi K2.6 in the notebook. Settings are `%config KimiMagics.<name> = value`."""

    model = Unicode("@cf/moonshotai/kimi-k2.6", help="Model id.").tag(config=True)
    api = Enum(["native", "openai"], "native",
               help="Workers AI endpoint: native /ai/run or OpenAI-compatible /ai/v1.").tag(config=True)
    temperature = CFloat(None, allow_none=True, help="Sampling temperature, 0 to 2.").tag(config=True)
    top_p = CFloat(None, allow_none=True, help="Nucleus sampling, 0 to 1.").tag(config=True)
    reasoning_effort = Enum(["low", "medium", "high"], None, allow_none=True,
                            help="Reasoning effort: low, medium or high.").tag(config=True)
    thinking = Bool(None, allow_none=True, help="Reasoning on or off.").tag(config=True)
    seed = CInt(None, allow_none=True, help="Seed for repeatable sampling.").tag(config=True)
    max_completion_tokens = CInt(None, allow_none=True,
                                 help="Upper bound on reasoning + answer tokens.").tag(config=True)
    stream = Bool(True, help="Stream the answer as it is generated.").tag(config=True)
    system = Unicode("", help="System prompt sent first in every conversation.").tag(config=True)
    read_timeout = CFloat(120.0, help="Seconds to wait for the next byte.").tag(config=True)
    variable_tokens = CInt(VARIABLE_TOKENS, help="Token budget of one variable's rendering "
                           "in a prompt.").tag(config=True)
    context_tokens = CInt(CONTEXT_TOKENS, help="Token budget of all variable renderings in "
                          "one prompt.").tag(config=True)
    image_max_side = CInt(IMAGE_MAX_SIDE_PX, help="Images are downscaled to at most this many "
                          "pixels on their longest side.").tag(config=True)
    image_max_bytes = CInt(IMAGE_MAX_BYTES, help="Images are re-encoded to at most this many "
                           "bytes.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        self.conversations: dict[str, Conversation] = {}
        self._client: Kimi | None = None
        # Displayed images and cell errors; load_ipython_extension installs its hooks.
        self.context = NotebookContext()

    def conversation(self, name: str | None = None) -> Conversation:
        name = name or "default"
        if name not in self.conversations:
            self.conversations[name] = Conversation(name=name)
        return self.conversations[name]

    def client(self) -> Kimi:
        """A client for the current credentials and endpoint settings (re-made if they change)."""
        endpoint = resolve_endpoint(api=self.api, model=self.model)  # type: ignore[arg-type]
        if self._client is None or self._client.endpoint != endpoint:
            if self._client is not None:
                self._client.close()
            self._client = Kimi(endpoint=endpoint, read_timeout=self.read_timeout)
        return self._client

    def request_settings(self, args: argparse.Namespace) -> dict[str, Any]:
        """Configured settings, with this call's flags on top."""
        settings = {name: getattr(self, name) for name in REQUEST_SETTINGS}
        flags = {
            "temperature": args.temperature, "top_p": args.top_p, "seed": args.seed,
            "max_completion_tokens": args.max_tokens,
            "reasoning_effort": None if args.effort in (None, "off") else args.effort,
            "thinking": False if args.no_thinking or args.effort == "off" else None,
            "stream": False if args.no_stream else None,
        }
        settings.update({k: v for k, v in flags.items() if v is not None})
        return settings

    @no_var_expand
    @magic_arguments()
    @argument("--new", action="store_true", help="Start a fresh conversation for this call.")
    @argument("--chat", metavar="NAME", help="Use the named conversation (default: 'default').")
    @argument("-t", "--temperature", type=float, help="Sampling temperature, 0 to 2.")
    @argument("--top-p", type=float, help="Nucleus sampling, 0 to 1.")
    @argument("--effort", choices=["low", "medium", "high", "off"],
              help="Reasoning effort; 'off' turns reasoning off.")
    @argument("--no-thinking", action="store_true", help="Turn reasoning off for this call.")
    @argument("--seed", type=int, help="Seed for repeatable sampling.")
    @argument("--max-tokens", type=int, help="Upper bound on reasoning + answer tokens.")
    @argument("--system", help="System prompt for this call.")
    @argument("--no-stream", action="store_true", help="Wait for the whole answer.")
    @argument("-v", "--var", action="append", metavar="NAME",
              help="Attach a variable as context (repeatable).")
    @argument("--image", action="append", metavar="WHICH",
              help="Attach an image: 'last', a cell number, or a Figure / PIL image / array / "
                   "bytes / path / data URL by name (repeatable).")
    @argument("--no-interpolate", action="store_true",
              help="Send {braces} as typed: no {name} references.")
    @argument("-o", "--output", metavar="NAME",
              help="Store the answer in NAME (the parsed object with --json / --schema).")
    @argument("-f", "--format", choices=["code"],
              help="'code': put the answer's code into a new cell below.")
    @argument("--json", action="store_true", help="Ask for a JSON object and parse it.")
    @argument("--schema", metavar="NAME",
              help="Ask for JSON matching NAME: a JSON Schema dict or a pydantic model class.")
    @argument("--dry-run", action="store_true",
              help="Show what would be sent, and the estimated tokens and cost; send nothing.")
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
            raise UsageError("There is nothing to ask: write the question after %kimi, or in the "
                             "cell below %%kimi. `%kimi help` lists the commands.")
        self.ask(question, args)

    def ask(self, question: str, args: argparse.Namespace) -> None:
        conversation = Conversation() if args.new else self.conversation(args.chat)
        try:
            turn = _turn.prepare(self, question, args)
            user: Message = turn.message
            settings = turn.settings(self.request_settings(args))
            messages = conversation.request_messages(user, args.system or self.system or None)
            if args.dry_run:
                display(_turn.dry_run(self, turn, messages, settings))
                return
            client = self.client()
            events = client.stream(messages, session_id=conversation.session_id, **settings)
        except KimiError as error:
            raise UsageError(str(error)) from None
        shown = show_stream(events, client.endpoint.kind)
        answer = shown.answer
        if answer.text or answer.reasoning or answer.interrupted:
            conversation.record(user, answer)
        if shown.error is not None:
            raise UsageError(str(shown.error))
        if shown.keyboard_interrupt:
            raise UsageError("Interrupted: the answer so far is kept above and in the "
                             "conversation, so a follow-up question can build on it.")
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
            raise UsageError(f"Could not read the flags '{flags.strip()}' ({error}). "
                             "See %kimi? for the flags and their values.") from None
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
            return text[1:end], " ", text[end + 1:].lstrip()
    value, sep, rest = text.partition(" ")
    return value, sep, rest.lstrip()
