"""A Workers AI emulator for `@cf/moonshotai/kimi-k2.6`: a real HTTP server on 127.0.0.1.

Tests and the offline quickstart talk to it exactly as to Cloudflare (docs/design.md section 5).
"""

from __future__ import annotations

from ._emulator import Emulator
from ._replies import Reply

__all__ = ["Emulator", "Reply"]
