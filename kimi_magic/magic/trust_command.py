"""`%kimi trust` and `%kimi untrust`: the user's word that a folder's pyproject.toml may switch
on what it sets (code, processes, more data, writes outside the folder), as it is now.

%kimi trust              trust the nearest pyproject.toml; shows what it may now set
%kimi trust PATH         a given pyproject.toml (or the one in a folder)
%kimi untrust            take the trust back (also: %kimi trust --revoke)
"""

from __future__ import annotations

import shlex
from typing import Any

from ..render.frontend import show_markdown
from ..session.workspace import trust, untrust


def trust_command(host: Any, rest: str) -> None:
    words = shlex.split(rest)
    if "--revoke" in words:
        words.remove("--revoke")
        untrust_command(host, " ".join(shlex.quote(w) for w in words))
        return
    change = trust(words[0] if words else None)
    show_markdown(str(change))


def untrust_command(host: Any, rest: str) -> None:
    words = shlex.split(rest)
    show_markdown(str(untrust(words[0] if words else None)))
