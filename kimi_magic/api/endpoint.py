"""Where requests go and with which credentials: Workers AI native or OpenAI-compatible,
directly, through an AI Gateway, or to any OpenAI-compatible server (docs/design.md section 1)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from ..core.constants import (
    CLOUDFLARE_BASE_URL,
    ENV_ACCOUNT_ID,
    ENV_API_TOKEN,
    ENV_BASE_URL,
    ENV_GATEWAY,
    ENV_GATEWAY_TOKEN,
    ENV_GATEWAY_URL,
    ENV_OPENAI_API_KEY,
    ENV_OPENAI_BASE_URL,
    GATEWAY_BASE_URL,
    MODEL_ID,
)
from ..core.errors import CLOUDFLARE, GATEWAY, OTHER_SERVER, ConfigurationError

ApiKind = Literal["native", "openai"]
# Whose server answers: Cloudflare's Workers AI (or a server shaped as it, the emulator), the
# same through AI Gateway, or another OpenAI-compatible server (errors are labelled by it).
ServerKind = Literal["cloudflare", "gateway", "other"]

MISSING_CREDENTIALS = (
    "No Cloudflare credentials were found. Set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN "
    "(a token with Workers AI permissions, from dash.cloudflare.com > My Profile > API Tokens) "
    "in the environment before starting Jupyter, or pass account_id= and api_token= to "
    "kimi_magic.Kimi. To try kimi_magic offline, start the emulator with "
    "`python -m kimi_magic.emulator` and export the variables it prints."
)


@dataclass(frozen=True)
class Endpoint:
    """A resolved target; the token is kept out of every repr."""

    url: str
    kind: ApiKind
    model: str = MODEL_ID
    token: str = field(default="", repr=False)
    server: ServerKind = "cloudflare"
    # An authenticated AI Gateway's own token, sent as cf-aig-authorization.
    gateway_token: str = field(default="", repr=False)
    # Through a gateway: the same model's Workers AI URL without it (the async batch's).
    direct_url: str = ""

    def __repr__(self) -> str:
        shown = "set" if self.token else "none"
        extra = f", gateway_token={'set' if self.gateway_token else 'none'}"
        return (
            f"Endpoint(url={self.shown_url!r}, kind={self.kind!r}, model={self.model!r}, "
            f"token={shown}{extra if self.server == GATEWAY else ''})"
        )

    def direct(self) -> Endpoint:
        """Workers AI itself, past the gateway: its URL and API token, no gateway token."""
        if self.server != GATEWAY or not self.direct_url:
            return self
        return Endpoint(self.direct_url, "native", self.model, self.token, CLOUDFLARE)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every credential this endpoint sends: kept out of bodies, logs and errors."""
        return tuple(t for t in (self.token, self.gateway_token) if t)

    @property
    def host(self) -> str:
        """host[:port] of the URL, without a `user:password@` a proxy URL may carry."""
        return urlsplit(self.url).netloc.rpartition("@")[2]

    @property
    def shown_url(self) -> str:
        """The URL for messages and outputs: any `user:password@` in it left out."""
        return urlsplit(self.url)._replace(netloc=self.host).geturl()

    def headers(self, session_id: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.gateway_token:
            headers["cf-aig-authorization"] = f"Bearer {self.gateway_token}"
        if session_id:
            # Cloudflare routes a conversation to the same replica so its prefix cache hits.
            headers["x-session-affinity"] = session_id
        return headers


def _first_env(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def _is_gateway(base_url: str) -> bool:
    # An AI Gateway base ends in /{account}/{gateway}/workers-ai; the account is in the path.
    return urlsplit(base_url).path.rstrip("/").endswith("/workers-ai")


# A gateway's name goes into the URL's path: letters, digits, - and _ only (the dashboard
# allows 64 characters), so no `/`, `..` or query can ride along.
_GATEWAY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def gateway_base(account: str, gateway: str, environ: Mapping[str, str]) -> str:
    """`{host}/v1/{account}/{gateway}/workers-ai`, the host overridable for tests."""
    if not _GATEWAY_NAME.fullmatch(gateway):
        raise ConfigurationError(
            f"gateway must be an AI Gateway's name (letters, digits, - and _, at most 64), "
            f"not {gateway!r}. Copy it from the dashboard: AI > AI Gateway."
        )
    host = environ.get(ENV_GATEWAY_URL, "").strip() or GATEWAY_BASE_URL
    return f"{host.rstrip('/')}/{account}/{gateway}/workers-ai"


def resolve_endpoint(
    *,
    account_id: str | None = None,
    api_token: str | None = None,
    base_url: str | None = None,
    openai_base_url: str | None = None,
    api_key: str | None = None,
    api: ApiKind = "native",
    model: str | None = None,
    gateway: str | None = None,
    gateway_token: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Endpoint:
    """The endpoint from arguments first, then the environment; with a `gateway` (or
    CLOUDFLARE_AI_GATEWAY) every request goes through that AI Gateway."""
    env = os.environ if environ is None else environ
    model = model or MODEL_ID
    openai_base = openai_base_url or env.get(ENV_OPENAI_BASE_URL, "").strip()
    if openai_base:
        key = api_key or env.get(ENV_OPENAI_API_KEY, "").strip() or api_token or ""
        url = f"{openai_base.rstrip('/')}/chat/completions"
        return Endpoint(url, "openai", model, key, OTHER_SERVER)

    token = api_token or _first_env(env, ENV_API_TOKEN)
    base = (base_url or env.get(ENV_BASE_URL, "").strip() or CLOUDFLARE_BASE_URL).rstrip("/")
    if api not in ("native", "openai"):
        raise ConfigurationError(f"api must be 'native' or 'openai', not {api!r}.")
    aig_token = gateway_token or env.get(ENV_GATEWAY_TOKEN, "").strip()
    if _is_gateway(base):
        if not token:
            raise ConfigurationError(MISSING_CREDENTIALS)
        url = f"{base}/{model}" if api == "native" else f"{base}/v1/chat/completions"
        in_path = urlsplit(base).path.rstrip("/").split("/")[-3]
        direct = f"{CLOUDFLARE_BASE_URL}/accounts/{in_path}/ai/run/{model}"
        return Endpoint(url, api, model, token, GATEWAY, aig_token, direct)

    account = account_id or _first_env(env, ENV_ACCOUNT_ID)
    if not token or not account:
        raise ConfigurationError(MISSING_CREDENTIALS)
    gateway = (gateway if gateway is not None else env.get(ENV_GATEWAY, "")).strip()
    if gateway:
        root = gateway_base(account, gateway, env)
        url = f"{root}/{model}" if api == "native" else f"{root}/v1/chat/completions"
        direct = f"{base}/accounts/{account}/ai/run/{model}"
        return Endpoint(url, api, model, token, GATEWAY, aig_token, direct)
    root = f"{base}/accounts/{account}/ai"
    url = f"{root}/run/{model}" if api == "native" else f"{root}/v1/chat/completions"
    return Endpoint(url, api, model, token, CLOUDFLARE)
