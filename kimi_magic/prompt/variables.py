"""Renderings of notebook values for a prompt, chosen by type, each within a token budget.

Every rendering that leaves something out says exactly what ("showing 10 of 50,000 rows").
pandas, numpy and polars are imported only when a value of theirs is met.
"""

from __future__ import annotations

import inspect
import itertools
import json
import traceback
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..core.constants import (
    CHARS_PER_TOKEN,
    RENDER_SECONDS,
    SEQUENCE_ITEMS,
    TABLE_ROWS,
    VARIABLE_TOKENS,
)
from ..core.secrets import (
    MARKER,
    MIN_SECRET_CHARS,
    active_redactor,
    path_marker,
    redact_then,
    redacting,
    scrub,
    secret_key,
    secret_step,
)
from ..core.tokens import text_tokens
from .paths import library_of
from .static_view import cell_text, is_known, plain, render_object
from .time_budget import TooSlow, within

ITEM_CHARS = 300  # one item of a list or dict, as compact JSON
NOTE_RESERVE = 160  # room kept for the "[cut: ...]" line when shrinking a table
_PLAIN_INFERRED = frozenset(
    {"string", "empty", "bytes", "integer", "floating", "mixed-integer-float", "boolean"}
)
_SECRET_CELL = MARKER.format("secret column")


@dataclass(frozen=True)
class Rendering:
    """What the model reads for one value; `cut` says what was left out ('' when nothing)."""

    name: str
    text: str
    cut: str = ""

    @property
    def tokens(self) -> int:
        return text_tokens(self.text)


def render(
    value: Any,
    name: str = "",
    max_tokens: int = VARIABLE_TOKENS,
    seconds: float = RENDER_SECONDS,
    *,
    static: bool = False,
) -> Rendering:
    """`value` rendered by its type, at most `max_tokens` tokens and `seconds` seconds, with a
    note of what was cut; `static` runs none of the value's own code (the model's tools).
    Secrets are redacted before anything is cut (see core/secrets.py), and a value under a
    secret-looking name in its path (`creds.db_password`) is not shown."""
    redactor = active_redactor()
    if redactor.by_name and name and secret_step(name):
        return Rendering(name, path_marker(name))
    max_chars = max(max_tokens * CHARS_PER_TOKEN, 80)
    renderer = _static_renderer_for(value) if static else _renderer_for(value)
    try:
        with redacting(redactor):
            text, cut = within(seconds, renderer, value, max_chars)
    except TooSlow:
        cut = f"its rendering took longer than {seconds:g} s, so it was cut off"
        text = f"<{type(value).__name__} object: {cut}>"
    except Exception as error:  # the value's own repr / _repr_llm_ failed: say so, don't crash
        cut = f"its rendering raised {type(error).__name__}: {error}"
        text = f"<{type(value).__name__} object: {cut}>"
    text = redactor.redact(text).text  # whole, before the budget's cut
    if len(text) > max_chars:  # a renderer's own cut can still overshoot; hold the budget
        text, cut = _clip(text, max_chars, cut)
    return Rendering(name, text, cut)


def _renderer_for(value: Any) -> Callable[[Any, int], tuple[str, str]]:
    llm = getattr(type(value), "_repr_llm_", None)
    if callable(llm):
        return _render_llm
    module = type(value).__module__.split(".")[0]
    kind = type(value).__name__
    if module == "pandas" and kind in ("DataFrame", "Series"):
        return _render_pandas
    if module == "numpy" and kind == "ndarray":
        return _render_numpy
    if module == "polars" and kind in ("DataFrame", "Series", "LazyFrame"):
        return _render_polars
    if isinstance(value, BaseException):
        return _render_exception
    if isinstance(value, str):
        return _render_str
    if isinstance(value, (bytes, bytearray)):
        return _render_bytes
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return _render_container
    if inspect.isfunction(value) or inspect.isclass(value) or inspect.ismethod(value):
        return _render_source
    return _render_repr


def _static_renderer_for(value: Any) -> Callable[[Any, int], tuple[str, str]]:
    """Library code only: a value of an unknown type is shown by its fields (static_view)."""
    kind = type(value)
    library = library_of(value)
    if library == "kimi_magic" and callable(getattr(kind, "_repr_llm_", None)):
        return _render_llm
    if library == "pandas" and kind.__name__ in ("DataFrame", "Series"):
        return _render_pandas
    if library == "numpy" and kind.__name__ == "ndarray" and value.dtype != object:
        return _render_numpy
    if library == "polars" and kind.__name__ in ("DataFrame", "Series", "LazyFrame"):
        return _render_polars
    if library == "builtins":
        if isinstance(value, BaseException):
            return _render_exception
        if kind is str:
            return _render_str
        if kind in (bytes, bytearray):
            return _render_bytes
        if kind in (dict, list, tuple, set, frozenset):
            return _render_static_container
        if kind in (int, float, bool, complex, type(None)):
            return _render_repr
    if kind is types.FunctionType or kind is type:
        return _render_source
    if is_known(value) and library != "builtins":
        return _render_repr
    return render_object


