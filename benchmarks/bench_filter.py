"""The safe row filter of `dataframe_rows` against `DataFrame.query` on a 1,000,000-row frame.

    python benchmarks/bench_filter.py            # about 10 seconds

The safe filter parses the text with `ast`, checks it and computes it with vectorized pandas
operations; the target is within 2x of `DataFrame.query` (which evaluates the text).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from kimi_magic.tools.row_filter import row_mask

ROWS = 1_000_000
FILTERS = [
    "age > 30",
    "age > 30 and city == 'Paris'",
    "10 < age <= 60 and score * 2 - 1 > 0.5",
    "city in ['Paris', 'Oslo'] or score < 0.1",
    "not (age >= 40) and `unit price` > 50",
]


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.integers(0, 90, ROWS),
            "score": rng.random(ROWS),
            "unit price": rng.random(ROWS) * 100,
            "city": rng.choice(["Paris", "Oslo", "Lima", "Pune"], ROWS),
        }
    )


def best(run: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    data = frame()
    print(f"{ROWS:,} rows; best of 5, milliseconds")
    print(f"{'filter':<48} {'safe':>8} {'query':>8} {'ratio':>6}")
    for text in FILTERS:
        mask = row_mask(data, text)
        assert mask.sum() == len(data.query(text))
        safe = best(lambda text=text: row_mask(data, text))
        query = best(lambda text=text: data.query(text))
        print(f"{text:<48} {safe * 1e3:8.1f} {query * 1e3:8.1f} {safe / query:6.2f}")


if __name__ == "__main__":
    main()
