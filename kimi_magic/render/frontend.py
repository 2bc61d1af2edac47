"""What kind of frontend the output goes to, and plain markdown output that reads well in
every one of them (a terminal gets the text/plain twin)."""

from __future__ import annotations


def in_kernel() -> bool:
    """True inside a Jupyter kernel, where widgets render."""
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def show_markdown(text: str, plain: str | None = None) -> None:
    """Display markdown, with the same text (or `plain`) as text/plain so a terminal shows it."""
    from IPython.display import display

    display({"text/markdown": text, "text/plain": text if plain is None else plain}, raw=True)
