"""Run the quickstart notebook headlessly: `python -m kimi_magic.quickstart`.

Against Cloudflare when credentials are set, else against the local emulator (saying so).
Writes the executed notebook and prints what the answers cost.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .core.constants import ENV_ACCOUNT_ID, ENV_API_TOKEN, ENV_BASE_URL, ENV_OPENAI_BASE_URL
from .render.final_output import METADATA_KEY

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_MODEL_REFERENCE = re.compile(r"IPY_MODEL_([0-9a-f]+)")

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
    from nbclient.exceptions import CellExecutionError

    with ExitStack() as stack:
        if _has_credentials():
            print("Running against Cloudflare Workers AI with the credentials in the environment.")
        else:
            from .emulator import Emulator

            emulator = stack.enter_context(Emulator(rate=200))
            emulator.script(*emulator_replies(args.notebook))
            os.environ[ENV_BASE_URL] = emulator.base_url
            os.environ[ENV_ACCOUNT_ID[0]] = emulator.account_id
            os.environ[ENV_API_TOKEN[0]] = emulator.token
            print(
                "No Cloudflare credentials (CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN) are set, "
                f"so the replies are SIMULATED by the local emulator at {emulator.base_url}. "
                "Set the two variables to talk to the real Kimi K2.6."
            )
        notebook = nbformat.read(args.notebook, as_version=4)
        try:
            execute(notebook, args.notebook.parent, args.timeout)
        except CellExecutionError as error:
            print(f"A cell failed:\n{str(error)[-1500:]}", file=sys.stderr)
            return 1
        finally:
            output.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, output)
    _print_summary(notebook, output)
    return 0


def emulator_replies(notebook: Path) -> list[dict[str, Any]]:
    """The replies scripted for a notebook's run on the emulator (`NAME.emulator.json` beside
    it: a notebook whose questions need the model to call tools), or none."""
    sidecar = notebook.with_suffix(".emulator.json")
    if not sidecar.is_file():
        return []
    replies: list[dict[str, Any]] = json.loads(sidecar.read_text(encoding="utf-8"))["replies"]
    return replies


def execute(notebook: Any, folder: Path, timeout: int = 600) -> Any:
    """Run `notebook` (nbformat) top to bottom in a fresh python3 kernel, in `folder`, and
    keep only the widget state its outputs still show.

    Plain nbclient, as nbconvert and papermill run it: the answers stream as display-id
    updates there (kimi_magic opens no widget where no widget frontend answered its probe), so
    nbclient's Output-widget stand-in has nothing to echo back to the kernel.
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    try:
        client.execute()
    finally:
        prune_widget_state(notebook)
    return notebook


def prune_widget_state(notebook: Any) -> int:
    """Drop the saved state of widget models no output shows any more; returns how many.

    nbclient saves every widget model it ever saw, closed ones too: each finished answer's
    live view would stay in the file as dead state (tens of kilobytes per answer). What an
    output still shows (the panel, say), and the models those reference, is kept.
    """
    widgets = notebook.get("metadata", {}).get("widgets", {})
    state = widgets.get(WIDGET_STATE, {}).get("state", {})
    shown = [
        out["data"][WIDGET_VIEW].get("model_id")
        for cell in notebook.get("cells", [])
        for out in cell.get("outputs", [])
        if WIDGET_VIEW in out.get("data", {})
    ]
    keep: set[str] = set()
    while shown:
        model = shown.pop()
        if model in keep or model not in state:
            continue
        keep.add(model)
        shown += _MODEL_REFERENCE.findall(json.dumps(state[model]))
    dropped = [model for model in state if model not in keep]
    for model in dropped:
        del state[model]
    if not state and "widgets" in notebook.get("metadata", {}):
        del notebook["metadata"]["widgets"]
    return len(dropped)


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
