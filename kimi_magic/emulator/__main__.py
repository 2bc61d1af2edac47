"""Run the emulator until Ctrl-C: `python -m kimi_magic.emulator --port 8787`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ..core.constants import ENV_ACCOUNT_ID, ENV_API_TOKEN, ENV_BASE_URL, ENV_EMULATOR, MODEL_ID
from ._emulator import Emulator
from ._replies import REASONING_FIELDS


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m kimi_magic.emulator",
        description=f"A simulated Cloudflare Workers AI for {MODEL_ID} on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    parser.add_argument("--token", default="test-token", help="the API token clients must send")
    parser.add_argument("--account", default="test-account", help="the account id in the paths")
    parser.add_argument(
        "--rate", type=float, default=None, help="stream chunks per second (default: unpaced)"
    )
    parser.add_argument(
        "--reasoning-field",
        choices=REASONING_FIELDS,
        default="reasoning",
        help="the delta field that carries reasoning",
    )
    load = parser.add_argument_group("load (for map and batch)")
    load.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    load.add_argument(
        "--rate-limited", type=float, default=0.0, help="share of requests answered 429 (0-1)"
    )
    load.add_argument(
        "--capacity", type=float, default=0.0, help="share answered 200 + error 3040 (0-1)"
    )
    load.add_argument(
        "--batch-polls", type=int, default=1, help="polls a batch stays queued / running"
    )
    return parser.parse_args(argv)


def banner(emu: Emulator) -> str:
    """What to tell the user: where it listens and what to export."""
    return "\n".join(
        [
            f"Simulated Workers AI ({MODEL_ID}) at {emu.base_url}",
            "Replies are simulated, not from Kimi. Point kimi_magic at it with:",
            f"  export {ENV_BASE_URL}={emu.base_url}",
            f"  export {ENV_ACCOUNT_ID[0]}={emu.account_id}",
            f"  export {ENV_API_TOKEN[0]}={emu.token}",
            f"OpenAI-compatible base: {emu.openai_base_url}",
            f"Or, with no server to keep running, set {ENV_EMULATOR}=1 in the environment: "
            "each kernel (JupyterLab, nbconvert, papermill) then starts its own emulator.",
            f"Scripting: POST {emu.url}/_emulator/script, GET {emu.url}/_emulator/requests",
            "Press Ctrl-C to stop.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    args = parse_args(argv)
    emu = Emulator(
        token=args.token,
        account_id=args.account,
        rate=args.rate,
        reasoning_field=args.reasoning_field,
        port=args.port,
    )
    emu.load.baseline = emu.configure_load(
        latency=args.latency,
        rate_limited=args.rate_limited,
        capacity=args.capacity,
        batch_polls=args.batch_polls,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    with emu:
        sys.stdout.write(banner(emu) + "\n")
        sys.stdout.flush()
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
