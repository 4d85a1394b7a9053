"""Running token and cost totals of this server process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from .api.client import Usage
from .models import cost_usd

log = logging.getLogger(__name__)

#: What a request was for (the ledger's ``kind``): ghost text, chat, or a code action
UsageKind = Literal["fim", "chat", "action"]


@dataclass
class UsageTotals:
    requests: int = 0
    hit_tokens: int = 0
    miss_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, model: str, usage: Usage, cost: float | None = None) -> None:
        """Count one response's usage (``cost`` in USD overrides the price table)."""
        self.requests += 1
        self.hit_tokens += usage.hit_tokens
        self.miss_tokens += usage.miss_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost_usd += cost if cost is not None else \
            cost_usd(model, usage.hit_tokens, usage.miss_tokens, usage.completion_tokens)

    @property
    def hit_rate(self) -> float:
        prompt = self.hit_tokens + self.miss_tokens
        return self.hit_tokens / prompt if prompt else 0.0

    def to_json(self) -> dict[str, float | int]:
        """The ``usage`` object of ``deepseek/status``."""
        return {"requests": self.requests, "promptHitTokens": self.hit_tokens,
                "promptMissTokens": self.miss_tokens, "completionTokens": self.completion_tokens,
                "costUsd": round(self.cost_usd, 6), "hitRate": round(self.hit_rate, 4)}

    def log_line(self) -> str:
        return (f"usage: {self.requests} request{'' if self.requests == 1 else 's'}, prompt tokens hit {self.hit_tokens} / miss "
                f"{self.miss_tokens} ({self.hit_rate:.1%} hit), output {self.completion_tokens}, "
                f"${self.cost_usd:.5f}")
