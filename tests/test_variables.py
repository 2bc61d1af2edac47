"""Renderings by type, each within its token budget and saying exactly what it cut; the
per-prompt budget; `-v` and `{name}` reaching the emulator."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kimi_magic.core.constants import CHARS_PER_TOKEN
from kimi_magic.emulator import Emulator
from kimi_magic.prompt.prompt import Budgets, build_prompt
from kimi_magic.prompt.variables import render

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")


def within(text: str, tokens: int) -> bool:
    return len(text) <= tokens * CHARS_PER_TOKEN


def test_dataframe_shape_dtypes_nulls_head_tail_describe_and_the_row_cut() -> None:
    frame = pd.DataFrame({"price": np.arange(50_000) / 4, "city": ["Oslo", "Rome"] * 25_000})
    frame.loc[7, "price"] = np.nan
    rendering = render(frame, "frame", 2_000)
    text = rendering.text
    assert "pandas DataFrame with 50,000 rows and 2 columns" in text
    assert "price (float64, 1)" in text and "city (" in text
    assert "| 49999 |" in text and "| 0 |" in text  # head and tail
    assert "describe():" in text and "| mean |" in text
    assert rendering.cut == "showing 10 of 50,000 rows (head and tail)"
    assert text.endswith("[cut: showing 10 of 50,000 rows (head and tail)]")
    assert within(text, 2_000)


def test_dataframe_under_a_small_budget_drops_describe_then_rows_and_says_so() -> None:
    frame = pd.DataFrame({f"c{i}": np.arange(1_000) for i in range(6)})
    rendering = render(frame, "frame", 150)
    assert within(rendering.text, 150)
    assert "describe() left out" in rendering.cut
    assert re.search(r"showing \d+ of 1,000 rows", rendering.cut)
    assert "pandas DataFrame with 1,000 rows and 6 columns" in rendering.text


def test_series_renders_as_a_one_column_table() -> None:
    rendering = render(pd.Series([1.5, 2.5, None], name="height"), "s")
    assert "pandas Series with 3 rows and 1 columns" in rendering.text
    assert "height (float64, 1)" in rendering.text and rendering.cut == ""


def test_numpy_array_shape_dtype_statistics_and_sample() -> None:
    array = np.arange(1_000_000, dtype=np.float64).reshape(1_000, 1_000)
    array[0, 0] = np.nan
    rendering = render(array, "a")
    assert "shape (1000, 1000), dtype float64, 1,000,000 elements" in rendering.text
    assert "min 1, max 999999" in rendering.text and "NaN 1" in rendering.text
    assert "..." in rendering.text
    assert rendering.cut == "showing the first and last 3 entries along each axis of 1,000,000"


def test_small_numpy_array_is_shown_whole() -> None:
    rendering = render(np.array([1, 2, 3]), "a")
    assert "[1 2 3]" in rendering.text and rendering.cut == ""


def test_polars_frame() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"a": list(range(30)), "b": ["x", None, "z"] * 10})
    rendering = render(frame, "pf")
    assert "polars DataFrame with 30 rows and 2 columns" in rendering.text
    assert "b (String, 10)" in rendering.text
    assert rendering.cut == "showing 10 of 30 rows (head and tail)"


def test_dict_is_pretty_json_and_cut_by_keys() -> None:
    value = {f"key{i}": {"n": i, "tags": ["a", "b"]} for i in range(500)}
    rendering = render(value, "d", 200)
    assert rendering.text.startswith('dict with 500 keys:\n{\n  "key0": {"n": 0,')
    assert re.fullmatch(r"showing \d+ of 500 keys", rendering.cut)
    assert within(rendering.text, 200)


def test_list_cut_by_items_and_long_items_shortened() -> None:
    rendering = render(["x" * 1_000, *range(100)], "xs", 300)
    assert "showing" in rendering.cut and "of 101 items" in rendering.cut
    assert "1 long item shortened to 300 characters" in rendering.cut
    assert within(rendering.text, 300)


def test_string_cut_says_how_many_characters() -> None:
    rendering = render("é" * 10_000, "s", 100)
    assert rendering.cut == "showing the first 320 of 10,000 characters"
    assert within(rendering.text, 100)


def test_exception_keeps_the_end_of_its_traceback() -> None:
    def deep(n: int) -> None:
        if n == 0:
            raise ValueError("details " * 300 + "the bottom")
        deep(n - 1)

    try:
        deep(5)
    except ValueError as error:
        caught = error
    rendering = render(caught, "e", 300)
    assert rendering.text.rstrip().endswith("details the bottom")
    assert rendering.cut.startswith("showing the last")
    assert within(rendering.text, 300)


def test_functions_and_classes_render_their_source() -> None:
    rendering = render(within, "within")
    assert rendering.text.startswith("```python\ndef within(text: str, tokens: int)")
    rendering = render(Budgets, "Budgets")
    assert "class Budgets" in rendering.text


def test_repr_llm_wins_and_repr_is_the_fallback() -> None:
    class Custom:
        def _repr_llm_(self) -> str:
            return "a custom rendering"

    class Plain:
        def __repr__(self) -> str:
            return "Plain(" + "z" * 5_000 + ")"

    assert render(Custom(), "c").text == "a custom rendering"
    rendering = render(Plain(), "p", 100)
    assert rendering.text.startswith("Plain: Plain(zzz")
    assert rendering.cut == "showing the first 300 of 5,007 characters of its repr"


def test_the_prompt_budget_leaves_out_what_does_not_fit() -> None:
    namespace = {f"t{i}": "w" * 4_000 for i in range(4)}
    prompt = build_prompt(
        "Compare {t0}, {t1}, {t2} and {t3}.",
        namespace=namespace,
        budgets=Budgets(variable_tokens=1_000, context_tokens=2_100),
    )
    sections = prompt.text.split("### ")[1:]
    assert len(sections) == 4
    assert sum(len(s) for s in sections[:2]) <= 2 * 1_000 * CHARS_PER_TOKEN + 20
    assert "left out: the 2,100-token budget for notebook values" in sections[3]
    assert sections[2].count("w") < 4_000 and "[cut:" in sections[2]


def test_var_flag_and_references_reach_the_model(
    kimi_shell: Any, emulator: Emulator, validate_request: Any
) -> None:
    kimi_shell.run_cell(
        "import numpy as np\nimport pandas as pd\n"
        "sales = pd.DataFrame({'q': range(1000)})\nweights = np.ones(5)\n"
        "label = 'Q3'"
    )
    result = kimi_shell.run_cell("%kimi -v weights --var sales Compare quarter {label}.")
    assert result.error_in_exec is None
    text = emulator.requests[-1]["json"]["messages"][-1]["content"]
    assert text.startswith("Compare quarter Q3.")
    assert "### weights\nnumpy array, shape (5,)" in text
    assert "### sales\npandas DataFrame with 1,000 rows and 1 columns" in text
    assert "[cut: showing 10 of 1,000 rows (head and tail)]" in text
    validate_request(emulator.requests[-1]["json"])


def test_budgets_are_configurable(kimi_shell: Any, emulator: Emulator) -> None:
    kimi_shell.run_cell("long_text = 'abc ' * 5000")
    kimi_shell.run_cell("%config KimiMagics.variable_tokens = 100")
    kimi_shell.run_cell("%kimi Summarise {long_text}")
    text = emulator.requests[-1]["json"]["messages"][-1]["content"]
    section = text.split("### long_text\n", 1)[1]
    assert len(section) <= 100 * CHARS_PER_TOKEN
    assert "[cut: showing the first 320 of 20,000 characters]" in section


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda: pd.DataFrame([[1, 2], [3, 4]], columns=["a", "a"]), id="duplicate-cols"
        ),
        pytest.param(
            lambda: pd.DataFrame(
                np.ones((3, 2)), columns=pd.MultiIndex.from_tuples([("x", "1"), ("x", "2")])
            ),
            id="multiindex-cols",
        ),
        pytest.param(lambda: pd.DataFrame(), id="empty"),
        pytest.param(
            lambda: pd.DataFrame(
                {"t": pd.date_range("2020", periods=30), "c": pd.Categorical(["u", "v"] * 15)}
            ),
            id="dates-cats",
        ),
        pytest.param(lambda: pd.DataFrame({"o": [{"a": 1}, None, [1, 2]]}), id="objects"),
        pytest.param(lambda: pd.DataFrame(np.zeros((3, 50))), id="wide"),
        pytest.param(lambda: np.array([np.nan, np.nan]), id="all-nan"),
        pytest.param(lambda: np.zeros((2, 2), dtype=bool), id="bool-array"),
        pytest.param(lambda: np.array(["a", "b"]), id="str-array"),
    ],
)
def test_awkward_values_render_within_budget(make: Any) -> None:
    rendering = render(make(), "v", 300)
    assert rendering.text and within(rendering.text, 300)


def test_a_value_whose_repr_raises_is_described_not_fatal() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise ValueError("repr is broken")

    rendering = render(Broken(), "b")
    assert rendering.text == "<Broken object: its rendering raised ValueError: repr is broken>"
    assert rendering.cut
