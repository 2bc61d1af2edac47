"""Reading `name.attr["key"][3]` without running any code of the value's.

The path syntax is shared by `{name}` in prompts, `-v`, `--schema` and the notebook tools, and
the tools take it from the model, so every step is a read that cannot run code or leave the
user's data:

- no step through a dunder or private (`_`) name;
- attributes are read with `inspect.getattr_static`: a property, `__getattr__` or other Python
  descriptor is never run (a property is refused as "a property, not read"); only plain data
  on the instance or class, C-level slots and a few data properties of pandas/numpy/polars
  (`shape`, `columns`, ...) are read;
- no step out of a module, class, function, method, frame or the IPython shell;
- keys and indexes are literals, and only go into dicts, lists, tuples, pandas Series and
  DataFrames and numpy arrays, through the base type's own lookup (never a subclass's
  `__getitem__`), and never into str or bytes (one character at a time would get past
  redaction);
- the result is never `os.environ`, `sys.modules`, a module or the shell.
"""

from __future__ import annotations

import inspect
import os
import sys
import types
from collections.abc import Callable
from typing import Any

# Library modules whose objects are data; their data properties below run only library code.
_DATA_LIBRARIES = frozenset({"pandas", "numpy", "polars"})
_DATA_PROPERTIES = frozenset(
    {
        "shape",
        "columns",
        "index",
        "dtypes",
        "dtype",
        "size",
        "ndim",
        "name",
        "names",
        "empty",
        "nbytes",
        "schema",
        "width",
        "height",
        "year",
        "month",
        "day",
    }
)
_NO_STEP_OUT = (
    types.ModuleType,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
    types.CodeType,
    types.FrameType,
    types.TracebackType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    property,
    classmethod,
    staticmethod,
)
# Names IPython and the notebook put in the namespace that are not the user's variables.
SHELL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open", "display"})
_MACHINERY_MODULES = frozenset({"IPython", "ipykernel", "os", "sys", "importlib", "builtins"})


class PathRefused(LookupError):
    """A path step that would run code or leave the user's data; the message says which."""


def is_user_variable(name: str, value: Any) -> bool:
    """True for the names the variable listing shows: the user's data, not IPython's."""
    return not (
        name.startswith("_")
        or name in SHELL_NAMES
        or isinstance(value, types.ModuleType)
        or _is_machinery(value)
    )


def library_of(value: Any) -> str:
    """The top-level module of the value's type ('builtins', 'pandas', 'mymodule', ...)."""
    module = type.__getattribute__(type(value), "__module__")
    return module.split(".")[0] if isinstance(module, str) else ""


def _is_machinery(value: Any) -> bool:
    if value is os.environ or value is sys.modules:
        return True
    for kind in type(value).__mro__:
        module = kind.__dict__.get("__module__", "")
        if isinstance(module, str) and module.split(".")[0] in ("IPython", "ipykernel"):
            return True
    return False


def check_result(value: Any, path: str) -> None:
    """Refuse a final value that is the environment, the module table, a module or the shell."""
    if isinstance(value, types.ModuleType) or _is_machinery(value):
        raise PathRefused(
            f"{path} is {_kind(value)}, which the notebook tools do not read; ask about the "
            "user's own variables (list_variables names them)."
        )


def step_attribute(value: Any, attribute: str, path: str) -> Any:
    """`value.attribute`, read statically, or PathRefused saying why not."""
    _check_name(attribute, path)
    _check_step_out(value, path)
    if library_of(value) == "pandas" and type(value).__name__ == "DataFrame":
        columns = value.columns
        if attribute in columns and attribute not in _DATA_PROPERTIES:
            return value[attribute]  # df.col, as pandas allows, without its __getattr__
    try:
        found = inspect.getattr_static(value, attribute)
    except AttributeError:
        raise AttributeError(attribute) from None
    if isinstance(found, (types.MemberDescriptorType, types.GetSetDescriptorType)):
        return found.__get__(value, type(value))  # a C-level slot: no Python code runs
    if _is_tuplegetter(found):
        return found.__get__(value, type(value))  # a namedtuple field
    if isinstance(found, property) or hasattr(type(found), "__get__"):
        owner = library_of(value)
        if (
            owner in _DATA_LIBRARIES
            and attribute in _DATA_PROPERTIES
            and _defined_in_library(type(value), attribute)
        ):
            return found.__get__(value, type(value))
        what = "a property" if isinstance(found, property) else "a method or descriptor"
        raise PathRefused(
            f"{path}.{attribute} is {what}, not read: reading it would run code. Ask for the "
            f"value's fields instead (describe_variable('{path}') lists them)."
        )
    return found


def step_key(value: Any, key: int | str, path: str) -> Any:
    """`value[key]` for a literal key, through the base type's own lookup only."""
    _check_step_out(value, path)
    if isinstance(value, (str, bytes, bytearray)):
        raise PathRefused(
            f"{path}[{key!r}]: a string is not indexed by the notebook tools; describe "
            f"{path} itself to read it whole."
        )
    if isinstance(value, dict):
        if not dict.__contains__(value, key):
            raise KeyError(key)
        return dict.__getitem__(value, key)
    if isinstance(value, (list, tuple)):
        if not isinstance(key, int):
            raise TypeError(f"{type(value).__name__} indexes are integers, not {key!r}")
        base: Callable[[Any, int], Any] = (
            list.__getitem__ if isinstance(value, list) else tuple.__getitem__
        )
        return base(value, key)
    library = library_of(value)
    kind = type(value).__name__
    if (library == "pandas" and kind in ("DataFrame", "Series")) or library == "kimi_magic":
        return value[key]  # the library's own lookup (kimi_magic's: In, Err in a prompt)
    if library == "numpy" and kind == "ndarray":
        if not isinstance(key, int):
            raise TypeError(f"numpy arrays are indexed by integers, not {key!r}")
        return value[key]
    raise PathRefused(
        f"{path}[{key!r}]: {path} is {_kind(value)}; keys and indexes go only into dicts, "
        "lists, tuples, pandas Series and DataFrames and numpy arrays."
    )


def _check_name(attribute: str, path: str) -> None:
    if attribute.startswith("_"):
        raise PathRefused(
            f"{path}.{attribute}: private and dunder names are not read. Use the value's "
            "public fields, keys or indexes."
        )


def _check_step_out(value: Any, path: str) -> None:
    if isinstance(value, _NO_STEP_OUT) or _is_machinery(value):
        raise PathRefused(
            f"{path} is {_kind(value)}; the notebook tools do not look inside it. Ask about "
            "the user's data (list_variables names it)."
        )


def _kind(value: Any) -> str:
    if value is os.environ:
        return "the process environment"
    if value is sys.modules:
        return "the module table"
    if isinstance(value, types.ModuleType):
        return "a module"
    if isinstance(value, type):
        return "a class"
    if callable(value) and isinstance(value, _NO_STEP_OUT):
        return "a function or method"
    if _is_machinery(value):
        return "part of IPython"
    return f"a {type(value).__name__}"


def _defined_in_library(kind: type, attribute: str) -> bool:
    for klass in kind.__mro__:
        if attribute in klass.__dict__:
            module = klass.__dict__.get("__module__", "")
            return isinstance(module, str) and module.split(".")[0] in _DATA_LIBRARIES
    return False


def _is_tuplegetter(found: Any) -> bool:
    kind = type(found)
    return kind.__name__ == "_tuplegetter" and kind.__module__ == "collections"
