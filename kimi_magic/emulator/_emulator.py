"""`Emulator`: a Workers AI stand-in on 127.0.0.1, scripted from Python or over HTTP."""

from __future__ import annotations

import copy
import threading
from collections import deque
from types import TracebackType
from typing import Any

from ._batch import BatchQueue
from ._gateway import GATEWAY_ID, GatewayState
from ._load import Load, LoadShaper
from ._replies import REASONING_FIELDS, check_reply
from ._server import EmulatorServer
from ._usage import PrefixCache

# How often the serve loop looks for a stop request.
POLL_INTERVAL_S = 0.05


class _Unset:
    """The default of `configure` arguments that are not changed."""


_UNSET: Any = _Unset()


class Emulator:
    """A real HTTP server speaking the Workers AI protocol for `@cf/moonshotai/kimi-k2.6`.

    Example:
        with Emulator() as emu:
            emu.script({"content": "Hello", "reasoning": "Greet."})
            httpx.post(f"{emu.base_url}/accounts/{emu.account_id}/ai/run/@cf/moonshotai/kimi-k2.6",
                       headers={"Authorization": f"Bearer {emu.token}"},
                       json={"messages": [{"role": "user", "content": "Hi"}]})
    """

    def __init__(
        self,
        token: str = "test-token",
        account_id: str = "test-account",
        rate: float | None = None,
        reasoning_field: str = "reasoning",
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.account_id = account_id
        self.host = host
        self._requested_port = port
        self._defaults = _checked_config(rate, reasoning_field)
        self._config = dict(self._defaults)
        self._lock = threading.Lock()
        self._queue: deque[dict[str, Any]] = deque()
        self._requests: list[dict[str, Any]] = []
        self.prefix_cache = PrefixCache()
        self.load = LoadShaper()
        self.batches = BatchQueue(self.load)
        self.gateway = GatewayState()  # `gateway.token = "..."`: an authenticated gateway
        self.server_errors: list[str] = []
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind the port and serve on a daemon thread."""
        if self._server is not None:
            raise RuntimeError("The emulator is already running.")
        self._server = EmulatorServer((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name=f"kimi-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and release the port."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the server must be running)."""
        if self._server is None:
            raise RuntimeError("The emulator is not running; call start() first.")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The Cloudflare API base, the value for `KIMI_MAGIC_BASE_URL`."""
        return f"{self.url}/client/v4"

    @property
    def openai_base_url(self) -> str:
        """An OpenAI-compatible base: POST `{this}/chat/completions`."""
        return f"{self.base_url}/accounts/{self.account_id}/ai/v1"

    @property
    def gateway_url(self) -> str:
        """The AI Gateway host part, the value for `KIMI_MAGIC_GATEWAY_URL`."""
        return f"{self.url}/v1"

    @property
    def gateway_base_url(self) -> str:
        """An AI Gateway base: POST `{this}/{model}` or `{this}/v1/chat/completions`."""
        return f"{self.url}/v1/{self.account_id}/{GATEWAY_ID}/workers-ai"

    # -- scripting -----------------------------------------------------------------------------

    def script(self, *replies: dict[str, Any]) -> None:
        """Queue replies; each API request takes the next one, then the default reply."""
        checked = [check_reply(reply) for reply in replies]
        with self._lock:
            self._queue.extend(checked)

    @property
    def queued(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The API requests received so far (tokens redacted), oldest first."""
        with self._lock:
            return copy.deepcopy(self._requests)

    def reset(self) -> None:
        """Forget queue, requests, prefix cache and batches; restore the start-up config."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._config = dict(self._defaults)
        self.prefix_cache.clear()
        self.batches.clear()
        self.gateway.clear()
        self.load.reset()
        self.server_errors.clear()

    def configure(self, rate: Any = _UNSET, reasoning_field: Any = _UNSET) -> None:
        """Change the pacing (chunks per second, None: unpaced) or the reasoning delta field."""
        with self._lock:
            new_rate = self._config["rate"] if rate is _UNSET else rate
            field = (
                self._config["reasoning_field"] if reasoning_field is _UNSET else reasoning_field
            )
            self._config = _checked_config(new_rate, field)

    def configure_load(self, **changes: Any) -> Load:
        """Latency, a share of 429 / 3040 answers, slow batches (see `Load`); reset() undoes."""
        return self.load.configure(**changes)

    @property
    def config(self) -> dict[str, Any]:
        """The current `rate` and `reasoning_field`."""
        with self._lock:
            return dict(self._config)

    # -- used by the request handlers ----------------------------------------------------------

    def settings(self) -> tuple[float | None, str]:
        """The current rate and reasoning field, read together."""
        with self._lock:
            return self._config["rate"], self._config["reasoning_field"]

    def next_reply(self) -> dict[str, Any] | None:
        """The next scripted reply, or None for the default one."""
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def record(self, request: dict[str, Any]) -> None:
        """Keep a received request for `requests`."""
        with self._lock:
            self._requests.append(request)

    def mark_refused(self, request: dict[str, Any]) -> None:
        """Note that a recorded request was answered with an injected 429 / 3040."""
        with self._lock:
            request["refused"] = True


def _checked_config(rate: object, reasoning_field: object) -> dict[str, Any]:
    if rate is not None and (
        isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0
    ):
        raise ValueError(
            f"rate must be a positive number of chunks per second or None, not {rate!r}."
        )
    if reasoning_field not in REASONING_FIELDS:
        raise ValueError(
            f"reasoning_field must be one of {REASONING_FIELDS}, not {reasoning_field!r}."
        )
    return {"rate": rate, "reasoning_field": reasoning_field}
