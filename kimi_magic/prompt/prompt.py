"""The user message of one turn: the cell text with `{references}` resolved, `-v` variables,
`--image` images, all within the budgets, as a string or as text + `image_url` content parts."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.constants import (
    CONTEXT_TOKENS,
    IMAGE_MAX_BYTES,
    IMAGE_MAX_SIDE_PX,
    INLINE_MAX_CHARS,
    VARIABLE_TOKENS,
)
from ..core.errors import KimiError
from ..core.messages import Message
from ..core.secrets import Redactor, path_marker, redacting, secret_step
from ..core.tokens import image_tokens as pixel_tokens
from ..core.tokens import text_tokens
from .context import NotebookContext
from .images import (
    Image,
    ImageError,
    fit,
    image_from_object,
    is_image_object,
    pending_inline_figure,
)
from .interpolate import REFERENCE, MissingReference, Reference, interpolate, resolve
from .variables import Rendering, render

MIN_RENDERING_TOKENS = 40  # below this a value is left out rather than shown as a stub


@dataclass(frozen=True)
class Budgets:
    """Token budgets of notebook values and caps of images, from the settings."""

    variable_tokens: int = VARIABLE_TOKENS
    context_tokens: int = CONTEXT_TOKENS
    image_max_side: int = IMAGE_MAX_SIDE_PX
    image_max_bytes: int = IMAGE_MAX_BYTES


@dataclass
class Prompt:
    """One user turn ready to send, and what went into it."""

    text: str
    images: list[Image] = field(default_factory=list)
    renderings: list[Rendering] = field(default_factory=list)
    redacted: tuple[str, ...] = ()  # what was taken out as secret (see core/secrets.py)

    @property
    def message(self) -> Message:
        return Message.user(self.text, tuple(image.data_url for image in self.images))

    @property
    def tokens(self) -> int:
        """Estimated prompt tokens of this turn (text and images)."""
        return text_tokens(self.text) + sum(image_tokens(i) for i in self.images)


def _is_scalar(value: Any) -> bool:
    return value is None or type(value) in (int, float, bool, complex)


def image_tokens(image: Image) -> int:
    """Estimated prompt tokens of one image, from its pixels."""
    return pixel_tokens(image.width, image.height)


class _Builder:
    def __init__(self, namespace: Mapping[str, Any], budgets: Budgets, redactor: Redactor) -> None:
        self.namespace = namespace
        self.redactor = redactor
        self.budgets = budgets
        self.left = budgets.context_tokens
        self.sections: list[str] = []
        self.renderings: list[Rendering] = []
        self.images: list[Image] = []
        self.seen: dict[str, str] = {}

    def attach_image(self, value: Any, label: str) -> str:
        image = image_from_object(value, label, self.budgets.image_max_side)
        self.images.append(fit(image, self.budgets.image_max_side, self.budgets.image_max_bytes))
        return f"[image {len(self.images)}: {label}]"

    def value_text(self, expression: str, value: Any, inline_ok: bool) -> str:
        """What stands in the text for a value: inline when short, else a pointer to a section."""
        if expression in self.seen:
            return self.seen[expression]
        secret = self.redactor.by_name and secret_step(expression)  # creds.db_password
        if secret and inline_ok:
            text = path_marker(expression)
        elif secret:  # a section that says what was left out (render gives the marker)
            text = self._section(expression, value, inline_ok)
        elif is_image_object(value):
            text = self.attach_image(value, expression)
        elif inline_ok and _is_scalar(value):
            text = repr(value)
        else:
            text = self._section(expression, value, inline_ok)
        self.seen[expression] = text
        return text

    def _section(self, expression: str, value: Any, inline_ok: bool) -> str:
        budget = min(self.budgets.variable_tokens, self.left)
        if budget < MIN_RENDERING_TOKENS:
            self.sections.append(
                f"### {expression}\n[left out: the {self.budgets.context_tokens:,}-token budget "
                "for notebook values in one prompt is used up; raise KimiMagics.context_tokens]"
            )
            return f"`{expression}` (left out, see below)"
        rendering = render(value, expression, budget)
        self.renderings.append(rendering)
        self.left -= rendering.tokens
        if (
            inline_ok
            and not rendering.cut
            and "\n" not in rendering.text
            and len(rendering.text) <= INLINE_MAX_CHARS
        ):
            return value if isinstance(value, str) else rendering.text
        self.sections.append(f"### {expression}\n{rendering.text}")
        return f"`{expression}` (shown below)"


def build_prompt(
    question: str,
    *,
    namespace: Mapping[str, Any],
    context: NotebookContext | None = None,
    variables: Sequence[str] = (),
    images: Sequence[str] = (),
    interpolate_text: bool = True,
    budgets: Budgets | None = None,
    instruction: str = "",
    redactor: Redactor | None = None,
) -> Prompt:
    """The prompt for `question`: references resolved, variables and images attached, secrets
    redacted (by default: the token in the environment and secret-looking names)."""
    if redactor is None:
        redactor = Redactor.collect(namespace=namespace)
    builder = _Builder(lookup_namespace(namespace, context), budgets or Budgets(), redactor)
    with redacting(redactor):  # each rendering redacts before it cuts to its budget
        text = _build_text(builder, question, variables, images, interpolate_text, context)
    if instruction:
        text = text.rstrip() + "\n\n" + instruction
    redaction = redactor.redact(replace_surrogates(text))
    return Prompt(redaction.text, builder.images, builder.renderings, redaction.found)


def _build_text(
    builder: _Builder,
    question: str,
    variables: Sequence[str],
    images: Sequence[str],
    interpolate_text: bool,
    context: NotebookContext | None,
) -> str:
    if interpolate_text:
        pieces = []
        for segment in interpolate(question, builder.namespace):
            if isinstance(segment, Reference):
                pieces.append(builder.value_text(segment.expression, segment.value, True))
            else:
                pieces.append(segment)
        text = "".join(pieces)
    else:
        text = question
    for name in variables:
        try:
            value = resolve(name, builder.namespace)
        except MissingReference as error:
            raise KimiError(f"-v {name}: {error}") from None
        builder.value_text(name, value, inline_ok=False)
    for spec in images:
        _attach_spec(builder, spec, context)
    if builder.sections:
        text = (
            text.rstrip() + "\n\n---\nValues from the notebook:\n\n" + "\n\n".join(builder.sections)
        )
    if builder.images:
        listed = "\n".join(
            f"{n}. {i.label} ({i.width}x{i.height} px)" for n, i in enumerate(builder.images, 1)
        )
        text = text.rstrip() + "\n\nAttached images:\n" + listed
    return text


def replace_surrogates(text: str) -> str:
    """Lone surrogates (a file name from os.fsdecode of bytes that are not UTF-8) as U+FFFD:
    they cannot be encoded as UTF-8, so the request could not be sent at all."""
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _attach_spec(builder: _Builder, spec: str, context: NotebookContext | None) -> None:
    """`--image last | N | name | path`."""
    spec = spec.strip()
    if spec == "last":
        figure = pending_inline_figure()
        if figure is not None:
            builder.attach_image(figure, "the figure this cell drew")
            return
    if spec == "last" or spec.isdigit():
        if context is None:
            raise ImageError(
                f"--image {spec}: displayed images are remembered only after %load_ext kimi_magic."
            )
        shown = [context.images.last()] if spec == "last" else context.images.of_cell(int(spec))
        for image in shown:
            builder.images.append(
                fit(image, builder.budgets.image_max_side, builder.budgets.image_max_bytes)
            )
        return
    try:
        value: Any = resolve(spec, builder.namespace)
    except MissingReference as missing:
        if REFERENCE.fullmatch(spec) and not Path(spec).expanduser().exists():
            raise ImageError(f"--image {spec}: {missing}") from None
        value = spec  # not a name: a path or a data URL
    builder.attach_image(value, spec)


class _CellSources:
    """`In[n]` as fenced code, so the model reads a cell as code."""

    def __init__(self, history: Sequence[str]) -> None:
        self.history = history

    def __getitem__(self, index: int) -> _CellSource:
        return _CellSource(index, self.history[index])


@dataclass(frozen=True)
class _CellSource:
    index: int
    source: str

    def _repr_llm_(self) -> str:
        return f"```python\n{self.source.rstrip()}\n```"


class _Lookup(Mapping[str, Any]):
    """The notebook namespace, with `In` as code and `Err` as the remembered cell errors."""

    def __init__(self, namespace: Mapping[str, Any], specials: dict[str, Any]) -> None:
        self.namespace = namespace
        self.specials = specials

    def __getitem__(self, name: str) -> Any:
        if name in self.specials:
            return self.specials[name]
        return self.namespace[name]

    def __contains__(self, name: object) -> bool:
        return name in self.specials or name in self.namespace

    def __iter__(self) -> Any:
        yield from self.specials
        yield from (n for n in self.namespace if n not in self.specials)

    def __len__(self) -> int:
        return len(set(self.namespace) | set(self.specials))


def lookup_namespace(
    namespace: Mapping[str, Any], context: NotebookContext | None
) -> Mapping[str, Any]:
    """The namespace `{references}` resolve in: the notebook's, with `In` and `Err`."""
    specials: dict[str, Any] = {}
    history = namespace.get("In")
    if isinstance(history, list):
        specials["In"] = _CellSources(history)
    if context is not None and "Err" not in namespace:
        specials["Err"] = context.errors
    return _Lookup(namespace, specials) if specials else namespace
