"""A circuit breaker that pauses automatic requests while the API is down.

closed --(N consecutive failures)--> open --(cooldown)--> half-open
half-open lets exactly one probe through: success closes the breaker,
failure re-opens it with a doubled cooldown (capped). A 429's Retry-After
extends the cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from . import config as C

#: ``closed``: requests go; ``open``: automatic requests pause; ``half-open``: one probe may go
BreakerState = Literal["closed", "open", "half-open"]


@dataclass
class CircuitBreaker:
    """The health of one endpoint: ``state`` is ``"closed"`` (requests go),
    ``"open"`` (automatic requests pause) or ``"half-open"`` (one probe may go).

    ``threshold``: consecutive failures that open it; ``cooldown_s`` /
    ``cooldown_max_s``: the first and the longest pause (s); ``clock``:
    seconds, monotonic (tests pass their own). Callers ask :meth:`allow`
    before a request and report :meth:`record_success`,
    :meth:`record_failure` or :meth:`release_probe` after it. Never raises.
    """

    threshold: int = C.BREAKER_FAILURES
    cooldown_s: float = C.BREAKER_COOLDOWN_S
    cooldown_max_s: float = C.BREAKER_COOLDOWN_MAX_S
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    current_cooldown_s: float = field(default=0.0)
    probing: bool = False

    @property
    def state(self) -> BreakerState:
        """The state now (computed from ``opened_at`` and the cooldown on the clock)."""
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.current_cooldown_s:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """May a request go out now? (In half-open, only one probe at a time.)"""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.probing:
            self.probing = True
            return True
        return False

    def record_success(self) -> None:
        """A request succeeded: close the breaker, forget the failures."""
        self.failures = 0
        self.opened_at = None
        self.current_cooldown_s = 0.0
        self.probing = False

    def record_failure(self, retry_after: float | None = None) -> None:
        """A request failed (``retry_after``: the server's Retry-After, s): count it,
        open the breaker at the threshold, re-open a failed probe with a doubled cooldown."""
        self.failures += 1
        was_probing = self.probing
        self.probing = False
        if was_probing or self.opened_at is not None:
            self.current_cooldown_s = min(self.cooldown_max_s, max(self.cooldown_s, self.current_cooldown_s * 2))
            self.opened_at = self.clock()
        elif self.failures >= self.threshold or retry_after:
            self.current_cooldown_s = self.cooldown_s
            self.opened_at = self.clock()
        if retry_after and self.opened_at is not None:
            self.current_cooldown_s = min(self.cooldown_max_s, max(self.current_cooldown_s, retry_after))

    def release_probe(self) -> None:
        """A probe ended without a verdict (cancelled): let another one through."""
        self.probing = False
