"""The exceptions kimi_magic raises, each with one paragraph that says what to do.

KimiError
 ├── ConfigurationError      missing credentials, a bad setting: nothing was sent
 │    └── SpendingCapError   the session's spending cap is reached: nothing was sent
 ├── MissingReference        a {name} in the prompt names nothing that exists
 ├── ImageError              an image could not be found, read or made small enough
 ├── StructuredOutputError   the answer is not the JSON asked for; `.raw` keeps the text
 ├── APIConnectionError      the server could not be reached
 │    └── APITimeoutError    it was reached but went quiet for longer than the read timeout
 ├── APIStatusError          the server answered with an error (HTTP status or error envelope)
 └── StreamError             the answer broke off mid-stream; `.answer` holds what arrived
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .answer import Answer


class KimiError(Exception):
    """Base class: the message is one paragraph a user can act on."""

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it: the paragraph, not a traceback of our internals."""
        return [f"{type(self).__name__}: {self}"]


class ConfigurationError(KimiError):
    pass


class SpendingCapError(ConfigurationError):
    """The session's spending cap is reached: nothing was sent."""


class MissingReference(KimiError):
    """A `{name}` in the prompt names nothing that exists."""


class ImageError(KimiError):
    """An image could not be found, read or made small enough to send."""


class StructuredOutputError(KimiError):
    """The answer is not the JSON asked for; `raw` keeps the text that came back."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


class APIConnectionError(KimiError):
    pass


class APITimeoutError(APIConnectionError):
    pass


class UntrustedCertificateError(APIConnectionError):
    """The server's TLS certificate did not verify: trying again would fail the same way."""


class APIStatusError(KimiError):
    """An error reply; `status` is the HTTP status, `code` Cloudflare's error code if any."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | None = None,
        server_message: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.server_message = server_message
        self.retry_after = retry_after


class StreamError(KimiError):
    """The stream failed after the answer had started; nothing that arrived is lost."""

    def __init__(self, message: str, answer: Answer | None = None) -> None:
        super().__init__(message)
        self.answer = answer


_UNKNOWN_MODEL = (
    "The server does not know this model. Check the model id (it should be "
    "'@cf/moonshotai/kimi-k2.6') and that your base URL points at Workers AI."
)

# What to do about each Cloudflare error code (docs/design.md section 4).
_ADVICE_BY_CODE: dict[int, str] = {
    10000: "Cloudflare rejected the API token (authentication error). Check that "
    "CLOUDFLARE_API_TOKEN holds a current token with the 'Workers AI' read and edit "
    "permissions for this account, and that it has not expired or been revoked.",
    5035: "This model needs the Workers Paid plan. Upgrade the account in the Cloudflare "
    "dashboard (Workers & Pages > Plans), or use an account that has it.",
    7003: "Cloudflare could not route the request: the account id or the path is wrong. Check "
    "CLOUDFLARE_ACCOUNT_ID (the 32-character id on the dashboard's overview page) and "
    "KIMI_MAGIC_BASE_URL if you set it.",
    5007: _UNKNOWN_MODEL,
    3042: _UNKNOWN_MODEL,
    3006: "The request is too large. Shorten the prompt, attach fewer or smaller images, or "
    "start a new conversation (--new or %kimi reset) so less history is sent.",
    3007: "The model took too long and the request timed out. Try again, or ask for a shorter "
    "answer (lower max_completion_tokens or reasoning effort).",
    3036: "The account's daily free Workers AI allocation is used up. Wait until it resets "
    "at 00:00 UTC, or move the account to the Workers Paid plan.",
    3040: "Workers AI is out of capacity for this model right now. kimi_magic already "
    "retried; wait a minute and run the cell again.",
    8001: "The server rejected the request as invalid input. Check the parameters you set "
    "(their ranges are in %kimi?) and the attached content.",
}

_ADVICE_BY_STATUS: dict[int, str] = {
    401: _ADVICE_BY_CODE[10000],
    403: "The server refused the request (403). Check the token's permissions for Workers AI "
    "and that the account has access to this model.",
    404: "The server has no such endpoint (404). Check CLOUDFLARE_ACCOUNT_ID and the base URL.",
    408: _ADVICE_BY_CODE[3007],
    413: _ADVICE_BY_CODE[3006],
    429: "Too many requests: the rate limit (about 300 a minute) or the daily allocation was "
    "hit. kimi_magic already retried; wait a little and run the cell again.",
}


# An OpenAI-compatible server that is not Cloudflare (KIMI_MAGIC_OPENAI_BASE_URL): its codes are
# its own, and its credentials and URL are not Cloudflare's.
_OTHER_ADVICE_BY_STATUS: dict[int, str] = {
    401: "The server rejected the API key (authentication error). Check that "
    "KIMI_MAGIC_API_KEY (or api_key=) holds a key this server accepts.",
    403: "The server refused the request (403). Check that the API key may use this model.",
    404: "The server has no such endpoint (404). Check KIMI_MAGIC_OPENAI_BASE_URL: it is the "
    "base that /chat/completions is added to, e.g. http://localhost:8080/v1.",
    429: "Too many requests: the server's rate limit was hit. kimi_magic already retried; "
    "wait a little and run the cell again.",
}

# Where a request goes decides whose error codes come back (api/endpoint.py `Endpoint.server`).
CLOUDFLARE: Final = "cloudflare"
GATEWAY: Final = "gateway"
OTHER_SERVER: Final = "other"


def code_label(code: int, server: str = CLOUDFLARE) -> str:
    """An error code named for whose it is: Cloudflare's, through AI Gateway, or another
    server's (an OpenAI-compatible server's 500 is no Cloudflare error)."""
    if server == OTHER_SERVER:
        return f"the server's error code {code}"
    if server == GATEWAY:
        return f"Cloudflare error {code}, through AI Gateway"
    return f"Cloudflare error {code}"


def advice_for(status: int, code: int | None, server: str = CLOUDFLARE) -> str:
    """The paragraph of advice for an error reply; another server's codes are not looked up
    as Cloudflare's."""
    if server == OTHER_SERVER:
        code = None
        if status in _OTHER_ADVICE_BY_STATUS:
            return _OTHER_ADVICE_BY_STATUS[status]
    if code is not None and code in _ADVICE_BY_CODE:
        return _ADVICE_BY_CODE[code]
    if status in _ADVICE_BY_STATUS:
        return _ADVICE_BY_STATUS[status]
    if status >= 500:
        return (
            f"The server had an internal error ({status}). kimi_magic already retried; "
            "try again in a minute."
        )
    return f"The server answered with HTTP {status}."


