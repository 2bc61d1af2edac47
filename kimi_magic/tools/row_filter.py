"""The row filter of `dataframe_rows`: the model's condition, parsed and checked, never evaluated.

Hand-written on purpose: `DataFrame.query`, `DataFrame.eval`, `eval` and numexpr all evaluate
the text they get, and pandas' own parser follows attribute chains and calls (a query that
starts from a column can reach `os`). Here the text is parsed with `ast` into a small grammar,
every node is checked, and the condition is computed with vectorized pandas operations on the
named columns only (no copy of the frame):

- column names (`age`, or `` `unit price` `` for a label with spaces) and literals (numbers,
  strings, True, False, None);
- comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`, chained), `and`, `or`, `not`,
  `in` / `not in` a literal list or tuple;
- arithmetic (`+ - * / // %`, unary `-`) on numeric columns and numbers;
- the named tests in TESTS (`col.isna()`, `col.str.contains('x')`, ...), each mapped here to a
  pandas operation; the model's text never names a method that is looked up.

Anything else is refused with a FilterRefused saying what is allowed and naming the columns.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

MAX_CHARS = 2_000
MAX_NODES = 300
LIST_ITEMS = 1_000

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
# Named tests: `col.NAME()` and `col.str.NAME(...)`. Strings match as text, never as a regex.
_NULL_TESTS: dict[str, Callable[[Any], Any]] = {
    "isna": lambda s: s.isna(),
    "isnull": lambda s: s.isna(),
    "notna": lambda s: s.notna(),
    "notnull": lambda s: s.notna(),
}
_STR_TESTS: dict[str, Callable[[Any, str], Any]] = {
    "contains": lambda s, text: s.str.contains(text, regex=False, na=False),
    "startswith": lambda s, text: s.str.startswith(text, na=False),
    "endswith": lambda s, text: s.str.endswith(text, na=False),
}
_STR_VALUES: dict[str, Callable[[Any], Any]] = {
    "len": lambda s: s.str.len(),
    "lower": lambda s: s.str.lower(),
    "upper": lambda s: s.str.upper(),
    "strip": lambda s: s.str.strip(),
}
TESTS = (
    "col.isna(), col.notna(), col.str.contains('text'), col.str.startswith('text'), "
    "col.str.endswith('text'), col.str.len(), col.str.lower(), col.str.upper(), col.str.strip()"
)
GRAMMAR = (
    "A filter may use column names (backticks for names with spaces: `unit price`), numbers, "
    "strings, True/False/None, comparisons (== != < <= > >=), and/or/not, `in` / `not in` a "
    f"list of literals, arithmetic (+ - * / // %) on numeric columns, and {TESTS}"
)
# Backticked column labels, found outside string literals.
_TOKENS = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`(?P<label>[^`]+)`""")
_LABEL_NAME = "kimi_column_{}"


class FilterRefused(ValueError):
    """A filter outside the grammar; the message says what is allowed and names the columns."""


def row_mask(frame: Any, text: str) -> Any:
    """A boolean numpy array: which rows of `frame` the filter `text` keeps."""
    import numpy as np
    from pandas.api.types import is_bool_dtype

    condition = _Filter(frame, text)
    result = condition.evaluate()
    if isinstance(result, bool):
        return np.full(len(frame), result)
    if not hasattr(result, "dtype") or not is_bool_dtype(result.dtype):
        raise condition.refuse("it gives values, not a condition (a True/False per row)")
    return result.to_numpy(dtype=bool, na_value=False)


def column_positions(frame: Any, picks: Sequence[Any]) -> list[int]:
    """The positions of the picked columns, each an existing column label given as a literal."""
    positions: list[int] = []
    labels = list(frame.columns)
    for pick in picks:
        found = [i for i, label in enumerate(labels) if label == pick or str(label) == pick]
        if not isinstance(pick, str) or not found:
            raise FilterRefused(
                f"There is no column {pick!r}; pick columns by their exact names. "
                f"The columns are {_shown(labels)}."
            )
        positions.extend(i for i in found if i not in positions)
    return positions


def _shown(labels: list[Any]) -> str:
    if len(labels) > 60:
        return ", ".join(map(repr, labels[:60])) + f", ... ({len(labels):,} in all)"
    return ", ".join(map(repr, labels))


