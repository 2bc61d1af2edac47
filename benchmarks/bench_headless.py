"""Headless clients under CPU load: a user's notebook run N times each by nbclient,
`jupyter nbconvert --execute` and papermill while two busy loops keep two cores busy.

    python benchmarks/bench_headless.py            # 20 runs each: about half an hour
    python benchmarks/bench_headless.py --runs 5

The notebook is tests/headless/user_notebook.py's: a question, an error and `%kimi explain`,
`%%kimi --bg -o a` then `%kimi wait`, `-o x`, a `--tools notebook` question, against the
emulator. A run counts as finished when the client ended in time and the saved file holds
every answer as markdown with no widget state (papermill reports the notebook's deliberate
error as its failure; that still counts). Prints, per client: runs finished, median and
maximum wall time, KB per saved file. Target (issue 16): every run finishes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kimi_magic.emulator import Emulator

# The notebook, the clients and the checks are shared with the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "headless"))
from user_notebook import problems, replies, run, write_notebook

CLIENTS = ("nbclient", "nbconvert", "papermill")


def busy_loops() -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]


@dataclass
class Outcome:
    seconds: float | None  # None: the client never came back
    kilobytes: float
    problems: list[str]


def one_run(client: str, emulator: Emulator, folder: Path) -> Outcome:
    emulator.reset()
    emulator.script(*replies())
    source = write_notebook(folder / "user.ipynb")
    try:
        done = run(client, source, folder)
    except subprocess.TimeoutExpired as error:
        return Outcome(None, 0.0, [f"timed out: {error}"])
    except Exception as error:  # nbclient raises what the run raised (a cell timeout, ...)
        return Outcome(None, 0.0, [f"{type(error).__name__}: {str(error)[-300:]}"])
    if not done.saved.exists():
        return Outcome(done.seconds, 0.0, [f"no saved file (exit {done.returncode})"])
    failed = done.returncode != 0 and not (client == "papermill" and done.returncode == 1)
    found = ([f"exit {done.returncode}"] if failed else []) + problems(done.saved)
    return Outcome(done.seconds, done.saved.stat().st_size / 1024, found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per client (default 20)")
    args = parser.parse_args()
    results: dict[str, list[Outcome]] = {c: [] for c in CLIENTS}
    with Emulator() as emulator:
        os.environ.update(
            KIMI_MAGIC_BASE_URL=emulator.base_url,
            CLOUDFLARE_ACCOUNT_ID=emulator.account_id,
            CLOUDFLARE_API_TOKEN=emulator.token,
        )
        loops = busy_loops()
        try:
            for n in range(args.runs):
                for client in CLIENTS:
                    with tempfile.TemporaryDirectory() as folder:
                        outcome = one_run(client, emulator, Path(folder))
                    results[client].append(outcome)
                    seconds = "-" if outcome.seconds is None else f"{outcome.seconds:.1f} s"
                    status = "; ".join(outcome.problems) or "ok"
                    print(f"run {n + 1} {client}: {seconds}, {outcome.kilobytes:.1f} KB, {status}")
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
    print(f"\n{'client':<11}{'finished':>10}{'median s':>10}{'max s':>8}{'KB/file':>9}")
    total = finished_all = 0
    for client, outcomes in results.items():
        finished = [o for o in outcomes if o.seconds is not None and not o.problems]
        times = [o.seconds for o in outcomes if o.seconds is not None]
        total += len(outcomes)
        finished_all += len(finished)
        print(
            f"{client:<11}{len(finished):>5} of {len(outcomes):<3}"
            f"{statistics.median(times) if times else float('nan'):>9.1f}"
            f"{max(times, default=float('nan')):>8.1f}"
            f"{statistics.mean(o.kilobytes for o in finished) if finished else 0:>9.1f}"
        )
    print(f"{finished_all} of {total} runs finished (target: all), under two busy loops")


if __name__ == "__main__":
    main()
