"""A conversation as a document (`%kimi export`, `Conversation.to_markdown` / `to_notebook`).

Markdown: each turn's question, its tool rounds and reasoning folded in `<details>`, the
answer (a partial one marked), and usage and cost at the end. A notebook (nbformat 4, as a
plain dict): markdown cells for the questions and answers, a code cell for each piece of code
the agent ran (`run_python`), with its result and the pictures it drew as the cell's outputs,
in order.

Images in the notebook are `display_data` outputs (image/png), not markdown attachments:
GitHub's notebook view leaves `![..](attachment:..)` images blank (jupyter/notebook#4853,
https://github.com/jupyter/notebook/issues/4853; ajwdewit/pcse_notebooks#8 moved theirs into
the notebook for that reason), and Jupyter's markdown sanitizer may drop `data:` URLs in
markdown (jupyter/notebook#789), while an output image renders in JupyterLab, VS Code, nbviewer
and on GitHub alike. A question's images therefore go in a code cell of their own whose source
is only a comment.

Every text written goes through a redactor first (the configured token, secret-looking values,
well-known key formats): no token is ever written. This module takes the conversation by duck
type (`.name`, `.exchanges`) so that `conversation.py` can import it without a cycle.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .secrets import Redactor

NBFORMAT = 4
NBFORMAT_MINOR = 5
_DATA_URL = re.compile(r"^data:(image/[\w.+-]+);base64,(.*)$", re.S)
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


def _fence(text: str, lang: str = "") -> str:
    """`text` in a code fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{summary}</summary>\n\n{body.strip()}\n\n</details>"


def _code_of(call: Any) -> str | None:
    """The code of a `run_python` call, or None for any other tool (or unreadable arguments)."""
    if call.name != "run_python":
        return None
    try:
        code = json.loads(call.arguments or "{}").get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _marks(exchange: Any) -> str:
    marks = [
        *(["pinned"] if exchange.pinned else []),
        *(["forgotten: not sent any more"] if exchange.forgotten else []),
        *(f"{part} edited" for part in exchange.edited),
    ]
    return f" *({', '.join(marks)})*" if marks else ""


def _usage_line(answer: Any) -> str:
    u = answer.usage
    if u.total_tokens == 0 and not answer.from_cache:  # usage comes with a stream's last chunk
        cut = "for an answer cut short" if not answer.complete else "by the server"
        return f"usage not reported {cut}"
    cached = f" (cached {u.cached_tokens:,})" if u.cached_tokens else ""
    return f"in {u.prompt_tokens:,}{cached} · out {u.completion_tokens:,} · ${answer.cost:.4f}"


class _Images:
    """Images written as files into `folder` (linked as `folder.name/img-N.ext`), or kept as
    data URLs when there is no folder."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.count = 0

    def link(self, url: str) -> str:
        self.count += 1
        match = _DATA_URL.match(url)
        if self.folder is None or match is None:
            return f"![image {self.count}]({url})"
        try:
            data = base64.b64decode(match.group(2), validate=False)
        except (binascii.Error, ValueError):
            return f"![image {self.count}]({url})"
        name = f"img-{self.count}.{_EXTENSIONS.get(match.group(1), 'bin')}"
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_bytes(data)
        return f"![image {self.count}]({self.folder.name}/{name})"


def to_markdown(
    conversation: Any, redactor: Redactor | None = None, images: Path | None = None
) -> str:
    """The conversation as Markdown; `images`: a folder to write images into (else embedded)."""
    r = _redact(redactor)
    pictures = _Images(images)
    out = [f"# Conversation `{r(conversation.name)}`"]
    answers = []
    for number, exchange in enumerate(conversation.exchanges, 1):
        out.append(f"## {number}. You{_marks(exchange)}")
        out.append(r(exchange.user.text.strip()) or "*(no text)*")
        out += [pictures.link(image.url) for image in exchange.user.images]
        for step in exchange.steps:
            if step.reasoning.strip():
                out.append(_details("Reasoning", r(step.reasoning)))
            if step.text.strip() and step.role == "assistant":
                out.append(r(step.text.strip()))
            for call in step.tool_calls:
                code = _code_of(call)
                body = _fence(r(code), "python") if code is not None else _fence(r(call.arguments))
                out.append(_details(f"Tool call: <code>{call.name}</code>", body))
            if step.role == "user":  # the images the tools returned, sent as a user turn
                out += [pictures.link(image.url) for image in step.images]
            if step.role == "tool":
                shown = [_fence(r(step.text))] if step.text.strip() else []
                shown += [pictures.link(image.url) for image in step.images]
                out.append(
                    _details(
                        f"Result of <code>{step.name or 'tool'}</code>",
                        "\n\n".join(shown) or "*(empty)*",
                    )
                )
        answer = exchange.answer
        if answer is None:
            out.append("*(still answering when exported)*")
            continue
        answers.append(answer)
        if answer.reasoning.strip():
            out.append(_details("Reasoning", r(answer.reasoning)))
        out.append("### Kimi")
        out.append(r(answer.text.strip()) or "*(no text)*")
        if not answer.complete:
            out.append(f"> ⚠ Partial answer ({answer.ended.cause}).")
        if answer.tool_calls:
            names = ", ".join(call.name for call in answer.tool_calls)
            out.append(f"*(asked for {names}; not run: the turn stopped first)*")
        out.append(f"<sub>{_usage_line(answer)}</sub>")
    out.append("## Usage")
    prompt = sum(a.usage.prompt_tokens for a in answers)
    cached = sum(a.usage.cached_tokens for a in answers)
    completion = sum(a.usage.completion_tokens for a in answers)
    cost = sum(a.cost for a in answers)
    out.append(
        f"{len(answers)} answers · in {prompt:,} (cached {cached:,}) · out {completion:,} · "
        f"${cost:.4f}"
    )
    return "\n\n".join(out) + "\n"


def _redact(redactor: Redactor | None) -> Callable[[str], str]:
    chosen = redactor or Redactor.collect()
    return lambda text: chosen.redact(text).text


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _markdown_cell(text: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": _lines(text)}


def _image_output(url: str) -> dict[str, Any] | None:
    """An image (a data URL) as a display_data output; None for any other URL."""
    match = _DATA_URL.match(url)
    if match is None:
        return None
    mime, data = match.group(1), "".join(match.group(2).split())
    return {
        "output_type": "display_data",
        "data": {mime: data, "text/plain": ["<image>"]},
        "metadata": {},
    }


def _step_markdown(step: Any, r: Callable[[str], str], *, in_code: bool) -> str:
    """What a tool round says besides run_python's code and output: its reasoning and words,
    and other tools' calls and results, folded as in the Markdown export."""
    parts = []
    if step.role == "assistant":
        if step.reasoning.strip():
            parts.append(_details("Reasoning", r(step.reasoning)))
        if step.text.strip():
            parts.append(r(step.text.strip()))
        for call in step.tool_calls:
            if _code_of(call) is None:
                body = _fence(r(call.arguments))
                parts.append(_details(f"Tool call: <code>{call.name}</code>", body))
    elif step.role == "tool" and not in_code and step.text.strip():
        parts.append(
            _details(f"Result of <code>{step.name or 'tool'}</code>", _fence(r(step.text)))
        )
    return "\n\n".join(parts)


