"""The engine's clock and timers, as one seam tests can replace.

Everything in the completion loop that reads the time or waits for it goes
through a :class:`Clock`: the debounce, the adopt grace of an orphaned
request, early display of a stream, the prompt-cache warm-up, the breaker's
cooldown and the outage window. :class:`LoopClock` (the default) is the
monotonic clock and the running asyncio loop's timers; :class:`ManualClock`
only moves when told to, so a test can step past a 2-second warm-up without
sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """A scheduled callback (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time in seconds and one-shot timers on it."""

    def now(self) -> float:
        """Seconds on a monotonic clock (only differences mean anything)."""
        ...

    def call_later(self, delay_s: float, callback: Callable[..., object], *args: object) -> Timer:
        """Run ``callback(*args)`` once ``delay_s`` seconds have passed (on the event loop)."""
        ...


class LoopClock:
    """``time.monotonic`` and the running asyncio loop's ``call_later`` (the loop's own time base)."""

    def now(self) -> float:
        return time.monotonic()

    def call_later(self, delay_s: float, callback: Callable[..., object], *args: object) -> Timer:
        return asyncio.get_running_loop().call_later(delay_s, callback, *args)


async def wait_or_timeout(clock: Clock, future: asyncio.Future[None], timeout_s: float) -> bool:
    """Wait until ``future`` is done or ``timeout_s`` seconds passed on ``clock``.

    True when ``future`` was done by then (it is never cancelled by this).
    """
    timeout: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    timer = clock.call_later(timeout_s, _resolve, timeout)
    try:
        await asyncio.wait({future, timeout}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        timeout.cancel()
    return future.done()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _ManualTimer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that stands still until :meth:`advance` moves it (for tests and simulations).

    Timers fire, in order of their due time, when ``advance`` passes it;
    their callbacks run synchronously inside ``advance``. A timer due at
    once (delay 0) runs on the loop's next turn without advancing.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _ManualTimer, Callable[..., object], tuple[object, ...]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay_s: float, callback: Callable[..., object], *args: object) -> Timer:
        if delay_s <= 0:  # due now: runs on the loop's next turn, as a real timer would
            return asyncio.get_running_loop().call_soon(callback, *args)
        timer = _ManualTimer()
        heapq.heappush(self._timers, (self._now + max(0.0, delay_s), next(self._order), timer, callback, args))
        return timer

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on, firing the timers that fall due."""
        end = self._now + seconds
        while self._timers and self._timers[0][0] <= end:
            due, _, timer, callback, args = heapq.heappop(self._timers)
            self._now = max(self._now, due)
            if not timer.cancelled:
                callback(*args)
        self._now = end

    def pending(self) -> int:
        """Timers scheduled and not cancelled yet."""
        return sum(1 for entry in self._timers if not entry[2].cancelled)
