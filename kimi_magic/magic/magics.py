"""`%kimi` and `%%kimi`: parse the flags, hand the question to the session, show the call.

The session (session/session.py) owns everything that lives across calls; this class is its
IPython view: `%config` traits mirror the session's settings, and our errors become one plain
UsageError paragraph.
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import magic_arguments
from IPython.display import display
from traitlets import CInt

from ..core.constants import CONTEXT_TOKENS, IMAGE_MAX_BYTES, IMAGE_MAX_SIDE_PX, VARIABLE_TOKENS
from ..core.errors import ConfigurationError, KimiError
from ..core.settings import NAMES
from ..prompt.context import NotebookContext
from .question_flags import question_arguments
from .traits import setting_trait

if TYPE_CHECKING:
    # The session, HTTP and rendering load on the first question, not at %load_ext.
    from ..prompt.prompt import Budgets
    from ..render.display import AnswerSlot
    from ..session.events import SessionEvent
    from ..session.session import Session
    from ..session.turn import Turn
    from .background import Background

INTERRUPTED = (
    "Interrupted: the answer so far is kept above and in the conversation, so a follow-up "
    "question can build on it."
)


@magics_class
class KimiMagics(Magics):
    """Kimi K2.6 in the notebook. Settings are `%config KimiMagics.<name> = value`."""

    # Every setting of core/settings.py; None means "not set here", so a config file, the
    # environment or the default applies (`%kimi config` says which). They mirror the
    # session's panel / %config layer both ways.
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
    background = setting_trait("background")
    default_tools = setting_trait("default_tools")
    approve = setting_trait("approve")
    approve_timeout = setting_trait("approve_timeout")
    python_timeout = setting_trait("python_timeout")
    tool_max_rounds = setting_trait("tool_max_rounds")
    agent_max_rounds = setting_trait("agent_max_rounds")
    agent_max_cost = setting_trait("agent_max_cost")
    record = setting_trait("record")
    replay = setting_trait("replay")
    gateway = setting_trait("gateway")
    gateway_tag = setting_trait("gateway_tag")
    gateway_cache_ttl = setting_trait("gateway_cache_ttl")
    gateway_cache = setting_trait("gateway_cache")
    gateway_log = setting_trait("gateway_log")
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
        # Displayed images and cell errors; load_ipython_extension installs its hooks.
        self.context = NotebookContext()
        self._session: Session | None = None
        self._background: Background | None = None
        self.observe(self._trait_changed, names=list(NAMES))
        self.panel_view: Any = None

    @property
    def session(self) -> Session:
        """The session this magic is a view of (made on first use: %load_ext stays fast)."""
        if self._session is None:
            from ..session.session import Session
            from ..session.turn import Notebook

            namespace: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
            session = Session(notebook=Notebook(namespace, self.context, self.budgets))
            session.configure(
                **{n: getattr(self, n) for n in NAMES if getattr(self, n) is not None}
            )
            session.subscribe(self._session_changed)
            self._session = session
        return self._session

    @property
    def background_answers(self) -> Background:
        if self._background is None:
            from .background import Background

            self._background = Background(self.session.finish)
        return self._background

    def budgets(self) -> Budgets:
        from ..prompt.prompt import Budgets

        return Budgets(
            self.variable_tokens, self.context_tokens, self.image_max_side, self.image_max_bytes
        )

    def _trait_changed(self, change: Any) -> None:
        if self._session is not None:  # otherwise the session reads the traits when made
            self._session.configure(**{change.name: change.new})

    def _session_changed(self, event: SessionEvent) -> None:
        from ..session.events import SettingsChanged

        if isinstance(event, SettingsChanged):  # the panel moved: %config reads it back
            for name in event.names:
                value = self.session.overrides.get(name)
                if getattr(self, name) != value:
                    setattr(self, name, value)

    def close(self) -> None:
        """Stop everything the extension runs, each within a bounded time: background
        answers (nothing they do is shown or stored afterwards), the calls still streaming,
        map jobs and MCP servers; then release the HTTP connections (on `%unload_ext`, and
        at exit)."""
        if self._background is not None:
            self._background.close()
        if self._session is not None:
            self._session.close()

    def wait_for_background(self, timeout: float | None = None) -> bool:
        """Block until the background answers are done (and their -o variables set)."""
        return self._background is None or self._background.wait(timeout)

    @property
    def background_running(self) -> int:
        """How many background answers are still streaming."""
        return 0 if self._background is None else self._background.running

    @no_var_expand
    @magic_arguments()
    @question_arguments
    @line_cell_magic
    def kimi(self, line: str, cell: str | None = None) -> Any:
        """Ask Kimi K2.6; the answer streams in as rendered markdown.

        Examples::

            %%kimi --temperature 0.2
            What story does this data tell? Suggest three plots.

            %kimi Why does my merge duplicate rows?
            %kimi reset
        """
        if cell is None:
            from .commands import COMMANDS

            word, _, rest = line.strip().partition(" ")
            if word in COMMANDS:
                try:
                    return COMMANDS[word].run(self, rest)
                except KimiError as error:
                    raise UsageError(str(error)) from None
        args, question = self.parse(line, cell)
        if not question.strip():
            raise UsageError(
                "There is nothing to ask: write the question after %kimi, or in the "
                "cell below %%kimi. `%kimi help` lists the commands."
            )
        return self.ask(question, args)

    def ask(self, question: str, args: argparse.Namespace) -> Any:
        """Send one question with the call's flags, stream the answer, deliver it."""
        from ..render.display import AnswerSlot
        from .delivery import question_from
        from .tool_turn import agent_question, offer_tools, run_tool_turn, tool_words

        session = self.session
        if args.map:
            return self._map(question, args)
        try:
            asked = question_from(question, args)
            if args.agent:
                asked = agent_question(asked, str(session.settings(asked.flags)["system"]))
            turn = session.prepare(asked)
            tools = tool_words(args, turn.resolved)
            if args.dry_run:
                offer_tools(self, turn, tools)  # the dry run shows the tool definitions too
                display(session.dry_run(turn))
                return
            background = args.bg if args.bg is not None else bool(turn.resolved["background"])
            if tools:  # the tool loop shows each round itself; it needs the cell, not --bg
                if background:
                    raise ConfigurationError("--bg cannot run tools: ask without --bg.")
                if run_tool_turn(self, turn, args, tools):
                    raise UsageError(INTERRUPTED)
                return
            if background:
                _check_background(args, turn)
            call = session.start(turn)
        except KimiError as error:
            raise UsageError(str(error)) from None
        slot = AnswerSlot(call, n=int(turn.params.get("n") or 1))
        if background:
            self.background_answers.start(
                slot, turn, lambda t, s: self._finish(t, s, args, quiet=True)
            )
            return
        interrupted = slot.stream()
        self._finish(turn, slot, args)
        if interrupted:
            raise UsageError(INTERRUPTED)

    def _map(self, template: str, args: argparse.Namespace) -> Any:
        from .map_command import run_map

        try:
            return run_map(self, template, args)
        except KimiError as error:
            raise UsageError(str(error)) from None

    def _finish(
        self, turn: Turn, slot: AnswerSlot, args: argparse.Namespace, quiet: bool = False
    ) -> str | None:
        """Record the turn, leave the static answer, then store or place it; in the foreground
        our errors are raised, in the background (`quiet`) they stay in the answer's slot and
        are returned (for `%kimi wait` to say again)."""
        from ..render.frontend import show_markdown

        self.session.finish(turn)
        gauge = turn.gauge
        call = turn.call
        if quiet:  # stored first: a problem storing it is shown in the answer's own slot
            problem = self._deliver(turn, args) if call is not None else None
            slot.end(_gauge_text(gauge), keep_error=True, problem=problem or "")
            return problem
        slot.end(_gauge_text(gauge))
        if call is None:  # finish() always leaves a call; a turn without one has nothing to show
            return None
        # Notes from finishing (a tool loop's cap, the cache missed out); those shown above
        # the answer, and its status, are not repeated.
        answer = call.answer
        for note in answer.notes:
            if note not in call.notes and note != answer.ended.note:
                show_markdown(f"<small>⚠ {note}</small>", plain=note)
        if call.error is not None:
            raise UsageError(str(call.error))
        problem = self._deliver(turn, args)
        if problem and call.answer.complete:
            raise UsageError(problem)
        if problem:
            show_markdown(f"<small>{problem}</small>", plain=problem)
        return None

    def _deliver(self, turn: Turn, args: argparse.Namespace) -> str | None:
        """Parse, store and place a whole answer; what went wrong (or why a partial answer
        was not stored), else None. A failed call's error is the slot's to show."""
        from .delivery import deliver

        call = turn.call
        if call is None or call.error is not None:
            return None
        if call.answer.complete:
            namespace: dict[str, Any] = self.shell.user_ns if self.shell is not None else {}
            return deliver(namespace, call.answer, args, turn.output)
        if args.output:  # a partial answer is never stored as if it were whole
            return (
                f"`{args.output}` was not set: the answer is partial "
                f"({call.answer.ended.history.split(':')[0]}). Ask again to store it."
            )
        return None

    def parse(self, line: str, cell: str | None = None) -> tuple[argparse.Namespace, str]:
        """Flags from the magic line; the question is the cell, or the line after its flags.
        Unknown flags are refused on the line magic as on the cell magic."""
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


