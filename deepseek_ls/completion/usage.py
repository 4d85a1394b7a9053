"""Usage of ghost-text requests: exact when DeepSeek reports it, estimated when a stream was stopped."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..api.types import Usage
from ..prompt.fim import FimPrompt

log = logging.getLogger(__name__)


@dataclass
class UsageEstimate:
    """Usage for a stream stopped early, which DeepSeek never reports.

    Output: the pieces received (DeepSeek streams a token per chunk). Prompt:
    its characters at the characters-per-token and the cache-hit share of
    the last exact reports. Recorded like any other usage, and logged as an
    estimate.
    """

    chars_per_token: float = 3.5
    hit_share: float = 0.0

    def observe(self, fim: FimPrompt, usage: Usage) -> Usage:
        """Learn from an exact report of the request ``fim``; returns ``usage`` itself."""
        if usage.prompt_tokens > 0:
            chars = len(fim.prompt) + len(fim.suffix)
            self.chars_per_token = 0.7 * self.chars_per_token + 0.3 * chars / usage.prompt_tokens
            self.hit_share = 0.7 * self.hit_share + 0.3 * usage.hit_tokens / usage.prompt_tokens
        return usage

    def estimate(self, fim: FimPrompt, output_tokens: int) -> Usage:
        """The usage of the request ``fim`` stopped after ``output_tokens`` pieces."""
        prompt = round((len(fim.prompt) + len(fim.suffix)) / self.chars_per_token)
        hit = round(prompt * self.hit_share)
        log.info("stream stopped early: usage estimated (%d prompt tokens, %d output)", prompt, output_tokens)
        return Usage(prompt_tokens=prompt, completion_tokens=output_tokens, hit_tokens=hit,
                     miss_tokens=prompt - hit)

    def of(self, fim: FimPrompt, usage: Usage, stopped: bool) -> Usage:
        """The usage to record for the request ``fim``: the report, or an estimate when ``stopped``."""
        return self.estimate(fim, usage.completion_tokens) if stopped else self.observe(fim, usage)
