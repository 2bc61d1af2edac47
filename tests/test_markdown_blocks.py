"""The block splitter: finished blocks never cut a fence, table, list or math block."""

from __future__ import annotations

import pytest

from kimi_magic.render.markdown_blocks import BlockSplitter

DOC = """# Title

Para one line.
still para.

- a
- b

  more b

| a | b |
|---|---|
| 1 | 2 |

```python
def f():

    return 1
```
After code.

$$
x^2

$$
~~~
tilde fence

~~~

1. one

2. two
"""


def split(text: str, step: int) -> list[str]:
    splitter = BlockSplitter()
    blocks: list[str] = []
    for i in range(0, len(text), step):
        blocks += splitter.feed(text[i : i + step])
    return blocks + splitter.close()


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 10_000])
def test_blocks_do_not_depend_on_chunking(step: int) -> None:
    assert split(DOC, step) == split(DOC, 10_000)


def test_blocks_keep_structures_whole() -> None:
    blocks = split(DOC, 5)
    assert blocks[0] == "# Title\n"
    assert "- a\n- b\n\n  more b\n" in blocks[2]  # a loose list stays one block
    assert any(b.startswith("| a | b |") and "| 1 | 2 |" in b for b in blocks)
    assert any(
        b.startswith("```python") and b.rstrip().endswith("```") and "return 1" in b for b in blocks
    )  # a blank line inside a fence does not end it
    assert any(b.startswith("$$") and "x^2" in b and b.rstrip().endswith("$$") for b in blocks)
    assert any(b.startswith("~~~") and "tilde fence" in b for b in blocks)
    assert blocks[-1] == "1. one\n\n2. two\n"
    assert "".join(blocks).split() == DOC.split()


def test_tail_is_the_open_block_only() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("First paragraph.\n\nSecond par") == []
    # A block is frozen once the next block's first whole line proves it ended.
    assert splitter.feed("agraph.\n\nThird") == ["First paragraph.\n\n"]
    assert splitter.tail == "Second paragraph.\n\nThird"
    assert splitter.feed(" one.\n") == ["Second paragraph.\n\n"]
    assert splitter.tail == "Third one.\n"


def test_open_fence_stays_in_the_tail() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("```\ncode\n\n\nmore code\n") == []
    assert splitter.tail.startswith("```\ncode")
    assert splitter.feed("```\n") == ["```\ncode\n\n\nmore code\n```\n"]
