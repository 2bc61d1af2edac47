"""`%kimi usage`: the session's ledger as a table."""

from __future__ import annotations

from typing import Any


def usage_markdown(session: Any) -> tuple[str, str]:
    """(markdown, plain) of calls, tokens and cost per conversation, with the cap if set."""
    cap = session.settings()["max_cost"]
    note = f"\n\nSpending cap: ${cap:.4f} per session." if cap is not None else ""
    text = "**kimi_magic usage this session**\n\n" + session.ledger.markdown() + note
    # JupyterLab typesets the text between two `$` of the table as LaTeX math: escape them.
    return text.replace("$", "\\$"), text
