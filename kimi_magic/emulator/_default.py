"""What the emulated model says when no reply was scripted."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SNIPPET_CHARS = 60

DEFAULT_REASONING = (
    "The user wants a short demonstration answer. I will restate the question, "
    "then show a heading, a list, a table, some code and a little math."
)

DEFAULT_ANSWER = """\
## Simulated answer

You asked: {snippet}

This reply comes from the kimi_magic emulator, not from Kimi K2.6.

- Markdown renders with **bold**, *italics* and `inline code`.
- Tables, code blocks and math render as in a markdown cell.

| Measure | Value |
|---------|------:|
| Input   | 0.95 |
| Output  | 4.00 |

```python
def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)
```

Inline math: $e^{{i\\pi}} + 1 = 0$. Display math:

$$\\bar{{x}} = \\frac{{1}}{{n}} \\sum_{{i=1}}^{{n}} x_i$$
"""


def last_user_text(body: Mapping[str, Any]) -> tuple[str, int]:
    """The text of the last user turn (or the prompt) and how many images it carries."""
    if "messages" not in body:
        return str(body.get("prompt", "")), 0
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, Mapping) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content, 0
        texts: list[str] = []
        images = 0
        for part in content or []:
            if isinstance(part, Mapping) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif isinstance(part, Mapping) and part.get("type") == "image_url":
                images += 1
        return " ".join(texts), images
    return "", 0


def snippet(body: Mapping[str, Any]) -> str:
    """A one-line echo of the question, so tests can tell answers apart."""
    text, images = last_user_text(body)
    line = " ".join(text.split())
    if len(line) > SNIPPET_CHARS:
        line = line[: SNIPPET_CHARS - 1] + "…"
    if images:
        line += f" (with {images} image{'s' if images > 1 else ''})"
    return line


def default_answer(body: Mapping[str, Any]) -> str:
    """The markdown answer: echo, heading, list, table, code and math; JSON if asked for."""
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema") or {}
        # The OpenAI envelope nests the schema under "schema"; the native form is bare.
        if isinstance(schema, Mapping) and isinstance(schema.get("schema"), Mapping):
            schema = schema["schema"]
        return json.dumps(sample_instance(schema, snippet(body)), ensure_ascii=False)
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        return json.dumps({"answer": f"You asked: {snippet(body)}"}, ensure_ascii=False)
    return DEFAULT_ANSWER.format(snippet=snippet(body))


def sample_instance(schema: object, text: str) -> object:
    """A small value that satisfies the simple JSON Schemas a notebook asks for."""
    if not isinstance(schema, Mapping):
        return text
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return sample_instance(schema[key][0], text)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: sample_instance(sub, text) for name, sub in properties.items()}
    if kind == "array":
        return [sample_instance(schema.get("items"), text)] * max(1, schema.get("minItems", 1))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return text
