"""The magic's tool flags: --tools, --agent, --approve, --tool-choice, --max-rounds.

Apart from tool_turn.py so that `%load_ext` loads only these few lines, not the tool machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.magic_arguments import argument


def tool_arguments(function: Callable[..., Any]) -> Callable[..., Any]:
    """The magic's tool flags (they document themselves in %kimi?)."""
    flags = [
        argument(
            "--tools",
            metavar="LIST",
            help="Offer tools, comma-separated: registered names (@kimi_magic.tool), all, "
            "notebook (read-only looks at variables, cells, errors, images), python "
            "(run_python, with approval), mcp:SERVER (its tools named SERVER__tool).",
        ),
        argument(
            "--agent",
            action="store_true",
            help="An agent cell: the notebook tools and run_python, capped by "
            "agent_max_rounds and agent_max_cost; ends by offering the code it ran as a new "
            "cell.",
        ),
        argument(
            "--approve",
            choices=["ask", "auto", "deny"],
            help="Code-running tools (run_python, runs_code=True tools): ask with Approve / "
            "Deny buttons (default), run without asking (auto), or never run (deny).",
        ),
        argument(
            "--approve-timeout",
            dest="approve_timeout",
            type=float,
            metavar="SECONDS",
            help="How long the Approve / Deny buttons wait for a click before they deny.",
        ),
        argument(
            "--tool-choice",
            metavar="CHOICE",
            help="The first round's tool_choice: auto, none, required, or a tool's name.",
        ),
        argument(
            "--max-rounds",
            dest="tool_max_rounds",
            type=int,
            metavar="N",
            help="Model rounds of this tool-using question before the loop stops.",
        ),
    ]
    for flag in reversed(flags):
        function = flag(function)
    return function
