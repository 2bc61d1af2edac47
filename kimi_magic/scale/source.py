"""What `map` runs over: a list, any iterable, a pandas Series or DataFrame, read lazily.

A row becomes a mapping of field name -> value only when it is about to be sent, so a table
of 100,000 rows never holds 100,000 prompts at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigurationError

ITEM = "item"


@dataclass
class Source:
    """The input, its length when known, its pandas index, and the fields a row offers."""

    items: Any
    kind: str  # "list" (any iterable), "series" or "frame"
    length: int | None
    index: Any = None  # the pandas index to align results with
    fields: tuple[str, ...] = (ITEM,)

    def rows(self) -> Iterator[Mapping[str, Any]]:
        """Each item as {field: value}, one at a time."""
        if self.kind == "frame":
            columns = [str(c) for c in self.items.columns]
            for values in self.items.itertuples(index=False, name=None):
                yield dict(zip(columns, values, strict=True))
        elif self.kind == "series":
            name = None if self.items.name is None else str(self.items.name)
            for value in self.items:
                yield {ITEM: value, name: value} if name else {ITEM: value}
        else:
            for value in self.items:
                yield {**value, ITEM: value} if isinstance(value, Mapping) else {ITEM: value}

    @property
    def single_pass(self) -> bool:
        """An iterator or generator: its items can be read only once."""
        return self.kind == "list" and iter(self.items) is self.items

    def materialised(self) -> Source:
        """The same input read once into a list (for jobs that must read it again)."""
        if not self.single_pass:
            return self
        items = list(self.items)
        return Source(items, "list", len(items), self.index, self.fields)

    def first_fields(self) -> tuple[str, ...]:
        """The fields of the first item (list of dicts: its keys too), for template checks."""
        if self.kind != "list" or not isinstance(self.items, (list, tuple)) or not self.items:
            return self.fields
        first = self.items[0]
        return (*self.fields, *map(str, first)) if isinstance(first, Mapping) else self.fields


def source_of(items: Any) -> Source:
    """The Source for `items`; pandas is never imported here, only recognised."""
    module = type(items).__module__.split(".")[0]
    kind = type(items).__name__
    if module == "pandas" and kind == "DataFrame":
        return Source(items, "frame", len(items), items.index, tuple(map(str, items.columns)))
    if module == "pandas" and kind == "Series":
        fields = (ITEM,) if items.name is None else (ITEM, str(items.name))
        return Source(items, "series", len(items), items.index, fields)
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ConfigurationError(_not_a_source(items))
    length = len(items) if isinstance(items, Sized) else None
    return Source(items, "list", length)


def _not_a_source(items: Any) -> str:
    kind = "None" if items is None else f"a {type(items).__name__}"
    if isinstance(items, Mapping):
        hint = (
            " For a dict, map over its values with list(d.values()), its keys with list(d), "
            "or its pairs as rows with [{'key': k, 'value': v} for k, v in d.items()]."
        )
    elif isinstance(items, (str, bytes)):
        hint = " To ask about one text, put it in a list: [text]."
    else:
        hint = ""
    return (
        f"map runs over a list, a pandas Series or DataFrame, or any iterable of items, not "
        f"{kind}, so nothing was sent.{hint} Pass the items and run again."
    )
