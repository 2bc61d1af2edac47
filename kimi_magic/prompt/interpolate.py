"""`{name}` references in a prompt: find them, leave code alone, resolve them in the namespace.

A brace pair is a reference only when its whole content is `name`, `name.attr`, `name["key"]`,
`name[3]` or a chain of those (`{In[3]}`, `{Out[3]}`, `{Err[3]}` included), with no spaces.
Braces inside code fences, inline code, f-string literals, LaTeX math, another brace pair (a
dict or JSON literal) and after a LaTeX command are never touched, so pasted dicts, f-strings,
set comprehensions, JSON and LaTeX pass through as typed. `{{name}}` gives a literal `{name}`.
A reference to a missing name is an error only where it reads as prose; in code-like text it
is left as it is.
"""

from __future__ import annotations

import builtins
import difflib
import keyword
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import MissingReference
from .paths import PathRefused, check_result, step_attribute, step_key

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STEP = rf"""(?:\.{_NAME}|\[(?:-?\d+|"[^"\\\n]*"|'[^'\\\n]*')\])"""
_REF = rf"{_NAME}{_STEP}*"
REFERENCE = re.compile(_REF)
# An escaped reference `{{ref}}` first, so its inner `{ref}` is not taken on its own.
_CANDIDATE = re.compile(rf"\{{\{{(?P<escaped>{_REF})\}}\}}|\{{(?P<ref>{_REF})\}}")
_STEPS = re.compile(rf"""\.(?P<attr>{_NAME})|\[(?P<index>-?\d+)\]|\[(?P<key>"[^"]*"|'[^']*')\]""")

_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_FPREFIX = r"(?<![A-Za-z0-9_])(?:[rRbB]?[fF]|[fF][rRbB])"
_FSTRING = re.compile(
    _FPREFIX + r"""(?:(\"\"\"|\'\'\')(?:\\.|(?!\1).)*?\1|("|')(?:\\.|(?!\2)[^\n])*\2)""", re.DOTALL
)
# Math: $$...$$, $...$, \(...\), \[...\] and \begin{env}...\end{env}.
_MATH = re.compile(
    r"\$\$.+?\$\$|\$[^$\n]+\$|\\\(.+?\\\)|\\\[.+?\\\]|"
    r"\\begin\{([A-Za-z]+\*?)\}.*?\\end\{\1\}",
    re.DOTALL,
)
_LATEX_BEFORE = re.compile(r"(\\[A-Za-z]+\*?|[\^_$%#@}\]])$")
# Text before a brace that makes it code, not prose: `x = {a}`, `f({a})`, `{"k": {a}}`, ...
_CODE_BEFORE = re.compile(r"(?:[=(\[{|&]|\breturn|\byield|\blambda\b.*)\s*$")
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |return\b|import |from \S+ import|for \S.* in |if .*:\s*$|elif |while |"
    r"with |print\(|assert |@\w)|;\s*$|[{(\[,]\s*$|^\s*[\w.\[\]'\"]+\s*[-+*/]?=[^=]|"
    r"[\"'][^\"']*[\"']\s*:\s*\S"  # a JSON or dict key: "name": ...
)


_SHELL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open", "display"})


@dataclass(frozen=True)
class Reference:
    """A resolved `{expression}` and its value."""

    expression: str
    value: Any


Segment = str | Reference


def _protected_spans(text: str) -> list[tuple[int, int]]:
    """Where braces are code or math: fenced blocks, inline code, f-strings, LaTeX math."""
    spans: list[tuple[int, int]] = []
    fences = [m.start() for m in _FENCE.finditer(text)]
    for opening, closing in zip(fences[::2], [*fences[1::2], len(text)], strict=False):
        spans.append((opening, closing + 3))
    outside = _outside(text, spans)
    for start, end in outside:
        for match in _INLINE_CODE.finditer(text, start, end):
            spans.append(match.span())
        for match in _FSTRING.finditer(text, start, end):
            spans.append(match.span())
        for match in _MATH.finditer(text, start, end):
            spans.append(match.span())
    return spans


def _outside(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    result, position = [], 0
    for start, end in sorted(spans):
        if start > position:
            result.append((position, start))
        position = max(position, end)
    if position < len(text):
        result.append((position, len(text)))
    return result


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= position < end for start, end in spans)


def _brace_depths(text: str, protected: list[tuple[int, int]]) -> dict[int, int]:
    """For each `{`, how many braces are open around it: a reference inside a literal like
    `{"inner": {x}}` is code, not prose."""
    depths: dict[int, int] = {}
    depth = 0
    for position, char in enumerate(text):
        if char not in "{}" or _inside(position, protected):
            continue
        if char == "{":
            depths[position] = depth
            depth += 1
        else:
            depth = max(0, depth - 1)
    return depths


def _line_of(text: str, position: int) -> tuple[str, str]:
    """The text of the line before `position`, and the whole line."""
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return text[start:position], text[start : end if end != -1 else len(text)]


def _reads_as_prose(text: str, start: int, end: int) -> bool:
    """True where a missing reference is surely a typo, not code passing through."""
    before, line = _line_of(text, start)
    after = text[end : end + 1]
    if _CODE_BEFORE.search(before) or _CODE_LINE.search(line):
        return False
    return after == "" or after.isspace() or after in ".,;:!?)'\"*"


