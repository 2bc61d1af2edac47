"""`python -m kimi_magic "question"`: ask once from a shell; the answer streams to stdout."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from . import ask
from .core.errors import KimiError


def _notice(message: Any, category: Any, *rest: Any, **options: Any) -> None:
    """Our notices (an untrusted project file's ignored settings) as one plain line."""
    print(f"kimi_magic: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m kimi_magic", description=__doc__)
    parser.add_argument("question", nargs="+", help="what to ask")
    parser.add_argument("-t", "--temperature", type=float)
    parser.add_argument("--effort", choices=["low", "medium", "high"])
    parser.add_argument("--system", help="system prompt")
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _notice  # restored on leaving the block
            ask(
                " ".join(args.question),
                system=args.system,
                echo=True,
                temperature=args.temperature,
                reasoning_effort=args.effort,
            )
    except KimiError as error:
        print(f"kimi_magic: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
