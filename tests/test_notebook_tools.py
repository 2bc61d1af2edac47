"""The read-only notebook tools, called as the model would call them, in a real IPython shell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from kimi_magic.core.types import ToolCall
from kimi_magic.prompt.context import NotebookContext
from kimi_magic.tools.notebook_tools import NotebookTools
from kimi_magic.tools.runner import run_one

pd = pytest.importorskip("pandas")


@pytest.fixture
def shell() -> Iterator[Any]:
    """A fresh in-process shell with the notebook context hooks installed."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    context = NotebookContext()
    context.install(ip)
    ip.kimi_test_context = context
    yield ip
    context.uninstall()
    ip.reset(new_session=True)


def call(shell: Any, tool: str, /, **arguments: Any) -> Any:
    tools = {t.name: t for t in NotebookTools(shell.user_ns, shell.kimi_test_context).tools()}
    return run_one(ToolCall("c1", tool, json.dumps(arguments)), tools)


def run(shell: Any, code: str) -> None:
    shell.run_cell(code, store_history=True)


def test_every_tool_is_read_only_with_a_schema() -> None:
    tools = NotebookTools({}, None).tools()
    assert [t.name for t in tools] == [
        "list_variables",
        "describe_variable",
        "dataframe_rows",
        "cell",
        "last_error",
        "cell_images",
    ]
    assert all(t.read_only and t.description for t in tools)
    rows = next(t for t in tools if t.name == "dataframe_rows").parameters
    assert rows["required"] == ["name"]
    assert rows["properties"]["query"]["description"].startswith("A filter on the columns")


def test_list_variables_names_types_and_shapes(shell: Any) -> None:
    run(
        shell,
        "import numpy as np, pandas as pd\ndf = pd.DataFrame({'x': range(5)})\n"
        "arr = np.zeros((3, 4))\nnames = ['a', 'b']\n_hidden = 1",
    )
    text = call(shell, "list_variables").text
    assert "| df | pandas.DataFrame | 5 x 1 |" in text
    assert "| arr | numpy.ndarray | 3 x 4 |" in text
    assert "| names | list | len 2 |" in text
    assert "_hidden" not in text and "| np |" not in text and "| In |" not in text


def test_describe_uses_the_bounded_rendering_and_paths(shell: Any) -> None:
    run(
        shell,
        "import pandas as pd\ndf = pd.DataFrame({'x': range(1000), 'y': 1.5})\ncfg = {'lr': 0.1}",
    )
    text = call(shell, "describe_variable", name="df").text
    assert "1000 rows" in text or "1,000 rows" in text
    assert call(shell, "describe_variable", name='cfg["lr"]').text == "0.1"
    missing = call(shell, "describe_variable", name="dff")
    assert (
        missing.error
        and "'dff' is not one of the notebook's variables" in missing.text
        and "Did you mean df?" in missing.text
    )


def test_dataframe_rows_slice_query_columns_and_cap(shell: Any) -> None:
    run(shell, "import pandas as pd\ndf = pd.DataFrame({'x': range(500), 'y': ['a', 'b'] * 250})")
    text = call(
        shell, "dataframe_rows", name="df", query="x > 100 and y == 'a'", columns=["x"]
    ).text
    assert text.startswith("199 rows match; rows 0 to 50 (positions):")
    assert "102" in text and " y" not in text
    sliced = call(shell, "dataframe_rows", name="df", start=10, stop=1000).text
    assert "rows 10 to 60" in sliced  # the row cap holds even when more is asked for
    not_frame = call(shell, "dataframe_rows", name="df.columns")
    assert not_frame.error and "not a pandas DataFrame" in not_frame.text