def interpolate(text: str, namespace: Mapping[str, Any]) -> list[Segment]:
    """The text cut into literal strings and resolved references; raises MissingReference."""
    protected = _protected_spans(text)
    depth = _brace_depths(text, protected)
    segments: list[Segment] = []
    position = 0
    for match in _CANDIDATE.finditer(text):
        start, end = match.span()
        if (
            _inside(start, protected)
            or depth.get(start, 0) > 0
            or _LATEX_BEFORE.search(text[max(0, start - 24) : start])
        ):
            continue
        escaped = match.group("escaped")
        if escaped is not None:
            segments.append(text[position:start] + "{" + escaped + "}")
            position = end
            continue
        expression = match.group("ref")
        head = expression.split(".", 1)[0].split("[", 1)[0]
        if keyword.iskeyword(head):
            continue
        try:
            value = resolve(expression, namespace)
        except MissingReference:
            if _reads_as_prose(text, start, end):
                raise
            continue
        segments.append(text[position:start])
        segments.append(Reference(expression, value))
        position = end
    segments.append(text[position:])
    merged: list[Segment] = []
    for segment in segments:
        if isinstance(segment, str) and merged and isinstance(merged[-1], str):
            merged[-1] += segment
        elif segment != "":
            merged.append(segment)
    return merged


def references(segments: list[Segment]) -> Iterator[Reference]:
    return (s for s in segments if isinstance(s, Reference))


def resolve(
    expression: str, namespace: Mapping[str, Any], heads: Callable[[str, Any], bool] | None = None
) -> Any:
    """The value of `name.attr["key"][3]` in `namespace`, read without running code (see
    prompt/paths.py), or MissingReference saying why; `heads` limits the names it starts from."""
    name = re.match(_NAME, expression)
    if name is None:
        raise MissingReference(f"'{expression}' is not a name, so it cannot be looked up.")
    head = name.group(0)
    if head not in namespace or (heads is not None and not heads(head, namespace[head])):
        raise MissingReference(_missing_name(expression, head, namespace))
    if head.startswith("__"):
        raise MissingReference(_missing_part(expression, f"'{head}' is not read", "", []))
    value = namespace[head]
    path = head
    for step in _STEPS.finditer(expression, name.end()):
        if step.group("attr") is not None:
            attribute = step.group("attr")
            try:
                value = step_attribute(value, attribute, path)
            except PathRefused as refused:
                raise MissingReference(
                    _missing_part(expression, str(refused).rstrip("."), "", [])
                ) from None
            except AttributeError:
                raise MissingReference(
                    _missing_part(
                        expression,
                        f"{path} has no attribute '{attribute}'",
                        attribute,
                        [a for a in _static_names(value) if not a.startswith("_")],
                    )
                ) from None
            except Exception as error:  # a data property of a library value failed
                raise MissingReference(
                    _missing_part(
                        expression,
                        f"{path}.{attribute} raised {type(error).__name__}: {error}",
                        "",
                        [],
                    )
                ) from None
            path += f".{attribute}"
            continue
        key: Any = int(step.group("index")) if step.group("index") else step.group("key")[1:-1]
        try:
            value = step_key(value, key, path)
        except PathRefused as refused:
            raise MissingReference(
                _missing_part(expression, str(refused).rstrip("."), "", [])
            ) from None
        except Exception as error:  # KeyError, IndexError, TypeError, or the library's own
            keys = [str(k) for k in dict.keys(value)] if isinstance(value, dict) else []
            raise MissingReference(
                _missing_part(
                    expression,
                    f"{path}[{key!r}] does not exist ({type(error).__name__}: {error})",
                    str(key),
                    keys,
                )
            ) from None
        path += f"[{key!r}]"
    try:
        check_result(value, path)
    except PathRefused as refused:
        raise MissingReference(
            _missing_part(expression, str(refused).rstrip("."), "", [])
        ) from None
    return value


def _static_names(value: Any) -> list[str]:
    """Attribute names for a hint, without calling the value's `__dir__`."""
    try:
        own = object.__getattribute__(value, "__dict__")
    except AttributeError:
        own = {}
    names = set(own) if isinstance(own, dict) else set()
    for kind in type(value).__mro__:
        names.update(k for k in kind.__dict__ if isinstance(k, str))
    return sorted(names)


def _missing_name(expression: str, head: str, namespace: Mapping[str, Any]) -> str:
    # The user's own names only: IPython puts `open`, `exit`, `In`, ... in the namespace too.
    names = [
        n
        for n in namespace
        if not n.startswith("_") and not hasattr(builtins, n) and n not in _SHELL_NAMES
    ]
    close = difflib.get_close_matches(head, names, n=3, cutoff=0.6)
    hint = (
        f" Did you mean {', '.join('{' + c + '}' for c in close)}?"
        if close
        else " No defined name is close to it."
    )
    return (
        f"The prompt refers to {{{expression}}}, but '{head}' is not defined in the "
        f"notebook.{hint} Run the cell that defines it first, write {{{{{expression}}}}} "
        "for literal braces, or add --no-interpolate to send the text as typed."
    )


def _missing_part(expression: str, what: str, wanted: str, options: list[str]) -> str:
    close = difflib.get_close_matches(wanted, options, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"The prompt refers to {{{expression}}}, but {what}.{hint} Fix the reference, write "
        f"{{{{{expression}}}}} for literal braces, or add --no-interpolate."
    )
