"""The emulated model uses the tools a request offers, when no reply was scripted (issue 16).

So every tool feature can be tried offline with no setup: the first round calls offered tools
(several in parallel where that makes sense) with arguments built from their JSON Schemas and
the question; after `list_variables` it describes a variable it listed; once the last round's
results are in, it answers from them, quoting what they returned.

    the question mentions a tool    that tool (each one mentioned)
    notebook tools                  list_variables, then describe_variable (and dataframe_rows
                                    for a DataFrame) on a listed name
    run_python                      a small matplotlib plot and a print (the visual loop)
    other tools (registered, MCP)   each, up to MAX_PARALLEL calls in one round

`tool_choice` is honoured: `none` answers without tools, `required` or a named function
calls one. A scripted reply always wins over this model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MAX_PARALLEL = 3
QUOTE_CHARS = 400
SNIPPET_CHARS = 60
NOTEBOOK_FIRST = "list_variables"
NOTEBOOK_FOLLOW = ("describe_variable", "dataframe_rows")
NOTEBOOK_TOOLS = frozenset(
    {"list_variables", "describe_variable", "dataframe_rows", "cell", "last_error", "cell_images"}
)
RUN_PYTHON = "run_python"

PLOT_CODE = """\
import matplotlib.pyplot as plt

xs = [1, 2, 3, 4, 5]
ys = [x * x for x in xs]
fig, ax = plt.subplots(figsize=(4, 3))
ax.plot(xs, ys, marker="o")
ax.set_title("Squares (a plot by the emulator)")
plt.show()
print("plotted", len(xs), "points; the largest square is", max(ys))
"""

_BACKTICKED = re.compile(r"`([^`\n]{1,60})`")
_QUOTED = re.compile(r"[\"“']([^\"”'\n]{1,40})[\"”']")
_CAPS = re.compile(r"\b[A-Z]{2,5}\b")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_WORD = re.compile(r"[A-Za-z][A-Za-z_]{2,}")
_TABLE_ROW = re.compile(r"^\|\s*([A-Za-z_]\w*)\s*\|\s*([^|]*)\|", re.MULTILINE)
_STOP = frozenset(
    {"the", "and", "for", "with", "from", "that", "this", "what", "which", "how", "are", "was"}
    | {"were", "you", "your", "can", "show", "one", "two", "its", "into", "than", "then", "them"}
    | {"they", "use", "used", "not", "all", "any"}
)


def tool_reply(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reply (as a scripted one is written) of a model that uses the offered tools, or
    None when it would answer without them."""
    tools = offered(body)
    choice = body.get("tool_choice")
    if not tools or choice == "none" or "messages" not in body:
        return None
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    question, turn = _current_turn(messages)
    results = _results(turn)
    if results and _last_is_result(messages):
        follow = _follow_up(turn, tools, question)
        if not follow:
            return {"reasoning": "The tool results answer the question.", "content": _summary(turn)}
        reasoning, calls = "Now I can look closer at what it listed.", follow
    else:
        calls = _first_calls(tools, choice, question)
        reasoning = f"I will call {_listed(c['name'] for c in calls)} to answer this."
    # Ids as Kimi makes them: `functions.NAME:INDEX`, counting every call of the conversation.
    made = sum(len(m.get("tool_calls") or []) for m in messages)
    for index, call in enumerate(calls, start=made):
        call["id"] = f"functions.{call['name']}:{index}"
    return {"reasoning": reasoning, "tool_calls": calls}


