"""The notebook-context stages of one `%kimi` call, between the flags and the stream:
build the prompt (references, variables, images, output format), show a dry run, and deliver
the answer (`-o`, `-f code`, parsed `--json` / `--schema`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.errors import ConfigurationError
from ..core.secrets import Redactor
from ..core.settings import Resolved
from ..core.types import Answer
from ..prompt.prompt import Budgets, Prompt, build_prompt
from ..prompt.structured import OutputSpec, StructuredOutputError, spec_from

if TYPE_CHECKING:
    from .magics import KimiMagics

# Where the raw text of a structured answer that failed to parse is kept.
RAW_ANSWER_NAME = "kimi_raw"


@dataclass
class Turn:
    """A prepared user turn: its message and the output format asked for."""

    prompt: Prompt
    output: OutputSpec | None
    endpoint_kind: str

    @property
    def message(self) -> dict[str, Any]:
        return self.prompt.message

    def settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The request settings with this turn's `response_format`."""
        if self.output is None:
            return settings
        return {**settings, "response_format": self.output.response_format(self.endpoint_kind)}


def prepare(
    magics: KimiMagics, question: str, args: argparse.Namespace, resolved: Resolved
) -> Turn:
    """The turn for `question` and the flags; raises KimiError with what to fix."""
    namespace: dict[str, Any] = magics.shell.user_ns if magics.shell is not None else {}
    output = spec_from(getattr(args, "json", False), getattr(args, "schema", None), namespace)
    budgets = Budgets(
        magics.variable_tokens, magics.context_tokens, magics.image_max_side, magics.image_max_bytes
    )
    prompt = build_prompt(
        question,
        namespace=namespace,
        context=getattr(magics, "context", None),
        variables=getattr(args, "var", None) or (),
        images=getattr(args, "image", None) or (),
        interpolate_text=not getattr(args, "no_interpolate", False),
        budgets=budgets,
        instruction=output.instruction() if output else "",
        redactor=Redactor.collect(
            namespace=namespace, by_name=bool(resolved["redact_secret_names"])
        ),
    )
    return Turn(prompt, output, _endpoint_kind(magics, resolved))


def _endpoint_kind(magics: KimiMagics, resolved: Resolved) -> str:
    try:
        return magics.client(resolved).endpoint.kind
    except ConfigurationError:  # a dry run needs no credentials
        return str(resolved["api"])


def dry_run(
    magics: KimiMagics,
    turn: Turn,
    messages: list[dict[str, Any]],
    settings: dict[str, Any],
    resolved: Resolved,
) -> Any:
    """What would be sent, as a displayable object; builds the body like the client does."""
    from ..api.wire import request_body
    from ..render.dry_run import DryRun

    params = turn.settings(settings)
    stream = params.pop("stream", True)
    try:
        endpoint = magics.client(resolved).endpoint
        url, model = endpoint.shown_url, (endpoint.model if endpoint.kind == "openai" else None)
    except ConfigurationError:
        url, model = "(no credentials set, so no endpoint yet)", None
    body = request_body(
        messages, params, stream=True if stream is None else bool(stream), model=model
    )
    return DryRun(url, body, turn.prompt.images)


def deliver(magics: KimiMagics, answer: Answer, args: argparse.Namespace, turn: Turn) -> str | None:
    """After a complete answer: parse it, store it (`-o`), put its code in a cell (`-f code`).

    Returns an error paragraph for the magic to raise, or None.
    """
    namespace: dict[str, Any] = magics.shell.user_ns if magics.shell is not None else {}
    value: Any = answer.text
    problem = None
    if turn.output is not None and answer.text:
        try:
            value = turn.output.parse(answer.text)
        except StructuredOutputError as error:
            namespace[RAW_ANSWER_NAME] = error.raw
            problem = (
                f"{error} The raw text is shown above and kept in the variable "
                f"`{RAW_ANSWER_NAME}`; ask again, or relax the schema."
            )
            value = None
    target = getattr(args, "output", None)
    if target and problem is None:
        namespace[target] = value
    if getattr(args, "format", None) == "code":
        show_code(magics.shell, answer.text)
    return problem


def show_code(shell: Any, text: str) -> None:
    """The answer's code into a new cell below; in a kernel also a copy button."""
    from IPython.display import HTML, Markdown, display

    from ..render.display import in_kernel
    from .code_cells import code_to_new_cell, copy_button_html, extract_code

    code = extract_code(text)
    if not code:
        display(Markdown("*The answer has no code block to put in a new cell.*"))
        return
    code_to_new_cell(shell, code)
    if in_kernel():
        display(HTML(copy_button_html(code)))
