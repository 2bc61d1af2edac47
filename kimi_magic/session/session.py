"""The session: what lives across calls, and the one turn engine every entry point runs.

    Question ──prepare──► Turn (settings resolved, prompt built, parameters checked)
             ──start────► Call (spending cap, history fitted to the window, cache or HTTP)
    the caller reads the Call (a live view, stdout, or nothing) ──finish──► history, ledger,
    cache, listeners

The magic, `kimi_magic.ask()`, `Kimi`, the panel and the commands all go through here, so a
turn runs the same way with or without IPython, on any thread. Nothing here imports IPython or
ipywidgets; a notebook lends its namespace and context through `Notebook`.
"""

from __future__ import annotations

import random
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..api import gateway
from ..api.cache import ResponseCache
from ..api.client import ENDPOINT_KEYS, Client
from ..api.endpoint import Endpoint, resolve_endpoint
from ..api.gateway import CallKind
from ..api.wire import request_body
from ..core.answer import Answer
from ..core.call import Call
from ..core.constants import CONTEXT_RESERVE_TOKENS
from ..core.conversation import Conversation
from ..core.errors import ConfigurationError, KimiError
from ..core.messages import Message
from ..core.parameters import normalized
from ..core.secrets import Redactor
from ..core.settings import NAMES, Resolved, resolve
from ..core.tokens import ContextGauge, carried_tokens, message_tokens, messages_tokens
from ..core.trust import UntrustedProjectWarning
from ..core.usage import Ledger
from ..prompt.prompt import Prompt, build_prompt, replace_surrogates
from ..prompt.structured import spec_from
from .context_window import check_window, fit_to_context, refuse_if_too_long
from .dry_run import DryRun
from .events import AnswerFinished, Listener, SettingsChanged
from .turn import Notebook, Question, Turn

RANDOM_SEED_LIMIT = 2**31  # random seeds stay small enough for every server's integer type
NEW_CHAT_LABEL = "(--new)"  # how a one-off question is listed in the ledger
T = TypeVar("T")


