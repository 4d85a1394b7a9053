"""Value types shared by the API modules."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

#: An endpoint's URL paths: ``deepseek`` (``/beta/completions``, ``/models``) or ``openai``
#: (``/v1/completions``, ``/v1/models``), see :class:`~deepseek_ls.api.client.DeepSeekClient`
EndpointKind = Literal["openai", "deepseek"]
#: What an endpoint serves: ghost text (FIM) or chat
Use = Literal["fim", "chat"]


@dataclass(frozen=True)
class Usage:
    """Token usage of one response (cache hit + miss = prompt)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    hit_tokens: int = 0
    miss_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_api(cls, data: Any) -> Usage:
        """Read the API's ``usage`` object (missing fields count as 0)."""
        if not isinstance(data, dict):
            return cls()

        def num(key: str, src: dict[str, Any] = data) -> int:
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

    @classmethod
    def parse(cls, data: Any) -> Usage:
        """Read a ``usage`` object strictly: absent or null is no usage (zeros); any
        other shape, or a count that is not a non-negative finite number, raises
        :class:`~deepseek_ls.api.errors.MalformedAnswerError` (a bill we cannot read
        is not silently read as 0)."""
        from .errors import MalformedAnswerError, json_kind

        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise MalformedAnswerError(f"usage is {json_kind(data)}, not an object")

        def check(src: dict[str, Any], where: str, keys: tuple[str, ...]) -> None:
            for key in keys:
                value = src.get(key)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or not math.isfinite(value) or value < 0:
                    raise MalformedAnswerError(f"{where}{key} is {value!r:.40}, not a token count")

        check(data, "usage.", ("prompt_tokens", "completion_tokens", "prompt_cache_hit_tokens",
                               "prompt_cache_miss_tokens", "total_tokens"))
        details = data.get("completion_tokens_details")
        if details is not None:
            if not isinstance(details, dict):
                raise MalformedAnswerError(f"usage.completion_tokens_details is {json_kind(details)}")
            check(details, "usage.completion_tokens_details.", ("reasoning_tokens",))
        return cls.from_api(data)

    def brief(self) -> str:
        """``"12 prompt (8 cached) + 5 output tokens"`` for debug logs."""
        return (f"{self.prompt_tokens} prompt ({self.hit_tokens} cached) + {self.completion_tokens} output tokens"
                + (f" ({self.reasoning_tokens} reasoning)" if self.reasoning_tokens else ""))

    def to_json(self) -> dict[str, int]:
        return {"promptTokens": self.prompt_tokens, "completionTokens": self.completion_tokens,
                "promptCacheHitTokens": self.hit_tokens, "promptCacheMissTokens": self.miss_tokens,
                "reasoningTokens": self.reasoning_tokens}
