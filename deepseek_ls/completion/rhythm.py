"""Adaptive debounce from the typing rhythm and the measured latency.

A request should leave when the user pauses, not between two keystrokes of
a word. Per document we keep the recent intervals between edits (pauses
longer than ``TYPING_GAP_MAX_MS`` are not rhythm) and the recent upstream
latencies. The debounce is the 95th percentile of the typing intervals
(so 19 keystrokes in 20 supersede the wait before it fires), capped so
that debounce + median latency stays within ``GHOST_BUDGET_MS``: when the
service is slow we wait less, to keep ghost text arriving in a pause.
"""

from __future__ import annotations

import statistics
from collections import deque

from .. import constants as C


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class Rhythm:
    def __init__(self, base_ms: float = C.DEBOUNCE_MS, adaptive: bool = True) -> None:
        self.base_ms = base_ms
        self.adaptive = adaptive
        self._intervals: deque[float] = deque(maxlen=C.RHYTHM_WINDOW)
        self._latencies: deque[float] = deque(maxlen=C.RHYTHM_WINDOW)
        self._last_edit: dict[str, float] = {}

    def note_edit(self, uri: str, now_s: float) -> None:
        """Record one edit (keystroke) of ``uri`` at monotonic time ``now_s``."""
        last = self._last_edit.get(uri)
        self._last_edit[uri] = now_s
        if last is not None:
            gap_ms = (now_s - last) * 1000
            if 0 < gap_ms <= C.TYPING_GAP_MAX_MS:
                self._intervals.append(gap_ms)

    def note_latency(self, seconds: float) -> None:
        self._latencies.append(seconds * 1000)

    def forget(self, uri: str) -> None:
        self._last_edit.pop(uri, None)

    def debounce_ms(self) -> float:
        """The wait before an automatic request leaves."""
        if not self.adaptive or len(self._intervals) < 8:
            return self.base_ms
        typing = _quantile(list(self._intervals), 0.95)
        latency = statistics.median(self._latencies) if self._latencies else 250.0
        cap = max(C.DEBOUNCE_MIN_MS, C.GHOST_BUDGET_MS - latency)
        return max(C.DEBOUNCE_MIN_MS, min(typing, cap, C.DEBOUNCE_MAX_MS))
