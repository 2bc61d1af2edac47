"""Templates: `{column}` per row, `{{ }}` literal braces, missing values, unknown names."""

from __future__ import annotations

import pytest

from kimi_magic.core.errors import ConfigurationError
from kimi_magic.scale.template import Template


@pytest.mark.parametrize(
    ("text", "row", "expected"),
    [
        ("Rate {review}", {"review": "good"}, "Rate good"),
        ("{a} and {a}", {"a": 1}, "1 and 1"),
        ('JSON like {{"x": {n}}}', {"n": 2}, 'JSON like {"x": 2}'),
        ("{unit price} EUR", {"unit price": 3.5}, "3.5 EUR"),
        ("[{missing}]", {"missing": None}, "[]"),
        ("[{nan}]", {"nan": float("nan")}, "[]"),
        ("{tags}", {"tags": ["a", "b"]}, '["a", "b"]'),
    ],
)
def test_render(text: str, row: dict[str, object], expected: str) -> None:
    assert Template(text).render(row) == expected


def test_an_unknown_field_names_what_there_is() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Template("{reveiw} {stars}").check(["review", "stars"])
    message = str(caught.value)
    assert (
        "{reveiw}" in message and "{review}, {stars}" in message and "nothing was sent" in message
    )
