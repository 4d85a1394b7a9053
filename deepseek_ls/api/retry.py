"""Retry policy for chat and code actions (never for ghost text).

Retried: 429, 500, 502, 503, 504 and connection errors (including
timeouts before the response started). Never retried: 400, 401, 402, 422
and anything after an answer has begun to stream (the editor already shows
part of it). Waits grow exponentially with jitter; a ``Retry-After`` header
wins (capped); attempts and the total time are both capped, and the total
cap counts the wait that is about to start, so a retry never begins after
it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
)

from . import config as C
from .errors import APIConnectionError, APIStatusError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Statuses worth another try (rate limit, server fault, overload, gateway).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: First backoff step (s); doubles per attempt, with jitter, up to RETRY_MAX_WAIT_S.
RETRY_BASE_WAIT_S = 0.5


def is_retryable(exc: BaseException) -> bool:
    """True for errors another attempt may cure."""
    if isinstance(exc, APIStatusError):
        return exc.status in RETRY_STATUSES
    return isinstance(exc, APIConnectionError)


@dataclass(frozen=True)
class RetryPolicy:
    """Caps and backoff of one kind of request."""

    attempts: int = C.RETRY_ATTEMPTS
    base_wait_s: float = RETRY_BASE_WAIT_S
    max_wait_s: float = C.RETRY_MAX_WAIT_S
    total_s: float = C.RETRY_TOTAL_S

    def wait_s(self, attempt: int, exc: BaseException | None, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        retry_after: object = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after >= 0:
            return min(float(retry_after), self.max_wait_s)
        step = min(self.max_wait_s, self.base_wait_s * (1 << max(0, attempt - 1)))
        return step / 2 + rng() * step / 2  # "equal jitter": never zero, never above the step

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.wait_s(state.attempt_number, exc)


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy | None = None,
                       *, on_retry: Callable[[int, BaseException, float], None] | None = None) -> T:
    """Await ``call()``; retry it on retryable errors per ``policy``; re-raise the last error."""
    policy = policy or RetryPolicy()

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("retrying after %s (attempt %d, waiting %.2fs)", exc, state.attempt_number, wait)
        if on_retry is not None and exc is not None:
            on_retry(state.attempt_number, exc, wait)

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        stop=stop_after_attempt(policy.attempts) | stop_before_delay(policy.total_s),
        wait=policy._wait,
        before_sleep=before_sleep,
        reraise=True,
    )

    async def attempt() -> T:  # tenacity awaits coroutine functions only, not lambdas
        return await call()

    return await retrying(attempt)