def _gauge_text(gauge: Any) -> str:
    if gauge is None:
        return ""
    return gauge.text + (f" · ⚠ {gauge.warning}" if gauge.warning else "")


def _check_background(args: argparse.Namespace, turn: Turn) -> None:
    """What a background answer cannot do, said before anything is sent."""
    if args.format == "code":
        raise ConfigurationError(
            "--bg cannot put code into a new cell (the cell has finished by then): drop -f "
            "code, or ask without --bg."
        )
    if int(turn.params.get("n") or 1) > 1:
        raise ConfigurationError("--bg shows one answer: drop -n, or ask without --bg.")


def split_leading_flags(parser: argparse.ArgumentParser, line: str) -> tuple[str, str]:
    """`-t 0.2 why is -1 < 0?` -> ('-t 0.2', 'why is -1 < 0?'): flags end at the first word."""
    rest = line.lstrip()
    taken: list[str] = []
    while rest.startswith("-"):
        token, _, after = rest.partition(" ")
        name = token.split("=", 1)[0]
        action = parser._option_string_actions.get(name)
        if action is None:
            if name.startswith("--") and name[2:3].isalpha():
                raise UsageError(_unknown_flag(parser, name))
            break
        taken.append(token)
        rest = after.lstrip()
        if action.nargs != 0 and "=" not in token:
            value, _, rest = _take_value(rest)
            taken.append(shlex.quote(value))
    return " ".join(taken), rest


def _unknown_flag(parser: argparse.ArgumentParser, name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(parser._option_string_actions), n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return (
        f"Unknown flag {name}: nothing was sent.{hint} See %kimi? for the flags; to ask about "
        "a flag itself, put the question in quotes or in a %%kimi cell."
    )


def _take_value(text: str) -> tuple[str, str, str]:
    """The next word (or quoted string) and the text after it."""
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end != -1:
            return text[1:end], " ", text[end + 1 :].lstrip()
    value, sep, rest = text.partition(" ")
    return value, sep, rest.lstrip()
