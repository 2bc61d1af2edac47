"""Results back in the input's shape: a `MapResult` (a list) or a `MapFrame` (a DataFrame
with the input's index), each with the job's summary as `.summary`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from .estimate import Estimate
from .source import Source
from .summary import MapSummary, summary_of

if TYPE_CHECKING:
    from .frame import MapFrame

__all__ = ["MapResult", "MapResults", "MapSummary", "aligned", "summary_of"]


class MapResult(list):  # type: ignore[type-arg]
    """What `kimi_magic.map` returns for a list or any other iterable: the answers in the
    input's order (None where an item failed or was not sent; with `schema=`, the parsed
    objects). It is a list, so `out[3]`, `len(out)` and `for answer in out` work as before.

    `.errors` maps a position to its one-paragraph error; `.summary` (a `MapSummary`) tells
    how the job went (counts, tokens, cached tokens, cost, why it stopped); `.estimate` is
    what the job was estimated to cost before anything was sent; `.to_frame()` gives a
    pandas DataFrame (an `answer` or the schema's columns, and `error`)."""

    errors: dict[int, str]
    summary: MapSummary
    estimate: Estimate | None

    def __init__(
        self,
        values: list[Any],
        errors: dict[int, str],
        summary: MapSummary,
        estimate: Estimate | None = None,
    ) -> None:
        super().__init__(values)
        self.errors = errors
        self.summary = summary
        self.estimate = estimate

    def to_frame(self, expand: bool = True) -> Any:
        """The results as a pandas DataFrame (schema answers as columns when `expand`)."""
        from .frame import results_frame

        return results_frame(list(self), self.errors, None, expand)


# The old name (0.2.0).
MapResults = MapResult

if TYPE_CHECKING:
    # What a map returns: a MapResult for a list or iterable, a MapFrame for pandas input.
    MapOutput: TypeAlias = MapResult | MapFrame


def aligned(
    source: Source,
    values: list[Any],
    errors: dict[int, str],
    summary: MapSummary,
    expand: bool,
    estimate: Estimate | None = None,
) -> MapResult | MapFrame:
    """`values` (one per item, None when missing) in the input's shape: a `MapResult` for a
    list or iterable, a `MapFrame` (a DataFrame with the input's index) for pandas input."""
    if source.kind == "list":
        return MapResult(values, errors, summary, estimate)
    from .frame import map_frame

    return map_frame(values, errors, source.index, expand, summary, estimate)