def offered(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The offered functions by name: their description and parameters."""
    found: dict[str, Mapping[str, Any]] = {}
    for tool in body.get("tools") or []:
        if not isinstance(tool, Mapping):
            continue
        inner = tool.get("function")
        function: Mapping[str, Any] = inner if isinstance(inner, Mapping) else tool
        name = function.get("name")
        if isinstance(name, str) and name:
            found[name] = function
    return found


# -- the conversation ------------------------------------------------------------------------


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return " ".join(str(p.get("text", "")) for p in parts if isinstance(p, Mapping))


def _current_turn(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[Mapping[str, Any]]]:
    """The question of the current turn and the messages after it. A user message right
    after tool results carries their images: it belongs to the round, not a new question."""
    start = 0
    after_tool = False
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "user" and not after_tool:
            start = i
        after_tool = role == "tool" or (role == "user" and after_tool)
    question = _text(messages[start].get("content")) if messages else ""
    return question, list(messages[start + 1 :])


def _last_is_result(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the request ends with a round's results (tool messages, maybe their images)."""
    for message in reversed(messages):
        if message.get("role") == "tool":
            return True
        if message.get("role") != "user":
            return False
    return False


def _results(turn: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(tool name, result text) of every tool result in the turn, in order."""
    names: dict[str, str] = {}
    found = []
    for message in turn:
        for call in message.get("tool_calls") or []:
            if isinstance(call, Mapping):
                function = call.get("function") or {}
                names[str(call.get("id"))] = str(function.get("name") or call.get("name") or "")
        if message.get("role") == "tool":
            call_id = str(message.get("tool_call_id"))
            found.append((names.get(call_id, "tool"), _text(message.get("content"))))
    return found


def _called(turn: Sequence[Mapping[str, Any]]) -> set[str]:
    return {name for name, _ in _results(turn)}


def _images(turn: Sequence[Mapping[str, Any]]) -> int:
    return sum(
        1
        for m in turn
        if isinstance(m.get("content"), list)
        for part in m["content"]
        if isinstance(part, Mapping) and part.get("type") == "image_url"
    )


# -- choosing calls ----------------------------------------------------------------------------


def _first_calls(
    tools: Mapping[str, Mapping[str, Any]], choice: object, question: str
) -> list[dict[str, Any]]:
    """The first round's calls: the named one, the mentioned ones, or a sensible few."""
    forced = _forced_name(choice)
    chosen: list[str]
    if forced is not None and forced in tools:
        chosen = [forced]
    else:
        chosen = [n for n in tools if _mentions(question, n)]
        if not chosen:
            chosen = [n for n in (NOTEBOOK_FIRST, RUN_PYTHON) if n in tools]
            chosen += [n for n in tools if n not in NOTEBOOK_TOOLS and n != RUN_PYTHON]
        if not chosen:
            chosen = [next(iter(tools))]
    calls: list[dict[str, Any]] = []
    for name in chosen:
        for arguments in _argument_sets(name, tools[name], question):
            if len(calls) < MAX_PARALLEL:
                calls.append({"name": name, "arguments": json.dumps(arguments)})
    return calls


def _forced_name(choice: object) -> str | None:
    if isinstance(choice, Mapping):
        function = choice.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return str(function["name"])
    return None


def _mentions(question: str, name: str) -> bool:
    """Whether the question names the tool (an MCP tool by its own name or SERVER__name)."""
    words = {name, _short(name)}
    return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", question, re.I) for w in words)


def _short(name: str) -> str:
    """A tool's own name, without an MCP server's `SERVER__` prefix."""
    return name.rpartition("__")[2]


def _follow_up(
    turn: Sequence[Mapping[str, Any]], tools: Mapping[str, Mapping[str, Any]], question: str
) -> list[dict[str, Any]]:
    """After list_variables: describe a variable it listed (and read a DataFrame's rows)."""
    called = _called(turn)
    if NOTEBOOK_FIRST not in called or called & set(NOTEBOOK_FOLLOW):
        return []
    listing = next(text for name, text in _results(turn) if name == NOTEBOOK_FIRST)
    rows = [(n, kind) for n, kind in _TABLE_ROW.findall(listing) if n != "name"]
    if not rows:
        return []
    mentioned = [row for row in rows if re.search(rf"\b{re.escape(row[0])}\b", question)]
    frames = [row for row in rows if "DataFrame" in row[1]]
    name, kind = (mentioned or frames or rows)[0]
    calls = []
    if "describe_variable" in tools:
        calls.append({"name": "describe_variable", "arguments": json.dumps({"name": name})})
    if "dataframe_rows" in tools and "DataFrame" in kind:
        calls.append({"name": "dataframe_rows", "arguments": json.dumps({"name": name})})
    return calls


# -- arguments from a schema -------------------------------------------------------------------


def _argument_sets(name: str, function: Mapping[str, Any], question: str) -> list[dict[str, Any]]:
    """Arguments for one or more calls of `name`: one call per value the question names when
    the tool takes a single required string (`euro_rate` of USD and GBP), else one call."""
    if name == RUN_PYTHON:
        return [{"code": PLOT_CODE}]
    schema = function.get("parameters")
    schema = schema if isinstance(schema, Mapping) else {}
    properties = schema.get("properties") or {}
    required = [p for p in schema.get("required") or [] if p in properties]
    hints = " ".join(
        [str(function.get("description") or "")]
        + [str((properties.get(p) or {}).get("description") or "") for p in required]
    )
    candidates = _strings(question, hints)
    single = len(required) == 1 and _kind(properties[required[0]]) == "string"
    if single and len(candidates) > 1 and "enum" not in properties[required[0]]:
        return [{required[0]: value} for value in candidates[:MAX_PARALLEL]]
    numbers = [float(n) for n in _NUMBER.findall(question)]
    return [_object(schema, candidates, numbers, question)]


def _kind(schema: object) -> str:
    if not isinstance(schema, Mapping):
        return "string"
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return str(kind)


def _strings(question: str, hints: str) -> list[str]:
    """Values the question names: `backticked` text, ALL CAPS codes and "quoted" text, or
    else the words it shares with the tool's description (a colour it lists); no repeats."""
    found = _BACKTICKED.findall(question) + _CAPS.findall(question) + _QUOTED.findall(question)
    if not found:
        hint_words = {w.lower() for w in _WORD.findall(hints)} - _STOP
        found = [w for w in _WORD.findall(question) if w.lower() in hint_words]
    return list(dict.fromkeys(found))


def _object(
    schema: Mapping[str, Any], strings: list[str], numbers: list[float], question: str
) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    return {
        name: _value(properties[name], strings, numbers, question)
        for name in schema.get("required") or []
        if name in properties
    }


def _value(schema: object, strings: list[str], numbers: list[float], question: str) -> Any:
    """A value that satisfies `schema`, taken from the question where it can be."""
    if not isinstance(schema, Mapping):
        return _snippet(question)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        wanted = [v for v in schema["enum"] if str(v).lower() in question.lower()]
        return (wanted or schema["enum"])[0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        options = [s for s in schema.get(key) or [] if _kind(s) != "null"]
        if options:
            return _value(options[0], strings, numbers, question)
    kind = _kind(schema)
    if kind == "object":
        return _object(schema, strings, numbers, question)
    if kind == "array":
        item = _value(schema.get("items"), strings, numbers, question)
        return [item] * max(1, int(schema.get("minItems", 1)))
    if kind in ("integer", "number"):
        return _number(schema, numbers, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return strings.pop(0) if strings else _snippet(question)


def _number(schema: Mapping[str, Any], numbers: list[float], integer: bool) -> int | float:
    low, high = schema.get("minimum"), schema.get("maximum")
    usable = [
        n
        for n in numbers
        if (not integer or n.is_integer())
        and (low is None or n >= low)
        and (high is None or n <= high)
    ]
    if usable:
        value = usable[0]
        numbers.remove(value)
    else:
        value = low if low is not None else 2
    return int(value) if integer else value


def _snippet(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SNIPPET_CHARS else line[: SNIPPET_CHARS - 1] + "…"


# -- the answer ------------------------------------------------------------------------------


def _summary(turn: Sequence[Mapping[str, Any]]) -> str:
    """The final answer: what each call returned, quoted."""
    results = _results(turn)
    order = list(dict.fromkeys(name for name, _ in results))
    lines = [
        "## Simulated answer from the tools",
        "",
        f"I called {_listed(order)} ({len(results)} call{'s' if len(results) != 1 else ''}). "
        "Here is what they returned:",
        "",
    ]
    for name, text in results:
        quoted = text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"
        lines += [f"**`{name}`**", "", "````text", quoted.strip() or "(empty)", "````", ""]
    images = _images(turn)
    if images:
        lines += [
            f"The results carried {images} image{'s' if images != 1 else ''}; I looked at them.",
            "",
        ]
    lines.append("This reply comes from the kimi_magic emulator, not from Kimi K2.6.")
    return "\n".join(lines)


def _listed(names: Iterable[str]) -> str:
    shown = [f"`{n}`" for n in names]
    if len(shown) <= 1:
        return "".join(shown) or "no tool"
    return ", ".join(shown[:-1]) + " and " + shown[-1]
