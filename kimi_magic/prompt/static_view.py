"""Values shown without running their code, for the model's read-only tools.

`describe_variable` and the other notebook tools are driven by the model, so they never call a
user-defined `__repr__`, `__str__`, `__len__`, `__iter__`, property or `__getattr__`. A value of a
known type (builtins, a few standard-library data types, pandas, numpy, polars, kimi_magic) is
rendered as usual, since that code is the library's. Any other value is shown as its type name
and the instance's own public fields, read from its `__dict__` and slots without a lookup that
could run code; nested values are shown the same way, bounded in depth and count. The user's
own `{name}` in a prompt still gets the full repr: the user typed it.
"""

from __future__ import annotations

import types
from typing import Any

from .paths import library_of

KNOWN_LIBRARIES = frozenset(
    {"builtins", "datetime", "decimal", "fractions", "uuid", "pathlib", "pandas", "numpy", "polars"}
)
_SCALARS = (int, float, complex, bool, type(None))
FIELDS = 40
ITEMS = 20
DEPTH = 3
TEXT = 200


def is_known(value: Any) -> bool:
    """True when the value's type comes from a library whose repr we trust to run."""
    return library_of(value) in KNOWN_LIBRARIES or library_of(value) == "kimi_magic"


def plain(value: Any, depth: int = DEPTH) -> Any:
    """A JSON-ready copy of `value` made with the base types' own accessors only: user objects
    become "<Type object>", long text and long containers are cut."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if isinstance(value, str):
        text = str.__str__(value)
        return text if len(text) <= TEXT else text[:TEXT] + "…"
    if isinstance(value, (bytes, bytearray)):
        return repr(bytes(memoryview(value)[:64]))
    if depth <= 0:
        return f"<{kind.__name__}>"
    if isinstance(value, dict):
        items = dict.items(value)
        shown = {}
        for number, (key, item) in enumerate(items):
            if number >= ITEMS:
                shown["…"] = f"{dict.__len__(value) - ITEMS:,} more keys"
                break
            name = key if type(key) is str else str(plain(key, 0))
            shown[name] = plain(item, depth - 1)
        return shown
    if isinstance(value, (list, tuple, set, frozenset)):
        base: Any = next(b for b in (list, tuple, set, frozenset) if isinstance(value, b))
        size = base.__len__(value)
        result = []
        for number, item in enumerate(base.__iter__(value)):
            if number >= ITEMS:
                result.append(f"… {size - ITEMS:,} more items")
                break
            result.append(plain(item, depth - 1))
        return result
    if is_known(value) and library_of(value) in ("builtins", "datetime", "decimal", "uuid"):
        text = repr(value)
        return text if len(text) <= TEXT else text[:TEXT] + "…"
    if library_of(value) == "numpy" and not isinstance(value, types.ModuleType):
        text = repr(value) if getattr(value, "dtype", None) != "object" else "<numpy object>"
        return text if len(text) <= TEXT else text[:TEXT] + "…"
    return f"<{_qualified(kind)} object>"


def cell_text(value: Any) -> str:
    """One table cell: the value's str when its type is known, else its type name."""
    if type(value) is str or type(value) in _SCALARS or is_known(value):
        return str(value)
    plained = plain(value, 1)
    return plained if isinstance(plained, str) else str(plained)


def fields_of(value: Any) -> tuple[dict[str, Any], int]:
    """The instance's public fields (from `__dict__` and slots, read statically) and how many
    private ones were left out."""
    found: dict[str, Any] = {}
    try:
        own = object.__getattribute__(value, "__dict__")
    except (AttributeError, TypeError):
        own = None
    if type(own) is dict:
        found.update((k, v) for k, v in dict.items(own) if type(k) is str)
    for kind in type(value).__mro__:
        slots = kind.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            descriptor = kind.__dict__.get(slot)
            if isinstance(descriptor, types.MemberDescriptorType):
                try:
                    found.setdefault(slot, descriptor.__get__(value, kind))
                except AttributeError:  # an empty slot
                    continue
    public = {k: v for k, v in found.items() if not k.startswith("_")}
    return public, len(found) - len(public)


def render_object(value: Any, max_chars: int) -> tuple[str, str]:
    """A value of an unknown type: its type and public fields; no method of it is called."""
    import json

    public, private = fields_of(value)
    lines = [
        f"{_qualified(type(value))} object (its repr, properties and methods are not run; "
        "these are its fields)"
    ]
    cut = ""
    for number, (name, field) in enumerate(public.items()):
        if number >= FIELDS:
            cut = f"showing {FIELDS} of {len(public):,} fields"
            break
        text = json.dumps(plain(field), ensure_ascii=False, default=str)
        lines.append(f"  {name}: {text[: TEXT * 2]}")
    if not public:
        lines.append("  (no public fields)")
    if private:
        lines.append(f"  ({private} private field(s) not shown)")
    text = "\n".join(lines)
    if len(text) > max_chars:
        cut = f"showing the first {max_chars:,} characters"
        text = text[:max_chars]
    return (f"{text}\n[cut: {cut}]" if cut else text), cut


def _qualified(kind: type) -> str:
    module = kind.__dict__.get("__module__", "")
    name = kind.__qualname__
    return f"{module}.{name}" if isinstance(module, str) and module != "builtins" else str(name)
