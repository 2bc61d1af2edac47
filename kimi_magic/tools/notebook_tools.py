"""The built-in read-only notebook tools (`--tools notebook`): the model looks, never touches.

Each tool reads the namespace through a read-only view and runs none of the values' code:
names are the ones list_variables shows, looked up with the `{name}` path syntax read
statically (prompt/paths.py), a row filter is parsed into a small grammar and computed on the
named columns (row_filter.py), never evaluated, and renderings are the bounded `{name}` ones
in their static form (a user-defined object shows its fields, its repr is not called).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Mapping
from typing import Any

from ..core.constants import TOOL_TABLE_ROWS
from ..core.errors import KimiError
from ..core.secrets import MARKER, active_redactor, secret_key
from ..prompt.context import NotebookContext
from ..prompt.paths import is_user_variable, library_of
from .registry import Tool, tool_from_function
from .results import ToolOutput
from .row_filter import column_positions, row_mask

SOURCE = "notebook"


class NotebookTools:
    """The notebook tools bound to one namespace and the notebook's memory of outputs."""

    def __init__(self, namespace: Mapping[str, Any], context: NotebookContext | None) -> None:
        # A live read-only view: the tools see new variables, and cannot assign any.
        self._namespace: Mapping[str, Any] = types.MappingProxyType(namespace)  # type: ignore[arg-type]
        self._context = context

    def tools(self) -> list[Tool]:
        """Each tool, ready for a request's `tools` list."""
        functions: list[Callable[..., Any]] = [
            self.list_variables,
            self.describe_variable,
            self.dataframe_rows,
            self.cell,
            self.last_error,
            self.cell_images,
        ]
        return [tool_from_function(f, read_only=True, source=SOURCE) for f in functions]

    # -- the tools (their docstrings are what the model reads) --------------------------------

    def list_variables(self) -> str:
        """List the user's variables in the notebook: name, type and shape or length."""
        rows = ["| name | type | shape |", "|---|---|---|"]
        for name, value in self._namespace.items():
            if not is_user_variable(name, value):
                continue
            rows.append(f"| {name} | {_type_name(value)} | {_shape(value)} |")
        if len(rows) == 2:
            return "The notebook defines no variables yet."
        return "\n".join(rows)

    def describe_variable(self, name: str) -> str:
        """Describe one variable: for tables the shape, columns, types, nulls, first and last
        rows and summary statistics; for other values a bounded rendering.

        Args:
            name: A variable name, optionally with attributes, keys or indexes (df.columns,
                data["key"], items[0]); nothing is called.
        """
        from ..prompt.variables import render

        return render(self._lookup(name), name, static=True).text

    def dataframe_rows(
        self,
        name: str,
        start: int = 0,
        stop: int | None = None,
        query: str | None = None,
        columns: list[str] | None = None,
    ) -> str:
        """Rows of a pandas DataFrame: a slice by position, optionally filtered first, at most
        50 rows.

        Args:
            name: The DataFrame's variable name.
            start: First row position (after the filter), from 0.
            stop: Row position to stop before; default start + 50.
            query: A filter on the columns, like "age > 30 and city == 'Paris'": column names
                (`unit price` in backticks), literals, comparisons, and/or/not, `in [..]`,
                arithmetic, col.isna(), col.notna(), col.str.contains('x'),
                col.str.startswith('x'), col.str.endswith('x'). Nothing else is evaluated.
            columns: Only these columns, by their exact names.
        """
        frame = self._lookup(name)
        if library_of(frame) != "pandas" or type(frame).__name__ != "DataFrame":
            raise TypeError(f"{name} is a {_type_name(frame)}, not a pandas DataFrame.")
        # The frame is read, never copied: a mask, then only the rows and columns shown.
        picked = column_positions(frame, columns) if columns else slice(None)
        stop = start + TOOL_TABLE_ROWS if stop is None else min(stop, start + TOOL_TABLE_ROWS)
        if query:
            matching = row_mask(frame, query).nonzero()[0]
            total = len(matching)
            shown = frame.iloc[matching[start:stop], picked]
        else:
            total = len(frame)
            shown = frame.iloc[start:stop, picked]
        head = f"{total:,} rows match" if query else f"{total:,} rows"
        from ..prompt.static_view import cell_text

        table = shown.map(cell_text) if shown.dtypes.eq(object).any() else shown
        redactor = active_redactor()
        hidden = [c for c in table.columns if redactor.by_name and secret_key(str(c))]
        if hidden:  # as in `{df}`: a `password` column's cells are not shown
            table = table.astype({c: object for c in hidden})
            table.loc[:, hidden] = MARKER.format("secret column")
        return f"{head}; rows {start} to {start + len(shown)} (positions):\n{table.to_string()}"

    def cell(self, number: int) -> ToolOutput:
        """The source of notebook cell `number` (its execution count, In[number]), what it
        printed, its result, the error it raised and the images it displayed.

        Args:
            number: The execution count shown as [n] beside the cell.
        """
        sources = self._namespace.get("In") or []
        if not 0 < number < len(sources):
            raise IndexError(
                f"there is no cell {number}; cells run so far: 1 to {len(sources) - 1}"
            )
        parts = [f"Cell {number} source:\n```python\n{sources[number]}\n```"]
        printed = self._context.printed.of(number) if self._context is not None else ""
        if printed:
            parts.append(f"It printed:\n```\n{printed.rstrip()}\n```")
        outputs = self._namespace.get("Out") or {}
        if number in outputs:
            from ..prompt.variables import render

            parts.append(f"Result (Out[{number}]):\n{render(outputs[number], static=True).text}")
        error = self._error_of(number)
        if error:
            parts.append(error)
        images = self._images_of(number)
        if images:
            parts.append(f"It displayed {len(images)} image(s), attached.")
        return ToolOutput("\n\n".join(parts), images=images)

    def last_error(self) -> str:
        """The last error a cell raised: the cell's source, the traceback and the values on the
        failing line."""
        if self._context is None:
            return "This kernel does not record errors (kimi_magic is not loaded as an extension)."
        try:
            return str(self._context.errors.last()._repr_llm_())
        except KimiError:
            return "No cell has raised an error since kimi_magic was loaded."

    def cell_images(self, number: int) -> ToolOutput:
        """The images (plots, pictures) notebook cell `number` displayed.

        Args:
            number: The execution count shown as [n] beside the cell.
        """
        images = self._images_of(number)
        if not images:
            return ToolOutput(f"Cell {number} displayed no image that is remembered.")
        return ToolOutput(f"Cell {number} displayed {len(images)} image(s):", images=images)

    # -- helpers ------------------------------------------------------------------------------

    def _lookup(self, expression: str) -> Any:
        from ..prompt.interpolate import MissingReference, resolve

        head = expression.split(".")[0].split("[")[0].strip()
        if head not in self._namespace or not is_user_variable(head, self._namespace[head]):
            names = [n for n, v in self._namespace.items() if is_user_variable(n, v)]
            close = difflib.get_close_matches(head, names, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise NameError(
                f"{head!r} is not one of the notebook's variables (list_variables names "
                f"them).{hint}"
            )
        try:
            return resolve(expression.strip(), self._namespace, heads=is_user_variable)
        except MissingReference as error:
            reason = str(error).split(" Fix the reference")[0].split(", but ", 1)[-1]
            raise LookupError(reason) from None

    def _error_of(self, number: int) -> str:
        if self._context is None or number not in self._context.errors.by_cell:
            return ""
        return f"It raised:\n{self._context.errors[number]._repr_llm_()}"

    def _images_of(self, number: int) -> list[Any]:
        if self._context is None:
            return []
        return [s.image().data for s in self._context.images.shown if s.execution_count == number]


def _type_name(value: Any) -> str:
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


def _shape(value: Any) -> str:
    """The shape of a pandas, numpy or polars value, the length of a builtin container; read
    with no code of a user-defined class run."""
    if library_of(value) in ("pandas", "numpy", "polars"):
        shape = getattr(value, "shape", None)
        if isinstance(shape, tuple):
            return " x ".join(f"{n:,}" if isinstance(n, int) else str(n) for n in shape)
    if type(value) in (str, bytes, list, tuple, dict, set, frozenset):
        return f"len {len(value):,}"
    return ""
