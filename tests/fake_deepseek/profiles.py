"""Model tables and prices for the fake, as data (docs/DEEPSEEK-API-NOTES.md: Models, Prices, Eras).

Every number carries the era it belongs to.  ``v32`` is the brief's era E2
(deepseek-chat / deepseek-reasoner = V3.2), ``v4`` the current era E4.
"""
from __future__ import annotations

import json
import os
from typing import Any

# Per model: limits for non-thinking and thinking mode.  ``fim``: FIM allowed.
# ``thinking``: "off" (opt-in via thinking:{type:enabled}), "on" (default on,
# can be disabled), "always" (cannot be disabled).
PROFILES: dict[str, dict[str, Any]] = {
    "v32": {
        "era": "E2",
        "cache_mode": "legacy64",
        "fim_models": ["deepseek-chat"],
        "stream_options_requires_stream": False,   # 400 documented for E4 only
        "reasoning_rule": "v32",                   # pass back within the tool loop
        "tool_choice_thinking_400": False,
        "logprobs_thinking_400": True,             # E1/E2 docs: "will trigger an error"
        "reasoning_effort_values": None,           # not part of E2; tolerated/ignored
        "penalty_range_checked": True,
        "default_concurrency": 2500,
        "models": {
            "deepseek-chat": {
                "context": 131072, "fim": True, "thinking": "off", "price": "deepseek-chat",
                "nonthinking": {"default": 4096, "max": 8192},
                "thinking_limits": {"default": 32768, "max": 65536},
            },
            "deepseek-reasoner": {
                "context": 131072, "fim": False, "thinking": "always", "price": "deepseek-reasoner",
                "nonthinking": {"default": 32768, "max": 65536},
                "thinking_limits": {"default": 32768, "max": 65536},
            },
        },
        "aliases": {},
        "fim_max_tokens": 4096,
    },
    "v4": {
        "era": "E4",
        "cache_mode": "v4",
        "stream_options_requires_stream": True,
        "reasoning_rule": "v4",                    # with tools: all previous assistant turns
        "tool_choice_thinking_400": True,
        "logprobs_thinking_400": False,
        "reasoning_effort_values": {
            "none": "none", "low": "low", "high": "high", "max": "max",
            "minimal": "low", "medium": "high", "xhigh": "high", "ultra": "max",
        },
        "penalty_range_checked": False,            # E4: deprecated, accepted, no effect
        "default_concurrency": 2500,
        "models": {
            "deepseek-flash": {
                "context": 1048576, "fim": True, "thinking": "on", "price": "deepseek-flash",
                "concurrency": 2500,
                "nonthinking": {"default": 8192, "max": 393216},
                "thinking_limits": {"default": 65536, "max": 393216, "default_max_effort": 131072},
            },
            "deepseek-v4-pro": {
                "context": 1048576, "fim": True, "thinking": "on", "price": "deepseek-v4-pro",
                "concurrency": 500,
                "nonthinking": {"default": 8192, "max": 393216},
                "thinking_limits": {"default": 65536, "max": 393216, "default_max_effort": 131072},
            },
            "deepseek-v4-flash-vision-exp": {
                "context": 1048576, "fim": False, "thinking": "on", "price": "deepseek-flash",
                "concurrency": 2500, "listed": False,
                "nonthinking": {"default": 8192, "max": 393216},
                "thinking_limits": {"default": 65536, "max": 393216, "default_max_effort": 131072},
            },
        },
        "aliases": {"deepseek-v4-flash": "deepseek-flash"},
        "fim_max_tokens": 4096,
    },
}

DEFAULT_PROFILE = "v4"

_PRICING_FILE = os.path.join(os.path.dirname(__file__), "pricing-2026-11-15.json")
with open(_PRICING_FILE, encoding="utf-8") as _f:
    PRICING: dict[str, Any] = json.load(_f)


def resolve_model(profile: dict[str, Any], name: str) -> tuple[str, dict[str, Any]] | None:
    """Return (canonical name, model table) or None for an unknown model."""
    canonical = profile["aliases"].get(name, name)
    table = profile["models"].get(canonical)
    if table is None:
        return None
    return canonical, table


def listed_models(profile: dict[str, Any]) -> list[str]:
    return [name for name, t in profile["models"].items() if t.get("listed", True)]
