"""`logprobs`: the answer's tokens coloured by probability, top alternatives on hover."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from ..core.types import TokenLogprob

# Probability bands and their background colours: sure tokens stay plain, doubtful ones glow.
_BANDS = ((0.9, "transparent"), (0.7, "#fff3b0"), (0.4, "#ffd59e"), (0.0, "#ffb3b3"))


def probability(token: TokenLogprob) -> float:
    return math.exp(token.logprob)


def colour(p: float) -> str:
    return next(colour for floor, colour in _BANDS if p >= floor)


def _title(token: TokenLogprob) -> str:
    lines = [f"{token.token!r}: p = {probability(token):.3f}"]
    lines += [f"  {alt!r}: {math.exp(lp):.3f}" for alt, lp in token.top if alt != token.token]
    return "\n".join(lines)


def logprobs_html(tokens: Sequence[TokenLogprob]) -> str:
    """Each token in a span coloured by its probability; its alternatives in the title."""
    spans = [
        f'<span style="background-color:{colour(probability(t))}" '
        f'title="{html.escape(_title(t), quote=True)}">{html.escape(t.token)}</span>'
        for t in tokens
    ]
    legend = " ".join(
        f'<span style="background-color:{c}">&nbsp;p &ge; {floor:g}&nbsp;</span>'
        for floor, c in _BANDS
    )
    return (
        f'<div style="white-space:pre-wrap;font-family:monospace;line-height:1.6">'
        f"{''.join(spans)}</div><div><small>Token probabilities (hover a token for the top "
        f"alternatives): {legend}</small></div>"
    )


def logprobs_table(tokens: Sequence[TokenLogprob], limit: int = 200) -> str:
    """The same as a markdown table (shown where HTML is not, e.g. in text/plain viewers)."""
    rows = ["| # | token | p | top alternatives |", "|---:|---|---:|---|"]
    for i, t in enumerate(tokens[:limit]):
        alternatives = ", ".join(f"`{a!r}` {math.exp(lp):.2f}" for a, lp in t.top if a != t.token)
        rows.append(f"| {i} | `{t.token!r}` | {probability(t):.3f} | {alternatives} |")
    if len(tokens) > limit:
        rows.append(f"| | … {len(tokens) - limit} more | | |")
    return "\n".join(rows) + "\n"


def show_logprobs(tokens: Sequence[TokenLogprob]) -> None:
    """Display the coloured answer (HTML) with the table as the markdown fallback."""
    from IPython.display import display

    if not tokens:
        return
    display(
        {
            "text/html": logprobs_html(tokens),
            "text/markdown": logprobs_table(tokens),
            "text/plain": f"{len(tokens)} token{'s' if len(tokens) != 1 else ''} with log "
            "probabilities",
        },
        raw=True,
    )