class _Filter:
    """One filter, parsed and checked against one frame's columns."""

    def __init__(self, frame: Any, text: str) -> None:
        self.frame = frame
        self.text = text
        self.labels: dict[str, Any] = {}
        if len(text) > MAX_CHARS:
            raise self.refuse(f"it is longer than {MAX_CHARS:,} characters")
        try:
            self.tree = ast.parse(self._named_labels(text).strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise self.refuse(
                "it is not a single expression (an assignment or a statement?)"
            ) from None
        if sum(1 for _ in ast.walk(self.tree)) > MAX_NODES:
            raise self.refuse(f"it has more than {MAX_NODES} parts")

    def _named_labels(self, text: str) -> str:
        def name(match: re.Match[str]) -> str:
            label = match.group("label")
            if label is None:
                return match.group(0)
            placeholder = _LABEL_NAME.format(len(self.labels))
            self.labels[placeholder] = label
            return placeholder

        return _TOKENS.sub(name, text)

    def refuse(self, why: str) -> FilterRefused:
        shown = self.text if len(self.text) <= 200 else self.text[:200] + "…"
        return FilterRefused(
            f"The filter {shown!r} was refused: {why}. {GRAMMAR}. "
            f"The columns are {_shown(list(self.frame.columns))}."
        )

    def evaluate(self) -> Any:
        try:
            return self._node(self.tree.body)
        except FilterRefused:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as error:
            raise self.refuse(
                f"pandas could not compute it ({type(error).__name__}: {error})"
            ) from None

    # -- the grammar --------------------------------------------------------------------------

    def _node(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return self._literal(node)
        if isinstance(node, ast.Name):
            return self._column(node.id)
        if isinstance(node, ast.BoolOp):
            parts = [self._node(v) for v in node.values]
            combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
            result = parts[0]
            for part in parts[1:]:
                result = combine(result, part)
            return result
        if isinstance(node, ast.UnaryOp):
            operand = self._node(node.operand)
            if isinstance(node.op, ast.Not):
                return (not operand) if isinstance(operand, bool) else ~operand
            if isinstance(node.op, ast.USub):
                return -self._number(operand, node)
            if isinstance(node.op, ast.UAdd):
                return self._number(operand, node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            left = self._number(self._node(node.left), node.left)
            right = self._number(self._node(node.right), node.right)
            return _ARITHMETIC[type(node.op)](left, right)
        if isinstance(node, ast.Call):
            return self._test(node)
        raise self.refuse(f"{_describe(node)} is not allowed")

    def _literal(self, node: ast.Constant) -> Any:
        if node.value is None or isinstance(node.value, (bool, int, float, str)):
            return node.value
        raise self.refuse(f"the literal {node.value!r} is not a number, string, bool or None")

    def _column(self, name: str) -> Any:
        label: Any = self.labels.get(name, name)
        if label not in self.frame.columns:
            matches = [c for c in self.frame.columns if str(c) == label]
            if not matches:
                raise self.refuse(f"{label!r} is not a column")
            label = matches[0]
        column = self.frame[label]
        if getattr(column, "ndim", 1) != 1:
            raise self.refuse(f"{label!r} names more than one column")
        return column

    def _number(self, value: Any, node: ast.AST) -> Any:
        from pandas.api.types import is_numeric_dtype

        plain_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not plain_number and not (hasattr(value, "dtype") and is_numeric_dtype(value.dtype)):
            raise self.refuse(
                f"arithmetic is for numeric columns and numbers, not {ast.unparse(node)!r}"
            )
        return value

    def _compare(self, node: ast.Compare) -> Any:
        result: Any = True
        left = self._node(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.In, ast.NotIn)):
                right = self._literal_list(right_node)
                if not hasattr(left, "isin"):
                    raise self.refuse("the left side of `in` must be a column")
                part = left.isin(right)
                part = ~part if isinstance(op, ast.NotIn) else part
            elif type(op) in _COMPARE:
                right = self._node(right_node)
                part = _COMPARE[type(op)](left, right)
                left = right
            else:
                raise self.refuse(f"the comparison {_describe(op)} is not allowed")
            result = part if result is True else result & part
        return result

    def _literal_list(self, node: ast.AST) -> list[Any]:
        if not isinstance(node, (ast.List, ast.Tuple)) or len(node.elts) > LIST_ITEMS:
            raise self.refuse(f"`in` takes a list of at most {LIST_ITEMS:,} literals: [1, 2]")
        values = []
        for item in node.elts:
            if isinstance(item, ast.UnaryOp) and isinstance(item.op, ast.USub):
                inner = item.operand
                if isinstance(inner, ast.Constant) and isinstance(inner.value, (int, float)):
                    values.append(-inner.value)
                    continue
            if not isinstance(item, ast.Constant):
                raise self.refuse(f"`in` takes literals only, not {ast.unparse(item)!r}")
            values.append(self._literal(item))
        return values

    def _test(self, node: ast.Call) -> Any:
        func = node.func
        if not isinstance(func, ast.Attribute) or node.keywords:
            raise self.refuse(f"the call {ast.unparse(node)!r} is not one of the named tests")
        if isinstance(func.value, ast.Name) and func.attr in _NULL_TESTS and not node.args:
            return _NULL_TESTS[func.attr](self._column(func.value.id))
        target = func.value
        if (
            isinstance(target, ast.Attribute)
            and target.attr == "str"
            and isinstance(target.value, ast.Name)
        ):
            column = self._column(target.value.id)
            if func.attr in _STR_VALUES and not node.args:
                return _STR_VALUES[func.attr](column)
            if (
                func.attr in _STR_TESTS
                and len(node.args) == 1
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                return _STR_TESTS[func.attr](column, node.args[0].value)
        raise self.refuse(f"the call {ast.unparse(node)!r} is not one of the named tests")


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "an attribute",
        ast.Subscript: "indexing",
        ast.Lambda: "a lambda",
        ast.NamedExpr: "an assignment",
        ast.MatMult: "`@`",
        ast.Pow: "`**`",
        ast.Is: "`is`",
        ast.IsNot: "`is not`",
    }
    for kind, text in kinds.items():
        if isinstance(node, kind):
            return text
    try:
        return repr(ast.unparse(node))
    except Exception:  # an operator node has no source of its own
        return type(node).__name__
