"""Time to build one prompt from a 1,000,000-row DataFrame and a 2000x2000 figure.

    python benchmarks/bench_prompt.py

Two cases: `{df}` and `{fig}` in the text (the figure drawn straight at the size cap), and
`{df}` with `--image last` where the kernel already displayed the 2000x2000 figure as a PNG
(decoded and downscaled with Pillow). Target: well under one second each.
"""

from __future__ import annotations

import io
import statistics
import time

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kimi_magic.prompt.context import NotebookContext
from kimi_magic.prompt.prompt import build_prompt

ROWS = 1_000_000
REPEATS = 5


def make_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "when": pd.date_range("2020-01-01", periods=ROWS, freq="min"),
            "price": rng.normal(100, 15, ROWS),
            "units": rng.integers(0, 50, ROWS),
            "city": rng.choice(["Oslo", "Rome", "Lima", "Pune"], ROWS),
        }
    )


def make_figure() -> Figure:
    figure = Figure(figsize=(20, 20), dpi=100)  # 2000 x 2000 pixels
    axes = figure.add_subplot()
    rng = np.random.default_rng(1)
    axes.scatter(rng.random(5_000), rng.random(5_000), s=4)
    axes.set_title("5,000 points")
    return figure


def timed(build: object) -> tuple[float, float, object]:
    times = []
    result = None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = build()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times), result


def main() -> None:
    frame, figure = make_frame(), make_figure()
    namespace = {"df": frame, "fig": figure}

    median, worst, prompt = timed(
        lambda: build_prompt(
            "What story does {df} tell, and does {fig} agree?", namespace=namespace
        )
    )
    image = prompt.images[0]  # type: ignore[attr-defined]
    print(
        f"{{df}} + {{fig}}: median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms "
        f"over {REPEATS} runs; prompt ~{prompt.tokens:,} tokens, "  # type: ignore[attr-defined]
        f"image {image.size_text}"
    )

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")  # what the inline backend would have displayed
    context = NotebookContext()
    context.images.remember({"image/png": buffer.getvalue()}, 1)
    median, worst, prompt = timed(
        lambda: build_prompt(
            "What story does {df} tell?", namespace=namespace, context=context, images=["last"]
        )
    )
    image = prompt.images[0]  # type: ignore[attr-defined]
    print(
        f"{{df}} + --image last (2000x2000 PNG displayed): median {median * 1000:.0f} ms, "
        f"worst {worst * 1000:.0f} ms; image {image.size_text}"
    )


if __name__ == "__main__":
    main()
