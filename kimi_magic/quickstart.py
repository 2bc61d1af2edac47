"""Run the quickstart notebook headlessly: `python -m kimi_magic.quickstart`.

Against Cloudflare when credentials are set, else against the local emulator (saying so).
Writes the executed notebook and prints what the answers cost.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path

from .core.constants import ENV_ACCOUNT_ID, ENV_API_TOKEN, ENV_BASE_URL, ENV_OPENAI_BASE_URL
from .render.final_output import METADATA_KEY

DEFAULT_NOTEBOOK = Path("notebooks/01-quickstart.ipynb")


def _has_credentials() -> bool:
    has = lambda names: any(os.environ.get(n, "").strip() for n in names)  # noqa: E731
    return bool(os.environ.get(ENV_OPENAI_BASE_URL)) or (has(ENV_ACCOUNT_ID) and has(ENV_API_TOKEN))


def main(argv: list[str] | None = None) -> int:
    """Run the quickstart notebook; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the executed notebook (default: notebooks/executed/<name>)",
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    if not args.notebook.exists():
        print(
            f"No notebook at {args.notebook}: run this from the kimi_magic checkout "
            "(the folder that holds notebooks/), or pass the notebook's path.",
            file=sys.stderr,
        )
        return 2
    output = args.output or args.notebook.parent / "executed" / args.notebook.name

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    with ExitStack() as stack:
        if _has_credentials():
            print("Running against Cloudflare Workers AI with the credentials in the environment.")
        else:
            from .emulator import Emulator

            emulator = stack.enter_context(Emulator(rate=200))
            os.environ[ENV_BASE_URL] = emulator.base_url
            os.environ[ENV_ACCOUNT_ID[0]] = emulator.account_id
            os.environ[ENV_API_TOKEN[0]] = emulator.token
            print(
                "No Cloudflare credentials (CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN) are set, "
                f"so the replies are SIMULATED by the local emulator at {emulator.base_url}. "
                "Set the two variables to talk to the real Kimi K2.6."
            )
        notebook = nbformat.read(args.notebook, as_version=4)
        client = NotebookClient(
            notebook,
            timeout=args.timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(args.notebook.parent)}},
        )
        try:
            client.execute()
        except CellExecutionError as error:
            print(f"A cell failed:\n{str(error)[-1500:]}", file=sys.stderr)
            return 1
        finally:
            output.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, output)
    _print_summary(notebook, output)
    return 0


def _print_summary(notebook: object, output: Path) -> None:
    answers, cost, tokens_in, tokens_out = 0, 0.0, 0, 0
    for cell in notebook.cells:  # type: ignore[attr-defined]
        for out in cell.get("outputs", []):
            record = out.get("metadata", {}).get(METADATA_KEY)
            if record:
                answers += 1
                cost += record["cost_usd"]
                tokens_in += record["usage"]["prompt_tokens"]
                tokens_out += record["usage"]["completion_tokens"]
    print(
        f"Executed {len(notebook.cells)} cells: {answers} answers, "  # type: ignore[attr-defined]
        f"{tokens_in:,} tokens in, {tokens_out:,} out, ${cost:.4f}. Wrote {output}."
    )


if __name__ == "__main__":
    sys.exit(main())