def _image_cell(caption: str, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """A code cell that only shows images: its source is a comment, so running it is harmless."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"kimi_magic": {"images": True}},
        "outputs": outputs,
        "source": _lines(f"# {caption}"),
    }


def to_notebook(conversation: Any, redactor: Redactor | None = None) -> dict[str, Any]:
    """The conversation as an nbformat 4 notebook (a plain dict; `nbformat.from_dict` takes it)."""
    r = _redact(redactor)
    cells: list[dict[str, Any]] = [_markdown_cell(f"# Conversation `{r(conversation.name)}`")]
    for number, exchange in enumerate(conversation.exchanges, 1):
        text = [f"## {number}. You{_marks(exchange)}", r(exchange.user.text.strip())]
        pictures = []
        for i, image in enumerate(exchange.user.images, 1):
            output = _image_output(image.url)
            if output is None:  # a linked image: markdown shows it where the link resolves
                text.append(f"![image {i}]({image.url})")
            else:
                pictures.append(output)
        cells.append(_markdown_cell("\n\n".join(text)))
        if pictures:
            cells.append(_image_cell(f"The image(s) sent with question {number}", pictures))
        pending: dict[str, dict[str, Any]] = {}  # tool call id -> its code cell
        last_code: dict[str, Any] | None = None  # the code cell of the latest tool result
        for step in exchange.steps:
            # Reasoning, words, other tools' calls and results (run_python's are its code cell).
            said = _step_markdown(step, r, in_code=step.tool_call_id in pending)
            if said:
                cells.append(_markdown_cell(said))
            for call in step.tool_calls:
                code = _code_of(call)
                if code is not None:
                    cell = {
                        "cell_type": "code",
                        "execution_count": None,
                        "metadata": {"kimi_magic": {"tool": call.name}},
                        "outputs": [],
                        "source": _lines(r(code)),
                    }
                    pending[call.id] = cell
                    cells.append(cell)
            if step.role == "user":  # the images the tools returned: under the code that drew them
                drawn = [o for o in map(_image_output, (i.url for i in step.images)) if o]
                if drawn and last_code is not None:
                    last_code["outputs"] += drawn
                elif drawn:
                    cells.append(_image_cell("What the tools showed", drawn))
            if step.role != "tool":
                continue
            last_code = pending.get(step.tool_call_id or "")
            outputs: list[dict[str, Any]] = []
            if step.text.strip():
                outputs.append(
                    {"output_type": "stream", "name": "stdout", "text": _lines(r(step.text))}
                )
            outputs += [o for o in map(_image_output, (i.url for i in step.images)) if o]
            drawn = [o for o in outputs if o["output_type"] == "display_data"]
            if step.tool_call_id in pending:
                pending[step.tool_call_id]["outputs"] += outputs
            elif drawn:  # another tool's pictures: its text is in the markdown above
                cells.append(_image_cell(f"What {step.name or 'a tool'} showed", drawn))
        answer = exchange.answer
        if answer is None:
            cells.append(_markdown_cell("*(still answering when exported)*"))
            continue
        parts = ["### Kimi"]
        if answer.reasoning.strip():
            parts.append(_details("Reasoning", r(answer.reasoning)))
        parts.append(r(answer.text.strip()) or "*(no text)*")
        if not answer.complete:
            parts.append(f"> ⚠ Partial answer ({answer.ended.cause}).")
        parts.append(f"<sub>{_usage_line(answer)}</sub>")
        cells.append(_markdown_cell("\n\n".join(parts)))
    for i, cell in enumerate(cells):
        cell["id"] = f"kimi-{i}"
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": NBFORMAT,
        "nbformat_minor": NBFORMAT_MINOR,
    }
