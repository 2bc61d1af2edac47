"""`{name}` references: code with braces passes untouched, references resolve, typos name the
closest defined names; through the real magic against the emulator for both forms.

By design a `{name}` standing in prose-like text *is* replaced when `name` exists (that is the
feature); the table below uses defined names wherever the surrounding code must protect them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from IPython.core.error import UsageError

from kimi_magic.emulator import Emulator
from kimi_magic.prompt.interpolate import MissingReference, Reference, interpolate, resolve

# Names that exist, so the table proves code is left alone even where a name would resolve.
NAMESPACE: dict[str, Any] = {
    "x": 3,
    "name": "Ada",
    "d": {"a": 1},
    "value": 2.5,
    "n": 10,
    "row": {"k": 1},
    "i": 1,
    "y": 4,
}

UNTOUCHED = [
    pytest.param('{"a": 1, "b": [1, 2]}', id="json"),
    pytest.param('{"outer": {"inner": {x}}}', id="json-nested-with-name"),
    pytest.param("d = {'a': 1}", id="dict-literal"),
    pytest.param("s = {members}", id="set-of-an-undefined-name-in-code"),
    pytest.param("{x for x in range(n)}", id="set-comprehension"),
    pytest.param("{k: v for k, v in row.items()}", id="dict-comprehension"),
    pytest.param('print(f"{x}")', id="f-string-name"),
    pytest.param("f'{name!r} is {value:.2f}'", id="f-string-conversion-and-spec"),
    pytest.param('"{:>10}".format(x)', id="format-empty-field-spec"),
    pytest.param('"{0} {1}".format(a, b)', id="format-positional"),
    pytest.param("{value:.3f}", id="bare-format-spec"),
    pytest.param(r"$\frac{x}{y}$ and $x^{n}$ and $a_{i}$", id="latex-commands"),
    pytest.param(r"\begin{align} x &= {y} \end{align}", id="latex-env"),
    pytest.param("{{ name }}", id="jinja-with-spaces"),
    pytest.param("{ x }", id="spaced-braces"),
    pytest.param('```python\nmsg = f"{x} and {missing_thing}"\n```', id="fenced-code"),
    pytest.param("Run `print({x})` and `{missing_thing}`", id="inline-code"),
    pytest.param('f"""\n{missing_thing}\n"""', id="triple-quoted-f-string"),
    pytest.param("${HOME}/bin and #{ruby}", id="shell-and-ruby-templates"),
    pytest.param("def f():\n    return {missing_thing}", id="return-of-set"),
    pytest.param("{}", id="empty-braces"),
    pytest.param("{{{{x}}}}", id="quadruple-braces"),
    pytest.param("{x + 1}", id="expression"),
    pytest.param('data = {"key": {missing_thing}}', id="missing-name-in-dict-code"),
]


@pytest.mark.parametrize("text", UNTOUCHED)
def test_code_with_braces_passes_through_untouched(text: str) -> None:
    assert interpolate(text, NAMESPACE) == [text]


def test_references_resolve_by_attribute_key_and_index() -> None:
    class Box:
        inner: ClassVar[dict[str, list[int]]] = {"deep": [10, 20, 30]}

    namespace = {"box": Box(), "rows": [[1, 2], [3, 4]], "d": {"it's": 1, "k": "v"}}
    segments = interpolate("A {box.inner[\"deep\"][-1]} B {rows[1][0]} C {d['k']}", namespace)
    assert segments == [
        "A ",
        Reference('box.inner["deep"][-1]', 30),
        " B ",
        Reference("rows[1][0]", 3),
        " C ",
        Reference("d['k']", "v"),
    ]


def test_doubled_braces_give_a_literal_reference() -> None:
    assert interpolate("write {{x}} to refer to {x}", NAMESPACE) == [
        "write {x} to refer to ",
        Reference("x", 3),
    ]


@pytest.mark.parametrize(
    ("text", "close"),
    [
        ("Plot {dff}.", "{df}"),
        ("What about {frame.shpe}?", "'shape'"),
        ('Show {config["colour"]}', "'color'"),
    ],
)
def test_a_missing_reference_names_the_closest_defined_ones(text: str, close: str) -> None:
    class Frame:
        shape = (2, 2)

    namespace = {"df": 1, "dfs": 2, "frame": Frame(), "config": {"color": "red"}}
    with pytest.raises(MissingReference) as caught:
        interpolate(text, namespace)
    assert close in str(caught.value)
    assert "--no-interpolate" in str(caught.value)


def _sent_text(emulator: Emulator) -> str:
    content = emulator.requests[-1]["json"]["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def test_both_magic_forms_interpolate_alike(
    kimi_shell: Any, emulator: Emulator, validate_request: Any
) -> None:
    kimi_shell.run_cell("topic = 'tides'; count = 3; code = {'a': 1}")
    kimi_shell.run_cell("%kimi --new Tell me {count} facts about {topic}; see {{topic}}.")
    line_text = _sent_text(emulator)
    kimi_shell.run_cell("%%kimi --new\nTell me {count} facts about {topic}; see {{topic}}.")
    assert (
        _sent_text(emulator).strip()
        == line_text.strip()
        == "Tell me 3 facts about tides; see {topic}."
    )
    kimi_shell.run_cell('%%kimi --new\nWhy does d = {"a": {count}} fail? And f"{topic}"?')
    assert _sent_text(emulator).strip() == 'Why does d = {"a": {count}} fail? And f"{topic}"?'
    for request in emulator.requests:
        validate_request(request["json"])


def test_missing_name_is_a_usage_error_and_nothing_is_sent(
    kimi_shell: Any, emulator: Emulator
) -> None:
    kimi_shell.run_cell("sales = [1, 2, 3]")
    result = kimi_shell.run_cell("%kimi Summarise {sale}")
    assert isinstance(result.error_in_exec, UsageError)
    assert "Did you mean {sales}?" in str(result.error_in_exec)
    assert emulator.requests == []


def test_no_interpolate_sends_the_text_as_typed(kimi_shell: Any, emulator: Emulator) -> None:
    kimi_shell.run_cell("x = 1")
    kimi_shell.run_cell("%%kimi --no-interpolate\n{x} and {undefined_name}")
    assert _sent_text(emulator).strip() == "{x} and {undefined_name}"


def test_a_property_is_not_read_but_named_as_one() -> None:
    class Flaky:
        @property
        def value(self) -> int:
            raise RuntimeError("not ready")

    with pytest.raises(MissingReference, match=r"x\.value is a property, not read"):
        resolve("x.value", {"x": Flaky()})