# -- cutting -----------------------------------------------------------------------------------


def _clip(text: str, max_chars: int, earlier: str = "") -> tuple[str, str]:
    note = f"showing the first {max_chars:,} of {len(text):,} characters"
    cut = f"{earlier}; {note}" if earlier else note
    return text[: max_chars - len(cut) - 8].rstrip() + f"\n[cut: {cut}]", cut


def _with_note(text: str, cut: str) -> tuple[str, str]:
    return (f"{text}\n[cut: {cut}]" if cut else text), cut


# -- by type -----------------------------------------------------------------------------------


def _render_llm(value: Any, max_chars: int) -> tuple[str, str]:
    return str(value._repr_llm_()), ""


def _render_str(value: str, max_chars: int) -> tuple[str, str]:
    value = redact_then(value)
    if len(value) <= max_chars:
        return value, ""
    keep = max_chars - 80
    cut = f"showing the first {keep:,} of {len(value):,} characters"
    return _with_note(value[:keep], cut)


def _render_bytes(value: bytes | bytearray, max_chars: int) -> tuple[str, str]:
    shown = bytes(value[:64])
    cut = f"showing the first {len(shown)} of {len(value):,} bytes" if len(value) > 64 else ""
    return _with_note(f"{type(value).__name__} of length {len(value):,}: {shown!r}", cut)


def _render_repr(value: Any, max_chars: int) -> tuple[str, str]:
    text = repr(value)
    if type(value) in (int, float, bool, complex, type(None)):
        return text, ""  # the repr already says the type
    text = redact_then(text)
    if len(text) <= max_chars:
        return f"{type(value).__name__}: {text}", ""
    keep = max_chars - 100
    cut = f"showing the first {keep:,} of {len(text):,} characters of its repr"
    return _with_note(f"{type(value).__name__}: {text[:keep]}", cut)


def _render_exception(value: BaseException, max_chars: int) -> tuple[str, str]:
    lines = traceback.format_exception(type(value), value, value.__traceback__)
    text = redact_then("".join(lines).rstrip())
    if len(text) <= max_chars:
        return text, ""
    # The end of a traceback (the innermost frames and the message) matters most.
    keep = max_chars - 100
    cut = f"showing the last {keep:,} of {len(text):,} characters of the traceback"
    return f"[cut: {cut}]\n…{text[-keep:]}", cut


def _render_source(value: Any, max_chars: int) -> tuple[str, str]:
    try:
        source = inspect.getsource(value)
    except (OSError, TypeError):
        try:
            signature = str(inspect.signature(value))
        except (TypeError, ValueError):
            signature = ""
        doc = inspect.getdoc(value) or ""
        return _render_str(
            f"{getattr(value, '__qualname__', value)}{signature}\n{doc}".strip(), max_chars
        )
    source = redact_then(source)
    text = f"```python\n{source.rstrip()}\n```"
    if len(text) <= max_chars:
        return text, ""
    lines = source.splitlines()
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > max_chars - 120:
            break
        kept.append(line)
        size += len(line) + 1
    cut = f"showing the first {len(kept):,} of {len(lines):,} lines of source"
    return _with_note("```python\n" + "\n".join(kept) + "\n```", cut)


def _render_static_container(value: Any, max_chars: int) -> tuple[str, str]:
    """A builtin container whose first items are copied by `plain` (no item's code runs)."""
    kind = type(value)
    total = len(value)  # an exact builtin type: its own C length
    if kind is dict:
        head = itertools.islice(dict.items(value), SEQUENCE_ITEMS)
        shown: Any = {k if type(k) is str else str(plain(k, 0)): plain(v) for k, v in head}
    else:
        shown = [plain(v) for v in itertools.islice(iter(value), SEQUENCE_ITEMS)]
        if kind in (set, frozenset):
            shown.sort(key=repr)
    return _render_container(shown, max_chars, total=total, label=kind.__name__)