def test_cell_gives_source_result_error_and_images(shell: Any) -> None:
    pytest.importorskip("matplotlib")
    run(shell, "%matplotlib inline")
    run(shell, "41 + 1")
    run(shell, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")
    run(shell, "1 / 0")
    counts = {n: src for n, src in enumerate(shell.user_ns["In"])}
    result_cell = next(n for n, s in counts.items() if s == "41 + 1")
    plot_cell = next(n for n, s in counts.items() if "plt.plot" in s)
    error_cell = next(n for n, s in counts.items() if s == "1 / 0")

    result = call(shell, "cell", number=result_cell)
    assert "41 + 1" in result.text and "Result (Out[" in result.text and "42" in result.text
    failing = call(shell, "cell", number=error_cell)
    assert "ZeroDivisionError" in failing.text
    plotted = call(shell, "cell", number=plot_cell)
    assert len(plotted.images) == 1 and plotted.images[0].startswith("data:image/png")
    images = call(shell, "cell_images", number=plot_cell)
    assert images.images == plotted.images
    assert "ZeroDivisionError: division by zero" in call(shell, "last_error").text
    assert call(shell, "cell", number=999).error


def test_no_error_yet_is_said_plainly(shell: Any) -> None:
    assert (
        call(shell, "last_error").text == "No cell has raised an error since kimi_magic was loaded."
    )


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("dataframe_rows", {"name": "df", "query": "x = 5"}),
        ("dataframe_rows", {"name": "df", "query": "@__import__('os')"}),
        ("dataframe_rows", {"name": "df", "query": "x.__setitem__(0, 99) == 0"}),
        ("describe_variable", {"name": "df; del df"}),
        ("describe_variable", {"name": "df.pop('x')"}),
        ("describe_variable", {"name": "__builtins__"}),
        ("cell", {"number": "__import__('os')"}),
    ],
)
def test_attempts_to_change_the_namespace_fail(
    shell: Any, name: str, arguments: dict[str, Any]
) -> None:
    run(shell, "import pandas as pd\ndf = pd.DataFrame({'x': [1, 2, 3]})\nkept = df.copy()")
    before = set(shell.user_ns)
    call(shell, name, **arguments)
    assert set(shell.user_ns) == before
    assert shell.user_ns["df"].equals(shell.user_ns["kept"])
    assert list(shell.user_ns["df"].columns) == ["x"]


def test_cell_gives_what_it_printed_and_stdout_is_put_back(
    shell: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    before = sys.stdout
    run(shell, "for i in range(3):\n    print('line', i)")
    run(shell, "print('x' * 10_000)")
    assert sys.stdout is before  # the cell's tee is gone once it ended
    counts = {src: n for n, src in enumerate(shell.user_ns["In"])}
    looped = call(shell, "cell", number=counts["for i in range(3):\n    print('line', i)"])
    assert "It printed:" in looped.text and "line 0\nline 1\nline 2" in looped.text
    assert "line 2" in capsys.readouterr().out  # the user still saw every line
    long = call(shell, "cell", number=counts["print('x' * 10_000)"])
    assert "more characters not kept" in long.text and len(long.text) < 6_000


FILTERS = {
    "chained_comparison": ("1 < x <= 3", [2, 3]),
    "and_or_not": ("not (x > 3) and (name == 'ann' or name == 'cy')", [1, 3]),
    "in_a_list": ("name in ['bob', 'dee']", [2, 4]),
    "not_in_a_tuple": ("x not in (1, 2)", [3, 4]),
    "arithmetic": ("x * 2 - 1 >= 5 and -x < -3", [4]),
    "string_tests": ("name.str.startswith('d') or name.str.contains('o')", [2, 4]),
    "null_tests_and_len": ("name.notna() and name.str.len() == 2", [3]),
    "backticks": ("`unit price` > 2.5", [3, 4]),
    "bool_column": ("flag and x > 1", [3]),
}


@pytest.mark.parametrize(("query", "xs"), FILTERS.values(), ids=FILTERS.keys())
def test_the_filter_grammar_gives_the_right_rows(shell: Any, query: str, xs: list[int]) -> None:
    run(
        shell,
        "import pandas as pd\ndf = pd.DataFrame({'x': [1, 2, 3, 4], 'name': ['ann', 'bob', 'cy', "
        "'dee'], 'unit price': [1.0, 2.0, 3.0, 4.0], 'flag': [True, False, True, False]})",
    )
    result = call(shell, "dataframe_rows", name="df", query=query, columns=["x"]).text
    assert result.startswith(f"{len(xs)} rows match")
    assert [int(line.split()[-1]) for line in result.splitlines()[2:]] == xs


def test_a_user_object_in_a_cell_is_shown_by_its_type(shell: Any) -> None:
    run(
        shell,
        "import pandas as pd\nclass P:\n    def __repr__(self):\n        raise SystemExit('ran')\n"
        "df = pd.DataFrame({'p': [P()], 'x': [1]})",
    )
    assert "<__main__.P object>" in call(shell, "dataframe_rows", name="df").text
    assert "<__main__.P object>" in call(shell, "describe_variable", name="df").text
