"""Characters that change what code looks like without showing themselves, made visible.

Bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E/F) reorder what a reader sees ("Trojan
Source", CVE-2021-42574); zero-width and other format characters hide text; control
characters can move the cursor or erase a line. Code shown for approval has each of them
replaced by a visible marker such as `⟨U+202E⟩`, so what the user reads is what runs.
"""

from __future__ import annotations

import unicodedata

KEPT = frozenset("\n\t")
# Categories never shown as themselves: controls, format (bidi, zero-width, soft hyphen),
# line and paragraph separators, private use, surrogates and unassigned code points.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def _hidden(char: str) -> bool:
    return char not in KEPT and unicodedata.category(char) in HIDDEN_CATEGORIES


def marker(char: str) -> str:
    """`⟨U+202E⟩` for one hidden character."""
    return f"⟨U+{ord(char):04X}⟩"


def made_visible(text: str) -> tuple[str, int]:
    """`text` with every hidden character replaced by its marker, and how many there were."""
    found = 0
    parts: list[str] = []
    for char in text:
        if _hidden(char):
            found += 1
            parts.append(marker(char))
        else:
            parts.append(char)
    return "".join(parts), found


def hidden_warning(count: int) -> str:
    """The one-line warning shown above code that had hidden characters ('' when none)."""
    if not count:
        return ""
    return (
        f"⚠ This code contains {count} invisible or direction-changing character(s), shown as "
        "⟨U+XXXX⟩: read it as marked, not as an editor would display it."
    )
