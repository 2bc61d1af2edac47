"""Every fixed number and name of the product, in one place."""

from __future__ import annotations

MODEL_ID = "@cf/moonshotai/kimi-k2.6"
CLOUDFLARE_BASE_URL = "https://api.cloudflare.com/client/v4"
CONTEXT_WINDOW_TOKENS = 262_144

# USD per million tokens, from the model page (workers-ai/kimi-k2.6.json "price").
PRICE_INPUT_PER_M = 0.95
PRICE_CACHED_INPUT_PER_M = 0.16
PRICE_OUTPUT_PER_M = 4.00

# Environment variable names, first match wins (design.md section 1).
ENV_ACCOUNT_ID = ("CLOUDFLARE_ACCOUNT_ID", "CF_ACCOUNT_ID")
ENV_API_TOKEN = ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_AUTH_TOKEN", "CF_API_TOKEN")
ENV_BASE_URL = "KIMI_MAGIC_BASE_URL"
ENV_OPENAI_BASE_URL = "KIMI_MAGIC_OPENAI_BASE_URL"
ENV_OPENAI_API_KEY = "KIMI_MAGIC_API_KEY"

# Retries (design.md section 4): only before the first byte of an answer was shown.
RETRY_STATUS_CODES = frozenset({408, 409, 429, 500, 502, 503, 504})
RETRY_CLOUDFLARE_CODES = frozenset({3040})
MAX_RETRIES = 3
RETRY_BASE_DELAY_S = 0.5
RETRY_MAX_DELAY_S = 8.0
RETRY_AFTER_CAP_S = 60.0

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0

# The live view: at most this many re-renders a second (design.md section 3).
MAX_UPDATES_PER_SECOND = 15
