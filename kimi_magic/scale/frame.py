"""`MapFrame`: what `kimi_magic.map` returns for a pandas Series or DataFrame. Imported only
when pandas input (or `MapResult.to_frame()`) needs it, so pandas loads only then."""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from .estimate import Estimate
from .summary import MapSummary

ANSWER = "answer"
ERROR = "error"


class MapFrame(pd.DataFrame):
    """A pandas DataFrame with the input's index: an `answer` column (or, with `schema=`,
    one column per field) and an `error` column, so `df.join(kimi_magic.map(df, ...))`
    works. `.summary` (a `MapSummary`) tells how the job went, `.estimate` what it was
    estimated to cost, `.errors` maps a row's position to its error. Those attributes stay
    on this frame; a frame made from it (a join, a slice) is a plain DataFrame."""

    _metadata: ClassVar[list[str]] = ["summary", "estimate"]

    summary: MapSummary | None
    estimate: Estimate | None

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame  # a join or a slice is a plain DataFrame, not a job's result

    @property
    def errors(self) -> dict[int, str]:
        """Row position -> its error, for rows that failed or were not sent."""
        column = self[ERROR] if ERROR in self.columns else []
        return {i: e for i, e in enumerate(column) if isinstance(e, str)}


def results_frame(
    values: list[Any], errors: dict[int, str], index: Any, expand: bool
) -> pd.DataFrame:
    """The answers as a DataFrame: schema answers as columns when `expand`, then `error`."""
    rows = [_as_row(v) if expand else None for v in values]
    if expand and any(r is not None for r in rows):
        frame = pd.DataFrame([r or {} for r in rows], index=index)
    else:
        frame = pd.DataFrame({ANSWER: values}, index=index)
    frame[ERROR] = [errors.get(i) for i in range(len(values))]
    return frame


def map_frame(
    values: list[Any],
    errors: dict[int, str],
    index: Any,
    expand: bool,
    summary: MapSummary,
    estimate: Estimate | None,
) -> MapFrame:
    result = MapFrame(results_frame(values, errors, index, expand))
    result.summary = summary
    result.estimate = estimate
    result.attrs["kimi_map"] = str(summary)  # where 0.2.0 kept it
    return result


def _as_row(value: Any) -> dict[str, Any] | None:
    """A structured answer as columns: a dict's keys, a pydantic model's fields."""
    if hasattr(value, "model_dump"):
        dumped = value.model_dump()
        return dumped if isinstance(dumped, dict) else None
    return value if isinstance(value, dict) else None
