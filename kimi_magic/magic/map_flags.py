"""The magic's map flags: `%%kimi --map NAME` runs the cell as a template over every row.

Apart from map_command.py so that `%load_ext` loads only these few lines, not pandas or the
job machinery.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from IPython.core.magic_arguments import argument


def map_arguments(function: Callable[..., Any]) -> Callable[..., Any]:
    """The magic's map flags (they document themselves in %kimi?)."""
    flags = [
        argument(
            "--map",
            metavar="NAME",
            help="Ask the cell of every item of NAME (a list, Series or DataFrame; {column} "
            "or {item} in the cell); with -o OUT the results, aligned with NAME, go in OUT.",
        ),
        argument(
            "--concurrency",
            type=int,
            metavar="N",
            help="--map: requests in flight at most (it adapts to rate limits).",
        ),
        argument(
            "--batch",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="--map: send the job to Workers AI's async batch queue (default: past a size).",
        ),
    ]
    for flag in reversed(flags):
        function = flag(function)
    return function
