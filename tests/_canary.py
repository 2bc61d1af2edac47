"""The canary token: the API token of every test server in the suite. It must never show up in
an output, a saved file, a log record or an exception (tests/conftest.py sweeps for it)."""

from __future__ import annotations

# Shaped like a Cloudflare API token (40 characters of [A-Za-z0-9_-]), so it is also what a
# real one would look like to the redaction patterns.
CANARY = "Kc4nary7TokQ2x9Zr4Lw8Vt1Np5Hs3Jd6Kf0Gb2Y"
assert len(CANARY) == 40