# AI Gateway's own errors: the gateway refused the request before Workers AI saw it, so
# Workers AI's advice would mislead. Told apart by the body (api/wire.py `_gateway_own`): a
# list under `error` (singular) and, since 2026, `"name": "AiGatewayError"`; Workers AI's
# errors, passed through, keep their `errors` list. Cloudflare publishes no list of the
# gateway's codes; these are the ones documented or seen (sources in emulator/_gateway.py):
# 2001 no such gateway (HTTP 400), 2003 its rate limit (429), 2009 unauthorized (401). Any
# other code still gets a gateway paragraph, chosen by status, with the gateway's own words.
GATEWAY_NOT_FOUND: Final = 2001
GATEWAY_RATE_LIMITED: Final = 2003
GATEWAY_UNAUTHORIZED: Final = 2009
GATEWAY_CODES: Final = frozenset({GATEWAY_NOT_FOUND, GATEWAY_RATE_LIMITED, GATEWAY_UNAUTHORIZED})

_GATEWAY_AUTH = (
    "The AI Gateway refused the request as unauthorized: it is an authenticated gateway and "
    "the gateway token is missing or not one of its tokens. Set CLOUDFLARE_AI_GATEWAY_TOKEN to "
    "a token made on the gateway's Settings page (Create authentication token), separate from "
    "CLOUDFLARE_API_TOKEN, and run the cell again. (The gateway gives the same answer when "
    "the provider behind it rejects the credentials passed on, so if the gateway token is "
    "right, check CLOUDFLARE_API_TOKEN too.)"
)
_GATEWAY_NAME = (
    "The AI Gateway was not found: no gateway of that name exists in this account. Check "
    "the gateway setting (or CLOUDFLARE_AI_GATEWAY) against the name on the dashboard's "
    "AI > AI Gateway page, and CLOUDFLARE_ACCOUNT_ID; unset gateway to call Workers AI "
    "directly."
)
_GATEWAY_RATE = (
    "The AI Gateway's own rate limit was hit (set on the gateway's Settings page, not "
    "Workers AI's). kimi_magic already retried; wait for the gateway's window to pass, "
    "raise its limit in the dashboard, or unset gateway to call Workers AI directly."
)
_GATEWAY_LIMIT = (
    "The AI Gateway refused the request with one of its own limits (HTTP 429), not Workers "
    "AI's: see what it said below, and the gateway's rate and spend limits on the dashboard; "
    "wait for the limit's window to pass, or unset gateway to call Workers AI directly."
)
_GATEWAY_BY_CODE: dict[int, str] = {
    GATEWAY_NOT_FOUND: _GATEWAY_NAME,
    GATEWAY_RATE_LIMITED: _GATEWAY_RATE,
    GATEWAY_UNAUTHORIZED: _GATEWAY_AUTH,
}


def gateway_advice(status: int, code: int | None) -> str:
    """The paragraph for an error the AI Gateway itself sent (not one it passed on): by its
    code where it is known, else by HTTP status, so a new code still reads as the gateway's."""
    if code is not None and code in _GATEWAY_BY_CODE:
        return _GATEWAY_BY_CODE[code]
    if status == 401:
        return _GATEWAY_AUTH
    if status == 404:
        return _GATEWAY_NAME
    if status == 429:
        return _GATEWAY_LIMIT
    return (
        f"The AI Gateway refused the request (HTTP {status}) before Workers AI saw it: see what "
        "it said below and the gateway's settings on the dashboard, or unset gateway to call "
        "Workers AI directly."
    )


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every secret (of a useful length) in `text` by a marker."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def redact_error(error: BaseException, secrets: tuple[str, ...]) -> None:
    """Redact `secrets` from the message and every string attribute of `error`, in place.

    A server that echoes the Authorization header puts the token in `server_message` too; a
    log formatter or `vars(error)` in a notebook would show it, not only `str(error)`.
    """
    error.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in error.args)
    for name, value in list(vars(error).items()):
        if isinstance(value, str):
            setattr(error, name, redact(value, secrets))
