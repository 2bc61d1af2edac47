"""Every fixed number and name of the product, in one place."""

from __future__ import annotations

MODEL_ID = "@cf/moonshotai/kimi-k2.6"
CLOUDFLARE_BASE_URL = "https://api.cloudflare.com/client/v4"
CONTEXT_WINDOW_TOKENS = 262_144

# USD per million tokens, from the model page (workers-ai/kimi-k2.6.json "price").
PRICE_INPUT_PER_M = 0.95
PRICE_CACHED_INPUT_PER_M = 0.16
PRICE_OUTPUT_PER_M = 4.00

# Environment variable names, first match wins (docs/design.md section 1).
ENV_ACCOUNT_ID = ("CLOUDFLARE_ACCOUNT_ID", "CF_ACCOUNT_ID")
ENV_API_TOKEN = ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_AUTH_TOKEN", "CF_API_TOKEN")
ENV_BASE_URL = "KIMI_MAGIC_BASE_URL"
ENV_OPENAI_BASE_URL = "KIMI_MAGIC_OPENAI_BASE_URL"
ENV_OPENAI_API_KEY = "KIMI_MAGIC_API_KEY"
# Cloudflare AI Gateway (docs/design.md section 10): its name, its own token for an
# authenticated gateway, and (for tests and the emulator) the host part of its URL.
ENV_GATEWAY = "CLOUDFLARE_AI_GATEWAY"
ENV_GATEWAY_TOKEN = "CLOUDFLARE_AI_GATEWAY_TOKEN"
ENV_GATEWAY_URL = "KIMI_MAGIC_GATEWAY_URL"
GATEWAY_BASE_URL = "https://gateway.ai.cloudflare.com/v1"
GATEWAY_METADATA_ENTRIES = 5  # the gateway keeps only the first five
# Set to 1: the extension starts an emulator in its own process and aims at it (offline.py).
ENV_EMULATOR = "KIMI_MAGIC_EMULATOR"

# Retries (docs/design.md section 4): only before the first byte of an answer was shown.
RETRY_STATUS_CODES = frozenset({408, 409, 429, 500, 502, 503, 504})
RETRY_CLOUDFLARE_CODES = frozenset({3040})
# A 429 for a used-up daily allocation will not clear by retrying.
NO_RETRY_CLOUDFLARE_CODES = frozenset({3036})
MAX_RETRIES = 3
RETRY_BASE_DELAY_S = 0.5
RETRY_MAX_DELAY_S = 8.0
RETRY_AFTER_CAP_S = 60.0
# All waits of one call together: a server asking for more (Retry-After: 999999) is not waited
# for at all; the error says so and names this cap.
RETRY_TOTAL_WAIT_S = 60.0

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0
# One call from its first byte sent to its last byte read: a server trickling a byte a second
# never trips the read timeout, this ends it. Checked as bytes arrive (silence is read_timeout's).
CALL_TIMEOUT_S = 900.0

# The live view: at most this many re-renders a second (docs/design.md section 3).
MAX_UPDATES_PER_SECOND = 15

# The notebook as context (issue 3): budgets, image caps, what is remembered.
CHARS_PER_TOKEN = 4  # a rough, conservative estimate for English text and code
VARIABLE_TOKENS = 2_000  # one variable's rendering
RENDER_SECONDS = 2.0  # one variable's rendering: a slow __repr__ is cut off after this
CONTEXT_TOKENS = 12_000  # all renderings of one prompt together
INLINE_MAX_CHARS = 120  # a one-line rendering up to this length replaces {name} in place
TABLE_ROWS = 10  # head + tail rows of a table rendering (5 + 5)
SEQUENCE_ITEMS = 50  # items of a list / dict shown before cutting
IMAGE_MAX_SIDE_PX = 1568  # longest side of an image sent
IMAGE_MAX_BYTES = 1_500_000  # encoded size of one image sent
IMAGE_PIXELS_PER_TOKEN = 784  # 28 x 28 pixels a token (vision patch merge), for estimates
IMAGES_REMEMBERED = 32  # displayed images kept for --image
ERRORS_REMEMBERED = 20  # cells whose last exception is kept for explain / {Err[n]}
THUMBNAIL_PX = 160  # --dry-run thumbnails

# Conversations (issue 4): what an answer needs left over, and an image's rough token cost
# when trimming history to the context window.
CONTEXT_RESERVE_TOKENS = 16_384  # kept free for the answer when max_completion_tokens is unset
IMAGE_TOKENS_ESTIMATE = 1_000

# Tools and the agent cell (issue 9): what one tool result may hold and how long a loop runs.
TOOL_RESULT_CHARS = 8_000  # text of one tool result sent back to the model
TOOL_MAX_ROUNDS = 8  # model rounds of one tool-using turn before the loop stops it
TOOL_PARALLEL_WORKERS = 4  # tools of one round run at once when the model asked in parallel
TOOL_TABLE_ROWS = 50  # rows one DataFrame-rows call returns at most
RUN_PYTHON_SECONDS = 60.0  # a run_python run is interrupted after this long
APPROVE_TIMEOUT_S = 300.0  # Approve / Deny buttons nobody clicks deny after this long
AGENT_MAX_ROUNDS = 12  # rounds of one %%kimi --agent cell
AGENT_MAX_COST_USD = 0.50  # spend of one %%kimi --agent cell before it stops
MCP_START_SECONDS = 30.0  # an MCP server must answer `initialize` within this
MCP_CALL_SECONDS = 120.0  # one MCP tool call

# Files anyone may have written (save, replay and checkpoint files; core/file_checks.py).
FILE_MAX_BYTES = 512 * 1024 * 1024  # a larger file is refused before it is read
JSON_MAX_DEPTH = 64  # lists and objects nested deeper than this are refused