def _render_container(
    value: Any, max_chars: int, total: int | None = None, label: str = ""
) -> tuple[str, str]:
    """Pretty JSON-like text; the longest prefix of items that fits, and how many that is."""
    label = label or type(value).__name__
    value = scrub(value)  # a `password` key's value, at any depth, is not shown
    items = list(value.items()) if isinstance(value, Mapping) else list(value)
    if isinstance(value, (set, frozenset)):
        items = sorted(items, key=repr)
    noun = "keys" if isinstance(value, Mapping) else "items"
    total = len(items) if total is None else total
    if total == 1:
        noun = noun[:-1]
    count = min(len(items), SEQUENCE_ITEMS)
    while True:
        shown = dict(items[:count]) if isinstance(value, Mapping) else items[:count]
        body, shortened = _pretty(shown)
        cut = f"showing {count:,} of {total:,} {noun}" if count < total else ""
        if shortened:
            plural = noun if shortened > 1 else noun.rstrip("s")
            long = f"{shortened:,} long {plural} shortened to {ITEM_CHARS} characters"
            cut = f"{cut}; {long}" if cut else long
        text = f"{label} with {total:,} {noun}:\n{body}"
        if len(text) + len(cut) + 10 <= max_chars or count <= 1:
            return _with_note(text, cut)
        count = max(1, count // 2) if count > 8 else count - 1


def _pretty(value: Any) -> tuple[str, int]:
    """One line per item, each as compact JSON (repr where JSON cannot say it), and how many
    items had to be shortened to ITEM_CHARS."""
    shortened = 0

    def one(item: Any) -> str:
        nonlocal shortened
        try:
            text = json.dumps(item, ensure_ascii=False, default=_short_repr)
        except (TypeError, ValueError):  # circular values, keys that are not strings
            text = repr(item)
        text = redact_then(text)
        if len(text) > ITEM_CHARS:
            shortened += 1
            text = text[:ITEM_CHARS] + "…"
        return text

    if isinstance(value, dict):
        lines = [
            f"  {one(str(key) if not isinstance(key, str) else key)}: {one(item)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(lines) + "\n}", shortened
    lines = [f"  {one(item)}" for item in value]
    return "[\n" + ",\n".join(lines) + "\n]", shortened


def _short_repr(value: Any) -> str:
    text = redact_then(repr(value))
    return text if len(text) <= 200 else text[:200] + "…"


# -- tables and arrays -----------------------------------------------------------------------


def _markdown_table(columns: list[str], rows: list[list[Any]], index: list[Any] | None) -> str:
    """Rows as a markdown table; a column whose name looks secret shows a marker instead."""
    redactor = active_redactor()
    hidden = {i for i, c in enumerate(columns) if redactor.by_name and secret_key(str(c))}

    def cell(value: Any) -> str:
        text = f"{value:.6g}" if isinstance(value, float) else cell_text(value)
        if len(text) >= MIN_SECRET_CHARS:  # whole, before the cell's cut
            text = redactor.redact(text).text
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 40 else text[:39] + "…"

    header = ([""] if index is not None else []) + [cell(c) for c in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for position, row in enumerate(rows):
        lead = [cell(index[position])] if index is not None else []
        shown = [_SECRET_CELL if i in hidden else cell(v) for i, v in enumerate(row)]
        lines.append("| " + " | ".join(lead + shown) + " |")
    return "\n".join(lines)


def _render_pandas(value: Any, max_chars: int) -> tuple[str, str]:
    frame = value.to_frame() if type(value).__name__ == "Series" else value
    kind = type(value).__name__
    rows, cols = frame.shape
    max_cols = 20
    notes: list[str] = []
    if cols > max_cols:
        frame = frame.iloc[:, :max_cols]
        notes.append(f"showing {max_cols} of {cols:,} columns")
    parts = [f"pandas {kind} with {rows:,} rows and {cols:,} columns"]
    # Positional, so duplicate column names cannot turn a lookup into a Series.
    nulls = frame.isna().sum().tolist()
    parts.append(
        "Columns (dtype, nulls): "
        + ", ".join(
            f"{cell_text(c)} ({t}, {int(n):,})"
            for c, t, n in zip(frame.columns, frame.dtypes.tolist(), nulls, strict=True)
        )
    )
    table, shown = _pandas_head_tail(frame, TABLE_ROWS)
    if shown < rows:
        notes.append(f"showing {shown:,} of {rows:,} rows (head and tail)")
    parts.append(table)
    describe = _pandas_describe(frame)
    if describe:
        parts.append("describe():\n" + describe)
    text = "\n\n".join(parts)
    while len(text) + NOTE_RESERVE > max_chars and len(parts) > 2:
        # Drop describe() first, then halve the rows, keeping the shape and dtypes.
        if describe and parts[-1].startswith("describe():"):
            parts.pop()
            notes.append("describe() left out")
            describe = ""
        else:
            limit = max(2, shown // 2) if shown > 2 else 0
            if limit == 0:
                break
            table, new_shown = _pandas_head_tail(frame, limit)
            notes = [n for n in notes if "rows" not in n]
            notes.append(f"showing {new_shown:,} of {rows:,} rows (head and tail)")
            parts[2] = table
            if new_shown == shown:
                break
            shown = new_shown
        text = "\n\n".join(parts)
    return _with_note(text, "; ".join(notes))


def _pandas_head_tail(frame: Any, limit: int) -> tuple[str, int]:
    rows = len(frame)
    if rows <= limit:
        part = frame
    else:
        import pandas as pd

        half = max(1, limit // 2)
        part = pd.concat([frame.head(half), frame.tail(half)])
    values = part.astype(object).values.tolist()
    return _markdown_table([cell_text(c) for c in part.columns], values, list(part.index)), len(
        part
    )


def _pandas_describe(frame: Any) -> str:
    if frame.shape[1] == 0 or len(frame) == 0:
        return ""
    from pandas.api.types import infer_dtype

    # Objects of other types are hashed and compared by describe(): their code would run.
    plain_columns = [
        i
        for i, dtype in enumerate(frame.dtypes.tolist())
        if str(dtype) != "object" or infer_dtype(frame.iloc[:, i], skipna=True) in _PLAIN_INFERRED
    ]
    if not plain_columns:
        return ""
    try:
        part = frame if len(plain_columns) == frame.shape[1] else frame.iloc[:, plain_columns]
        described = part.describe()
    except (TypeError, ValueError):
        return ""
    rounded = described.map(_round) if hasattr(described, "map") else described
    values = rounded.astype(object).values.tolist()
    return _markdown_table([str(c) for c in described.columns], values, list(described.index))


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _render_numpy(value: Any, max_chars: int) -> tuple[str, str]:
    import numpy as np

    parts = [f"numpy array, shape {value.shape}, dtype {value.dtype}, {value.size:,} elements"]
    if (
        value.size
        and np.issubdtype(value.dtype, np.number)
        and not np.issubdtype(value.dtype, np.complexfloating)
    ):
        data = value.astype(np.float64, copy=False)
        finite = np.isfinite(data)
        nan_count = int(np.isnan(data).sum()) if np.issubdtype(value.dtype, np.floating) else 0
        good = data[finite] if not finite.all() else data
        if good.size:
            parts.append(
                f"min {good.min():.6g}, max {good.max():.6g}, mean {good.mean():.6g}, "
                f"std {good.std():.6g}" + (f", NaN {nan_count:,}" if nan_count else "")
            )
    edge = 3
    with np.printoptions(threshold=200, edgeitems=edge, linewidth=100, precision=4):
        sample = np.array2string(value)
    cut = ""
    if value.size > 200:
        cut = f"showing the first and last {edge} entries along each axis of {value.size:,}"
    parts.append(sample)
    return _with_note("\n".join(parts), cut)


def _render_polars(value: Any, max_chars: int) -> tuple[str, str]:
    kind = type(value).__name__
    if kind == "LazyFrame":
        return f"polars LazyFrame (not collected), schema: {dict(value.collect_schema())}", ""
    frame = value.to_frame() if kind == "Series" else value
    rows, cols = frame.shape
    parts = [f"polars {kind} with {rows:,} rows and {cols:,} columns"]
    nulls = frame.null_count().row(0)
    parts.append(
        "Columns (dtype, nulls): "
        + ", ".join(
            f"{c} ({t}, {n:,})" for c, t, n in zip(frame.columns, frame.dtypes, nulls, strict=True)
        )
    )
    cut = ""
    if rows > TABLE_ROWS:
        half = TABLE_ROWS // 2
        import polars as pl

        part = pl.concat([frame.head(half), frame.tail(half)])
        cut = f"showing {TABLE_ROWS} of {rows:,} rows (head and tail)"
    else:
        part = frame
    parts.append(_markdown_table(part.columns, [list(r) for r in part.rows()], None))
    try:
        described = frame.describe()
        parts.append(
            "describe():\n"
            + _markdown_table(
                described.columns, [[_round(v) for v in r] for r in described.rows()], None
            )
        )
    except Exception:  # describe() refuses some dtypes (nested lists, objects)
        pass
    text = "\n\n".join(parts)
    if len(text) > max_chars and len(parts) > 3:
        text = "\n\n".join(parts[:3])
        cut = "; ".join(p for p in (cut, "describe() left out") if p)
    return _with_note(text, cut)
