"""The open tail block of a streaming answer as HTML, rendered in the kernel (issue 16).

The tail changes several times a second. Shown as a markdown output inside an Output widget,
every change made JupyterLab clear the Output (dispose the old renderer, force a layout to
pin the height, and lay out again 50 ms later when it unpins), then parse, sanitize, highlight
and typeset the markdown again: about a third of the browser's main-thread time while an
answer streamed. An `ipywidgets.HTML` value is set with one `innerHTML`. The finished blocks
are still rendered by the frontend's own markdown renderer (highlighting, math), once each;
only the few lines of the open block take this path, so an open code block is highlighted,
and math in an open paragraph typeset, when the block finishes.

markdown-it-py (CommonMark, plus GFM tables and strikethrough as JupyterLab's marked renders
them); raw HTML in the text is shown escaped, since an HTML widget's value is not sanitized.
"""

from __future__ import annotations

import functools
import html
import threading
from typing import Any

# JupyterLab's classes for rendered markdown, so the tail looks like the blocks above it. No
# CSS containment: `contain: layout style` on this div made each update cost more style and
# layout time, not less (benchmarks/bench_browser.py: CPU 13.6% against 11.2% without), and
# paint containment would clip a wide table or code line.
_OPEN = '<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown">'
_CLOSE = "</div>"
_ready = threading.Event()


@functools.cache
def _parser() -> Any:
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    parser.render("warm")  # compiles the rules once
    _ready.set()
    return parser


def warm_up() -> None:
    """Load the parser on a helper thread (~30 ms), so the first text does not wait for it."""
    if not _ready.is_set():
        threading.Thread(target=_parser, name="kimi-magic-tail-html", daemon=True).start()


def tail_html(text: str) -> str:
    """`text` (markdown) as the HTML the live view shows; escaped plain text until the parser
    is loaded."""
    if not _ready.is_set():
        return f'{_OPEN}<p style="white-space: pre-wrap">{html.escape(text)}</p>{_CLOSE}'
    return _OPEN + _parser().render(text) + _CLOSE
