"""The `%config KimiMagics.<name>` traits, made from the settings table; the panel binds to them."""

from __future__ import annotations

from traitlets import Bool, CFloat, CInt, Dict, Enum, List, TraitType, Unicode
from traitlets import Union as UnionTrait

from ..core.parameters import PARAMETERS
from ..core.settings import OWN_SETTINGS

_HELP: dict[str, str] = {
    "model": "Model id.",
    "api": "Workers AI endpoint: 'native' (/ai/run) or 'openai' (OpenAI-compatible /ai/v1).",
    "system": "System prompt sent first in every conversation.",
    "read_timeout": "Seconds to wait for the next byte.",
    "call_timeout": "Seconds one call may take in all, first byte sent to last byte read.",
    "redact_secret_names": "Redact values of variables and environment entries whose names "
    "look secret (*KEY*, *TOKEN*, *SECRET*, *PASSWORD*) from prompts; the API token and "
    "well-known key formats are redacted always.",
    "seed_mode": "'fixed': send `seed` as set; 'random': a new random seed for every call.",
    "cache": "Answer identical requests from the local response cache (--refresh bypasses it).",
    "cache_dir": "Folder of the response cache (default ~/.cache/kimi_magic/responses).",
    "max_cost": "Spending cap per session in USD, map and batch jobs included: further calls are "
    "refused once it is reached.",
    "context_window": "Tokens of context; older turns are left out to fit (about 4 chars/token).",
    "background": "%%kimi answers stream in the background by default (like --bg).",
    "default_tools": "Tools offered to every question (as --tools): names, all, notebook, "
    "python, mcp:NAME.",
    "approve": "Code-running tools (run_python, @kimi_magic.tool(runs_code=True)): 'ask' "
    "(Approve / Deny buttons), 'auto' (no asking), 'deny' (never run).",
    "approve_timeout": "Seconds the Approve / Deny buttons wait for a click; then the code is "
    "denied and the model is told it was not approved in time.",
    "python_timeout": "Seconds one run_python run may take before it is stopped.",
    "tool_max_rounds": "Model rounds of one tool-using question before the loop stops.",
    "agent_max_rounds": "Model rounds of one %%kimi --agent cell.",
    "agent_max_cost": "USD one %%kimi --agent cell may spend before it stops.",
    "record": "A replay file (JSON lines) every whole answer is also written to.",
    "replay": "A replay file that answers instead of the network (no credentials needed).",
    "gateway": "Cloudflare AI Gateway name (or CLOUDFLARE_AI_GATEWAY): every request goes "
    "through it; an authenticated gateway takes CLOUDFLARE_AI_GATEWAY_TOKEN.",
    "gateway_tag": "A tag in each request's cf-aig-metadata, to filter the gateway's logs by.",
    "gateway_cache_ttl": "Seconds the AI Gateway may cache answers (cf-aig-cache-ttl).",
    "gateway_cache": "Use the AI Gateway's cache (--no-gateway-cache skips it for one call).",
    "gateway_log": "What the AI Gateway logs: 'on', 'off', or 'metadata' (usage, no prompts).",
}
_CHOICES: dict[str, list[str]] = {
    "api": ["native", "openai"],
    "seed_mode": ["fixed", "random"],
    "approve": ["ask", "auto", "deny"],
    "gateway_log": ["on", "off", "metadata"],
}


def setting_trait(name: str) -> TraitType:  # type: ignore[type-arg]
    """A config trait for setting `name`: None by default, so lower layers apply."""
    if name in PARAMETERS:
        p = PARAMETERS[name]
        kind, text = p.kind, f"{p.help} ({p.range_text}). Unset: the model's default."
    else:
        kind, text = OWN_SETTINGS[name][0], _HELP[name]
    trait: TraitType  # type: ignore[type-arg]
    if name in _CHOICES or kind == "choice":
        choices = _CHOICES.get(name) or list(PARAMETERS[name].choices)
        trait = Enum(choices, None, allow_none=True, help=text)
    elif kind == "number":
        trait = CFloat(None, allow_none=True, help=text)
    elif kind == "integer":
        trait = CInt(None, allow_none=True, help=text)
    elif kind == "boolean":
        trait = Bool(None, allow_none=True, help=text)
    elif kind == "object":
        trait = Dict(default_value=None, allow_none=True, help=text)
    elif kind == "modalities":
        trait = List(Unicode(), default_value=None, allow_none=True, help=text)
    elif kind == "stop":
        trait = UnionTrait(
            [Unicode(), List(Unicode())], default_value=None, allow_none=True, help=text
        )
    else:
        trait = Unicode(None, allow_none=True, help=text)
    return trait.tag(config=True)
