"""Value types shared by the API modules."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Usage:
    """Token usage of one response (cache hit + miss = prompt)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    hit_tokens: int = 0
    miss_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_api(cls, data: Any) -> "Usage":
        """Read the API's ``usage`` object (missing fields count as 0)."""
        if not isinstance(data, dict):
            return cls()

        def num(key: str, src: dict = data) -> int:
            value = src.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return 0
            return max(0, int(value))

        prompt = num("prompt_tokens")
        hit = num("prompt_cache_hit_tokens")
        miss = num("prompt_cache_miss_tokens") if "prompt_cache_miss_tokens" in data else max(0, prompt - hit)
        details = data.get("completion_tokens_details") or {}
        return cls(prompt, num("completion_tokens"), hit, miss,
                   num("reasoning_tokens", details) if isinstance(details, dict) else 0)

    def to_json(self) -> dict[str, int]:
        return {"promptTokens": self.prompt_tokens, "completionTokens": self.completion_tokens,
                "promptCacheHitTokens": self.hit_tokens, "promptCacheMissTokens": self.miss_tokens,
                "reasoningTokens": self.reasoning_tokens}