class Session:
    """Conversations, the usage ledger and spending cap, HTTP clients, settings, the response
    cache and the notebook's context, owned in one place.

    >>> session = Session()
    >>> session.ask("Name three plots for a time series", temperature=0.3).text
    >>> turn = session.run_turn("And for a histogram?")   # the Turn: call, notes, gauge
    """

    def __init__(
        self,
        *,
        connection: Mapping[str, Any] | None = None,
        client: Client | None = None,
        notebook: Notebook | None = None,
    ) -> None:
        self.conversations: dict[str, Conversation] = {}
        self.ledger = Ledger()
        self.overrides: dict[str, Any] = {}  # the panel / %config layer of the settings
        self.notebook = notebook
        self._connection = dict(connection or {})
        self._fixed_client = client
        # Each client with the endpoint (URL, credentials) it was made for.
        self._clients: dict[tuple[Any, ...], tuple[Endpoint | None, Client]] = {}
        self._retired: list[Client] = []  # replaced, closed once nothing streams through them
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._pending: set[Turn] = set()
        self._idle = threading.Condition(self._lock)
        self._noticed: set[tuple[Path, str]] = set()  # untrusted project files already said
        self._owned: dict[str, Any] = {}  # what lives as long as the session (MCP servers)
        self._closers: list[Callable[[], None]] = []  # stop what runs in it (map jobs)

    # -- settings and listeners ------------------------------------------------------------

    def settings(self, flags: Mapping[str, Any] | None = None) -> Resolved:
        """Every effective setting and its source: flag > panel / %config > file > env >
        default."""
        return resolve(flags or {}, self.overrides)

    def untrusted_notice(self, resolved: Resolved, *, warn: bool | None = None) -> str | None:
        """The line naming the settings an untrusted project file may not set, once per file
        state (path and content) in this session; None when there is nothing new to say. It
        is also a warning where no notebook shows notes (`warn`, by default without one)."""
        untrusted = resolved.untrusted
        if untrusted is None:
            return None
        with self._lock:
            key = (untrusted.path, untrusted.sha256)
            if key in self._noticed:
                return None
            self._noticed.add(key)
        if warn is None:
            warn = self.notebook is None
        if warn:
            warnings.warn(untrusted.notice, UntrustedProjectWarning, stacklevel=4)
        return untrusted.notice

    def configure(self, **values: Any) -> None:
        """Set (or with None unset) settings of the panel / %config layer; listeners hear of
        the change."""
        unknown = [name for name in values if name not in NAMES]
        if unknown:
            raise ConfigurationError(f"Unknown setting {unknown[0]!r}. Known: {', '.join(NAMES)}.")
        changed = tuple(n for n, v in values.items() if self.overrides.get(n) != v)
        for name in changed:
            if values[name] is None:
                self.overrides.pop(name, None)
            else:
                self.overrides[name] = values[name]
        if changed:
            self._notify(SettingsChanged(changed))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with each AnswerFinished / SettingsChanged; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, event: AnswerFinished | SettingsChanged) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- what lives across calls -------------------------------------------------------------

    def conversation(self, name: str | None = None) -> Conversation:
        """The named conversation (created on first use)."""
        name = name or "default"
        with self._lock:
            if name not in self.conversations:
                self.conversations[name] = Conversation(name=name)
            found = self.conversations[name]
        # Also one handed in (ask(chat=Conversation), %kimi load): it exports with our secrets.
        found.bind(self.export_redactor)
        return found

    def export_redactor(self) -> Redactor:
        """The redactor of this session's current settings, for exports (`to_markdown`)."""
        return self.redactor(self.settings())

    def client(self, resolved: Resolved | None = None) -> Client:
        """The HTTP client for these settings' endpoint and timeouts; a changed read_timeout or
        model takes effect from the next call, and so do new credentials or a new base URL
        (they are read again for every call, so a fixed token works with no restart)."""
        if self._fixed_client is not None:
            return self._fixed_client
        resolved = resolved or self.settings()
        key = tuple(
            resolved[n]
            for n in ("api", "model", "read_timeout", "call_timeout", "record", "replay")
        )
        endpoint = self._endpoint(resolved)  # cheap: a few environment look-ups
        with self._lock:
            made = self._clients.get(key)
            if made is not None and made[0] == endpoint:
                return made[1]
        client = self._new_client(resolved, endpoint)  # may raise (no credentials)
        with self._lock:
            old = self._clients.get(key)
            if old is not None and old[0] == endpoint:  # another thread made it meanwhile
                client, unused = old[1], [client]
            else:
                self._clients[key] = (endpoint, client)
                unused = [old[1]] if old is not None else []
            self._retired += unused
            retired = self._retired_to_close()
        for stale in retired:  # outside the lock: closing connections is I/O
            stale.close()
        return client

    def _endpoint(self, resolved: Resolved) -> Endpoint | None:
        """Where a client made now would send (None without credentials)."""
        given = self._connection
        if given.get("endpoint") is not None:
            return given["endpoint"]  # type: ignore[no-any-return]
        try:
            return resolve_endpoint(
                api=resolved["api"],
                model=resolved["model"],
                gateway=resolved["gateway"],
                **{k: v for k, v in given.items() if k in ENDPOINT_KEYS},
            )
        except ConfigurationError:
            return None

    def _retired_to_close(self) -> list[Client]:
        """Clients replaced by new credentials or a new endpoint, to close once no answer
        may still stream through them (under the lock; the caller closes them outside it)."""
        if self._pending:
            return []
        retired, self._retired = self._retired, []
        return retired

    def redactor(self, resolved: Resolved) -> Redactor:
        """What is taken out of everything sent or written for these settings: the configured
        token, values under secret-looking names (unless redact_secret_names is off) and
        well-known key formats."""
        return Redactor.collect(
            token=self._secrets(resolved),
            namespace=self.notebook.namespace if self.notebook else {},
            by_name=bool(resolved["redact_secret_names"]),
        )

    def _secrets(self, resolved: Resolved) -> tuple[str, ...]:
        """The credentials these settings' endpoint sends (none without credentials). Makes no
        client: an export may come after the session closed (`kimi_magic.ask` closes its own)."""
        try:
            if self._fixed_client is not None:
                return self._fixed_client.endpoint.secrets
            endpoint = self._endpoint(resolved)
        except KimiError:
            return ()
        return endpoint.secrets if endpoint is not None else ()

    def _new_client(self, resolved: Resolved, endpoint: Endpoint | None) -> Client:
        """An HTTP client, or with the `record` / `replay` settings one that writes / answers
        from a replay file (replay needs no credentials)."""
        from ..api.replay import client_for_settings

        record, replay = resolved["record"], resolved["replay"]
        made = lambda: self._http_client(resolved, endpoint)  # noqa: E731
        client: Client = client_for_settings(
            record, replay, resolved["model"], resolved["api"], made
        )
        return client

    def _http_client(self, resolved: Resolved, endpoint: Endpoint | None) -> Client:
        given = self._connection
        if endpoint is None:  # no credentials: resolving again raises what to set
            endpoint = resolve_endpoint(
                api=resolved["api"],
                model=resolved["model"],
                gateway=resolved["gateway"],
                **{k: v for k, v in given.items() if k in ENDPOINT_KEYS},
            )
        options = {
            k: given[k]
            for k in ("connect_timeout", "max_retries", "max_retry_wait", "transport")
            if k in given
        }
        return Client(
            endpoint=endpoint,
            read_timeout=resolved["read_timeout"],
            call_timeout=resolved["call_timeout"],
            **options,
        )

    def gateway_headers(
        self, resolved: Resolved, kind: CallKind, conversation: str | None = None
    ) -> dict[str, str]:
        """The cf-aig-* headers of a call (sent only through an AI Gateway): its settings,
        and what it is filed under: notebook, cell, conversation, kind of call, tag."""
        notebook, cell = gateway.notebook_of(self.notebook.namespace if self.notebook else {})
        return gateway.headers(
            resolved, kind=kind, notebook=notebook, cell=cell, conversation=conversation
        )

    def endpoint_kind(self, resolved: Resolved) -> str:
        """ "native" or "openai" (what a dry run without credentials can still say)."""
        try:
            return self.client(resolved).endpoint.kind
        except ConfigurationError:
            return str(resolved["api"])

    def gauge(
        self,
        conversation: Conversation,
        resolved: Resolved | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> ContextGauge:
        """How full the conversation's context window is: the history, the system prompt, and
        what the request's `params` carry besides (tool schemas, response_format)."""
        resolved = resolved or self.settings()
        params = params or {}
        reserve = (
            params.get("max_completion_tokens")
            or resolved["max_completion_tokens"]
            or CONTEXT_RESERVE_TOKENS
        )
        system = resolved["system"]
        used = messages_tokens(conversation.messages) + carried_tokens(params)
        used += message_tokens(Message.system(system)) if system else 0
        return ContextGauge(used, int(resolved["context_window"]), int(reserve))

    def owned(self, key: str, make: Callable[[], T]) -> T:
        """The session's one `key` thing (e.g. its MCP servers), made by `make` (which must be
        quick: it runs under the lock) on first use; `close()` closes it."""
        with self._lock:
            if key not in self._owned:
                self._owned[key] = make()
            return self._owned[key]  # type: ignore[no-any-return]

    def on_close(self, stop: Callable[[], None]) -> Callable[[], None]:
        """Run `stop` when the session closes (a map job's workers); returns the function
        that takes it off again (when the job ended by itself)."""
        with self._lock:
            self._closers.append(stop)

        def remove() -> None:
            with self._lock:
                if stop in self._closers:
                    self._closers.remove(stop)

        return remove

    def close(self) -> None:
        """Stop every call still streaming and everything running in the session (map jobs,
        MCP servers), each within a bounded time, then release the HTTP connections. No lock
        is held while they stop."""
        self.stop_all()
        with self._lock:
            closers, self._closers = self._closers[::-1], []
            owned, self._owned = list(self._owned.values()), {}
            clients = [client for _, client in self._clients.values()] + self._retired
            self._clients.clear()
            self._retired = []
        for stop in closers:
            stop()
        for thing in owned:
            thing.close()
        for client in clients:
            client.close()

    # -- the turn ----------------------------------------------------------------------------

    def prepare(self, question: Question) -> Turn:
        """Settings resolved, the prompt built from the notebook, the parameters checked;
        raises KimiError with what to fix. Nothing is sent."""
        resolved = self.settings(question.flags)
        namespace = self.notebook.namespace if self.notebook else {}
        output = spec_from(question.json, question.schema, namespace)
        # Secrets out of every prompt: the token, secret-looking names, well-known key formats.
        redactor = self.redactor(resolved)
        if self.notebook is not None:
            prompt = build_prompt(
                question.text,
                namespace=namespace,
                context=self.notebook.context,
                variables=question.variables,
                images=question.images,
                interpolate_text=question.interpolate,
                budgets=self.notebook.budgets(),
                instruction=output.instruction() if output else "",
                redactor=redactor,
            )
        else:
            text = question.text + (f"\n\n{output.instruction()}" if output else "")
            redaction = redactor.redact(replace_surrogates(text))
            prompt = Prompt(redaction.text, redacted=redaction.found)
        params, notes = self._parameters(resolved)
        notice = self.untrusted_notice(resolved)
        if notice and self.notebook is not None:
            notes.insert(0, notice)
        params.update(question.params)
        if output is not None:
            params["response_format"] = output.response_format(self.endpoint_kind(resolved))
        if question.new:  # kept in no conversation list, but its answer's turn may be exported
            conversation = Conversation()
            conversation.bind(self.export_redactor)
        else:
            conversation = self.conversation(question.chat)
        label = NEW_CHAT_LABEL if question.new else conversation.name
        return Turn(question, resolved, conversation, label, prompt, output, params, notes)

    def _parameters(self, resolved: Resolved) -> tuple[dict[str, Any], list[str]]:
        """The request parameters of one call, checked against their documented ranges; with
        `seed_mode = "random"` a seed given on the magic line still wins."""
        params = resolved.request_parameters()
        if resolved["seed_mode"] == "random" and resolved.source("seed") != "flag":
            params["seed"] = random.randrange(RANDOM_SEED_LIMIT)
        return normalized(params)

    def _fitted(self, turn: Turn) -> list[Message]:
        """The messages to send: system, the history that fits, this turn (with the tool
        rounds it has had so far)."""
        resolved = turn.resolved
        system = resolved["system"] or None
        messages = turn.conversation.request_messages(turn.prompt.message, system)
        if turn.exchange is not None:
            messages += turn.exchange.steps
        window = int(resolved["context_window"])
        reserve = int(turn.params.get("max_completion_tokens") or CONTEXT_RESERVE_TOKENS)
        # Checked when asked, not as set: a window and max_completion_tokens are often set
        # one after the other, and the first alone may leave no room.
        check_window(window, reserve)
        # Tool schemas and a response format are prompt to the model as much as messages are.
        carried = carried_tokens(turn.params)
        budget = window - reserve - carried
        trimmed = fit_to_context(messages, budget, turn.conversation.pinned)
        refuse_if_too_long(trimmed, budget, window, carried)
        if trimmed.note:
            turn.notes.append(trimmed.note)
        return trimmed.messages

    def dry_run(self, turn: Turn) -> DryRun:
        """What `start` would send, and its estimated tokens and cost; sends nothing."""
        messages = self._fitted(turn)
        params = dict(turn.params)
        stream = params.pop("stream", True)
        try:
            endpoint = self.client(turn.resolved).endpoint
            url = endpoint.shown_url
            model = endpoint.model if endpoint.kind == "openai" else None
        except ConfigurationError:
            url, model = "(no credentials set, so no endpoint yet)", None
        body = request_body(messages, params, stream=stream is not False, model=model)
        tokens = messages_tokens(messages[:-1]) + turn.prompt.tokens + carried_tokens(params)
        return DryRun(url, body, turn.prompt.images, tokens)

    def start(self, turn: Turn) -> Call:
        """Check the cap, fit the history, then open the call (or its cached replay). The
        question takes its place in the conversation now, so answers that finish out of order
        stay in the order they were asked."""
        self.ledger.check(turn.resolved["max_cost"])
        messages = self._fitted(turn)
        client = self.client(turn.resolved)
        kind: CallKind = "agent" if turn.agent else "cell"
        call = client.stream(
            messages,
            session_id=turn.conversation.session_id,
            headers=self.gateway_headers(turn.resolved, kind, turn.label),
            **turn.params,
        )
        if turn.resolved["cache"]:
            cache_dir = turn.resolved["cache_dir"]
            turn.cache = ResponseCache(Path(cache_dir).expanduser() if cache_dir else None)
            replay = None if turn.question.refresh else turn.cache.lookup(call)
            call = replay or call
        call.notes.extend(turn.notes)
        turn.call = call
        with self._lock:
            turn.exchange = turn.conversation.begin(turn.prompt.message)
            self._pending.add(turn)
        return call

    def next_round(self, turn: Turn) -> Call:
        """Another request of a started turn whose exchange gained steps (tool calls and their
        results): the same history and question, then the steps. Not cached: tools ran."""
        if turn.exchange is None:
            raise ConfigurationError("This turn was not started: start it before a next round.")
        self.ledger.check(turn.resolved["max_cost"])
        messages = self._fitted(turn)
        client = self.client(turn.resolved)
        kind: CallKind = "agent" if turn.agent else "tool_round"
        turn.call = client.stream(
            messages,
            session_id=turn.conversation.session_id,
            headers=self.gateway_headers(turn.resolved, kind, turn.label),
            **turn.params,
        )
        turn.cache = None
        return turn.call

    def finish(self, turn: Turn) -> None:
        """After the call ended (however it ended): keep it in the conversation, count it,
        cache a whole answer, and tell the listeners."""
        call = turn.call
        if call is None or turn.exchange is None:
            return
        answer = call.answer
        with self._lock:
            turn.conversation.complete(turn.exchange, answer)
        if answer.text or answer.reasoning or answer.usage.total_tokens:
            self.ledger.add(turn.label, answer)
        if turn.cache is not None and answer.complete and not call.stopped:
            try:
                turn.cache.store(call)
            except OSError as error:  # the answer is shown and kept: only the cache missed out
                turn.notes.append(
                    f"The answer was not cached: {turn.cache.directory} is not writable "
                    f"({error.strerror or error}). Set cache_dir to a writable folder."
                )
        turn.gauge = self.gauge(turn.conversation, turn.resolved, turn.params)
        answer.notes = _unique([*answer.notes, *call.notes, *turn.notes, answer.ended.note])
        try:
            self._notify(AnswerFinished(turn))
        finally:
            with self._idle:
                self._pending.discard(turn)
                self._idle.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every started turn has finished (background answers included); False if
        `timeout` seconds passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def stop_all(self) -> None:
        """Stop every call still streaming (the partial answers are kept, marked)."""
        with self._lock:
            turns = list(self._pending)
        for turn in turns:
            if turn.call is not None:
                turn.call.stop()

    @property
    def pending(self) -> int:
        """How many turns are still streaming."""
        return len(self._pending)

    def run_turn(
        self, text: str, *, read: Callable[[Call], object] | None = None, **options: Any
    ) -> Turn:
        """The lower-level step under `ask`: prepare, start, read (by `read`, else to the end
        keeping any error), finish; returns the Turn (its call, notes and gauge). Errors are
        raised after the turn is recorded, so history keeps what arrived."""
        turn = self.prepare(Question.from_keywords(text, options))
        call = self.start(turn)
        try:
            if read is None:
                call.run_keeping_errors()
            else:
                read(call)
        finally:
            self.finish(turn)
        if call.error is not None:
            raise call.error
        return turn

    def ask(self, prompt: str, **options: Any) -> Answer:
        """Ask once in plain Python and return the Answer. `kimi_magic.Session` adds `tools=`
        (functions, names, groups) on top; this engine sends only JSON tool definitions."""
        tools = options.get("tools")
        if tools and not (
            isinstance(tools, (list, tuple)) and all(isinstance(t, dict) for t in tools)
        ):
            raise ConfigurationError(
                "tools= with functions, Tool values or names runs through kimi_magic.Session "
                "(or kimi_magic.ask / Kimi.ask); this engine sends only JSON tool definitions."
            )
        return self.run_turn(prompt, **options).answer


def _unique(notes: list[str]) -> list[str]:
    """The notes in order, each once, without empty ones."""
    return list(dict.fromkeys(note for note in notes if note))
