"""The README's ```python blocks run, in order, in one IPython shell aimed at the emulator (the
magic blocks as cells, the plain Python ones as code); the few that cannot run outside a real
notebook are listed below with the reason."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kimi_magic.emulator import Emulator

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

# Blocks that do not run here, by their first line, and why. Every other block must run.
GALLERY = (
    "a gallery of line magics with a comment on each line: IPython passes a `# ...` after a "
    "line magic to it as its argument (`%kimi panel  # ...` is refused, `%kimi?  # ...` is "
    "not help), so these lines do not run as typed; each command runs in its own tests"
)
NOT_RUN = {
    '%config KimiMagics.gateway = "my-gateway"': (
        "routes every later block through an AI Gateway (tests/test_gateway.py runs it)"
    ),
    "%kimi How is that different from a numpy array?": GALLERY,
    "%kimi panel                 # the settings sidebar": GALLERY,
    "%%kimi\nWhat story does {df} tell? Compare it with {Out[4]} and the error {Err[7]}.": (
        "names Out[4] and Err[7] of a notebook's own history"
    ),
}


def blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def skipped(block: str) -> str | None:
    return next((why for head, why in NOT_RUN.items() if block.startswith(head)), None)


@pytest.fixture
def shell(controls_shell: Any) -> Iterator[Any]:
    """The README's reader: their data (`df`, `reviews`, `RATES`, a `Review` model)."""
    pd = pytest.importorskip("pandas")
    pydantic = pytest.importorskip("pydantic")

    class Review(pydantic.BaseModel):
        sentiment: str
        summary: str

    controls_shell.user_ns.update(
        df=pd.DataFrame({"day": [1, 2, 3], "sales": [10.0, 12.5, 9.0]}),
        reviews=pd.DataFrame(
            {"product": ["kettle", "lamp"], "review": ["Boils fast.", "Too dim."]}
        ),
        RATES={"USD": 0.92},
        Review=Review,
    )
    yield controls_shell
    from kimi_magic.tools.registry import REGISTRY

    if "euro_rate" in REGISTRY.names():
        REGISTRY.remove("euro_rate")


def test_every_block_not_run_is_still_in_the_readme() -> None:
    heads = [block for block in blocks() if skipped(block)]
    assert len(heads) == len(NOT_RUN)  # a block changed or went: update NOT_RUN


def test_the_readme_python_blocks_run_against_the_emulator(shell: Any, emulator: Emulator) -> None:
    ran = 0
    for block in blocks():
        if skipped(block):
            continue
        result = shell.run_cell(block)
        assert result.success, f"README block failed:\n{block}\n{result.error_in_exec!r}"
        ran += 1
    assert ran == len(blocks()) - len(NOT_RUN) >= 7
    assert emulator.requests  # the examples asked the (emulated) model
